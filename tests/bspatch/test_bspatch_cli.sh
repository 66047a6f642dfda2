#!/bin/sh
# test_bspatch_cli.sh - the bspatch command on good and hostile input: documented exit codes,
# and on every failure no NEWFILE, no temporary file (.NAME.tmp-*) and an existing NEWFILE
# untouched. usage: test_bspatch_cli.sh BSPATCH BSDELTA_TESTENC WORKDIR
set -u
BSPATCH=$1
TESTENC=$2
W=$3
rm -rf "$W"
mkdir -p "$W/out" || exit 2
cd "$W" || exit 2
fails=0
checks=0

fail() {
    echo "FAILED: $*" >&2
    fails=$((fails + 1))
}

# Deterministic inputs: a text file and an edited copy (line changes, an insert, a deletion).
seq 1 40000 >old
sed -e 's/^1234$/line changed/' -e '500d' -e '20000a\
an inserted line' old >new
printf 'tail\n' >>new
head -c 3000 old >short_old
sed 's/^1234$/4321/' old >other_old # same size, other content

"$TESTENC" old new p_none --comp none --seed 3 || exit 2
"$TESTENC" old new p_bz --comp bzip2 --seed 4 || exit 2
"$TESTENC" old new p_b40 --bsdiff40 --seed 5 || exit 2

no_leftovers() { # $1 = case name; the output directory must hold nothing but keep.*
    left=$(ls -A out | grep -v '^keep' || true)
    [ -z "$left" ] || fail "$1: left behind in the output directory: $left"
}

# expect NAME CODE [ARGS...]: run bspatch ARGS, check the exit code and the leftovers.
expect() {
    name=$1
    want=$2
    shift 2
    checks=$((checks + 1))
    "$BSPATCH" "$@" 2>err.txt
    rc=$?
    [ "$rc" -eq "$want" ] || fail "$name: exit $rc, want $want ($(cat err.txt))"
    if [ "$want" -ne 0 ]; then
        [ -s err.txt ] || fail "$name: no message on stderr"
        no_leftovers "$name"
    fi
}

# Success cases first: the output is exact and nothing else remains.
for p in p_none p_bz p_b40; do
    expect "apply $p" 0 old out/new $p
    cmp -s out/new new || fail "apply $p: output differs"
    rm -f out/new
    no_leftovers "apply $p"
done
expect "stdin BSDELTA" 0 old out/new - <p_bz
cmp -s out/new new || fail "stdin BSDELTA: output differs"
rm -f out/new
expect "verbose" 0 -v old out/new p_none
grep -q 'BSDELTA' err.txt || fail "verbose: no summary line ($(cat err.txt))"
rm -f out/new

# Failures with a pre-existing NEWFILE: exit code, and the file is untouched.
printf 'precious\n' >out/keep.new
cp out/keep.new keep.ref
head -c 2000 p_none >p_none_trunc
head -c 200 p_bz >p_bz_trunc
head -c 100 p_b40 >p_b40_trunc
head -c 40 p_none >p_hdr_trunc
cp p_none p_badsum
printf '\000\000\000\000' | dd of=p_badsum bs=1 seek=60 conv=notrunc 2>/dev/null
cp p_none p_mismatch # last byte is an extra byte of the new file: the hash check catches it
sz=$(wc -c <p_none)
printf 'Z' | dd of=p_mismatch bs=1 seek=$((sz - 1)) conv=notrunc 2>/dev/null
cp p_b40 p_b40_corrupt
printf 'XXXXXXXX' | dd of=p_b40_corrupt bs=1 seek=60 conv=notrunc 2>/dev/null
head -c 5000 /bin/sh >notpatch
cp p_bz p_trailing
printf 'x' >>p_trailing

for target in out/keep.new out/new; do
    expect "truncated BSDELTA/none ($target)" 6 old $target p_none_trunc
    expect "truncated BSDELTA/bzip2 ($target)" 6 old $target p_bz_trunc
    expect "truncated header ($target)" 6 old $target p_hdr_trunc
    expect "truncated BSDIFF40 ($target)" 6 old $target p_b40_trunc
    expect "empty patch ($target)" 6 old $target /dev/null
    expect "bad header checksum ($target)" 5 old $target p_badsum
    expect "corrupt BSDIFF40 ($target)" 5 old $target p_b40_corrupt
    expect "data after the bzip2 stream ($target)" 5 old $target p_trailing
    expect "result mismatch ($target)" 8 old $target p_mismatch
    expect "wrong base, other size ($target)" 7 short_old $target p_bz
    expect "wrong base, other content ($target)" 7 other_old $target p_none
    expect "BSDIFF40 on a shorter old ($target)" 5 short_old $target p_b40
    expect "not a patch ($target)" 4 old $target notpatch
    expect "missing old file ($target)" 2 no_such_old $target p_none
    expect "missing patch ($target)" 2 old $target no_such_patch
    expect "stdin BSDIFF40 ($target)" 4 old $target - <p_b40
    expect "stdin truncated BSDELTA ($target)" 6 old $target - <p_none_trunc
    expect "stdin wrong base ($target)" 7 short_old $target - <p_bz
    expect "max size ($target)" 9 --max-size 1k old $target p_none
    cmp -s out/keep.new keep.ref || fail "$target: the existing NEWFILE was changed"
done
[ ! -e out/new ] || fail "out/new exists after failures only"

expect "usage: no arguments" 1
expect "usage: unknown option" 1 --bogus old out/new p_none
expect "output directory missing" 3 old out/no_such_dir/new p_none
mkdir out/keep.dir
expect "NEWFILE is a directory" 3 old out/keep.dir p_none
rmdir out/keep.dir
if [ "$(id -u)" -ne 0 ]; then # root writes anywhere: the permission case needs a normal user
    mkdir ro && chmod 555 ro
    checks=$((checks + 1))
    "$BSPATCH" old ro/new p_none 2>err.txt
    rc=$?
    [ "$rc" -eq 3 ] || fail "unwritable output directory: exit $rc, want 3"
    [ -z "$(ls -A ro)" ] || fail "unwritable output directory: files left"
    chmod 755 ro
fi

# Disk full, for real: a file-size limit makes write() fail with EFBIG (SIGXFSZ ignored).
checks=$((checks + 1))
(
    trap '' XFSZ
    ulimit -f 64 2>/dev/null || exit 99 # 64 blocks: 32 or 64 KiB, below the 230 KB output
    exec "$BSPATCH" old out/new p_bz 2>err.txt
)
rc=$?
if [ "$rc" -eq 99 ]; then
    echo "note: ulimit -f unavailable; disk-full case skipped"
else
    [ "$rc" -eq 3 ] || fail "file size limit (disk full): exit $rc, want 3 ($(cat err.txt))"
    no_leftovers "file size limit (disk full)"
fi

# In-place update (NEWFILE = OLDFILE): works, and a failure leaves the old file as it was.
cp old inplace
cp old inplace.ref
checks=$((checks + 1))
"$BSPATCH" inplace inplace p_mismatch 2>/dev/null
[ $? -eq 8 ] || fail "in-place with a bad patch: wrong exit code"
cmp -s inplace inplace.ref || fail "in-place failure changed the old file"
"$BSPATCH" inplace inplace p_bz 2>err.txt || fail "in-place update failed: $(cat err.txt)"
cmp -s inplace new || fail "in-place update: output differs"
[ -z "$(ls -A . | grep '^\.inplace\.tmp-' || true)" ] || fail "in-place: temporary file left"

echo "test_bspatch_cli: $checks cases, $fails failures"
[ "$fails" -eq 0 ]
