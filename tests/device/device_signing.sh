# device_signing.sh - the signed index over HTTP: keygen, release --sign, sign; OpenSSL alone
# verifies the .sig; a client given --trust accepts a good index and refuses (saying which)
# a missing signature, another key's signature, an altered index (12), an expired index (13),
# an index without expiry, and a replayed older index (14); each refusal leaves the install
# as it was and downloads nothing.
. "$(dirname "$0")/device_testlib.sh"
need_tools openssl base64

pack_samples

# ---- keys
run "$PKGTOOL" keygen --out K
expect_rc 0 "keygen"
expect_eq "$(stat -c %a K.key 2>&1)" 600 "keygen: the private key has mode 0600"
expect_eq "$(head -n 1 K.key)/$(head -n 1 K.pub)" "-----BEGIN PRIVATE KEY-----/-----BEGIN PUBLIC KEY-----" \
    "keygen: PKCS#8 private key and SubjectPublicKeyInfo public key (PEM)"
check "keygen: the key is Ed25519 (openssl reads it)" sh -c 'openssl pkey -in K.key -noout -text 2>/dev/null | grep -qi ed25519'
check "keygen: K.pub is the public half of K.key" sh -c 'openssl pkey -in K.key -pubout | cmp -s - K.pub'
before=$(sha256 K.key)/$(sha256 K.pub)
run "$PKGTOOL" keygen --out K
expect_rc 5 "keygen never overwrites a key"
expect_eq "$(sha256 K.key)/$(sha256 K.pub)" "$before" "keygen refused: the key files are unchanged"
run "$PKGTOOL" keygen --out O
expect_rc 0 "keygen of another key"

# ---- signed releases; the signature checked with OpenSSL alone
W=$T/www
S=$W/main
release "$S" 1.0 "$SAMPLE/v1" --sign K.key
release "$S" 2.0 "$SAMPLE/v2" --sign K.key
IX=$S/$APP/index.json
SIG=$IX.sig
check "release --sign writes index.json.sig" test -f "$SIG"
expect_eq "$(base64 -d "$SIG" 2>/dev/null | wc -c)" 64 "the .sig is the base64 of 64 bytes"
expect_eq "$(wc -l <"$SIG")/$(tail -c 1 "$SIG" | od -An -c | tr -d ' ')" '1/\n' "the .sig is one line ending in a newline"
expect_eq "$(jv "$(cat "$IX")" version)" 2 "index version 2 after two releases"
expires=$(jv "$(cat "$IX")" expires)
check "the index has an ISO-8601 UTC expiry" sh -c "echo '$expires' | grep -qE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z\$'"
days=$(( ($(date -u -d "$expires" +%s) - $(date -u +%s)) / 86400 ))
check "the expiry is 90 days ahead by default (got $days days)" test "$days" -ge 89 -a "$days" -le 90
# osslverify INDEX SIG PUB: the interop command of docs/DEVICE.md
osslverify() {
    base64 -d "$2" >"$T/s.bin" && openssl pkeyutl -verify -pubin -inkey "$3" -rawin -in "$1" -sigfile "$T/s.bin" >/dev/null 2>&1
}
check "openssl verifies the .sig with K.pub" osslverify "$IX" "$SIG" K.pub
check "openssl refuses the .sig with another public key" not osslverify "$IX" "$SIG" O.pub
serve_store "$W"
STORE_URL=$URL/main

# refused WHAT D RC REGEX [update options...]: the update is refused with exit RC, says so
# (REGEX), downloads nothing and leaves D at v1
refused() {
    local what=$1 d=$2 rc=$3 re=$4
    shift 4
    mark_logs
    dev_update "$d" "$@"
    expect_rc "$rc" "$what"
    says "$ERR$OUT" "$re" "$what: the message says why"
    expect_eq "$(fetched patches/)/$(fetched bundles/)" 0/0 "$what: nothing downloaded"
    installed "$d" "$id_v1" "$SAMPLE/v1" "$what: current untouched"
    versions_are "$d" "$id_v1"
    check "$what: tmp/ is empty" tmp_clean "$d"
}

# ---- a trusted key: accepted
D=$T/d-ok
device_init "$D" v1.zip
dev_update "$D" --trust K.pub --json
expect_rc 0 "signed index, trusted key: update"
expect_eq "$(jv "$OUT" signature_checked)/$(jv "$OUT" method)" true/patch "signed index: --json signature_checked, patch"
case $ERR in *"not signature-checked"*) fail "signed index, trusted key: still warns it is unchecked" ;; *) ok ;; esac
installed "$D" "$id_v2" "$SAMPLE/v2" "signed index, trusted key"
expect_eq "$(sv "$D" index_version)" 2 "signed index: state.json index_version"

D=$T/d-refuse
device_init "$D" v1.zip
refused "signed by K, client trusts O" "$D" 12 "does not verify|invalid signature|wrong key" --trust O.pub

# ---- missing signature
mv "$SIG" sig.saved
refused "no index.json.sig" "$D" 12 "not signed|unsigned|no [^ ]*index\.json\.sig" --trust K.pub
# ---- a signature by another key over the same bytes
openssl pkeyutl -sign -inkey O.key -rawin -in "$IX" -out o.bin && { base64 -w0 o.bin; echo; } >"$SIG"
check "the other key's signature is well formed (openssl verifies it with O.pub)" osslverify "$IX" "$SIG" O.pub
refused "index signed by another key" "$D" 12 "does not verify|invalid signature|wrong key" --trust K.pub
# ---- not a signature at all
echo "not base64 at all!" >"$SIG"
refused "a .sig that is not a signature" "$D" 12 "signature" --trust K.pub
cp sig.saved "$SIG"
# ---- the index altered after signing
cp "$IX" index.saved
python3 -c 'import sys; p = sys.argv[1]; s = open(p).read(); open(p, "w").write(s.replace("\"mandatory\": false", "\"mandatory\": true", 1))' "$IX"
check "the index was altered" not cmp -s "$IX" index.saved
refused "index altered after signing" "$D" 12 "does not verify|invalid signature|altered" --trust K.pub
cp index.saved "$IX"
check "the restored index verifies again" osslverify "$IX" "$SIG" K.pub

# ---- an expired index: created 10 days ago, valid for 1 day
SE=$W/expired
SOURCE_DATE_EPOCH=$(($(date +%s) - 10 * 86400)) release "$SE" 1.0 "$SAMPLE/v1" --sign K.key --expires-in 1
SOURCE_DATE_EPOCH=$(($(date +%s) - 10 * 86400)) release "$SE" 2.0 "$SAMPLE/v2" --sign K.key --expires-in 1
check "the expired index still verifies with openssl" osslverify "$SE/$APP/index.json" "$SE/$APP/index.json.sig" K.pub
STORE_URL=$URL/expired refused "expired index" "$D" 13 "expire" --trust K.pub
STORE_URL=$URL/expired refused "expired index, no --trust" "$D" 13 "expire"
# verify reports the expired index (the release machine sees it before clients do)
run "$PKGTOOL" verify --store "$SE"
expect_rc 6 "verify reports an expired index"
expect_in "$OUT" "expired at" "verify names the expiry"
# pkgtool sign renews it: version + 1, expiry now + 30 days, and the device takes it
v_before=$(jv "$(cat "$SE/$APP/index.json")" version)
run "$PKGTOOL" sign --store "$SE" --app "$APP" --key K.key --expires-in 30
expect_rc 0 "pkgtool sign"
expect_eq "$(jv "$(cat "$SE/$APP/index.json")" version)" $((v_before + 1)) "pkgtool sign: the version grows by one"
days=$(( ($(date -u -d "$(jv "$(cat "$SE/$APP/index.json")" expires)" +%s) - $(date -u +%s)) / 86400 ))
check "pkgtool sign: the expiry is now + 30 days (got $days)" test "$days" -ge 29 -a "$days" -le 30
check "pkgtool sign: openssl verifies the new .sig" osslverify "$SE/$APP/index.json" "$SE/$APP/index.json.sig" K.pub
run "$PKGTOOL" verify --store "$SE" --trust K.pub
expect_rc 0 "verify --trust: the re-signed store is clean"
run "$PKGTOOL" verify --store "$SE" --trust O.pub
expect_rc 6 "verify --trust with another key reports the signature"
cp "$SE/$APP/index.json.sig" sig.keep && rm "$SE/$APP/index.json.sig"
run "$PKGTOOL" verify --store "$SE" --trust K.pub
expect_rc 6 "verify --trust reports an unsigned index"
mv sig.keep "$SE/$APP/index.json.sig"
D2=$T/d-renewed
device_init "$D2" v1.zip
STORE_URL=$URL/expired dev_update "$D2" --trust K.pub
expect_rc 0 "the re-signed index is accepted"
installed "$D2" "$id_v2" "$SAMPLE/v2" "the re-signed index"

# ---- an index without expiry (signed, so only the missing field is wrong)
SN=$W/noexpiry
mkdir -p "$SN"
cp -r "$S/$APP" "$SN/"
python3 - "$SN/$APP/index.json" <<'EOF'
import json, sys
p = sys.argv[1]
ix = json.load(open(p))
del ix["expires"]
open(p, "w").write(json.dumps(ix, indent=2) + "\n")
EOF
openssl pkeyutl -sign -inkey K.key -rawin -in "$SN/$APP/index.json" -out n.bin && { base64 -w0 n.bin; echo; } >"$SN/$APP/index.json.sig"
check "the index without expiry verifies with openssl" osslverify "$SN/$APP/index.json" "$SN/$APP/index.json.sig" K.pub
mark_logs
STORE_URL=$URL/noexpiry dev_update "$D" --trust K.pub
case $RC in 12 | 13) ok ;; *) fail "index without expiry: exit $RC, expected a refusal (12 or 13): $ERR" ;; esac
says "$ERR$OUT" "expir" "index without expiry: the message names the expiry"
installed "$D" "$id_v1" "$SAMPLE/v1" "index without expiry: current untouched"

# ---- replay: the device has seen version 3; the store is put back to version 2
cp "$IX" old-index.json
cp "$SIG" old-index.json.sig
release "$S" 3.0 "$SAMPLE/v3" --sign K.key
expect_eq "$(jv "$(cat "$IX")" version)" 3 "index version 3 after the third release"
D=$T/d-ok
dev_update "$D" --trust K.pub
expect_rc 0 "the device takes version 3"
installed "$D" "$id_v3" "$SAMPLE/v3" "the device at version 3"
expect_eq "$(sv "$D" index_version)" 3 "state.json index_version 3"
cp "$IX" new-index.json
cp "$SIG" new-index.json.sig
cp old-index.json "$IX"
cp old-index.json.sig "$SIG"
mark_logs
dev_update "$D" --trust K.pub
expect_rc 14 "a replayed older signed index"
says "$ERR$OUT" "older|replay|version" "replayed index: the message says it is older"
expect_eq "$(fetched patches/)/$(fetched bundles/)" 0/0 "replayed index: nothing downloaded"
installed "$D" "$id_v3" "$SAMPLE/v3" "replayed index: current untouched"
expect_eq "$(sv "$D" index_version)" 3 "replayed index: index_version stays 3"
dev_update "$D"
expect_rc 14 "a replayed index without --trust is refused too"
# a device that never saw version 3 takes the old index
D3=$T/d-new
device_init "$D3" v1.zip
dev_update "$D3" --trust K.pub
expect_rc 0 "a device that never saw version 3 takes version 2"
installed "$D3" "$id_v2" "$SAMPLE/v2" "a new device on the old index"
cp new-index.json "$IX"
cp new-index.json.sig "$SIG"
dev_update "$D" --trust K.pub --json
expect_rc 0 "the current index again: accepted"
expect_eq "$(jv "$OUT" result)" up_to_date "the current index again: up to date"
# pkgtool sign makes version 4; then version 3 is a replay as well
run "$PKGTOOL" sign --store "$S" --app "$APP" --key K.key
expect_rc 0 "pkgtool sign of the main store"
dev_update "$D" --trust K.pub
expect_rc 0 "the re-signed index (version 4)"
expect_eq "$(sv "$D" index_version)" 4 "state.json index_version 4"
cp new-index.json "$IX"
cp new-index.json.sig "$SIG"
dev_update "$D" --trust K.pub
expect_rc 14 "version 3 after version 4: a replay"

# ---- a trust file that is not a key
echo "not a key" >bad.pub
D=$T/d-badkey
device_init "$D" v1.zip
dev_update "$D" --trust bad.pub
if [ "$RC" -ne 0 ]; then ok; else fail "--trust with a file that is not a key: accepted"; fi
installed "$D" "$id_v1" "$SAMPLE/v1" "--trust with a file that is not a key: current untouched"
finish
