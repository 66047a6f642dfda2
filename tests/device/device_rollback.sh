# device_rollback.sh - start/confirm/rollback over HTTP: an installed version started once and
# never confirmed is rolled back at the next start and rejected (update does not reinstall it,
# a newer release is installed); the confirmed path keeps the new version; `rollback` goes
# back to the previous version, and with none the install becomes empty; an unconfirmed
# version is never kept as a fallback.
. "$(dirname "$0")/device_testlib.sh"

pack_samples
cp -r "$SAMPLE/v3" v4
echo "release 4" >v4/four.txt
id_v4=$(pack_id v4 v4.zip)
S=$T/store
release "$S" 1.0 "$SAMPLE/v1"
release "$S" 2.0 "$SAMPLE/v2"
serve_store "$S"

# state D: "current/previous/pending/started" ids and values from state.json
state() { echo "$(sv "$1" current.id)/$(sv "$1" previous.id)/$(sv "$1" pending)/$(sv "$1" started)"; }
rejected() { jv "$(cat "$1/state.json")" rejected | python3 -c 'import json, sys; print(" ".join(sorted(json.load(sys.stdin))))'; }

# ---- an unconfirmed install is rolled back at the second start
D=$T/d
device_init "$D" v1.zip
dev_update "$D"
expect_rc 0 "update to 2.0"
installed "$D" "$id_v2" "$SAMPLE/v2" "update to 2.0"
expect_eq "$(state "$D")" "$id_v2/$id_v1/true/0" "after the update: 2.0 pending, never started"
expect_eq "$(started_dir "$D")" "$(realpath "$D/versions/$id_v2")" "first start: runs 2.0"
expect_eq "$(state "$D")" "$id_v2/$id_v1/true/1" "after the first start: started once, still pending"
run "$PKGTOOL" start --install-dir "$D"
expect_rc 0 "second start without confirm"
expect_eq "$(realpath "$(printf '%s\n' "$OUT" | tail -n 1)")" "$(realpath "$D/versions/$id_v1")" \
    "second start without confirm: runs 1.0 again"
says "$ERR$OUT" "roll|previous" "second start without confirm: says it rolled back"
installed "$D" "$id_v1" "$SAMPLE/v1" "rolled back at start"
expect_eq "$(sv "$D" current.id)/$(sv "$D" previous)/$(sv "$D" pending)" "$id_v1/null/false" \
    "rolled back at start: 1.0 current and confirmed, no previous"
expect_eq "$(rejected "$D")" "$id_v2" "rolled back at start: 2.0 rejected"
versions_are "$D" "$id_v1"
check "rolled back at start: no stray files" no_stray "$D"
expect_eq "$(started_dir "$D")" "$(realpath "$D/versions/$id_v1")" "third start: still 1.0"
run "$PKGTOOL" status --install-dir "$D" --json
expect_eq "$(jv "$OUT" rejected.0)" "$id_v2" "status --json lists the rejected release"
# the rejected release is not installed again
mark_logs
dev_update "$D" --json
expect_rc 0 "update after the rollback"
expect_eq "$(jv "$OUT" result)" rejected "update after the rollback: --json result rejected"
says "$ERR$OUT" "rolled back|rejected" "update after the rollback: says the release was rolled back before"
expect_eq "$(fetched patches/)/$(fetched bundles/)" 0/0 "update after the rollback: nothing downloaded"
installed "$D" "$id_v1" "$SAMPLE/v1" "update after the rollback: 1.0 stays"
# a newer release is
release "$S" 3.0 "$SAMPLE/v3"
dev_update "$D" --json
expect_rc 0 "update to 3.0 after 2.0 was rejected"
expect_eq "$(jv "$OUT" method)" patch "update to 3.0: the patch from 1.0"
installed "$D" "$id_v3" "$SAMPLE/v3" "update to 3.0"
expect_eq "$(state "$D")" "$id_v3/$id_v1/true/0" "update to 3.0: pending, previous 1.0"

# ---- the confirmed path
expect_eq "$(started_dir "$D")" "$(realpath "$D/versions/$id_v3")" "confirmed path: first start runs 3.0"
run "$PKGTOOL" confirm --install-dir "$D"
expect_rc 0 "confirm"
expect_eq "$(sv "$D" pending)" false "confirm clears pending"
for n in 2 3; do
    expect_eq "$(started_dir "$D")" "$(realpath "$D/versions/$id_v3")" "confirmed path: start $n keeps 3.0"
done
installed "$D" "$id_v3" "$SAMPLE/v3" "confirmed 3.0"
expect_eq "$(sv "$D" previous.id)/$(sv "$D" pending)" "$id_v1/false" "confirmed: previous 1.0, not pending"
versions_are "$D" "$id_v3" "$id_v1"
cp "$D/state.json" confirmed.json
run "$PKGTOOL" confirm --install-dir "$D"
expect_rc 0 "confirm of a confirmed version"
expect_eq "$(state "$D")" "$(jv "$(cat confirmed.json)" current.id)/$id_v1/false/$(jv "$(cat confirmed.json)" started)" \
    "confirm of a confirmed version changes nothing"

# ---- rollback command
run "$PKGTOOL" rollback --install-dir "$D"
expect_rc 0 "rollback"
installed "$D" "$id_v1" "$SAMPLE/v1" "rollback"
expect_eq "$(sv "$D" previous)/$(sv "$D" pending)" "null/false" "rollback: no previous, not pending"
expect_eq "$(rejected "$D")" "$(echo "$id_v2 $id_v3" | tr ' ' '\n' | sort | tr '\n' ' ' | sed 's/ $//')" \
    "rollback: 3.0 rejected too"
versions_are "$D" "$id_v1"
expect_eq "$(started_dir "$D")" "$(realpath "$D/versions/$id_v1")" "after rollback: start runs 1.0"
dev_update "$D" --json
expect_eq "$RC/$(jv "$OUT" result)" 0/rejected "after rollback: update does not reinstall 3.0"
installed "$D" "$id_v1" "$SAMPLE/v1" "after rollback: update keeps 1.0"
# with no previous version the install becomes empty: the app runs the bundle it ships with
run "$PKGTOOL" rollback --install-dir "$D"
expect_rc 0 "rollback without a previous version"
expect_eq "$(sv "$D" current)/$(sv "$D" previous)" "null/null" "rollback without a previous version: nothing current"
check "rollback without a previous version: no current link" test ! -e "$D/current" -a ! -L "$D/current"
versions_are "$D"
run "$PKGTOOL" start --install-dir "$D"
case $(printf '%s\n' "$OUT" | tail -n 1) in
"$D"/* | "$(realpath "$D")"/*) fail "empty install: start prints a directory inside D: $OUT" ;;
*) ok ;;
esac
says "$ERR$OUT" "ships|shipped|nothing is installed" "empty install: start says to run the shipped bundle"
check "empty install: no stray files" no_stray "$D"

# ---- an unconfirmed version is never the fallback: 2 updates in a row without a start
D=$T/d2
device_init "$D" v1.zip
release "$S" 4.0 v4
S_OLD=$T/store-3
mkdir -p "$S_OLD"
# a store at 3.0 only (its index), then the real one at 4.0
cp -r "$S/$APP" "$S_OLD/"
python3 - "$S_OLD/$APP/index.json" <<'EOF'
import json, sys
p = sys.argv[1]
ix = json.load(open(p))
ix["releases"] = [r for r in ix["releases"] if r["label"] != "4.0"]
ix["version"] -= 1
open(p, "w").write(json.dumps(ix, indent=2) + "\n")
EOF
STORE_URL=$S_OLD dev_update "$D"
expect_rc 0 "unconfirmed chain: update to 3.0"
installed "$D" "$id_v3" "$SAMPLE/v3" "unconfirmed chain: 3.0"
dev_update "$D"
expect_rc 0 "unconfirmed chain: update to 4.0 before 3.0 was confirmed"
installed "$D" "$id_v4" v4 "unconfirmed chain: 4.0"
expect_eq "$(sv "$D" previous.id)" "$id_v1" "unconfirmed chain: previous is 1.0, the last confirmed version"
versions_are "$D" "$id_v4" "$id_v1"
expect_eq "$(started_dir "$D")" "$(realpath "$D/versions/$id_v4")" "unconfirmed chain: first start runs 4.0"
expect_eq "$(started_dir "$D")" "$(realpath "$D/versions/$id_v1")" "unconfirmed chain: second start rolls back to 1.0"
installed "$D" "$id_v1" "$SAMPLE/v1" "unconfirmed chain: rolled back"
finish
