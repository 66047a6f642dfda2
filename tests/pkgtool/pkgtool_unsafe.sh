# pkgtool_unsafe.sh - every unsafe input entry is refused: exit 4, a message naming the entry,
# no output file (and no temporary file), and a release of it leaves the store unchanged.
# The malicious archives are made with Debian's tar.
. "$(dirname "$0")/pkgtool_testlib.sh"
need_tools tar cmp

# refused INPUT ENTRY DESCRIPTION: pack and release must both refuse INPUT naming ENTRY
S=$T/store
release "$S" v1 "$SAMPLE/v1"
refused() {
    local input=$1 entry=$2 what=$3
    rm -rf out && mkdir -p out
    run "$PKGTOOL" pack "$input" -o out/bundle.zip
    expect_rc 4 "$what: pack exit code"
    expect_in "$ERR" "unsafe entry $entry" "$what: the message names the entry"
    check "$what: no output file" test -z "$(ls -A out)"
    local before
    before=$(snapshot "$S")
    run "$PKGTOOL" release --store "$S" --app demo --label bad "$input"
    expect_rc 4 "$what: release exit code"
    check "$what: the store is unchanged" test "$(snapshot "$S")" = "$before"
}
base() { # DIR: a small clean tree
    mkdir -p "$1/js" && printf 'ok\n' >"$1/index.html" && printf 'js\n' >"$1/js/app.js"
}

# absolute path (tar -P keeps the leading /)
base abs
tar -P -cf abs.tar "$T/abs/index.html" 2>/dev/null
refused abs.tar "$T/abs/index.html" "absolute path"

# a '..' component, leading and in the middle
base dd
tar -P --transform 's,^,../,' -cf dotdot.tar -C dd index.html 2>/dev/null
refused dotdot.tar "../index.html" "leading .."
tar -P --transform 's,^js/,js/../../,' -cf dotdot2.tar -C dd js/app.js 2>/dev/null
refused dotdot2.tar "js/../../app.js" "inner .."

# symbolic links leaving the tree: directory input and tar input
base sl && ln -s ../../etc/passwd sl/js/evil
refused sl "js/evil" "symlink up out of a directory"
tar -cf sl.tar -C sl .
refused sl.tar "js/evil" "symlink up out of a tar"
base sla && ln -s /etc/passwd sla/abs-link
refused sla "abs-link" "absolute symlink in a directory"
tar -cf sla.tar -C sla .
refused sla.tar "abs-link" "absolute symlink in a tar"
# a link that stays inside lexically but escapes through another link:
# a/b/s -> ../.. is the root, so p -> a/b/s/../../../x is the root's parent's x
base chain && mkdir -p chain/a/b && ln -s ../.. chain/a/b/s && ln -s a/b/s/../../../etc/passwd chain/p
refused chain "p" "symlink escaping through another symlink (directory)"
tar -cf chain.tar -C chain .
refused chain.tar "p" "symlink escaping through another symlink (tar)"
# a link inside the tree is fine
base goodlink && ln -s ../index.html goodlink/js/home.html && ln -s js goodlink/scripts
run "$PKGTOOL" pack goodlink -o goodlink.zip
expect_rc 0 "links that stay inside are packed"

# duplicate path: tar --append of the same name; also "./x" and "x"
base dup
tar -cf dup.tar -C dup index.html
tar --append -f dup.tar -C dup index.html
refused dup.tar "index.html" "the same name twice"
tar -cf dup2.tar -C dup ./index.html index.html
refused dup2.tar "index.html" "./x and x"

# device files and fifos (we may be root: mknod; else a fifo only)
base dev
if mknod dev/null c 1 3 2>/dev/null; then
    refused dev "null" "character device (directory)"
    tar -cf dev.tar -C dev .
    refused dev.tar "null" "character device (tar)"
    rm dev/null
else
    echo "not root: skipping the device-file cases" >&2
fi
mkfifo dev/pipe
refused dev "pipe" "fifo (directory)"
tar -cf fifo.tar -C dev .
refused fifo.tar "pipe" "fifo (tar)"

# a hard link to a target that is not in the archive: rename the target, not the link's copy
base hl && ln hl/index.html hl/again.html
tar --transform 's,^index.html$,renamed.html,H' -cf hl.tar -C hl index.html again.html
refused hl.tar "again.html" "hard link to an unknown target"
tar -cf hlok.tar -C hl index.html again.html
run "$PKGTOOL" pack hlok.tar -o hlok.zip
expect_rc 0 "a hard link to an earlier file is packed"

# a path that is both a file and a directory
base fd1 && mkdir -p fd2/index.html && printf 'x\n' >fd2/index.html/x
tar -cf fd.tar -C fd1 index.html -C ../fd2 index.html/x
refused fd.tar "index.html/x" "file and directory"
# ... also with the bundle's own manifest path (".bsdelta" as a file, or under the manifest)
base mf1 && printf 'x\n' >mf1/.bsdelta
refused mf1 ".bsdelta" "a file where the manifest's directory goes"
base mf2 && mkdir -p mf2/.bsdelta/manifest.json && printf 'x\n' >mf2/.bsdelta/manifest.json/x
refused mf2 ".bsdelta/manifest.json/x" "a directory where the manifest goes"

run "$PKGTOOL" verify --store "$S"
expect_rc 0 "the store still verifies"
finish
