# pkgtool_scenarios.sh - the seed scenarios end to end through the CLI: three releases and the
# update decision for clients at v1, v2, v3 and an unknown id; the served patch applied with
# bspatch; native-version gating; a skipped mandatory release; fall-backs to the full bundle;
# refused re-releases; retention (--keep) and pinning (--pin).
. "$(dirname "$0")/pkgtool_testlib.sh"
need_tools cmp

S=$T/store
for v in v1 v2 v3; do
    eval "id_$v=\$(pack_id \"\$SAMPLE/$v\" $v.zip)"
done
three_releases "$S"
check "each sample version has an id" test -n "$id_v1" -a -n "$id_v2" -a -n "$id_v3"

p31=demo/patches/$id_v1-$id_v3.bsdelta
p32=demo/patches/$id_v2-$id_v3.bsdelta
check "patch v1->v3 exists" test -f "$S/$p31"
check "patch v2->v3 exists" test -f "$S/$p32"
check "bundles exist" test -f "$S/demo/bundles/$id_v1.zip" -a -f "$S/demo/bundles/$id_v2.zip" -a -f "$S/demo/bundles/$id_v3.zip"
check "patch v1->v2 is gone: v2 is no longer a target" test ! -e "$S/demo/patches/$id_v1-$id_v2.bsdelta"
check "index lists patch v1->v3" grep -q "\"file\": \"patches/$id_v1-$id_v3.bsdelta\"" "$S/demo/index.json"
check "index lists patch v2->v3" grep -q "\"file\": \"patches/$id_v2-$id_v3.bsdelta\"" "$S/demo/index.json"
run "$PKGTOOL" ls --store "$S" --app demo
expect_rc 0 "ls"
expect_in "$OUT" "3 releases" "ls counts the releases"
expect_in "$(printf '%s\n' "$OUT" | grep -A2 '^v3 ')" "<- from v2" "ls shows the patch from v2 under v3"
expect_in "$(printf '%s\n' "$OUT" | grep -A2 '^v3 ')" "<- from v1" "ls shows the patch from v1 under v3"
run "$PKGTOOL" verify --store "$S"
expect_rc 0 "verify after three releases"

# ---- the update decision
check_json() { # FROM [more options]: runs check, JSON in $J
    local from=$1
    shift
    run "$PKGTOOL" check --store "$S" --app demo --from "$from" "$@"
    J=$OUT
}
check_json "$id_v1" --native 1
expect_rc 0 "check from v1"
expect_eq "$(jget "$J" action)" patch "v1: action"
expect_eq "$(jget "$J" url)" "$p31" "v1: patch URL"
expect_eq "$(jget "$J" size)" "$(fsize "$S/$p31")" "v1: patch size matches the file"
expect_eq "$(jget "$J" sha256)" "$(sha256 "$S/$p31")" "v1: patch sha256 matches the file"
expect_eq "$(jget "$J" mandatory)" false "v1: not mandatory"
expect_eq "$(jget "$(jafter "$J" to)" id)" "$id_v3" "v1: target is v3"
# end to end: the served patch turns the client's bundle into v3 byte for byte
run "$BSPATCH" v1.zip client-v3.zip "$S/$(jget "$J" url)"
expect_rc 0 "bspatch applies the served patch"
check "patched client bundle equals v3 byte for byte" cmp -s client-v3.zip v3.zip
check "patched client bundle equals the stored v3" cmp -s client-v3.zip "$S/demo/bundles/$id_v3.zip"

check_json "$id_v2"
expect_eq "$(jget "$J" action)/$(jget "$J" url)" "patch/$p32" "v2: patch from v2"
run "$BSPATCH" v2.zip client2-v3.zip "$S/$p32"
check "v2 client patched to v3" cmp -s client2-v3.zip v3.zip

unknown=0000000000000000000000000000000000000000000000000000000000000000
check_json "$unknown"
expect_eq "$(jget "$J" action)" full "unknown id: action"
expect_eq "$(jget "$J" url)" "demo/bundles/$id_v3.zip" "unknown id: full URL"
expect_eq "$(jget "$J" size)/$(jget "$J" sha256)" "$(fsize v3.zip)/$id_v3" "unknown id: size and sha256"
expect_eq "$(jget "$J" from)" null "unknown id: from is null"
check_json "$id_v3"
expect_eq "$(jget "$J" action)" none "v3: no update"
check_json "$id_v1" --full
expect_eq "$(jget "$J" action)/$(jget "$J" url)" "full/demo/bundles/$id_v3.zip" "--full gives the full bundle"
expect_in "$(jget "$J" reason)" "requested" "--full gives a reason"
run "$PKGTOOL" check --store "$S" --app nosuchapp --from "$id_v1"
expect_rc 2 "check of an unknown app"
run "$PKGTOOL" ls --store "$S" --app nosuchapp
expect_rc 2 "ls of an unknown app"

# ---- refused re-releases: exit 5, clear message, store unchanged
before=$(snapshot "$S")
mkdir -p fresh && cp -r "$SAMPLE/v3/." fresh/ && echo "/* fresh */" >>fresh/js/app.js
run "$PKGTOOL" release --store "$S" --app demo --label v2 fresh
expect_rc 5 "label already released"
expect_in "$ERR" "label v2 is already released" "message names the label"
mkdir -p v3copy && cp -r "$SAMPLE/v3/." v3copy/
run "$PKGTOOL" release --store "$S" --app demo --label v9 v3copy
expect_rc 5 "content already released"
expect_in "$ERR" "already released as v3" "message names the release holding the content"
check "refused releases leave the store unchanged" test "$(snapshot "$S")" = "$before"

# ---- a release needing a newer native shell: v4 with --min-native 2
N=$T/native
three_releases "$N"
mkdir -p v4 && cp -r "$SAMPLE/v3/." v4/ && echo '/* v4 */' >>v4/js/app.js
release "$N" v4 v4 --min-native 2
id_v4=$(pack_id v4 v4.zip)
S=$N
check_json "$id_v1" --native 1
expect_eq "$(jget "$J" action)" native_update "native 1 at v1: action"
expect_eq "$(jget "$J" store_update)" true "native 1 at v1: store_update"
expect_eq "$(jget "$(jafter "$J" newest)" id)" "$id_v4" "native 1: newest is v4"
R=$(jafter "$J" runnable)
expect_eq "$(jget "$R" action)/$(jget "$R" url)" "patch/$p31" "native 1 at v1: runnable is a patch to v3"
expect_eq "$(jget "$(jafter "$R" to)" id)" "$id_v3" "native 1 at v1: runnable leads to v3"
check_json "$id_v3" --native 1
expect_eq "$(jget "$J" action)/$(jget "$J" runnable)" native_update/null "native 1 at v3: runnable null"
check_json "$id_v1" --native 2
expect_eq "$(jget "$J" action)/$(jget "$J" url)" "patch/demo/patches/$id_v1-$id_v4.bsdelta" "native 2 at v1: patch to v4"
check_json "$id_v3" --native 2.0.1
expect_eq "$(jget "$J" action)/$(jget "$J" url)" "patch/demo/patches/$id_v3-$id_v4.bsdelta" "native 2.0.1 at v3: patch to v4"
check_json "$id_v4" --native 2
expect_eq "$(jget "$J" action)" none "native 2 at v4: none"
run "$PKGTOOL" verify --store "$N"
expect_rc 0 "verify with a native-gated release"

# ---- a skipped mandatory release: v2 --mandatory
M=$T/mand
release "$M" v1 "$SAMPLE/v1"
release "$M" v2 "$SAMPLE/v2" --mandatory --message "security fix"
release "$M" v3 "$SAMPLE/v3"
S=$M
check_json "$id_v1"
expect_eq "$(jget "$J" action)/$(jget "$J" mandatory)" patch/true "v1 skipping mandatory v2: mandatory"
MR=$(jafter "$J" mandatory_release)
expect_eq "$(jget "$MR" label)/$(jget "$MR" message)" "v2/security fix" "v1: the answer names the mandatory release and its message"
check_json "$id_v2"
expect_eq "$(jget "$J" action)/$(jget "$J" mandatory)" patch/false "v2 (already has the mandatory one): not mandatory"
expect_eq "$(jafter "$J" mandatory_release | cut -c1-4)" null "v2: no mandatory release named"
check_json "$unknown"
expect_eq "$(jget "$J" action)" full "unknown id with a mandatory release: full"

# ---- a missing patch falls back to full
F=$T/missing
three_releases "$F"
S=$F
rm "$F/$p31"
check_json "$id_v1"
expect_eq "$(jget "$J" action)/$(jget "$J" url)" "full/demo/bundles/$id_v3.zip" "missing patch: full"
expect_in "$(jget "$J" reason)" "missing" "missing patch: reason"
check_json "$id_v2"
expect_eq "$(jget "$J" action)" patch "the other patch is still served"
run "$PKGTOOL" verify --store "$F"
expect_rc 6 "verify reports the deleted patch"

# ---- --compressor zstd: zstd patches (BSDELTA compressor id 2 at byte 56), verified, served,
# applied by bspatch; bzip2 is the default
Z=$T/zstd
release "$Z" v1 "$SAMPLE/v1"
run "$PKGTOOL" release --store "$Z" --app demo --label v2 --compressor zstd "$SAMPLE/v2"
expect_rc 0 "release with --compressor zstd"
zp=$(ls "$Z/demo/patches" | head -n 1)
check "one zstd patch written" test -n "$zp" -a "$(ls "$Z/demo/patches" | wc -l)" = 1
expect_eq "$(od -An -tu1 -j56 -N1 "$Z/demo/patches/$zp" | tr -d ' ')" 2 "the patch body is zstd"
expect_eq "$(od -An -tu1 -j56 -N1 "$S/$p32" | tr -d ' ')" 1 "the default compressor is bzip2"
run "$PKGTOOL" verify --store "$Z"
expect_rc 0 "verify a store of zstd patches"
run "$BSPATCH" v1.zip client-z-v2.zip "$Z/demo/patches/$zp"
expect_rc 0 "bspatch applies the zstd patch"
check "zstd-patched bundle equals v2" cmp -s client-z-v2.zip v2.zip
run "$PKGTOOL" release --store "$Z" --app demo --label v3 --compressor lzma "$SAMPLE/v3"
expect_rc 1 "an unknown compressor is a usage error"

# ---- a patch not kept (--max-ratio 0.0001) gives full
Q=$T/ratio
release "$Q" v1 "$SAMPLE/v1"
run "$PKGTOOL" release --store "$Q" --app demo --label v2 --max-ratio 0.0001 "$SAMPLE/v2"
expect_rc 0 "release with a tiny max ratio"
expect_in "$OUT" "no (too large" "the table says the patch was not kept"
check "no patch file kept" test -z "$(ls "$Q/demo/patches")"
S=$Q
check_json "$id_v1"
expect_eq "$(jget "$J" action)" full "patch not kept: full"
expect_in "$(jget "$J" reason)" "no patch from this base" "patch not kept: reason"
run "$PKGTOOL" verify --store "$Q"
expect_rc 0 "verify with a dropped patch"

# ---- retention: --keep 2 with four releases
K=$T/keep
three_releases "$K"
release "$K" v4 v4 --keep 2
S=$K
check "v1's bundle is removed" test ! -e "$K/demo/bundles/$id_v1.zip"
check "v2's bundle is removed" test ! -e "$K/demo/bundles/$id_v2.zip"
check "v3 and v4 bundles kept" test -f "$K/demo/bundles/$id_v3.zip" -a -f "$K/demo/bundles/$id_v4.zip"
expect_eq "$(ls "$K/demo/patches")" "$id_v3-$id_v4.bsdelta" "only the patch v3->v4 remains"
check "v1 and v2 are marked bundle null" test "$(grep -c '"bundle": null' "$K/demo/index.json")" -eq 2
check "the dropped releases stay listed" grep -q "\"id\": \"$id_v1\"" "$K/demo/index.json"
run "$PKGTOOL" ls --store "$K" --app demo
expect_in "$(printf '%s\n' "$OUT" | grep '^v1 ')" gone "ls marks v1 gone"
run "$PKGTOOL" verify --store "$K"
expect_rc 0 "verify after --keep 2"
check_json "$id_v1"
expect_eq "$(jget "$J" action)" full "a client at a dropped release gets the full bundle"
check_json "$id_v3"
expect_eq "$(jget "$J" action)" patch "a client at a retained release gets a patch"

# ---- pinning: v1 --pin survives --keep 2
P=$T/pin
release "$P" v1 "$SAMPLE/v1" --pin
release "$P" v2 "$SAMPLE/v2" --keep 2
release "$P" v3 "$SAMPLE/v3" --keep 2
release "$P" v4 v4 --keep 2
S=$P
check "pinned v1's bundle kept" test -f "$P/demo/bundles/$id_v1.zip"
check "unpinned v2's bundle removed" test ! -e "$P/demo/bundles/$id_v2.zip"
check "patch from pinned v1 to v4 kept" test -f "$P/demo/patches/$id_v1-$id_v4.bsdelta"
check_json "$id_v1"
expect_eq "$(jget "$J" action)/$(jget "$J" url)" "patch/demo/patches/$id_v1-$id_v4.bsdelta" "pinned v1 client gets a patch"
run "$PKGTOOL" verify --store "$P"
expect_rc 0 "verify with a pinned release"

# ---- every retained release has a patch to the newest, also when the new release is pinned
PN=$T/pinnew
release "$PN" v1 "$SAMPLE/v1" --keep 2
release "$PN" v2 "$SAMPLE/v2" --keep 2
release "$PN" v3 "$SAMPLE/v3" --keep 2 --pin
S=$PN
for v in v1 v2; do
    eval "vid=\$id_$v"
    if [ -f "$PN/demo/bundles/$vid.zip" ]; then
        check_json "$vid"
        expect_eq "$(jget "$J" action)" patch "pinned new release: retained $v gets a patch"
    else
        ok
    fi
done
run "$PKGTOOL" verify --store "$PN"
expect_rc 0 "verify with a pinned new release"

finish
