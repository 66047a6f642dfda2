# device_integrity.sh - files altered on the server: a patch altered, truncated or for another
# base makes the update fall back to the full bundle and say why; a patch and a bundle both
# altered (or the bundle of a full update) give exit 15 and leave the install as it was, and
# the device is not stuck once the store is repaired. A bundle whose hash matches the index
# but whose content does not match its own manifest (or holds an unsafe path) is not
# installed either.
. "$(dirname "$0")/device_testlib.sh"

pack_samples
cp -r "$SAMPLE/v1" other
echo "a build the store never saw" >other/extra.txt
id_o=$(pack_id other other.zip)

# two stores under one server root: s1 the sample releases, s2 crafted bundles
W=$T/www
S=$W/s1
release "$S" 1.0 "$SAMPLE/v1"
release "$S" 2.0 "$SAMPLE/v2"
release "$S" 3.0 "$SAMPLE/v3"
serve_store "$W"
STORE_URL=$URL/s1
P=$S/$APP/patches/$id_v1-$id_v3.bsdelta
B=$S/$APP/bundles/$id_v3.zip
cp "$P" patch.orig
cp "$B" bundle.orig
restore() { cp patch.orig "$P" && cp bundle.orig "$B"; }

# fallback CASE: an update from v1 whose patch was spoilt falls back to the full bundle
fallback() {
    local what=$1 D=$T/d-$2
    device_init "$D" v1.zip
    mark_logs
    dev_update "$D" --json
    expect_rc 0 "$what: the update succeeds"
    expect_eq "$(update_method "$OUT")" full "$what: --json says full"
    expect_eq "$(fetched "bundles/$id_v3.zip")" 1 "$what: the full bundle was fetched"
    says "$ERR$OUT" "patch" "$what: the output names the patch"
    check "$what: --json fallback says why the patch was not used" test -n "$(jv "$OUT" fallback)"
    echo "$what: fallback: $(jv "$OUT" fallback)" >>"$T/fallbacks.txt"
    says "$ERR$OUT" "full|bundle" "$what: the output says it falls back to the full bundle"
    installed "$D" "$id_v3" "$SAMPLE/v3" "$what"
    versions_are "$D" "$id_v3" "$id_v1"
    check "$what: tmp/ is empty" tmp_clean "$D"
    check "$what: no stray files" no_stray "$D"
}

flip_byte "$P"
fallback "patch with one byte flipped" flip
says "$ERR$OUT" "sha|hash|corrupt|verif|match|checksum" "patch with one byte flipped: says it did not verify"
restore

truncate -s $(($(fsize "$P") / 2)) "$P"
fallback "patch truncated to half" short
restore

cp "$S/$APP/patches/$id_v2-$id_v3.bsdelta" "$P"
fallback "patch made for another base (v2)" base
restore

flip_byte "$P" 0
fallback "patch with its magic number altered" magic
restore

# ---- patch and bundle both altered: exit 15, nothing changes, nothing kept
D=$T/d-both
device_init "$D" v1.zip
flip_byte "$P"
flip_byte "$B"
dev_update "$D"
expect_rc 15 "patch and bundle altered: a download did not verify"
says "$ERR$OUT" "verif|sha|hash|corrupt|match" "patch and bundle altered: says the downloads did not verify"
installed "$D" "$id_v1" "$SAMPLE/v1" "patch and bundle altered: current untouched"
expect_eq "$(sv "$D" pending)/$(sv "$D" previous)/$(sv "$D" rejected)" "false/null/[]" \
    "patch and bundle altered: state as before"
versions_are "$D" "$id_v1"
check "patch and bundle altered: tmp/ is empty (no altered .part kept)" tmp_clean "$D"
check "patch and bundle altered: no stray files" no_stray "$D"
restore
dev_update "$D"
expect_rc 0 "the store repaired: the update succeeds"
installed "$D" "$id_v3" "$SAMPLE/v3" "the store repaired"

# ---- the bundle of a full update altered (same size): exit 15
D=$T/d-full
device_init "$D" other.zip
flip_byte "$B"
dev_update "$D"
expect_rc 15 "bundle altered, full update: a download did not verify"
installed "$D" "$id_o" other "bundle altered, full update: current untouched"
check "bundle altered, full update: tmp/ is empty" tmp_clean "$D"
# and a bundle served longer than the index says
restore
printf 'trailing bytes' >>"$B"
dev_update "$D"
expect_rc 15 "bundle longer than the index says: a download did not verify"
installed "$D" "$id_o" other "bundle too long: current untouched"
restore
dev_update "$D"
expect_rc 0 "bundle repaired: the full update succeeds"
installed "$D" "$id_v3" "$SAMPLE/v3" "bundle repaired"

# ---- s2: bundles whose id and size match the index but whose content does not match their
# own manifest, or that hold an unsafe path. A release tool never makes them; an unsigned
# store that was tampered with with care (the index rewritten too) can.
S2=$W/s2
release "$S2" 1.0 "$SAMPLE/v1"
# craft KIND LABEL: adds release LABEL to s2 whose bundle is broken in the way KIND says
craft() {
    python3 - "$S2/$APP" "$1" "$2" <<'EOF'
import hashlib, io, json, sys, zipfile
appdir, kind, label = sys.argv[1:4]
files = {"index.html": b"<p>crafted</p>\n", "js/app.js": b"console.log('crafted');\n"}
listed = dict(files)
if kind == "badsha":          # the manifest lists other bytes for a file
    listed["js/app.js"] = b"console.log('something else');\n"
elif kind == "unlisted":      # a file the manifest does not list
    files["zz-unlisted.js"] = b"evil()\n"
elif kind == "escape":        # a path leaving the install directory, listed consistently
    files["../../../escape.txt"] = b"escaped\n"
    listed["../../../escape.txt"] = files["../../../escape.txt"]
elif kind == "badsize":       # the manifest gives another size
    pass
# the manifest as pkgtool pack writes it: {"bsdelta_manifest":1,"files":[ one file a line ]}
lines = []
for path in sorted(listed):
    size = len(listed[path]) + (1 if kind == "badsize" and path == "index.html" else 0)
    lines.append(json.dumps({"path": path, "size": size, "sha256": hashlib.sha256(listed[path]).hexdigest()},
                            separators=(",", ":")))
manifest = ('{"bsdelta_manifest":1,"files":[\n' + ",\n".join(lines) + "\n]}\n").encode()
if kind == "notmanifest":     # lines of JSON objects, not the manifest document
    manifest = ("\n".join(lines) + "\n").encode()
buf = io.BytesIO()
with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
    for name, data in [(".bsdelta/manifest.json", manifest)] + sorted(files.items()):
        info = zipfile.ZipInfo(name, date_time=(2000, 1, 1, 0, 0, 0))
        info.external_attr = 0o100644 << 16
        z.writestr(info, data)
data = buf.getvalue()
bid = hashlib.sha256(data).hexdigest()
with open(f"{appdir}/bundles/{bid}.zip", "wb") as f:
    f.write(data)
with open(f"{appdir}/index.json") as f:
    index = json.load(f)
rel = dict(index["releases"][-1])
rel.update(label=label, id=bid, size=len(data), bundle=f"bundles/{bid}.zip", patches=[])
index["releases"].append(rel)
index["version"] += 1
with open(f"{appdir}/index.json", "w") as f:
    json.dump(index, f, indent=2)
    f.write("\n")
EOF
}
# the control: a crafted bundle with nothing wrong installs (so the refusals below are for
# the fault each one carries, not for the crafting)
craft good 9.0
D=$T/d-crafted-good
device_init "$D" other.zip
STORE_URL=$URL/s2 dev_update "$D"
expect_rc 0 "crafted bundle without a fault: installed"
expect_eq "$(cat "$D/current/index.html" 2>&1)" "<p>crafted</p>" "crafted bundle without a fault: its files"
n=0
for kind in badsha unlisted escape badsize notmanifest; do
    n=$((n + 1))
    craft "$kind" "9.$n"
    D=$T/d-crafted-$kind
    device_init "$D" other.zip
    STORE_URL=$URL/s2 dev_update "$D"
    if [ "$RC" -ne 0 ]; then ok; else fail "crafted bundle ($kind): installed, exit 0: $OUT $ERR"; fi
    says "$ERR" "manifest|unsafe" "crafted bundle ($kind): the message names the manifest check"
    echo "crafted bundle ($kind): exit $RC: $(printf '%s' "$ERR" | grep -v "version is unchanged" | tail -n 1)" >>"$T/crafted.txt"
    installed "$D" "$id_o" other "crafted bundle ($kind): current untouched"
    versions_are "$D" "$id_o"
    check "crafted bundle ($kind): tmp/ is empty" tmp_clean "$D"
    check "crafted bundle ($kind): nothing written outside the install directory" \
        test ! -e "$T/escape.txt" -a ! -e "$T/d-crafted-escape.txt" -a ! -e "$D/escape.txt"
done
cat "$T/fallbacks.txt" "$T/crafted.txt"
finish
