#!/usr/bin/env bash
# Recreates the real-world old/new file pairs of corpus/manifest.tsv from the npm registry
# into the cache (default corpus/cache/) and verifies each file against its pinned sha256.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
manifest=$here/manifest.tsv
cache=${BSDELTA_CORPUS_CACHE:-$here/cache}
# Cases whose old and new files are both at most this big count as "quick".
quick_limit=$((2 * 1024 * 1024))
# Exit status when the registry cannot be reached, so a caller (CI, bench) can tell
# "no network" from "the corpus is wrong".
EXIT_NO_NETWORK=3

usage() {
    cat <<'EOF'
Usage: corpus/fetch.sh [--quick] [--case NAME]... [--list | --paths]

Fetches every case of corpus/manifest.tsv from the npm registry (npm pack),
extracts the named file (or zips the whole package tree, or keeps the .tgz),
and verifies it against the sha256 pinned in the manifest. Results go to
  $BSDELTA_CORPUS_CACHE (default corpus/cache)/<name>/old and .../<name>/new
Downloaded tarballs are kept in <cache>/tarballs/ so re-runs do not download.
A case whose files are already there with the right sha256 is skipped.

  --quick       only the small cases: js-small, js-1mb, and any case whose
                old and new files are both at most 2 MiB
  --case NAME   only this case (may be repeated; overrides --quick)
  --list        print the cases (no network, nothing written)
  --paths       print one line per fetched case, tab-separated:
                name  category  oldpath  newpath  size_of_new
                (no network; cases not fetched yet are named on stderr)
  -h, --help    this text

Exit status: 0 all selected cases verified; 1 error (bad manifest, sha256
mismatch, unpinned case); 3 the npm registry could not be reached.
EOF
}

die() {
    echo "fetch.sh: error: $*" >&2
    exit 1
}

# ---------------------------------------------------------------- arguments
mode=fetch
quick=0
want_cases=()
while [ $# -gt 0 ]; do
    case $1 in
    --quick) quick=1 ;;
    --case)
        [ $# -ge 2 ] || die "--case needs a case name (see --list)"
        want_cases+=("$2")
        shift
        ;;
    --case=*) want_cases+=("${1#--case=}") ;;
    --list) mode=list ;;
    --paths) mode=paths ;;
    -h | --help)
        usage
        exit 0
        ;;
    *) die "unknown argument '$1' (see --help)" ;;
    esac
    shift
done

# ---------------------------------------------------------------- manifest
[ -f "$manifest" ] || die "manifest not found: $manifest"

# Parallel arrays, one entry per case, in manifest order.
c_name=() c_cat=() c_pkg=() c_oldv=() c_newv=() c_path=() c_osha=() c_nsha=() c_osize=() c_nsize=()
lineno=0
while IFS= read -r line || [ -n "$line" ]; do
    lineno=$((lineno + 1))
    [ "$lineno" -eq 1 ] && continue # header
    case $line in '' | '#'*) continue ;; esac
    IFS=$'\t' read -r -a fields <<<"$line"
    [ "${#fields[@]}" -eq 10 ] || die "manifest.tsv line $lineno: expected 10 tab-separated fields, found ${#fields[@]}"
    for n in "${c_name[@]}"; do
        [ "$n" != "${fields[0]}" ] || die "manifest.tsv line $lineno: duplicate case name '${fields[0]}'"
    done
    c_name+=("${fields[0]}") c_cat+=("${fields[1]}") c_pkg+=("${fields[2]}") c_oldv+=("${fields[3]}")
    c_newv+=("${fields[4]}") c_path+=("${fields[5]}") c_osha+=("${fields[6]}") c_nsha+=("${fields[7]}")
    c_osize+=("${fields[8]}") c_nsize+=("${fields[9]}")
done <"$manifest"
ncases=${#c_name[@]}
[ "$ncases" -gt 0 ] || die "manifest.tsv lists no case"

for w in "${want_cases[@]+"${want_cases[@]}"}"; do
    found=0
    for n in "${c_name[@]}"; do [ "$n" = "$w" ] && found=1; done
    [ "$found" -eq 1 ] || die "no case named '$w' in manifest.tsv (see --list)"
done

is_quick() { # index
    local i=$1
    case ${c_cat[$i]} in js-small | js-1mb) return 0 ;; esac
    [[ ${c_osize[$i]} =~ ^[0-9]+$ && ${c_nsize[$i]} =~ ^[0-9]+$ ]] || return 1
    [ "${c_osize[$i]}" -le "$quick_limit" ] && [ "${c_nsize[$i]}" -le "$quick_limit" ]
}

selected() { # index
    local i=$1 w
    if [ "${#want_cases[@]}" -gt 0 ]; then
        for w in "${want_cases[@]}"; do [ "$w" = "${c_name[$i]}" ] && return 0; done
        return 1
    fi
    [ "$quick" -eq 0 ] || is_quick "$i"
}

sel=()
for ((i = 0; i < ncases; i++)); do
    if selected "$i"; then sel+=("$i"); fi
done

# ---------------------------------------------------------------- --list / --paths
if [ "$mode" = list ]; then
    printf '%-24s %-20s %-50s %-5s %10s %10s\n' NAME CATEGORY 'PACKAGE OLD -> NEW' QUICK OLD_SIZE NEW_SIZE
    for i in "${sel[@]}"; do
        q=no
        if is_quick "$i"; then q=yes; fi
        printf '%-24s %-20s %-50s %-5s %10s %10s\n' "${c_name[$i]}" "${c_cat[$i]}" \
            "${c_pkg[$i]} ${c_oldv[$i]} -> ${c_newv[$i]}" "$q" "${c_osize[$i]}" "${c_nsize[$i]}"
    done
    exit 0
fi

if [ "$mode" = paths ]; then
    cache_abs=$(realpath -m "$cache")
    for i in "${sel[@]}"; do
        d=$cache_abs/${c_name[$i]}
        if [ -f "$d/old" ] && [ -f "$d/new" ]; then
            printf '%s\t%s\t%s\t%s\t%s\n' "${c_name[$i]}" "${c_cat[$i]}" "$d/old" "$d/new" "$(stat -c %s "$d/new")"
        else
            echo "fetch.sh: case ${c_name[$i]} not fetched yet (run corpus/fetch.sh --case ${c_name[$i]})" >&2
        fi
    done
    exit 0
fi

# ---------------------------------------------------------------- tools
ensure_tools() {
    local missing=() pkgs=() t
    for t in node npm tar gzip sha256sum zip flock; do
        command -v "$t" >/dev/null 2>&1 || missing+=("$t")
    done
    [ "${#missing[@]}" -eq 0 ] && return 0
    for t in "${missing[@]}"; do
        case $t in
        node) pkgs+=(nodejs) ;;
        sha256sum) pkgs+=(coreutils) ;;
        flock) pkgs+=(util-linux) ;;
        *) pkgs+=("$t") ;;
        esac
    done
    if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
        die "missing tools: ${missing[*]}; install the packages ${pkgs[*]} (e.g. apt-get install -y ${pkgs[*]}) and re-run"
    fi
    echo "fetch.sh: installing ${pkgs[*]} (missing: ${missing[*]})" >&2
    DEBIAN_FRONTEND=noninteractive apt-get update -q >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${pkgs[@]}" >&2
    for t in "${missing[@]}"; do
        command -v "$t" >/dev/null 2>&1 || die "'$t' still missing after installing ${pkgs[*]}"
    done
}
ensure_tools

mkdir -p "$cache/tarballs" "$cache/tmp"
exec 9>"$cache/.lock"
flock 9 || die "cannot lock $cache/.lock"

rm -rf "$cache/tmp"/run.* # left by an interrupted run; we hold the lock
work=$(mktemp -d "$cache/tmp/run.XXXXXX")
trap 'rm -rf "$work"' EXIT

# ---------------------------------------------------------------- tarballs
downloaded_bytes=0
downloaded_count=0
# Set by fetch_tarball: path of the tarball, and whether it came from the cache.
tgz=""
tgz_cached=0

tarball_path() { # package version
    local f=${1#@}
    echo "$cache/tarballs/${f//\//-}-$2.tgz"
}

fetch_tarball() { # package version
    local pkg=$1 ver=$2 dir
    local -a packed
    tgz=$(tarball_path "$pkg" "$ver")
    if [ -s "$tgz" ] && gzip -t "$tgz" 2>/dev/null; then
        tgz_cached=1
        return 0
    fi
    tgz_cached=0
    dir=$(mktemp -d "$work/pack.XXXXXX")
    # Retries bounded so that "no network" is reported in about a minute, not ten.
    if ! (cd "$dir" && npm pack --loglevel=error --ignore-scripts --fetch-retries=1 \
        --fetch-retry-mintimeout=2000 --fetch-retry-maxtimeout=10000 --fetch-timeout=120000 \
        "$pkg@$ver" >"$dir/npm.out" 2>"$dir/npm.err"); then
        if grep -qE 'E404|ETARGET|404 Not Found|No matching version' "$dir/npm.err"; then
            grep -v '^npm error  *at ' "$dir/npm.err" | sed 's/^/    npm: /' | head -n 4 >&2
            die "$pkg@$ver not found in the npm registry (fix manifest.tsv)"
        fi
        grep -v '^npm error  *at ' "$dir/npm.err" | sed 's/^/    npm: /' | head -n 6 >&2
        echo "fetch.sh: error: cannot reach the npm registry; corpus needs network access to the npm registry (npm pack $pkg@$ver failed)" >&2
        exit "$EXIT_NO_NETWORK"
    fi
    packed=("$dir"/*.tgz)
    if [ "${#packed[@]}" -ne 1 ] || [ ! -f "${packed[0]}" ]; then
        die "npm pack $pkg@$ver produced no single .tgz in $dir"
    fi
    mv -f "${packed[0]}" "$tgz"
    downloaded_bytes=$((downloaded_bytes + $(stat -c %s "$tgz")))
    downloaded_count=$((downloaded_count + 1))
}

# ---------------------------------------------------------------- building one file
# Deterministic zip of a whole package tree: sorted names, fixed mtime, fixed modes, no
# extra fields (-X), no directory entries (-D), C locale, UTC.  The bytes still depend on
# the zip program; the manifest hashes come from Info-ZIP zip 3.0 (Debian 12).
zip_tree() { # dir level out
    local dir=$1 level=$2 out=$3
    (
        cd "$dir"
        export TZ=UTC LC_ALL=C
        find . -type d -exec chmod 755 {} +
        find . -type f -exec chmod 644 {} +
        find . -exec touch -h -d '2020-01-01 00:00:00' {} +
        find . -type f -printf '%P\n' | sort >"$work/zip.list"
        rm -f "$out"
        zip -q -X -D "-$level" "$out" -@ <"$work/zip.list"
    )
}

make_file() { # index old|new out
    local i=$1 which=$2 out=$3 ver x
    local -a top
    if [ "$which" = old ]; then ver=${c_oldv[$i]}; else ver=${c_newv[$i]}; fi
    fetch_tarball "${c_pkg[$i]}" "$ver"
    if [ "${c_path[$i]}" = '@tgz' ]; then
        cp "$tgz" "$out"
        return 0
    fi
    x=$(mktemp -d "$work/x.XXXXXX")
    tar -xzf "$tgz" -C "$x" --no-same-owner ||
        die "case ${c_name[$i]}: cannot extract $tgz (delete it and re-run)"
    # npm tarballs hold one top-level folder, almost always package/.
    top=("$x"/*)
    if [ "${#top[@]}" -ne 1 ] || [ ! -d "${top[0]}" ]; then
        die "case ${c_name[$i]}: $tgz does not hold exactly one top-level folder"
    fi
    case ${c_path[$i]} in
    '*')
        case ${c_cat[$i]} in
        bundle-zip-deflate) zip_tree "${top[0]}" 6 "$out" ;;
        bundle-zip-store) zip_tree "${top[0]}" 0 "$out" ;;
        *) die "case ${c_name[$i]}: path '*' needs category bundle-zip-deflate or bundle-zip-store" ;;
        esac
        ;;
    *)
        [ -f "${top[0]}/${c_path[$i]}" ] ||
            die "case ${c_name[$i]}: ${c_pkg[$i]}@$ver has no file ${c_path[$i]}"
        mv "${top[0]}/${c_path[$i]}" "$out"
        chmod 644 "$out"
        ;;
    esac
    rm -rf "$x"
}

sha_of() { sha256sum "$1" | cut -d' ' -f1; }

# True when file $1 exists with sha256 $2 (size $3 checked first, it is cheaper).
file_ok() {
    [ -f "$1" ] || return 1
    [[ $3 =~ ^[0-9]+$ ]] && [ "$(stat -c %s "$1")" != "$3" ] && return 1
    [ "$(sha_of "$1")" = "$2" ]
}

# ---------------------------------------------------------------- main loop
unpinned=()
start=$(date +%s)
nsel=${#sel[@]}
k=0
for i in "${sel[@]}"; do
    k=$((k + 1))
    name=${c_name[$i]}
    d=$cache/$name
    label="[$k/$nsel] $name (${c_cat[$i]}, ${c_pkg[$i]} ${c_oldv[$i]} -> ${c_newv[$i]})"
    if [ "${c_osha[$i]}" != - ] && [ "${c_nsha[$i]}" != - ] &&
        file_ok "$d/old" "${c_osha[$i]}" "${c_osize[$i]}" &&
        file_ok "$d/new" "${c_nsha[$i]}" "${c_nsize[$i]}"; then
        echo "$label: ok (cached)"
        continue
    fi
    mkdir -p "$d"
    attempt=1
    while :; do
        bad=""
        any_cached=0
        for which in old new; do
            if [ "$which" = old ]; then want=${c_osha[$i]}; else want=${c_nsha[$i]}; fi
            rm -f "$d/$which" "$d/$which.tmp"
            make_file "$i" "$which" "$d/$which.tmp"
            any_cached=$((any_cached | tgz_cached))
            got=$(sha_of "$d/$which.tmp")
            if [ "$want" = - ] || [ "$want" = "$got" ]; then
                mv -f "$d/$which.tmp" "$d/$which"
            else
                bad+="    $which: expected sha256 $want"$'\n'"    $which: actual   sha256 $got"$'\n'
                mv -f "$d/$which.tmp" "$d/$which.bad"
            fi
        done
        [ -n "$bad" ] || break
        # A cached tarball may be stale or damaged: download once more before giving up.
        if [ "$attempt" -eq 1 ] && [ "$any_cached" -eq 1 ]; then
            echo "$label: sha256 mismatch, downloading the tarballs again" >&2
            rm -f "$(tarball_path "${c_pkg[$i]}" "${c_oldv[$i]}")" "$(tarball_path "${c_pkg[$i]}" "${c_newv[$i]}")"
            attempt=2
            continue
        fi
        printf '%s' "$bad" >&2
        die "case $name: sha256 mismatch (result kept as $d/*.bad for inspection)"
    done
    rm -f "$d/old.bad" "$d/new.bad"
    osz=$(stat -c %s "$d/old")
    nsz=$(stat -c %s "$d/new")
    if [ "${c_osha[$i]}" = - ] || [ "${c_nsha[$i]}" = - ]; then
        unpinned+=("$name"$'\t'"$(sha_of "$d/old")"$'\t'"$(sha_of "$d/new")"$'\t'"$osz"$'\t'"$nsz")
        echo "$label: fetched, NOT VERIFIED (unpinned: old $osz bytes, new $nsz bytes)"
    else
        echo "$label: fetched, verified (old $osz bytes, new $nsz bytes)"
    fi
done

elapsed=$(($(date +%s) - start))
echo "fetch.sh: $nsel case(s) in ${elapsed}s; downloaded $downloaded_count tarball(s), $downloaded_bytes bytes"
if [ "${#unpinned[@]}" -gt 0 ]; then
    echo "fetch.sh: unpinned case(s); put these values into manifest.tsv (name, old_sha256, new_sha256, old_size, new_size):" >&2
    printf '%s\n' "${unpinned[@]}" >&2
    exit 1
fi
