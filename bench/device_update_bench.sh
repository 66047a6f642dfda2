#!/usr/bin/env bash
# device_update_bench.sh - the device figure of issue 6: peak RSS and wall time of `pkgtool
# update` bringing a ~20 MB bundle from one release to the next over HTTP (a private nginx on
# 127.0.0.1), by patch, by full bundle, and the up-to-date check (index only: the floor of
# libcurl + OpenSSL start-up); for reference, our bspatch on the same patch file and Debian's
# bspatch 4.3 on a bsdiff 4.3 patch between the same two bundles (the classic baseline).
# Two app versions made of real corpus pairs: lib/typescript.js (typescript 5.4.4 -> 5.4.5),
# bin/esbuild (esbuild 0.21.4 -> 0.21.5), lib/react-dom.js (react-dom 18.2.0 -> 18.3.0).
# Every update is checked (JSON result and method, installed files equal the new tree).
# Prints a markdown table (medians of N runs, max RSS) and the goal line; exit 1 when an
# update or apply fails or its output differs (not when the goal is missed: a measurement).
#
# usage: bench/device_update_bench.sh [--build DIR] [--runs N]
#   DIR: a CMake build of the tree (default: build); needs DIR/pkgtool/pkgtool,
#        DIR/bspatch/bspatch, DIR/bench/bsdelta-bench-exec (else compiled from rusage_exec.c)
#   N:   measured runs of each row (default 5)
# Needs nginx (nginx-light), python3, and for the baseline /usr/bin/bsdiff and /usr/bin/bspatch
# (bsdiff 4.3): scripts/setup-deps.sh bench. Work files go to $TMPDIR (default /tmp).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=$here/build
runs=5
while [ $# -gt 0 ]; do
    case $1 in
    --build) build=$(cd "$2" && pwd); shift ;;
    --runs) runs=$2; shift ;;
    -h | --help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument $1 (see --help)" >&2; exit 1 ;;
    esac
    shift
done
[[ $runs =~ ^[1-9][0-9]*$ ]] || { echo "--runs needs a positive number" >&2; exit 1; }
pkgtool=$build/pkgtool/pkgtool
bspatch=$build/bspatch/bspatch
for b in "$pkgtool" "$bspatch"; do
    [ -x "$b" ] || { echo "missing $b: build first (cmake --build $build)" >&2; exit 1; }
done
command -v python3 >/dev/null || { echo "python3 is needed (scripts/setup-deps.sh bench)" >&2; exit 1; }
bsdiff43=/usr/bin/bsdiff
bspatch43=/usr/bin/bspatch
have43=1
[ -x "$bsdiff43" ] && [ -x "$bspatch43" ] || have43=

cases=(typescript-patch esbuild-bin react-dom-dev)
fetch_args=()
for c in "${cases[@]}"; do fetch_args+=(--case "$c"); done
"$here/corpus/fetch.sh" "${fetch_args[@]}" >&2
cache=${BSDELTA_CORPUS_CACHE:-$here/corpus/cache}

work=$(mktemp -d "${TMPDIR:-/tmp}/device-bench.XXXXXX")
# the nginx helper of the device tests; our EXIT trap already names httpd_stop_all, so it does
# not chain another. set +e: one failed kill must not skip the removal of the work directory.
# shellcheck source=tests/device/httpd.sh
. "$here/tests/device/httpd.sh"
trap 'set +e; httpd_stop_all; rm -rf "$work"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
# the client must reach 127.0.0.1 directly whatever proxy the machine is configured with
unset http_proxy HTTP_PROXY https_proxy HTTPS_PROXY all_proxy ALL_PROXY
export no_proxy=127.0.0.1,localhost NO_PROXY=127.0.0.1,localhost
log() { echo "device_update_bench: $*" >&2; }
die() { log "FAILED: $*"; exit 1; }

exe=$build/bench/bsdelta-bench-exec
if [ ! -x "$exe" ]; then
    # build directories configured before bench/ existed (as bench/harness.py does)
    cc=$(command -v cc || command -v gcc || command -v clang) || die "$exe not built and no C compiler"
    exe=$work/bsdelta-bench-exec
    "$cc" -std=c11 -O2 -o "$exe" "$here/bench/rusage_exec.c"
fi

# ---------------------------------------------------------------- the two app versions, the store
for v in old new; do
    mkdir -p "$work/$v/lib" "$work/$v/bin"
    cp "$cache/typescript-patch/$v" "$work/$v/lib/typescript.js"
    cp "$cache/esbuild-bin/$v" "$work/$v/bin/esbuild"
    cp "$cache/react-dom-dev/$v" "$work/$v/lib/react-dom.js"
    chmod 755 "$work/$v/bin/esbuild"
done
store=$work/store
key=$work/key
# fixed creation time (reproducible bundles and index); the expiry is 100 years after it, so
# the signed index of a past date is still valid for the client
export SOURCE_DATE_EPOCH=1700000000
"$pkgtool" keygen --out "$key" >/dev/null
"$pkgtool" release --store "$store" --app big --label 1.0 --sign "$key.key" --expires-in 36500 \
    "$work/old" >"$work/rel1.out" 2>&1 || { cat "$work/rel1.out" >&2; die "release 1.0"; }
"$pkgtool" release --store "$store" --app big --label 2.0 --sign "$key.key" --expires-in 36500 \
    "$work/new" >"$work/rel2.out" 2>&1 || { cat "$work/rel2.out" >&2; die "release 2.0"; }
bundle_id() { grep -o 'bundle [0-9a-f]\{64\}' "$1" | head -1 | cut -d' ' -f2; }
old_id=$(bundle_id "$work/rel1.out")
new_id=$(bundle_id "$work/rel2.out")
old_zip=$store/big/bundles/$old_id.zip
new_zip=$store/big/bundles/$new_id.zip
patch=$store/big/patches/$old_id-$new_id.bsdelta
for f in "$old_zip" "$new_zip" "$patch"; do [ -f "$f" ] || die "the store has no $f"; done
fsize() { stat -c %s "$1"; }

if [ -n "$have43" ]; then
    log "bsdiff 4.3 between the two bundles (once)"
    "$bsdiff43" "$old_zip" "$new_zip" "$work/bundle.bsdiff43" || die "bsdiff 4.3"
fi

httpd_start "$store" "$work/nginx" || die "nginx does not start"
url=$HTTPD_URL

# ---------------------------------------------------------------- measuring
# measure ROW OUTFILE CMD...: runs CMD under bsdelta-bench-exec (stdout to OUTFILE, stderr to
# $work/last.err); appends "wall maxrss_kb" to $work/ROW.m; fails on a non-zero exit
measure() {
    local row=$1 out=$2 res
    shift 2
    "$exe" -t 600 -o "$work/last.res" -- "$@" >"$out" 2>"$work/last.err" || die "bsdelta-bench-exec $*"
    res=$(cat "$work/last.res")
    case $res in
    "status=exited code=0 "*) ;;
    *) cat "$work/last.err" "$out" >&2; die "$row: $* ($res)" ;;
    esac
    [[ $res =~ \ wall=([^ ]+)\ .*\ maxrss_kb=([0-9]+) ]] || die "bsdelta-bench-exec wrote: $res"
    echo "${BASH_REMATCH[1]} ${BASH_REMATCH[2]}" >>"$work/$row.m"
}
# jfield FILE KEY...: the values of the JSON object in FILE, one line
jfield() {
    python3 - "$@" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
print(" ".join(str(d.get(k)) for k in sys.argv[2:]))
EOF
}
# served: bytes of response bodies nginx logged since line $1 of its access log
served() { tail -n "+$(($1 + 1))" "$HTTPD_LOG" | awk '{s += $NF} END {print s + 0}'; }
loglines() { wc -l <"$HTTPD_LOG"; }
# update ROW D EXPECT_RESULT EXPECT_METHOD [--full]: one measured pkgtool update of D
update() {
    local row=$1 d=$2 want_r=$3 want_m=$4 n got
    shift 4
    n=$(loglines)
    measure "$row" "$work/update.json" "$pkgtool" update -q --install-dir "$d" --store "$url" --app big \
        --native 1 --trust "$key.pub" --json "$@"
    got=$(jfield "$work/update.json" result method bytes_fetched) || { cat "$work/update.json" >&2; die "$row: no JSON"; }
    [ "${got% *}" = "$want_r $want_m" ] || { cat "$work/update.json" >&2; die "$row: result/method ${got% *}, expected $want_r $want_m"; }
    [ "${got##* }" = "$(served "$n")" ] ||
        log "warning: $row: pkgtool counted ${got##* } bytes fetched, nginx served $(served "$n")"
    echo "${got##* }" >>"$work/$row.bytes"
}
seed() { # D: a fresh install directory holding the old release, as shipped in the app
    rm -rf "$1"
    "$pkgtool" install --install-dir "$1" --app big "$old_zip" >"$work/install.out" 2>&1 ||
        { cat "$work/install.out" >&2; die "pkgtool install"; }
}
same_tree() { # ROW D: D/current must hold exactly the new tree
    diff -r "$1/current" "$work/new" >"$work/diff.out" 2>&1 || { head -5 "$work/diff.out" >&2; die "$2: installed files differ from the new tree"; }
}

load0=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?')
for i in $(seq "$runs"); do
    log "run $i/$runs"
    d=$work/D
    seed "$d"
    update patch "$d" updated patch
    same_tree "$d" "update via patch"
    update uptodate "$d" up_to_date none
    seed "$d"
    update full "$d" updated full --full
    same_tree "$d" "update via full bundle"
    rm -rf "$d"

    measure ours "$work/bspatch.out" "$bspatch" "$old_zip" "$work/out.zip" "$patch"
    cmp -s "$work/out.zip" "$new_zip" || die "our bspatch: output differs from the new bundle"
    rm -f "$work/out.zip"
    if [ -n "$have43" ]; then
        measure classic "$work/bspatch.out" "$bspatch43" "$old_zip" "$work/out.zip" "$work/bundle.bsdiff43"
        cmp -s "$work/out.zip" "$new_zip" || die "bspatch 4.3: output differs from the new bundle"
        rm -f "$work/out.zip"
    fi
done
load1=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?')

# ---------------------------------------------------------------- the table
median() { sort -g | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
mib() { awk -v k="$1" 'BEGIN {printf "%.1f", k / 1024}'; }
col() { cut -d' ' -f"$2" "$work/$1.m"; }
row() { # ROW LABEL BYTES
    local r=$1
    if [ ! -s "$work/$r.m" ]; then
        printf '| %s | n/a | n/a | n/a | %s |\n' "$2" "$3"
        return
    fi
    printf '| %s | %.3f | %s | %s | %s |\n' "$2" "$(col "$r" 1 | median)" "$(mib "$(col "$r" 2 | median)")" \
        "$(mib "$(col "$r" 2 | sort -n | tail -1)")" "$3"
}
bytes() { sed ':a;s/\B[0-9]\{3\}\>/,&/;ta' <<<"$1"; }
dl() { bytes "$(median <"$work/$1.bytes")"; }
p43=n/a
[ -z "$have43" ] || p43=$(bytes "$(fsize "$work/bundle.bsdiff43")")
echo "| measure (median of $runs runs) | wall s | peak RSS MiB | max peak RSS MiB | bytes downloaded / patch size |"
echo "|---|---:|---:|---:|---:|"
row patch "\`pkgtool update\`, by patch (HTTP)" "$(dl patch)"
row full "\`pkgtool update --full\`, full bundle (HTTP)" "$(dl full)"
row uptodate "\`pkgtool update\`, up to date (index only)" "$(dl uptodate)"
row ours "our \`bspatch\`, same patch, local files" "$(bytes "$(fsize "$patch")")"
row classic "bspatch 4.3 on bsdiff 4.3's patch, local files" "$p43"
[ -n "$have43" ] || echo "(bsdiff 4.3 not installed: its row is n/a; scripts/setup-deps.sh bench installs it)"
echo
echo "Bundles: old $(bytes "$(fsize "$old_zip")") bytes, new $(bytes "$(fsize "$new_zip")") bytes" \
    "(3 files: lib/typescript.js, bin/esbuild, lib/react-dom.js); our patch $(bytes "$(fsize "$patch")") bytes," \
    "bsdiff 4.3's $p43 bytes. Bytes downloaded: index, signature and patch or bundle, as counted by" \
    "\`pkgtool update --json\` (bytes_fetched). Work files on $(stat -f -c %T "$work") ($(df --output=target "$work" | tail -1));" \
    "load average before/after: $load0 / $load1 on $(nproc) cores."
echo
max=$(mib "$(col patch 2 | sort -n | tail -1)")
goal=$(awk -v m="$max" 'BEGIN {print (m < 32) ? "met" : "NOT met"}')
echo "goal: peak RSS of update via patch < 32 MiB: $goal (max $max MiB)"
