# device_update.sh - pkgtool update over HTTP (nginx) from v1, from v2, from an unknown bundle
# and when up to date: the route taken (patch or full, in --json and in what nginx served),
# the install layout and state.json of docs/DEVICE.md, status; --full, a local store
# directory, native_update, and the input/network errors.
. "$(dirname "$0")/device_testlib.sh"

pack_samples
cp -r "$SAMPLE/v1" other
echo "a build the store never saw" >other/extra.txt
id_other=$(pack_id other other.zip)
check "each bundle has an id" test -n "$id_v1" -a -n "$id_v2" -a -n "$id_v3" -a -n "$id_other"

S=$T/store
release "$S" 1.0 "$SAMPLE/v1"
release "$S" 2.0 "$SAMPLE/v2" --mandatory --message "security fix"
release "$S" 3.0 "$SAMPLE/v3"
serve_store "$S"
index_version=$(jv "$(cat "$S/$APP/index.json")" version)

# ---- install of the shipped bundle
run "$PKGTOOL" install --install-dir "$T/fresh/D" v1.zip
expect_rc 1 "install into an empty D without --app: usage error"
run "$PKGTOOL" install --install-dir "$T/fresh/D" --app "$APP" v1.zip
expect_rc 0 "install into a directory that does not exist yet"
installed "$T/fresh/D" "$id_v1" "$SAMPLE/v1" "install v1"
expect_eq "$(sv "$T/fresh/D" schema)/$(sv "$T/fresh/D" app)/$(sv "$T/fresh/D" current.label)" "1/$APP/local" \
    "install: state.json schema 1, the app, label local"
expect_eq "$(sv "$T/fresh/D" previous)/$(sv "$T/fresh/D" pending)/$(sv "$T/fresh/D" rejected)" "null/false/[]" \
    "install: no previous, confirmed, nothing rejected"
check "install: no stray files" no_stray "$T/fresh/D"
run "$PKGTOOL" install --install-dir "$T/fresh/D" v2.zip
expect_rc 0 "install without --app into a D that holds the app"
installed "$T/fresh/D" "$id_v2" "$SAMPLE/v2" "install v2 over v1"
for c in status start confirm rollback; do
    run "$PKGTOOL" $c --install-dir "$T/nothing-here"
    expect_rc 2 "$c where nothing is installed"
done

# ---- from v1: the patch v1 -> v3
D=$T/d1
device_init "$D" v1.zip
mark_logs
dev_update "$D" --json
expect_rc 0 "update from v1"
expect_eq "$(update_method "$OUT")" patch "update from v1: --json says patch"
expect_eq "$(jv "$OUT" result)/$(jv "$OUT" from.id)/$(jv "$OUT" to.id)/$(jv "$OUT" to.label)" "updated/$id_v1/$id_v3/3.0" \
    "update from v1: --json result, from, to"
expect_eq "$(jv "$OUT" fallback)/$(jv "$OUT" signature_checked)/$(jv "$OUT" index_version)" "/false/$index_version" \
    "update from v1: --json fallback, signature_checked, index_version"
expect_eq "$(jv "$OUT" download_size)/$(jv "$OUT" resumes)" "$(fsize "$S/$APP/patches/$id_v1-$id_v3.bsdelta")/0" \
    "update from v1: --json download_size is the patch's size, no resumes"
expect_eq "$(jv "$OUT" mandatory)" true "update from v1: it skips the mandatory 2.0, so it is mandatory"
expect_eq "$(fetched "patches/$id_v1-$id_v3.bsdelta")/$(fetched bundles/)" 1/0 \
    "update from v1: nginx served the patch v1->v3 once and no bundle"
expect_eq "$(fetched index.json)" 1 "update from v1: nginx served the index"
says "$ERR$OUT" "unverified|not verified|unsigned|no signature|not signature|without.*trust|not signed" \
    "update without --trust warns that the index is unverified"
installed "$D" "$id_v3" "$SAMPLE/v3" "update from v1"
versions_are "$D" "$id_v3" "$id_v1"
check "update from v1: tmp/ is empty" tmp_clean "$D"
check "update from v1: no stray files" no_stray "$D"
expect_eq "$(sv "$D" schema)/$(sv "$D" app)/$(sv "$D" index_version)" "1/$APP/$index_version" \
    "update from v1: state.json schema, app, index_version"
# the installed bundle was "local" until the index named it 1.0
expect_eq "$(sv "$D" current.label)/$(sv "$D" previous.id)/$(sv "$D" previous.label)" "3.0/$id_v1/1.0" \
    "update from v1: state.json current label, previous"
expect_eq "$(sv "$D" pending)/$(sv "$D" started)/$(sv "$D" rejected)" "true/0/[]" \
    "update from v1: state.json pending, started, rejected"
run "$PKGTOOL" status --install-dir "$D" --json
expect_rc 0 "status --json"
expect_eq "$(jv "$OUT" current.id)/$(jv "$OUT" current.label)" "$id_v3/3.0" "status --json: current"
expect_eq "$(jv "$OUT" previous.id)/$(jv "$OUT" previous.label)" "$id_v1/1.0" "status --json: previous"
expect_eq "$(jv "$OUT" pending)" true "status --json: pending"
run "$PKGTOOL" status --install-dir "$D"
expect_rc 0 "status"
expect_in "$OUT" "3.0" "status names the current label"
expect_in "$OUT" "$id_v1" "status names the previous version"
expect_in "$OUT" "1.0" "status names the previous label"
expect_eq "$(started_dir "$D")" "$(realpath "$D/versions/$id_v3")" "start runs the new version"

# ---- from v2: the patch v2 -> v3
D=$T/d2
device_init "$D" v2.zip
mark_logs
dev_update "$D" --json
expect_rc 0 "update from v2"
expect_eq "$(update_method "$OUT")" patch "update from v2: --json says patch"
expect_eq "$(fetched "patches/$id_v2-$id_v3.bsdelta")/$(fetched bundles/)" 1/0 \
    "update from v2: nginx served the patch v2->v3 and no bundle"
installed "$D" "$id_v3" "$SAMPLE/v3" "update from v2"
versions_are "$D" "$id_v3" "$id_v2"
expect_eq "$(sv "$D" previous.id)/$(sv "$D" pending)" "$id_v2/true" "update from v2: previous, pending"
expect_eq "$(jv "$OUT" mandatory)" false "update from v2: past the mandatory release, not mandatory"
check "update from v2: tmp/ is empty" tmp_clean "$D"

# ---- from a bundle the store does not know: the full bundle
D=$T/d3
device_init "$D" other.zip
installed "$D" "$id_other" other "install of an unknown bundle"
mark_logs
dev_update "$D" --json
expect_rc 0 "update from an unknown bundle"
expect_eq "$(update_method "$OUT")" full "update from an unknown bundle: --json says full"
expect_eq "$(fetched "bundles/$id_v3.zip")/$(fetched patches/)" 1/0 \
    "update from an unknown bundle: nginx served the v3 bundle and no patch"
installed "$D" "$id_v3" "$SAMPLE/v3" "update from an unknown bundle"
versions_are "$D" "$id_v3" "$id_other"
expect_eq "$(sv "$D" previous.id)" "$id_other" "update from an unknown bundle: previous"
check "update from an unknown bundle: tmp/ is empty" tmp_clean "$D"
check "update from an unknown bundle: no stray files" no_stray "$D"

# ---- up to date: nothing fetched but the index, nothing changed
D=$T/d4
device_init "$D" v3.zip
cp "$D/state.json" state-before.json
mark_logs
dev_update "$D" --json
expect_rc 0 "update when up to date"
expect_eq "$(fetched patches/)/$(fetched bundles/)" 0/0 "up to date: no patch or bundle fetched"
expect_eq "$(jv "$OUT" result)/$(jv "$OUT" method)/$(jv "$OUT" to)" up_to_date/none/null "up to date: --json"
installed "$D" "$id_v3" "$SAMPLE/v3" "up to date"
expect_eq "$(sv "$D" pending)/$(sv "$D" previous)" "false/null" "up to date: state unchanged"
versions_are "$D" "$id_v3"

# ---- --full from v1
D=$T/d5
device_init "$D" v1.zip
mark_logs
dev_update "$D" --full --json
expect_rc 0 "update --full from v1"
expect_eq "$(update_method "$OUT")" full "update --full: --json says full"
expect_eq "$(fetched "bundles/$id_v3.zip")/$(fetched patches/)" 1/0 "update --full: the bundle, no patch"
installed "$D" "$id_v3" "$SAMPLE/v3" "update --full"

# ---- a local store directory instead of a URL
D=$T/d6
device_init "$D" v1.zip
STORE_URL=$S dev_update "$D" --json
expect_rc 0 "update from a store directory"
expect_eq "$(update_method "$OUT")" patch "update from a store directory: patch"
installed "$D" "$id_v3" "$SAMPLE/v3" "update from a store directory"

# ---- errors leave the install as it is
D=$T/d-nosuchapp
APP=nosuchapp device_init "$D" v1.zip
APP=nosuchapp dev_update "$D"
expect_rc 2 "update of an app the store does not have (HTTP)"
installed "$D" "$id_v1" "$SAMPLE/v1" "after an unknown app"
APP=nosuchapp STORE_URL=$S dev_update "$D"
expect_rc 2 "update of an app the store does not have (store directory)"
STORE_URL=$T/no-such-store dev_update "$D"
expect_rc 2 "update from a store directory that does not exist"
D=$T/d7
device_init "$D" v1.zip
APP=nosuchapp dev_update "$D"
if [ "$RC" -ne 0 ]; then ok; else fail "update of D with another app's name succeeds"; fi
installed "$D" "$id_v1" "$SAMPLE/v1" "after another app's name"
# an empty or missing D: the newest release, in full
mark_logs
dev_update "$T/never-installed" --json
expect_rc 0 "update of a directory without an install"
expect_eq "$(jv "$OUT" result)/$(jv "$OUT" method)/$(jv "$OUT" from)" "updated/full/null" \
    "update of a directory without an install: --json"
expect_eq "$(fetched "bundles/$id_v3.zip")/$(fetched patches/)" 1/0 "update of an empty D: the v3 bundle"
installed "$T/never-installed" "$id_v3" "$SAMPLE/v3" "update of a directory without an install"
expect_eq "$(sv "$T/never-installed" app)/$(sv "$T/never-installed" previous)" "$APP/null" \
    "update of an empty D: state.json app, no previous"
check "update of an empty D: no stray files" no_stray "$T/never-installed"
STORE_URL=http://127.0.0.1:1 dev_update "$D" --retries 0
expect_rc 11 "update from a server that does not answer"
says "$ERR$OUT" "network|connect|fetch|download" "no server: the message says the store could not be reached"
installed "$D" "$id_v1" "$SAMPLE/v1" "after no server"
check "no server: tmp/ is empty" tmp_clean "$D"
run "$PKGTOOL" update --install-dir "$D" --store "$URL" --app "$APP"
expect_rc 1 "update without --native is a usage error"

# ---- the install directory itself: locked by another command, damaged state, lost link
D=$T/d-lock
device_init "$D" v1.zip
python3 - "$D/.lock" "$T/lock.ready" <<'EOF2' &
import fcntl, os, sys, time
f = open(sys.argv[1], "r+")
fcntl.lockf(f, fcntl.LOCK_EX)   # the fcntl lock every pkgtool command takes
open(sys.argv[2], "w").close()
time.sleep(30)
EOF2
locker=$!
for i in $(seq 100); do [ -e "$T/lock.ready" ] && break; sleep 0.05; done
mark_logs
dev_update "$D"
expect_rc 16 "update while another command holds D: busy"
says "$ERR" "another|busy|lock" "busy: the message says another command is working on D"
expect_eq "$(fetched patches/)/$(fetched bundles/)" 0/0 "busy: nothing downloaded"
run "$PKGTOOL" start --install-dir "$D"
expect_rc 16 "start while another command holds D: busy"
kill "$locker" 2>/dev/null
wait "$locker" 2>/dev/null
installed "$D" "$id_v1" "$SAMPLE/v1" "after the busy attempts"
rm "$D/current"
run "$PKGTOOL" status --install-dir "$D"
expect_rc 0 "status with the current link lost"
expect_eq "$(readlink "$D/current")" "versions/$id_v1" "the current link is repaired from state.json"
cp "$D/state.json" state-ok.json
echo '{"schema": 1, "app": "demo", "current": ' >"$D/state.json"
for c in status start update; do
    if [ $c = update ]; then dev_update "$D"; else run "$PKGTOOL" $c --install-dir "$D"; fi
    expect_rc 16 "$c with a damaged state.json"
done
check "the damaged install was not touched" test -d "$D/versions/$id_v1" -a -f "$D/versions/$id_v1.zip"
# the message says to reinstall the bundle with `pkgtool install`: that must work
run "$PKGTOOL" install --install-dir "$D" --app "$APP" v1.zip
expect_rc 0 "install repairs a damaged state.json (as the error message advises)"
if [ "$RC" -eq 0 ]; then
    installed "$D" "$id_v1" "$SAMPLE/v1" "reinstalled over a damaged state"
    dev_update "$D"
    expect_rc 0 "update after the repair"
    installed "$D" "$id_v3" "$SAMPLE/v3" "update after the repair"
fi

# ---- native_update: 4.0 needs native shell 2
cp -r "$SAMPLE/v3" v4
echo "needs the new shell" >v4/native.txt
id_v4=$(pack_id v4 v4.zip)
release "$S" 4.0 v4 --min-native 2
mark_logs
dev_update "$T/d4" --json
expect_rc 0 "native_update from v3 (native 1)"
expect_eq "$(jv "$OUT" result)" native_update "native_update: --json result"
says "$ERR$OUT" "native|store|app update" "native_update: says the app must be updated from the store"
installed "$T/d4" "$id_v3" "$SAMPLE/v3" "native_update: v3 stays"
expect_eq "$(fetched patches/)/$(fetched bundles/)" 0/0 "native_update from v3: nothing downloaded"
# a v1 device with shell 1 first gets 3.0, the newest release it can run
D=$T/d8
device_init "$D" v1.zip
dev_update "$D" --json
expect_rc 0 "native_update from v1 (native 1)"
expect_eq "$(jv "$OUT" result)/$(jv "$OUT" native_update)" updated/true \
    "native_update from v1: --json result updated, native_update true"
says "$ERR$OUT" "native" "native_update from v1: the text says a native update is needed too"
installed "$D" "$id_v3" "$SAMPLE/v3" "native_update from v1: installs 3.0 first"
# with shell 2 the v3 device goes to 4.0
NATIVE=2 dev_update "$T/d4" --json
expect_rc 0 "update to 4.0 with native 2"
installed "$T/d4" "$id_v4" v4 "native 2: 4.0 installed"
finish
