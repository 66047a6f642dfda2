# pkgtool_testlib.sh - shared helpers of the pkgtool shell tests (sourced, not run).
# Each test is called as: bash TEST.sh PKGTOOL BSPATCH SAMPLE_APP_DIR
# and works in its own temporary directory, removed on exit unless the test failed.

set -u
PKGTOOL=$(realpath "${1:?usage: TEST.sh PKGTOOL BSPATCH SAMPLE_APP_DIR}")
BSPATCH=$(realpath "${2:?}")
SAMPLE=$(realpath "${3:?}")
TEST_NAME=$(basename "$0" .sh)
T=$(mktemp -d "${TMPDIR:-/tmp}/$TEST_NAME.XXXXXX")
FAILED=0
CHECKS=0
cleanup() {
    if [ "$FAILED" -eq 0 ] && [ -z "${PKGTOOL_TEST_KEEP:-}" ]; then rm -rf "$T"; else echo "$TEST_NAME: work files kept in $T" >&2; fi
}
trap cleanup EXIT
cd "$T" || exit 1
# Fixed creation time: indexes of two runs compare byte for byte.
export SOURCE_DATE_EPOCH=1700000000
unset PKGTOOL_KILL_AT

fail() {
    echo "FAIL: $*" >&2
    FAILED=$((FAILED + 1))
}
ok() { CHECKS=$((CHECKS + 1)); }
# check DESCRIPTION COMMAND...: the command must succeed
check() {
    local what=$1
    shift
    if "$@"; then ok; else fail "$what"; fi
}
# not COMMAND...: succeeds when the command fails
not() { ! "$@"; }
finish() {
    if [ "$FAILED" -ne 0 ]; then
        echo "$TEST_NAME: $FAILED of $((CHECKS + FAILED)) checks failed" >&2
        exit 1
    fi
    echo "$TEST_NAME: all $CHECKS checks passed"
    exit 0
}
need_tools() {
    local t
    for t in "$@"; do
        if ! command -v "$t" >/dev/null 2>&1; then
            echo "$TEST_NAME: $t is not installed; skipping" >&2
            trap - EXIT
            rm -rf "$T"
            exit 77
        fi
    done
}

# run CMD...: runs a command, keeping its stdout in $OUT, stderr in $ERR and status in $RC.
run() {
    OUT=$("$@" 2>"$T/.stderr")
    RC=$?
    ERR=$(cat "$T/.stderr")
}
# expect_rc WANT DESCRIPTION: checks $RC from the last run
expect_rc() {
    if [ "$RC" -eq "$1" ]; then ok; else fail "$2: exit $RC, expected $1 (stderr: $ERR)"; fi
}
# expect_in TEXT NEEDLE DESCRIPTION
expect_in() {
    case $1 in
    *"$2"*) ok ;;
    *) fail "$3: '$2' not found in: $1" ;;
    esac
}
expect_eq() {
    if [ "$1" = "$2" ]; then ok; else fail "$3: got '$1', expected '$2'"; fi
}

# jget JSON KEY [N]: the Nth (default 1st) value of "KEY" in a one-line JSON text, with the
# quotes of a string removed. pkgtool check prints fixed key order, so occurrence numbers are
# stable: "from" and "to" objects hold only label, id and min_native.
jget() {
    printf '%s\n' "$1" | grep -o "\"$2\": \(\"[^\"]*\"\|[0-9.]\+\|true\|false\|null\)" |
        sed -n "${3:-1}p" | sed 's/^"[^"]*": //; s/^"\(.*\)"$/\1/'
}
# jafter JSON KEY: the text after the first "KEY": (to look inside a nested object)
jafter() { printf '%s\n' "$1" | sed "s/^.*\"$2\": //"; }

sha256() { sha256sum "$1" | cut -d' ' -f1; }
fsize() { stat -c %s "$1"; }
# pack_id INPUT OUT.zip: packs and prints the bundle id (empty on failure)
pack_id() { "$PKGTOOL" pack "$1" -o "$2" 2>/dev/null | cut -d' ' -f1; }
# snapshot DIR: every file below DIR with its SHA-256, sorted (to compare a store before/after)
snapshot() { (cd "$1" && find . -type f -print0 | sort -z | xargs -0 -r sha256sum); }
# release STORE LABEL INPUT [options...]: a release that must succeed
release() {
    local store=$1 label=$2 input=$3
    shift 3
    if "$PKGTOOL" release --store "$store" --app demo --label "$label" "$@" "$input" >"$T/.rel.out" 2>&1; then
        ok
    else
        fail "release $label into $store: $(cat "$T/.rel.out")"
    fi
}
# the three sample releases into STORE
three_releases() {
    release "$1" v1 "$SAMPLE/v1"
    release "$1" v2 "$SAMPLE/v2"
    release "$1" v3 "$SAMPLE/v3"
}
