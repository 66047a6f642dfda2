# pkgtool_crash.sh - pkgtool killed (SIGKILL) at each progress point of the third release leaves
# a store that verify accepts and that check still answers from; re-running the same release
# succeeds and gives the same store as an uninterrupted run (SOURCE_DATE_EPOCH fixed).
. "$(dirname "$0")/pkgtool_testlib.sh"

id_v1=$(pack_id "$SAMPLE/v1" v1.zip)

# the uninterrupted reference
three_releases ref

for point in packing "storing bundle" "diffing from" "patch from" "writing index" removed; do
    S=$T/killed-${point// /-}
    release "$S" v1 "$SAMPLE/v1"
    release "$S" v2 "$SAMPLE/v2"
    run env PKGTOOL_KILL_AT="$point" "$PKGTOOL" release --store "$S" --app demo --label v3 "$SAMPLE/v3"
    expect_rc 137 "killed at '$point': dies by SIGKILL"
    expect_in "$ERR" "pkgtool: $point" "killed at '$point': the progress line was reached"
    run "$PKGTOOL" verify --store "$S"
    expect_rc 0 "killed at '$point': verify accepts the store"
    run "$PKGTOOL" check --store "$S" --app demo --from "$id_v1"
    expect_rc 0 "killed at '$point': check answers"
    # the index is written after the 'writing index' line and before 'removed'
    if [ "$point" = removed ]; then want=3; else want=2; fi
    expect_eq "$(jget "$OUT" index_version)/$(jget "$OUT" action)" "$want/patch" \
        "killed at '$point': check answers from index version $want"
    run "$PKGTOOL" release --store "$S" --app demo --label v3 "$SAMPLE/v3"
    expect_rc 0 "killed at '$point': the re-run succeeds"
    check "killed at '$point': the re-run gives the uninterrupted index" \
        cmp -s "$S/demo/index.json" ref/demo/index.json
    check "killed at '$point': the re-run gives the uninterrupted files" \
        test "$(snapshot "$S")" = "$(snapshot ref)"
    run "$PKGTOOL" verify --store "$S"
    expect_rc 0 "killed at '$point': verify after the re-run"
done

# the same release run twice in a row is idempotent too, but new content under a used label
# is still refused
run "$PKGTOOL" release --store ref --app demo --label v3 "$SAMPLE/v3"
expect_rc 0 "repeating a completed release"
check "repeating a completed release changes nothing" test "$(snapshot ref)" = "$(snapshot "$T/killed-removed")"
run "$PKGTOOL" release --store ref --app demo --label v3 --mandatory "$SAMPLE/v3"
expect_rc 5 "the same label and content with other options is refused"
finish
