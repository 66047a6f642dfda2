#!/bin/sh
# test_bsdiff_cli.sh - the bsdiff command: documented exit codes, patches that bspatch applies,
# and on failure no patch file and no temporary file left behind.
# usage: test_bsdiff_cli.sh BSDIFF BSPATCH WORKDIR
set -u
BSDIFF=$1
BSPATCH=$2
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
seq 1 60000 >old
sed -e 's/^1234$/line changed/' -e '500d' -e '30000a\
an inserted line' old >new
printf 'tail\n' >>new

# expect NAME CODE ARGS...: run bsdiff, check the exit code.
expect() {
    name=$1
    want=$2
    shift 2
    checks=$((checks + 1))
    "$BSDIFF" "$@" >stdout.txt 2>stderr.txt
    got=$?
    [ "$got" = "$want" ] || fail "$name: exit $got, expected $want ($(cat stderr.txt))"
}
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
