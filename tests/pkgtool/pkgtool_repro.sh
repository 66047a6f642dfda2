# pkgtool_repro.sh - the same tree gives byte-identical bundles and the same id whatever the
# file times, umask/permissions, creation order, time zone, locale or container (directory,
# tar.gz, deflated zip); re-packing a bundle is a no-op; SOURCE_DATE_EPOCH makes the index
# deterministic.
. "$(dirname "$0")/pkgtool_testlib.sh"
need_tools zip tar gzip cmp

# The tree: the sample app's v3, plus an executable, an empty file, a deeper directory and a
# non-ASCII name.
files=$(cd "$SAMPLE/v3" && find . -type f | sed 's,^\./,,' | sort)
make_tree() { # DIR ORDER(forward|reverse)
    local dir=$1 list f
    if [ "$2" = forward ]; then list=$files; else list=$(printf '%s\n' "$files" | sort -r); fi
    mkdir -p "$dir"
    if [ "$2" = reverse ]; then
        printf '#!/bin/sh\necho run\n' >"$dir/run.sh"
        mkdir -p "$dir/a/b/c" && printf 'deep\n' >"$dir/a/b/c/deep.txt"
        : >"$dir/empty.txt"
        printf 'caf\303\251\n' >"$dir/caf$(printf '\303\251').txt"
    fi
    for f in $list; do
        mkdir -p "$dir/$(dirname "$f")"
        cat "$SAMPLE/v3/$f" >"$dir/$f"
    done
    if [ "$2" = forward ]; then
        printf 'caf\303\251\n' >"$dir/caf$(printf '\303\251').txt"
        : >"$dir/empty.txt"
        mkdir -p "$dir/a/b/c" && printf 'deep\n' >"$dir/a/b/c/deep.txt"
        printf '#!/bin/sh\necho run\n' >"$dir/run.sh"
    fi
}

(umask 022 && make_tree A forward)
(umask 077 && make_tree B reverse)
chmod 0755 A/run.sh
chmod 0700 B/run.sh
find A -exec touch -h -d '2001-02-03 04:05:06' {} +
find B -exec touch -h -d '2031-12-30 23:59:59' {} +
check "umask 077 tree has 0600 files" test "$(stat -c %a B/index.html)" = 600
check "umask 022 tree has 0644 files" test "$(stat -c %a A/index.html)" = 644

idA=$(pack_id A a.zip)
idB=$(TZ=Pacific/Kiritimati LC_ALL=C.UTF-8 pack_id B b.zip)
check "directory A packs" test -n "$idA"
check "times, umask, order, TZ, locale: byte-identical bundles" cmp -s a.zip b.zip
expect_eq "$idB" "$idA" "same bundle id"
expect_eq "$(sha256 a.zip)" "$idA" "the bundle id is the SHA-256 of the bundle"

# the exec bit is kept (and matters): the manifest says so and dropping it changes the id
unzip -p a.zip .bsdelta/manifest.json >manifest.json 2>/dev/null
check "manifest marks run.sh executable" grep -q '"path":"run.sh",.*"exec":true' manifest.json
check "manifest lists every file" test "$(grep -c '"path":' manifest.json)" -eq $(($(printf '%s\n' "$files" | wc -l) + 4))
chmod 0644 B/run.sh
idNoExec=$(pack_id B noexec.zip)
check "dropping the exec bit changes the bundle" test -n "$idNoExec" -a "$idNoExec" != "$idA"
chmod 0700 B/run.sh

# archives of the same tree: tar.gz and a deflated zip made by Debian's tar and zip
tar -czf A.tar.gz -C A .
(cd B && zip -q -r -9 ../B.zip .)
check "the zip input is deflated" sh -c "unzip -v B.zip | grep -q Defl"
idT=$(pack_id A.tar.gz t.zip)
idZ=$(pack_id B.zip z.zip)
check "tar.gz input gives the same bytes" cmp -s a.zip t.zip
check "deflated zip input gives the same bytes" cmp -s a.zip z.zip
expect_eq "$idT/$idZ" "$idA/$idA" "archive inputs give the same id"

# a tar of the tree listed in a different order, with ./ prefixes
(cd A && find . -type f | sort -r >../list.txt && tar -cf ../A-rev.tar -T ../list.txt)
idR=$(pack_id A-rev.tar r.zip)
expect_eq "$idR" "$idA" "tar with entries in reverse order"

# packing a bundle again gives the same bytes
idAA=$(pack_id a.zip aa.zip)
check "re-packing a bundle is a no-op" cmp -s a.zip aa.zip
expect_eq "$idAA" "$idA" "re-packed id"

# SOURCE_DATE_EPOCH: two stores of the same three releases are identical
mkdir -p s1 s2
three_releases s1/store
(cd s2 && TZ=Asia/Tokyo three_releases store)
check "same SOURCE_DATE_EPOCH: byte-identical index.json" cmp -s s1/store/demo/index.json s2/store/demo/index.json
check "same SOURCE_DATE_EPOCH: identical file sets and contents" \
    test "$(snapshot s1/store)" = "$(snapshot s2/store)"
check "the index records SOURCE_DATE_EPOCH as the creation time" \
    grep -q '"created": "2023-11-14T22:13:20Z"' s1/store/demo/index.json
SOURCE_DATE_EPOCH=1800000000 three_releases s3
check "another SOURCE_DATE_EPOCH gives another index" not cmp -s s1/store/demo/index.json s3/demo/index.json

finish
