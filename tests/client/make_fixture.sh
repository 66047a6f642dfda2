#!/usr/bin/env bash
# Regenerates tests/client/fixture: a tiny app in three versions, released with pkgtool into
# two stores (s1: release 1.0 only; s3: releases 1.0, 2.0, 3.0), signed with a test key that
# exists only for these tests. The C test (test_client.c) runs on the device targets too
# (ARM under qemu), where pkgtool itself is not built, so the store is committed.
# Usage: tests/client/make_fixture.sh PKGTOOL
set -euo pipefail
PKGTOOL=$(realpath "${1:?usage: make_fixture.sh PKGTOOL}")
cd "$(dirname "$0")"
rm -rf fixture
mkdir -p fixture/app
export SOURCE_DATE_EPOCH=1767225600 # 2026-01-01: the indexes expire 36500 days later
for v in 1 2 3; do
    d=fixture/app/v$v
    mkdir -p "$d/js" "$d/img"
    python3 - "$d" "$v" <<'PY'
import sys, random
d, v = sys.argv[1], int(sys.argv[2])
rnd = random.Random(7)
lines = [f"export function f{i}(x) {{ return x * {i} + {rnd.randrange(1000)}; }}\n" for i in range(300)]
for k in range(v - 1):
    lines[50 + 40 * k] = f"export function changed{k}(x) {{ return x - {k}; }}\n"
open(f"{d}/js/main.js", "w").write("".join(lines))
open(f"{d}/index.html", "w").write(f"<!doctype html><title>demo {v}.0</title><script src=js/main.js></script>\n")
blob = bytearray(random.Random(11).randbytes(6000))
blob[100 * v] ^= 0xFF
open(f"{d}/img/logo.bin", "wb").write(bytes(blob))
PY
done
"$PKGTOOL" keygen --out fixture/test >/dev/null
"$PKGTOOL" keygen --out fixture/other >/dev/null
rm fixture/other.key
rel() { "$PKGTOOL" release -q --store "fixture/$1" --app demo --label "$2" --sign fixture/test.key --expires-in 36500 \
        "fixture/app/v${2%%.*}" >/dev/null 2>&1; }
rel s1 1.0
cp -r fixture/s1 fixture/s3
rel s3 2.0
rel s3 3.0
ls -R fixture | head -40
