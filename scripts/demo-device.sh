#!/usr/bin/env bash
# The device demo: a signed store served by a real nginx on 127.0.0.1; a device installs 1.0
# over HTTP, updates to 3.0 with a patch, is started twice without confirming (rolled back
# and 3.0 rejected), then takes 3.1 and confirms it; a tampered index is refused.
# Usage: scripts/demo-device.sh BUILD_DIR   (needs nginx, python3, openssl: scripts/setup-deps.sh)
set -euo pipefail
build=${1:-build}
root=$(cd "$(dirname "$0")/.." && pwd)
case $build in /*) ;; *) build=$root/$build ;; esac
pkgtool=$build/pkgtool/pkgtool
app=$root/corpus/sample-app
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# shellcheck source=../tests/device/httpd.sh
. "$root/tests/device/httpd.sh"   # chains its own stop in front of the trap above
cd "$work"
store=$work/store
D=$work/device
key=$work/demo

step() { printf '\n== %s\n' "$*"; }
short() { sed -E 's/([0-9a-f]{12})[0-9a-f]{52}/\1…/g; s|'"$work"'/||g'; }
indent() { sed 's/^/  /' | short; }
field() { python3 -c 'import json, sys; d = json.load(sys.stdin); print(eval("d" + sys.argv[1]))' "$1"; }
release() { # LABEL DIR
    "$pkgtool" release --store "$store" --app demo --label "$1" --sign "$key.key" "$2" >/dev/null 2>&1
    echo "  released $1 (index version $(field '["version"]' <"$store/demo/index.json"), signed)"
}
update() {
    "$pkgtool" update --install-dir "$D" --store "$HTTPD_URL" --app demo --native 1 --trust "$key.pub" --json \
        2>"$work/err" >"$work/out" || { cat "$work/err" | indent; return 1; }
    grep -v '^pkgtool: \(fetching\|warning\)' "$work/err" | sed 's/^pkgtool: //' | indent
    python3 - "$work/out" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
how = f" by {r['method']} ({r['download_size']} bytes)" if r["method"] != "none" else ""
print(f"  -> {r['result']}{how}; {r['bytes_fetched']} bytes fetched in all; "
      f"index signature {'checked' if r['signature_checked'] else 'NOT checked'}")
EOF
}
start() { printf '  app starts: runs %s\n' "$("$pkgtool" start --install-dir "$D" 2>"$work/err" | short)"; sed 's/^pkgtool: //' "$work/err" | indent; }
status() { "$pkgtool" status --install-dir "$D" | indent; }

step "build machine: a key pair, and release 1.0 of the app 'demo' (signed)"
"$pkgtool" keygen --out "$key" | indent
release 1.0 "$app/v1"

step "the store is served by nginx"
httpd_start "$store" "$work/nginx"
echo "  $HTTPD_URL/demo/index.json (+ index.json.sig), as any static host or CDN would serve it"

step "a new device (empty install directory) installs 1.0 over HTTP"
update
start
"$pkgtool" confirm --install-dir "$D" | indent

step "build machine: releases 2.0 and 3.0"
release 2.0 "$app/v2"
release 3.0 "$app/v3"

step "the device updates: a patch from 1.0 straight to 3.0, applied while it downloads"
update
status

step "the app starts 3.0 but crashes before it confirms; at the next start 3.0 is rolled back"
start
start
status

step "3.0 was rolled back on this device: the next update does not install it again"
update

step "build machine: release 3.1 (the fix); the device updates, starts, confirms"
cp -r "$app/v3" "$work/v3.1"
echo '/* fixed */' >>"$work/v3.1/js/app.js"
release 3.1 "$work/v3.1"
update
start
"$pkgtool" confirm --install-dir "$D" | indent
start
status

step "an index altered on the server is refused (the device keeps running 3.1)"
sed -i 's/"mandatory": false/"mandatory": true/' "$store/demo/index.json"
set +e
"$pkgtool" update --install-dir "$D" --store "$HTTPD_URL" --app demo --native 1 --trust "$key.pub" 2>&1 |
    sed 's/^pkgtool: //' | indent
echo "  -> exit ${PIPESTATUS[0]} (12: bad or missing signature)"
set -e
start

httpd_stop
echo
echo "device demo finished"
