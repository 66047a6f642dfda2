# device_resume.sh - connections cut in the middle of a patch and of a full bundle (the cut
# proxy in front of nginx): resumed in the same run with a Range request from the byte where
# the cut happened; with --retries 0 the run fails with exit 11 and leaves the install as it
# was, and a cut full bundle is resumed from its .part file by the next run; retries are
# bounded; a server that ignores Range does not corrupt the download.
. "$(dirname "$0")/device_testlib.sh"

# a 4 MiB app whose next version changes one 1 MiB file: a patch of about 1 MiB
make_app big1 7 4 1048576
make_app big2 7 4 1048576 2
cp -r big1 other
echo "a build the store never saw" >other/extra.txt
id_1=$(pack_id big1 big1.zip)
id_2=$(pack_id big2 big2.zip)
id_o=$(pack_id other other.zip)
S=$T/store
release "$S" 1.0 big1
release "$S" 2.0 big2
P=$S/$APP/patches/$id_1-$id_2.bsdelta
B=$S/$APP/bundles/$id_2.zip
check "the store has the patch big1 -> big2" test -f "$P"
psize=$(fsize "$P")
bsize=$(fsize "$B")
check "the patch is big enough to cut in the middle" test "$psize" -gt 200000
serve_store "$S"
start_proxy
STORE_URL=$PURL

# requests KIND: "RANGE WHAT" for each request of the proxy log since the mark whose path
# contains KIND (patches/ or bundles/), one line each
requests() { proxy_since | awk -F'\t' -v k="/$APP/$1" '$1 == "GET" && index($2, k) { print $3 " " $6 }'; }
# ranges KIND: the Range headers of those requests, space separated
ranges() { echo $(requests "$1" | cut -d' ' -f1); }
arm() { printf '%s\n' "$@" >"$RULES"; }

# ---- a patch cut once in the middle: resumed into the same patcher
D=$T/d-patch
device_init "$D" big1.zip
cut=$((psize / 2))
arm "cut /patches/ $cut 1 # patch once"
mark_logs
dev_update "$D" --json
expect_rc 0 "patch cut once: the update succeeds"
expect_eq "$(update_method "$OUT")" patch "patch cut once: still the patch"
expect_eq "$(ranges patches/)" "- bytes=$cut-" "patch cut once: resumed with Range from the cut"
expect_eq "$(jv "$OUT" resumes)" 1 "patch cut once: --json counts one resume"
expect_eq "$(requests patches/ | head -n 1 | cut -d' ' -f2)" cut "patch cut once: the proxy did cut"
expect_eq "$(requests bundles/ | wc -l)" 0 "patch cut once: no full bundle fetched"
installed "$D" "$id_2" big2 "patch cut once"
check "patch cut once: tmp/ is empty" tmp_clean "$D"

# ---- a patch cut three times: each resume from where the last one stopped
D=$T/d-patch3
device_init "$D" big1.zip
cut=$((psize / 5))
arm "cut /patches/ $cut 3 # patch thrice"
mark_logs
dev_update "$D" --json
expect_rc 0 "patch cut 3 times: the update succeeds (default --retries 5)"
expect_eq "$(ranges patches/)" "- bytes=$cut- bytes=$((2 * cut))- bytes=$((3 * cut))-" \
    "patch cut 3 times: each Range starts where the data stopped"
expect_eq "$(jv "$OUT" resumes)" 3 "patch cut 3 times: --json counts three resumes"
expect_eq "$(requests bundles/ | wc -l)" 0 "patch cut 3 times: no full bundle fetched"
installed "$D" "$id_2" big2 "patch cut 3 times"

# ---- a full bundle cut once in the middle
D=$T/d-full
device_init "$D" other.zip
cut=$((bsize / 2))
arm "cut /bundles/ $cut 1 # full once"
mark_logs
dev_update "$D" --json
expect_rc 0 "bundle cut once: the update succeeds"
expect_eq "$(update_method "$OUT")" full "bundle cut once: the full bundle"
expect_eq "$(ranges bundles/)" "- bytes=$cut-" "bundle cut once: resumed with Range from the cut"
installed "$D" "$id_2" big2 "bundle cut once"
check "bundle cut once: tmp/ is empty (the .part is gone)" tmp_clean "$D"

# ---- --retries 0: a cut patch fails the run (exit 11), nothing changes; the next run works
D=$T/d-patch0
device_init "$D" big1.zip
cp "$D/state.json" state0.json
cut=$((psize / 2))
arm "cut /patches/ $cut 1 # patch retries 0"
mark_logs
dev_update "$D" --retries 0
expect_rc 11 "patch cut with --retries 0: network error"
says "$ERR$OUT" "network|connection|transfer|download|fetch" "patch cut with --retries 0: says it is the network"
expect_eq "$(ranges patches/)" "-" "patch cut with --retries 0: no second request"
installed "$D" "$id_1" big1 "patch cut with --retries 0: current untouched"
expect_eq "$(sv "$D" pending)/$(sv "$D" previous)" "false/null" "patch cut with --retries 0: state as before"
versions_are "$D" "$id_1"
check "patch cut with --retries 0: tmp/ is empty (no copy of the patch is kept)" tmp_clean "$D"
check "patch cut with --retries 0: no stray files" no_stray "$D"
arm ""
dev_update "$D" --json
expect_rc 0 "after a failed patch download: the next run succeeds"
expect_eq "$(update_method "$OUT")" patch "after a failed patch download: the patch again"
installed "$D" "$id_2" big2 "after a failed patch download"

# ---- --retries 0: a cut full bundle is kept as .part and resumed by the next run
D=$T/d-full0
device_init "$D" other.zip
cut=$((bsize / 3))
arm "cut /bundles/ $cut 1 # full retries 0"
mark_logs
dev_update "$D" --retries 0
expect_rc 11 "bundle cut with --retries 0: network error"
installed "$D" "$id_o" other "bundle cut with --retries 0: current untouched"
versions_are "$D" "$id_o"
check "bundle cut with --retries 0: no stray files" no_stray "$D"
part=$D/tmp/$id_2.zip.part
if [ -f "$part" ]; then
    expect_eq "$(fsize "$part")" "$cut" "bundle cut with --retries 0: tmp/ID.zip.part holds the bytes received"
    check "bundle cut with --retries 0: the .part is the start of the bundle" cmp -s -n "$cut" "$part" "$B"
else
    fail "bundle cut with --retries 0: no $part (tmp/: $(ls -A "$D/tmp" 2>&1))"
fi
arm ""
mark_logs
dev_update "$D" --json
expect_rc 0 "after a cut bundle: the next run succeeds"
expect_eq "$(ranges bundles/)" "bytes=$cut-" "after a cut bundle: the next run resumes from the .part"
installed "$D" "$id_2" big2 "after a cut bundle"
check "after a cut bundle: tmp/ is empty" tmp_clean "$D"

# ---- retries are bounded: --retries 2 means three requests, then exit 11
D=$T/d-bounded
device_init "$D" other.zip
arm "cut /bundles/ 1000 100 # always"
mark_logs
dev_update "$D" --retries 2
expect_rc 11 "cut at every request: network error after the retries"
expect_eq "$(ranges bundles/)" "- bytes=1000- bytes=2000-" "--retries 2: three requests, each resuming"
installed "$D" "$id_o" other "cut at every request: current untouched"
arm ""
mark_logs
dev_update "$D"
expect_rc 0 "after the retries ran out: the next run succeeds"
expect_eq "$(ranges bundles/)" "bytes=3000-" "after the retries ran out: resumes from the .part"
installed "$D" "$id_2" big2 "after the retries ran out"

# ---- a server that ignores Range (answers 200 with the whole file) must not corrupt anything
D=$T/d-norange
device_init "$D" other.zip
cut=$((bsize / 2))
arm "cut /bundles/ $cut 1 # norange cut" "norange /bundles/ 1 # norange"
mark_logs
dev_update "$D"
expect_rc 0 "a server ignoring Range: the update succeeds"
expect_eq "$(requests bundles/ | cut -d' ' -f2 | tr '\n' ' ')" "cut norange " \
    "a server ignoring Range: cut, then a resume answered with the whole file"
installed "$D" "$id_2" big2 "a server ignoring Range"

# ---- the index itself cut
D=$T/d-index
device_init "$D" big1.zip
arm "cut /index\.json\$ 10 1 # index"
mark_logs
dev_update "$D"
expect_rc 0 "index cut once: the update succeeds"
installed "$D" "$id_2" big2 "index cut once"
finish
