# device_crash.sh - pkgtool update killed (SIGKILL, PKGTOOL_KILL_AT) at each of its progress
# lines, on the patch route and on the full route, and in the middle of a cut download: after
# each kill `start` prints a directory holding exactly the old version (killed before the
# commit point, the rename of state.json) or exactly the new one (after it), status agrees,
# nothing but state.json, current, versions/ and tmp/ is in D, and the next update completes
# (resuming a partial full bundle from where it stopped).
. "$(dirname "$0")/device_testlib.sh"

for v in v1 v3; do
    eval "id_$v=\$(pack_id \"\$SAMPLE/$v\" $v.zip)"
done
S=$T/store
release "$S" 1.0 "$SAMPLE/v1"
release "$S" 2.0 "$SAMPLE/v2"
release "$S" 3.0 "$SAMPLE/v3"
serve_store "$S"
# the device every run starts from: v1, confirmed
device_init "$T/template" v1.zip
installed "$T/template" "$id_v1" "$SAMPLE/v1" "the template device"

# after_kill WHAT D: the checks after a killed update; prints old or new (which one runs)
after_kill() {
    local what=$1 d=$2 dir which
    dir=$(started_dir "$d")
    if [ "$dir" = "$(realpath "$d/versions/$id_v1")" ] && same_tree "$dir" "$SAMPLE/v1"; then
        which=old
    elif [ "$dir" = "$(realpath "$d/versions/$id_v3")" ] && same_tree "$dir" "$SAMPLE/v3"; then
        which=new
    else
        fail "$what: start printed '$dir', neither the old nor the new version complete ($(cat "$T/.start.err"))"
        which=none
    fi
    [ "$which" = none ] || ok
    run "$PKGTOOL" status --install-dir "$d" --json
    expect_rc 0 "$what: status"
    case $which in
    old) expect_eq "$(jv "$OUT" current.id)/$(jv "$OUT" pending)/$(readlink "$d/current")" "$id_v1/false/versions/$id_v1" \
        "$what: status and current say the old version, confirmed" ;;
    new) expect_eq "$(jv "$OUT" current.id)/$(jv "$OUT" pending)/$(jv "$OUT" previous.id)/$(readlink "$d/current")" \
        "$id_v3/true/$id_v1/versions/$id_v3" "$what: status and current say the new version, pending, previous the old" ;;
    esac
    check "$what: nothing in D but state.json, current, versions/, tmp/" no_stray "$d"
    # versions/: current and previous, and at most the half-installed new version
    local extra
    extra=$(ls -A "$d/versions" | grep -vxE "($id_v1|$id_v3)(\.zip)?")
    expect_eq "$extra" "" "$what: nothing in versions/ but the old and the new version"
    WHICH=$which
}

# completes WHAT D [update options]: the next update brings D to v3 and leaves it clean
completes() {
    local what=$1 d=$2
    shift 2
    dev_update "$d" --json "$@"
    expect_rc 0 "$what: the next update"
    installed "$d" "$id_v3" "$SAMPLE/v3" "$what: after the next update"
    versions_are "$d" "$id_v3" "$id_v1"
    check "$what: tmp/ is empty after the next update" tmp_clean "$d"
    check "$what: no stray files after the next update" no_stray "$d"
}

# crash_each ROUTE [update options]: a reference run gives the progress lines; the update is
# killed at each in turn
crash_each() {
    local route=$1 line n=0 seen_new= lines
    shift
    rm -rf "$T/ref"
    cp -a "$T/template" "$T/ref"
    dev_update "$T/ref" "$@"
    expect_rc 0 "$route: the reference update"
    installed "$T/ref" "$id_v3" "$SAMPLE/v3" "$route: the reference update"
    lines=$(printf '%s\n' "$ERR" | sed -n 's/^pkgtool: //p' | grep -v '^warning: ')
    check "$route: the update prints progress lines" test "$(printf '%s\n' "$lines" | wc -l)" -ge 5
    while IFS= read -r line <&3; do
        n=$((n + 1))
        local D=$T/k-$route-$n what="$route, killed at '$line'"
        rm -rf "$D"
        cp -a "$T/template" "$D"
        PKGTOOL_KILL_AT=$line dev_update "$D" "$@"
        expect_rc 137 "$what: dies by SIGKILL"
        expect_eq "$(printf '%s\n' "$ERR" | tail -n 1)" "pkgtool: $line" "$what: the line was the last one printed"
        after_kill "$what" "$D"
        echo "$route: killed at '$line': $WHICH runs" >>"$T/crash.txt"
        # the commit point: before it the old version, from it on the new one
        if [ "$WHICH" = new ]; then seen_new=1; fi
        if [ "$WHICH" = old ] && [ -n "$seen_new" ]; then fail "$what: old version after a later kill gave the new one"; fi
        case $line in
        "moved into place"*) expect_eq "$WHICH" old "$what: before the state is written, the old version" ;;
        "state written"*) expect_eq "$WHICH" new "$what: once the state is written, the new version" ;;
        esac
        completes "$what" "$D" "$@"
    done 3<<<"$lines"
    check "$route: some kill gave the old version" grep -q "^$route: .*: old runs" "$T/crash.txt"
    check "$route: some kill gave the new version" grep -q "^$route: .*: new runs" "$T/crash.txt"
}

crash_each patch
crash_each full --full

# ---- killed in the middle of a full download (after a cut, while retrying): the next run
# resumes the .part from the byte where it stopped
start_proxy
D=$T/k-midfull
cp -a "$T/template" "$D"
bsize=$(fsize "$S/$APP/bundles/$id_v3.zip")
cut=$((bsize / 2))
echo "cut /bundles/ $cut 1" >"$RULES"
STORE_URL=$PURL PKGTOOL_KILL_AT=retrying dev_update "$D" --full
expect_rc 137 "killed while retrying a cut bundle"
after_kill "killed while retrying a cut bundle" "$D"
expect_eq "$WHICH" old "killed mid-download: the old version runs"
expect_eq "$(fsize "$D/tmp/$id_v3.zip.part" 2>&1)" "$cut" "killed mid-download: the .part holds the bytes received"
: >"$RULES"
mark_logs
STORE_URL=$PURL completes "killed mid-download" "$D" --full
expect_eq "$(proxy_since | awk -F'\t' '$1 == "GET" && $2 ~ /bundles/ { print $3 }')" "bytes=$cut-" \
    "killed mid-download: the next run resumes from the .part"
cat "$T/crash.txt"
finish
