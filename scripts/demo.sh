#!/usr/bin/env bash
# The demo: three releases of a tiny hybrid app (corpus/sample-app) go through the release flow
# (canonical bundles, patches from every retained release, the store index), then a "device"
# asks for its update, applies the patch with bspatch, and survives the failures a device must
# survive (wrong base, truncated download). Usage: scripts/demo.sh BUILD_DIR
set -euo pipefail
build=${1:-build}
root=$(cd "$(dirname "$0")/.." && pwd)
bin=$root/$build
pkgtool=$bin/pkgtool/pkgtool
bspatch=$bin/bspatch/bspatch
app=$root/corpus/sample-app
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
store=$work/store
export SOURCE_DATE_EPOCH=1767225600   # reproducible index time stamps (2026-01-01)

step() { printf '\n== %s\n' "$*"; }
field() { sed -n "s/.*\"$1\": \"\\([^\"]*\\)\".*/\\1/p"; }

step "build machine: release 1.0, 2.0 (mandatory) and 3.0 of the app 'demo'"
"$pkgtool" release --store "$store" --app demo --label 1.0 "$app/v1" 2>/dev/null
"$pkgtool" release --store "$store" --app demo --label 2.0 --mandatory \
  --message "security fix" "$app/v2" 2>/dev/null
"$pkgtool" release --store "$store" --app demo --label 3.0 "$app/v3"

step "the store, as a static file server would serve it"
(cd "$store" && find . -type f | sort | sed 's/\([0-9a-f]\{12\}\)[0-9a-f]\{52\}/\1…/g')
"$pkgtool" ls --store "$store" --app demo

step "a device at 1.0 asks for its update"
"$pkgtool" pack "$app/v1" -o "$work/device.zip" >/dev/null
id1=$(sha256sum "$work/device.zip" | cut -c1-64)
answer=$("$pkgtool" check --store "$store" --app demo --from "$id1" --native 1.0)
echo "$answer"
url=$(echo "$answer" | field url)
step "the device applies the patch it was sent ($(stat -c %s "$store/$url") bytes instead of the full bundle)"
"$bspatch" -v "$work/device.zip" "$work/device-new.zip" "$store/$url"
sha=$(echo "$answer" | field sha256)
want=$(echo "$answer" | sed -n 's/.*"to": {[^}]*"id": "\([0-9a-f]*\)".*/\1/p')
got=$(sha256sum "$work/device-new.zip" | cut -c1-64)
[ "$got" = "$want" ] && echo "  SHA-256 of the result = id of release 3.0: verified"
[ -n "$sha" ]

step "an unknown bundle gets the full bundle"
"$pkgtool" check --store "$store" --app demo --from 0000000000000000000000000000000000000000000000000000000000000000 --native 1.0

step "failures a device must survive"
set +e
"$bspatch" "$work/device-new.zip" "$work/bad.zip" "$store/$url" 2>&1 | sed 's/^/  /'
echo "  patch on the wrong base -> exit ${PIPESTATUS[0]} (7); output left behind: $([ -e "$work/bad.zip" ] && echo yes || echo no)"
head -c $(( $(stat -c %s "$store/$url") / 2 )) "$store/$url" > "$work/half.patch"
"$bspatch" "$work/device.zip" "$work/bad.zip" "$work/half.patch" 2>&1 | sed 's/^/  /'
echo "  truncated download -> exit ${PIPESTATUS[0]} (6); output left behind: $([ -e "$work/bad.zip" ] && echo yes || echo no)"
set -e

step "verify the whole store"
"$pkgtool" verify --store "$store"
echo
echo "demo finished"
