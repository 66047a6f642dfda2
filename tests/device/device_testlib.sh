# device_testlib.sh - shared helpers of the device end-to-end tests (sourced, not run): a store
# served by a private nginx (httpd.sh), optionally through the cutting proxy (cutproxy.py),
# install directories checked against docs/DEVICE.md.
# Each test is called as: bash TEST.sh PKGTOOL BSPATCH SAMPLE_APP_DIR
# The check/fail/run helpers are those of the pkgtool shell tests.

DEVICE_TESTS=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$DEVICE_TESTS/../pkgtool/pkgtool_testlib.sh"
. "$DEVICE_TESTS/httpd.sh"
# Indexes now carry an expiry (created + 90 days): the fixed past creation time of the pkgtool
# tests would make every index expired. Tests that want a past time set it themselves.
unset SOURCE_DATE_EPOCH
# the device must reach 127.0.0.1 directly whatever proxy the machine is configured with
unset http_proxy HTTP_PROXY https_proxy HTTPS_PROXY all_proxy ALL_PROXY
export no_proxy=127.0.0.1,localhost NO_PROXY=127.0.0.1,localhost

need_tools python3 diff cmp
httpd_find_nginx || need_tools nginx

APP=demo
NATIVE=1

# ---- JSON

# jv JSON PATH: the value at PATH (keys and list indexes separated by dots) of a JSON text:
# strings unquoted, other values as JSON (null, true, 3, [...]); "<missing>" when there is no
# such value, "<not json>" when the text does not parse. Also reads the last line that
# parses, so that a progress line before the JSON object does not matter.
jv() {
    python3 - "$1" "$2" <<'EOF'
import json, sys
text, path = sys.argv[1], sys.argv[2]
doc = None
for cand in [text] + text.splitlines()[::-1]:
    try:
        doc = json.loads(cand)
        break
    except ValueError:
        continue
if doc is None:
    print("<not json>"); sys.exit(0)
for part in [p for p in path.split(".") if p]:
    if isinstance(doc, list) and part.isdigit() and int(part) < len(doc):
        doc = doc[int(part)]
    elif isinstance(doc, dict) and part in doc:
        doc = doc[part]
    else:
        print("<missing>"); sys.exit(0)
print(doc if isinstance(doc, str) else json.dumps(doc))
EOF
}
# sv D PATH: a field of D/state.json
sv() { jv "$(cat "$1/state.json" 2>/dev/null)" "$2"; }

# ---- the store and its server

# serve_store STORE: nginx serving STORE; sets URL (the store's URL) and NGINX_LOG
serve_store() {
    if ! httpd_start "$1" "$T/nginx"; then
        fail "nginx does not start"
        finish
    fi
    URL=$HTTPD_URL
    NGINX_LOG=$HTTPD_LOG
}

# start_proxy: the cutting proxy in front of nginx; sets PURL (the store through the proxy),
# PROXY_LOG and RULES (the rule file: write rules into it, see cutproxy.py)
start_proxy() {
    RULES=$T/proxy.rules
    PROXY_LOG=$T/proxy.log
    : >"$RULES"
    rm -f "$T/proxy.port"
    python3 "$DEVICE_TESTS/cutproxy.py" --upstream "127.0.0.1:$HTTPD_PORT" --port-file "$T/proxy.port" \
        --log "$PROXY_LOG" --rules "$RULES" </dev/null >>"$T/proxy.err" 2>&1 &
    bg_track $!
    local i
    for i in $(seq 100); do
        [ -s "$T/proxy.port" ] && break
        sleep 0.05
    done
    if [ ! -s "$T/proxy.port" ]; then
        fail "the cut proxy does not start: $(cat "$T/proxy.err")"
        finish
    fi
    PURL=http://127.0.0.1:$(cat "$T/proxy.port")
}

# mark_logs, then new_requests LOG: the lines a log got since the mark
mark_logs() {
    NGINX_MARK=$(wc -l <"$NGINX_LOG")
    PROXY_MARK=0
    [ -n "${PROXY_LOG:-}" ] && [ -f "$PROXY_LOG" ] && PROXY_MARK=$(wc -l <"$PROXY_LOG")
}
nginx_since() { tail -n +$((NGINX_MARK + 1)) "$NGINX_LOG"; }
proxy_since() { tail -n +$((PROXY_MARK + 1)) "$PROXY_LOG"; }
# fetched KIND: how many GET requests for the app's KIND (patches, bundles, index.json) nginx
# answered since the mark
fetched() { nginx_since | grep -c "^GET [^ ]*/$APP/$1" || true; }

# flip_byte FILE [OFFSET]: inverts one byte (default: the middle one) in place
flip_byte() {
    python3 - "$1" "${2:-}" <<'EOF'
import sys
path, off = sys.argv[1], sys.argv[2]
with open(path, "r+b") as f:
    data = bytearray(f.read())
    i = int(off) if off else len(data) // 2
    data[i] ^= 0xFF
    f.seek(0); f.write(data)
EOF
}

# make_app DIR SEED NFILES SIZE [CHANGE]: a deterministic app tree of NFILES random files of
# SIZE bytes plus an index.html. CHANGE (a number) makes a later version of the same app: the
# last file is new content, the first has a few bytes changed, index.html says CHANGE.
make_app() {
    python3 - "$@" <<'EOF'
import os, random, sys
out, seed, n, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
change = int(sys.argv[5]) if len(sys.argv) > 5 else 0
os.makedirs(os.path.join(out, "data"), exist_ok=True)
for i in range(n):
    r = random.Random(seed * 1000 + i + (change * 7919 if change and i == n - 1 and n > 1 else 0))
    data = bytearray(r.randbytes(size))
    if change and i == 0:
        for k in range(1, 17):
            data[k * size // 17] ^= change & 0xFF or 1
    with open(os.path.join(out, "data", f"blob{i}.bin"), "wb") as f:
        f.write(data)
with open(os.path.join(out, "index.html"), "w") as f:
    f.write(f"<!doctype html><title>big app</title><p>version {change}</p>\n")
EOF
}

# ---- the device

# dev_update D [options...]: pkgtool update of install dir D from the store at $STORE_URL
# (default $URL); output in $OUT/$ERR/$RC
dev_update() {
    local d=$1
    shift
    run "$PKGTOOL" update --install-dir "$d" --store "${STORE_URL:-$URL}" --app "$APP" --native "$NATIVE" "$@"
}

# install_bundle D BUNDLE.zip: the bundle the app ships with, installed into D
install_bundle() { "$PKGTOOL" install --install-dir "$1" --app "$APP" "$2"; }

# device_init D BUNDLE.zip: a device holding BUNDLE as its confirmed current version (install,
# then the app starts and confirms)
device_init() {
    mkdir -p "$1"
    if install_bundle "$1" "$2" >"$T/.init.out" 2>&1 &&
        "$PKGTOOL" start --install-dir "$1" >>"$T/.init.out" 2>&1 &&
        "$PKGTOOL" confirm --install-dir "$1" >>"$T/.init.out" 2>&1; then
        ok
    else
        fail "device_init $1 $2: $(cat "$T/.init.out")"
    fi
}

# same_tree DIR REF: DIR holds exactly the files of REF, same contents. A .bsdelta/ directory
# holding the bundle's manifest.json alone is tolerated (docs/DEVICE.md does not say whether
# versions/ID/ keeps it).
same_tree() {
    local dir=$1 ref=$2
    [ -d "$dir" ] || return 1
    diff -r -x .bsdelta "$dir" "$ref" >/dev/null 2>&1 || return 1
    if [ -e "$dir/.bsdelta" ]; then
        [ "$(ls -A "$dir/.bsdelta")" = manifest.json ] || return 1
    fi
    return 0
}

# installed D ID REF WHAT: D runs bundle ID (state.json, the current link, the unpacked files
# equal to REF, the bundle kept as versions/ID.zip)
installed() {
    local d=$1 id=$2 ref=$3 what=$4
    expect_eq "$(sv "$d" current.id)" "$id" "$what: state.json current.id"
    expect_eq "$(readlink "$d/current")" "versions/$id" "$what: current -> versions/ID"
    check "$what: versions/ID holds exactly the release's files" same_tree "$d/versions/$id" "$ref"
    check "$what: current holds exactly the release's files" same_tree "$d/current/" "$ref"
    if [ -f "$d/versions/$id.zip" ]; then
        expect_eq "$(sha256 "$d/versions/$id.zip")" "$id" "$what: versions/ID.zip is the bundle"
    else
        fail "$what: versions/$id.zip missing"
    fi
}

# versions_are D ID...: versions/ holds exactly these versions and their bundles
versions_are() {
    local d=$1 want="" id
    shift
    for id in "$@"; do want="$want$id"$'\n'"$id.zip"$'\n'; done
    want=$(printf '%s' "$want" | sort)
    local got
    got=$(ls -A "$d/versions" 2>/dev/null | sort)
    expect_eq "$(echo $got)" "$(echo $want)" "versions/ of $d holds exactly: $*"
}

# tmp_clean D: D/tmp is absent or empty
tmp_clean() { [ ! -e "$1/tmp" ] || [ -z "$(ls -A "$1/tmp")" ]; }

# no_stray D: D holds nothing but state.json, current, versions/ and tmp/ (and .lock, the
# lock every command takes)
no_stray() {
    local extra
    extra=$(ls -A "$1" | grep -vxE 'state\.json|current|versions|tmp|\.lock')
    [ -z "$extra" ] || { echo "stray in $1: $extra" >&2; return 1; }
}

# started_dir D: runs pkgtool start, prints the real path of the directory it printed
started_dir() {
    local out
    out=$("$PKGTOOL" start --install-dir "$1" 2>>"$T/.start.err") || return 1
    realpath -e "$(printf '%s\n' "$out" | tail -n 1)" 2>/dev/null
}

# says TEXT REGEX WHAT: the (case-insensitive) extended REGEX matches TEXT
says() {
    if printf '%s\n' "$1" | grep -qiE "$2"; then ok; else fail "$3: /$2/ not found in: $1"; fi
}

# update_method JSON: how `update --json` got the new bundle: patch, full or none
update_method() { jv "$1" method; }

# pack_samples: packs the sample app's v1, v2 and v3 into v1.zip ... and sets id_v1, id_v2, id_v3
pack_samples() {
    local v
    for v in v1 v2 v3; do
        eval "id_$v=\$(pack_id \"\$SAMPLE/$v\" $v.zip)"
    done
}
