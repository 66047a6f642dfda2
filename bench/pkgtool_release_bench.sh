#!/usr/bin/env bash
# pkgtool_release_bench.sh - the two release figures of issue 5, on the real corpus:
#  (a) patch size of a release made from deflated-zip inputs (pkgtool re-packs them into
#      canonical stored bundles) vs our bsdiff between the two stored zips of the same package
#      (goal: <= 2x), and vs bsdiff between the deflated zips themselves (today's tools);
#  (b) wall time of a release of a ~10 MB bundle against 5 retained bundles vs one bsdiff of
#      that size (goal: <= 4x).
# Times are the median of 3 runs. Everything is written to a temporary directory.
#
# usage: bench/pkgtool_release_bench.sh [--build DIR] [--runs N]
#   DIR: a CMake build of the tree (default: build); needs DIR/pkgtool/pkgtool, DIR/bsdiff/bsdiff
# The corpus cases are fetched with corpus/fetch.sh (network once, then corpus/cache/).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=$here/build
runs=3
while [ $# -gt 0 ]; do
    case $1 in
    --build) build=$(cd "$2" && pwd); shift ;;
    --runs) runs=$2; shift ;;
    -h | --help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument $1 (see --help)" >&2; exit 1 ;;
    esac
    shift
done
pkgtool=$build/pkgtool/pkgtool
bsdiff=$build/bsdiff/bsdiff
for b in "$pkgtool" "$bsdiff"; do
    [ -x "$b" ] || { echo "missing $b: build first (cmake --build $build)" >&2; exit 1; }
done
command -v unzip >/dev/null || { echo "unzip is needed" >&2; exit 1; }

cases=(leaflet-zip-deflate leaflet-zip-store bootstrap-zip-deflate bootstrap-zip-store)
fetch_args=()
for c in "${cases[@]}"; do fetch_args+=(--case "$c"); done
"$here/corpus/fetch.sh" "${fetch_args[@]}" >&2
cache=${BSDELTA_CORPUS_CACHE:-$here/corpus/cache}

work=$(mktemp -d "${TMPDIR:-/tmp}/pkgtool-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
export SOURCE_DATE_EPOCH=1700000000

# timed OUT_VAR CMD...: runs CMD (output to $work/last.out), sets OUT_VAR to "wall cpu" seconds
# (cpu = user + sys of the command and its children)
TIMEFORMAT='%R %U %S'
timed() {
    local _var=$1 _tm
    shift
    _tm=$({ time "$@" >"$work/last.out" 2>&1; } 2>&1) || { cat "$work/last.out" >&2; exit 1; }
    printf -v "$_var" '%s' "$(tail -1 <<<"$_tm" | awk '{printf "%.3f %.3f", $1, $2 + $3}')"
}
# median of the numbers on stdin
median() { sort -g | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
fsize() { stat -c %s "$1"; }
kb() { awk -v b="$1" 'BEGIN {printf "%.1f", b / 1024}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }

# ---------------------------------------------------------------- (a) patch sizes
echo
echo "(a) patch size: release from deflated zips vs bsdiff of the stored zips (goal: <= 2.00x)"
printf '%-10s %12s %16s %16s %16s %8s\n' package "full bundle" "pkgtool release" "bsdiff stored" "bsdiff deflated" "ratio"
for pkg in leaflet bootstrap; do
    d=$cache/$pkg-zip-deflate
    s=$cache/$pkg-zip-store
    st=$work/store-$pkg
    "$pkgtool" release --store "$st" --app "$pkg" --label old "$d/old" >/dev/null 2>&1
    "$pkgtool" release --store "$st" --app "$pkg" --label new "$d/new" >/dev/null 2>&1
    patch=$(ls "$st/$pkg/patches/"*.bsdelta 2>/dev/null | head -1)
    [ -n "$patch" ] || { echo "$pkg: the release kept no patch" >&2; exit 1; }
    rel=$(fsize "$patch")
    full=$(fsize "$(ls -t "$st/$pkg/bundles/"*.zip | head -1)")
    "$bsdiff" "$s/old" "$s/new" "$work/$pkg-store.patch"
    "$bsdiff" "$d/old" "$d/new" "$work/$pkg-deflate.patch"
    ps=$(fsize "$work/$pkg-store.patch")
    pd=$(fsize "$work/$pkg-deflate.patch")
    printf '%-10s %9s KiB %12s KiB %12s KiB %12s KiB %7sx\n' "$pkg" "$(kb "$full")" "$(kb "$rel")" "$(kb "$ps")" \
        "$(kb "$pd")" "$(ratio "$rel" "$ps")"
    printf '%-10s %12s %15s%% %15s%% %15s%%\n' "" "% of full:" "$(awk -v a="$rel" -v b="$full" 'BEGIN{printf "%.1f", 100*a/b}')" \
        "$(awk -v a="$ps" -v b="$(fsize "$s/new")" 'BEGIN{printf "%.1f", 100*a/b}')" \
        "$(awk -v a="$pd" -v b="$(fsize "$d/new")" 'BEGIN{printf "%.1f", 100*a/b}')"
done

# ---------------------------------------------------------------- (b) release time
# Five earlier releases: bootstrap 5.3.2 and four successors, each with one more small edit
# (a build comment appended to one of its biggest .js/.css files); then bootstrap 5.3.3 (the
# stored zip as it is, ~10 MB) is released with --keep 6, so it is diffed against 5 bundles.
echo
echo "(b) release of a ~10 MB bundle against 5 retained bundles vs one bsdiff (goal: <= 4.00x)"
src=$work/b-old
mkdir -p "$src"
unzip -q "$cache/bootstrap-zip-store/old" -d "$src"
mapfile -t big < <(cd "$src" && find . -type f \( -name '*.js' -o -name '*.css' \) -printf '%s %P\n' | sort -rn | head -4 | cut -d' ' -f2-)
template=$work/template
prev=$src
"$pkgtool" release --store "$template" --app boot --label r1 "$src" >/dev/null 2>&1
for k in 2 3 4 5; do
    v=$work/b-r$k
    cp -a "$prev" "$v"
    printf '\n/* build r%s: hot fix */\n' "$k" >>"$v/${big[$((k - 2))]}"
    "$pkgtool" release --store "$template" --app boot --label "r$k" --keep 6 "$v" >/dev/null 2>&1
    prev=$v
done
retained=$(ls "$template/boot/bundles" | wc -l)
[ "$retained" -eq 5 ] || { echo "expected 5 retained bundles, found $retained" >&2; exit 1; }

wall_rel=() cpu_rel=() wall_diff=() cpu_diff=()
load0=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?')
for i in $(seq "$runs"); do
    rm -rf "$work/timed"
    cp -a "$template" "$work/timed"
    sync
    timed t "$pkgtool" release --store "$work/timed" --app boot --label new --keep 6 "$cache/bootstrap-zip-store/new"
    cp "$work/last.out" "$work/release.out"
    wall_rel+=("${t% *}") cpu_rel+=("${t#* }")
done
npatch=$(grep -c '^r[0-9]' "$work/release.out" || true)
newb=$work/timed/boot/bundles/$(grep -o 'bundle [0-9a-f]\{64\}' "$work/release.out" | cut -d' ' -f2).zip
oldb=$template/boot/bundles/$(grep -o '"id": "[0-9a-f]\{64\}"' "$template/boot/index.json" | tail -1 | cut -d'"' -f4).zip
for i in $(seq "$runs"); do
    timed t "$bsdiff" "$oldb" "$newb" "$work/one.patch"
    wall_diff+=("${t% *}") cpu_diff+=("${t#* }")
done
load1=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?')
mr=$(printf '%s\n' "${wall_rel[@]}" | median)
md=$(printf '%s\n' "${wall_diff[@]}" | median)
cr=$(printf '%s\n' "${cpu_rel[@]}" | median)
cd_=$(printf '%s\n' "${cpu_diff[@]}" | median)
printf '%-44s %10s %10s   %s\n' "measure (median of $runs)" "wall s" "cpu s" "wall times"
printf '%-44s %10s %10s   %s\n' "pkgtool release ($(kb "$(fsize "$newb")") KiB, $npatch patches)" "$mr" "$cr" "${wall_rel[*]}"
printf '%-44s %10s %10s   %s\n' "bsdiff r5 -> new (canonical bundles)" "$md" "$cd_" "${wall_diff[*]}"
printf '%-44s %9sx %9sx\n' "ratio release / one diff" "$(ratio "$mr" "$md")" "$(ratio "$cr" "$cd_")"
echo "load average before/after: $load0 / $load1 (other work on the machine inflates wall times)"
echo
echo "release table of the last run:"
sed -n '/^from /,$p' "$work/release.out"
echo "(machine: $(nproc) cores; pkgtool -j default = cores; bsdiff -j default = cores)"
