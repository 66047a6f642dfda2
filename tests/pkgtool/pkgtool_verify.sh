# pkgtool_verify.sh - verify catches damage: a flipped byte in a patch, in a bundle and in
# index.json (breaking the JSON, or an edited size/sha256 that keeps it valid), and a deleted
# bundle: exit 6 with a PROBLEM line naming the damaged file.
. "$(dirname "$0")/pkgtool_testlib.sh"

id_v1=$(pack_id "$SAMPLE/v1" v1.zip)
id_v2=$(pack_id "$SAMPLE/v2" v2.zip)
id_v3=$(pack_id "$SAMPLE/v3" v3.zip)
three_releases base
run "$PKGTOOL" verify --store base
expect_rc 0 "the intact store verifies"
expect_in "$OUT" "verified" "verify says so"

# flip FILE OFFSET: inverts one byte in place
flip() {
    local b
    b=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
    printf "\\$(printf '%03o' $((b ^ 0xff)))" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}
# damaged NAME DESCRIPTION FILE_NAMED_IN_PROBLEM: S is a fresh copy of base to damage; run
# verify_damaged afterwards
fresh() {
    S=$T/$1
    rm -rf "$S"
    cp -a base "$S"
}
verify_damaged() { # DESCRIPTION FILE
    run "$PKGTOOL" verify --store "$S"
    expect_rc 6 "$1: verify exit code"
    local lines
    lines=$(printf '%s\n' "$OUT" | grep '^PROBLEM ')
    expect_in "$lines" "$2" "$1: a PROBLEM line names $2"
    expect_in "$OUT" "found in $S" "$1: summary line"
}

patch=demo/patches/$id_v1-$id_v3.bsdelta
fresh patchflip
flip "$S/$patch" $(($(fsize "$S/$patch") / 2))
verify_damaged "flipped byte in a patch" "$patch"

fresh patchflip-head
flip "$S/$patch" 3
verify_damaged "flipped byte in a patch's header" "$patch"

bundle=demo/bundles/$id_v2.zip
fresh bundleflip
flip "$S/$bundle" 1000
verify_damaged "flipped byte in a bundle" "$bundle"
# the patch from the damaged bundle no longer applies: reported too, but the bundle is named
run "$PKGTOOL" check --store "$S" --app demo --from "$id_v2"
expect_rc 0 "check still answers with a damaged bundle"

fresh bundlerm
rm "$S/demo/bundles/$id_v3.zip"
verify_damaged "deleted bundle" "demo/bundles/$id_v3.zip"

fresh indexflip
flip "$S/demo/index.json" 0
verify_damaged "flipped byte that breaks index.json" "demo/index.json"
run "$PKGTOOL" check --store "$S" --app demo --from "$id_v1"
expect_rc 6 "check refuses a broken index"

fresh indexquote
off=$(grep -bo '"releases"' "$S/demo/index.json" | cut -d: -f1)
flip "$S/demo/index.json" "$off"
verify_damaged "flipped quote in index.json" "demo/index.json"

# valid JSON, wrong values: the index is what is wrong, and verify must say so
fresh indexsize
size3=$(fsize "$S/demo/bundles/$id_v3.zip")
sed -i "s/\"size\": $size3,/\"size\": $((size3 + 1)),/" "$S/demo/index.json"
check "the size edit applied" grep -q "\"size\": $((size3 + 1))," "$S/demo/index.json"
verify_damaged "edited bundle size in index.json" "demo/index.json"

fresh indexsha
psha=$(sha256 "$S/$patch")
first=$(printf '%s' "$psha" | cut -c1)
if [ "$first" = 0 ]; then repl=1; else repl=0; fi
sed -i "s/\"sha256\": \"$psha\"/\"sha256\": \"$repl${psha#?}\"/" "$S/demo/index.json"
check "the sha256 edit applied" grep -q "$repl${psha#?}" "$S/demo/index.json"
verify_damaged "edited patch sha256 in index.json" "demo/index.json"

fresh indexpsize
psize=$(fsize "$S/$patch")
sed -i "s/\"size\": $psize, \"sha256\": \"$psha\"/\"size\": $((psize - 1)), \"sha256\": \"$psha\"/" "$S/demo/index.json"
verify_damaged "edited patch size in index.json" "demo/index.json"

run "$PKGTOOL" verify --store "$T/nonexistent"
expect_rc 2 "verify of a missing store"
finish
