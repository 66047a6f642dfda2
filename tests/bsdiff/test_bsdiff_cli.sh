#!/bin/sh
# test_bsdiff_cli.sh - the bsdiff command: documented exit codes, patches that bspatch applies,
# and on failure no patch file and no temporary file left behind; deflate-aware patches of the
# tar.gz pair in FIXTURE_DIR (tests/bspatch/deflate) through both commands.
# usage: test_bsdiff_cli.sh BSDIFF BSPATCH WORKDIR FIXTURE_DIR
set -u
BSDIFF=$1
BSPATCH=$2
W=$3
FX=$4
rm -rf "$W"
mkdir -p "$W/out" || exit 2
cd "$W" || exit 2
fails=0
checks=0
fail() {
    echo "FAILED: $*" >&2
    fails=$((fails + 1))
}
seq 1 60000 >old
sed -e 's/^1234$/line changed/' -e '500d' -e '30000a\
an inserted line' old >new
printf 'tail\n' >>new

# run PROGRAM NAME CODE ARGS...: run the program, check the exit code.
run() {
    prog=$1
    name=$2
    want=$3
    shift 3
    checks=$((checks + 1))
    "$prog" "$@" >stdout.txt 2>stderr.txt
    got=$?
    [ "$got" = "$want" ] || fail "$name: exit $got, expected $want ($(cat stderr.txt))"
}
# expect NAME CODE ARGS...: run bsdiff, check the exit code.
expect() { run "$BSDIFF" "$@"; }
no_leftovers() {
    left=$(ls -A out | grep -v '^keep' || true)
    [ -z "$left" ] || fail "$1: left behind: $left"
}

expect help 0 --help
grep -q "Exit codes" stdout.txt || fail "help lacks the exit codes"
for fmt in bsdelta bsdiff40; do
    for j in 1 2; do
        expect "diff $fmt -j$j" 0 --format $fmt -j $j old new out/p.$fmt.$j
        checks=$((checks + 1))
        "$BSPATCH" old out/n.$fmt new_unused 2>/dev/null >/dev/null
        "$BSPATCH" old out/n.$fmt out/p.$fmt.$j >/dev/null 2>&1 && cmp -s out/n.$fmt new ||
            fail "bspatch does not rebuild new from the $fmt patch (-j$j)"
    done
    checks=$((checks + 1))
    cmp -s out/p.$fmt.1 out/p.$fmt.2 || fail "$fmt: -j1 and -j2 patches differ"
done
# --bz-search: auto is on for bsdiff40 and off for bsdelta; every mode's patch applies
for fmt in bsdelta bsdiff40; do
    for m in auto on off; do
        expect "$fmt --bz-search $m" 0 --format $fmt --bz-search $m old new out/s.$fmt.$m
        checks=$((checks + 1))
        "$BSPATCH" old out/n.s out/s.$fmt.$m >/dev/null 2>&1 && cmp -s out/n.s new ||
            fail "bspatch does not rebuild new from the $fmt --bz-search $m patch"
    done
done
checks=$((checks + 3))
cmp -s out/s.bsdiff40.auto out/p.bsdiff40.1 || fail "bsdiff40: --bz-search auto is not the default"
cmp -s out/s.bsdiff40.auto out/s.bsdiff40.on || fail "bsdiff40: --bz-search auto is not on"
cmp -s out/s.bsdelta.auto out/s.bsdelta.off || fail "bsdelta: --bz-search auto is not off"
expect "bad --bz-search" 1 --bz-search maybe old new out/p
expect verbose 0 -v --level 5 old new out/pv
grep -q "sort" stderr.txt && grep -q "patch" stderr.txt || fail "-v prints no timings"
rm -f out/*

expect "no arguments" 1
expect "two arguments" 1 old new
expect "unknown option" 1 --frobnicate old new out/p
expect "bad format" 1 --format zip old new out/p
expect "bad -j" 1 -j x old new out/p
expect "bad level" 1 --level 12 old new out/p
no_leftovers usage
expect "missing old" 2 nonexistent new out/p
expect "missing new" 2 old nonexistent out/p
expect "directory input" 2 out new out/p
no_leftovers inputs
cp old out/keep_old
expect "output is old" 2 out/keep_old new out/keep_old
checks=$((checks + 1))
cmp -s out/keep_old old || fail "the old file was modified"
ln -s keep_old out/keep_link
expect "output is a link to old" 2 out/keep_old new out/keep_link
expect "output directory missing" 3 old new nodir/p
expect "memory cap" 4 --mem-limit 1M old new out/p
no_leftovers failures

# Deflate-aware patches: --deflate auto|off and the header flag (byte 57), the exact rebuild
# from a file and from stdin, and after every success and failure neither bspatch's scratch
# file (.bsdelta-scratch-*) nor its temporary output (.NAME.tmp-*) left beside NEWFILE.
gz_old=$FX/pair_tar_old.tar.gz
gz_new=$FX/pair_tar_new.tar.gz
flag() { od -A n -t u1 -j 57 -N 1 "$1" | tr -d ' '; }
# patch_expect NAME CODE ARGS...: run bspatch, check the exit code and that out/ holds nothing
# but out/new (on success, compared with gz_new, then removed) and keep.*.
patch_expect() {
    run "$BSPATCH" "$@"
    if [ "$2" = 0 ]; then
        cmp -s out/new "$gz_new" || fail "$1: output differs"
        rm -f out/new
    fi
    no_leftovers "$1"
}
expect "deflate -v" 0 -v "$gz_old" "$gz_new" p_dfl
grep -q "deflate-aware" stderr.txt || fail "bsdiff -v does not say deflate-aware ($(cat stderr.txt))"
[ "$(flag p_dfl)" = 1 ] || fail "the default patch of a tar.gz: byte 57 is $(flag p_dfl), expected 1"
expect "--deflate auto" 0 --deflate auto "$gz_old" "$gz_new" p_dfl_auto
cmp -s p_dfl p_dfl_auto || fail "--deflate auto differs from the default"
for j in 1 4; do
    expect "deflate -j$j" 0 -j $j "$gz_old" "$gz_new" p_dfl_j$j
    cmp -s p_dfl p_dfl_j$j || fail "deflate-aware: -j$j gives another patch"
done
expect "--deflate off" 0 -v --deflate off "$gz_old" "$gz_new" p_dfl_off
[ "$(flag p_dfl_off)" = 0 ] || fail "--deflate off: byte 57 is $(flag p_dfl_off), expected 0"
grep -q "deflate-aware" stderr.txt && fail "--deflate off still says deflate-aware"
checks=$((checks + 1))
[ "$(wc -c <p_dfl_off)" -ge $((8 * $(wc -c <p_dfl))) ] || fail "the deflate-aware patch" \
    "($(wc -c <p_dfl) bytes) is not 8x smaller than --deflate off's ($(wc -c <p_dfl_off))"
expect "deflate BSDIFF40" 0 --format bsdiff40 "$gz_old" "$gz_new" p_dfl_40
[ "$(head -c 8 p_dfl_40)" = BSDIFF40 ] || fail "--format bsdiff40 writes no BSDIFF40 magic"
expect "--deflate bogus" 1 --deflate bogus "$gz_old" "$gz_new" out/p
expect "--deflate without a mode" 1 "$gz_old" "$gz_new" out/p --deflate
no_leftovers "--deflate usage"
for p in p_dfl p_dfl_off p_dfl_40; do
    patch_expect "apply $p" 0 "$gz_old" out/new $p
done
checks=$((checks + 1))
"$BSPATCH" "$gz_old" out/new - <p_dfl 2>stderr.txt || fail "deflate-aware from stdin ($(cat stderr.txt))"
cmp -s out/new "$gz_new" || fail "deflate-aware from stdin: output differs"
rm -f out/new
no_leftovers "deflate-aware from stdin"
cp "$gz_old" out/keep_new
head -c $(($(wc -c <p_dfl) - 10)) p_dfl >p_dfl_cut
head -c 70 p_dfl >p_dfl_cut_section
cp p_dfl p_dfl_flipped
printf '\377' | dd of=p_dfl_flipped bs=1 seek=70 conv=notrunc 2>/dev/null
patch_expect "deflate-aware on the wrong old file" 7 "$gz_new" out/new p_dfl
patch_expect "deflate-aware, NEWFILE exists" 7 "$gz_new" out/keep_new p_dfl
cmp -s out/keep_new "$gz_old" || fail "a failed patch changed the existing NEWFILE"
patch_expect "deflate-aware cut in its body" 6 "$gz_old" out/new p_dfl_cut
patch_expect "deflate-aware cut in its section" 6 "$gz_old" out/new p_dfl_cut_section
patch_expect "deflate section damaged" 5 "$gz_old" out/new p_dfl_flipped
checks=$((checks + 1))
"$BSPATCH" "$gz_old" out/new - <p_dfl_cut 2>/dev/null
[ $? = 6 ] || fail "deflate-aware cut, from stdin: not exit 6"
no_leftovers "deflate-aware cut, from stdin"
rm -f out/keep_new
# Where the scratch file lives: created beside NEWFILE and unlinked at once (only where strace
# runs; the checks above hold either way).
if strace -f -o /dev/null true 2>/dev/null; then
    checks=$((checks + 1))
    strace -f -e trace=openat,unlink,unlinkat -o trace.txt "$BSPATCH" "$gz_old" out/new p_dfl 2>/dev/null
    grep -q 'openat(.*out/\.bsdelta-scratch-' trace.txt || fail "no scratch file opened in out/"
    grep -q 'unlink.*out/\.bsdelta-scratch-' trace.txt || fail "the scratch file is not unlinked"
    rm -f out/new
else
    echo "strace unavailable: where the scratch file lives is not checked"
fi

# Large inputs are mapped: an input truncated while the diff runs must end it with exit 2, a
# message and no patch or temporary file (not a crash). Unrelated random inputs keep the diff
# busy for a second or more; the truncation comes once the temporary output exists.
head -c 16000000 /dev/urandom >big_old
head -c 16000000 /dev/urandom >big_new
checks=$((checks + 1))
"$BSDIFF" -j 1 big_old big_new out/pbig >stdout.txt 2>stderr.txt &
pid=$!
n=0
while ! ls -A out | grep -q '^\.pbig' && [ $n -lt 1000 ]; do sleep 0.01; n=$((n + 1)); done
[ $n -lt 1000 ] || fail "no temporary output appeared within 10 s"
: >big_old
wait $pid
got=$?
[ "$got" = 2 ] || fail "input truncated during the diff: exit $got, expected 2 ($(cat stderr.txt))"
grep -q "shrank" stderr.txt || fail "input truncated during the diff: no message ($(cat stderr.txt))"
no_leftovers "truncated input"
rm -f big_old big_new

echo "test_bsdiff_cli: $checks checks, $fails failures"
[ "$fails" = 0 ]
