#!/usr/bin/env bash
# The demo: a tiny hybrid app (corpus/sample-app, three releases) is bundled, diffed from each
# older release to the newest, and patched back on the "device", including the failures a
# device must survive (wrong base, truncated download). Usage: scripts/demo.sh BUILD_DIR
set -euo pipefail
build=${1:-build}
root=$(cd "$(dirname "$0")/.." && pwd)
bsdiff=$root/$build/bsdiff/bsdiff
bspatch=$root/$build/bspatch/bspatch
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# A deterministic bundle: sorted paths, fixed times and owners (pkgtool pack will replace this).
bundle() {
  tar -C "$root/corpus/sample-app/$1" --sort=name --mtime=@0 --owner=0 --group=0 \
      --numeric-owner --mode=u+rw,go+r,go-w --format=ustar -cf "$2" .
}
size() { stat -c %s "$1"; }

for v in v1 v2 v3; do bundle $v "$work/$v.tar"; done
echo "== bundles"
for v in v1 v2 v3; do printf '  %s.tar  %7d bytes\n' $v "$(size "$work/$v.tar")"; done

if [ -x "$bsdiff" ]; then
  fmt=BSDELTA
  mk() { "$bsdiff" "$1" "$2" "$3"; }
else
  fmt=BSDIFF40
  echo "(our bsdiff is not built yet: using Debian's bsdiff 4.3 to make BSDIFF40 patches)"
  mk() { /usr/bin/bsdiff "$1" "$2" "$3"; }
fi

echo "== release v3: one $fmt patch from every retained release"
printf '  %-8s %10s %8s\n' from "patch" "% full"
for v in v1 v2; do
  mk "$work/$v.tar" "$work/v3.tar" "$work/$v-v3.patch"
  p=$(size "$work/$v-v3.patch"); f=$(size "$work/v3.tar")
  awk -v v=$v -v p=$p -v f=$f 'BEGIN { printf "  %-8s %10d %7.1f%%\n", v, p, 100 * p / f }'
done

echo "== device at v1 applies v1->v3"
"$bspatch" -v "$work/v1.tar" "$work/v1-got-v3.tar" "$work/v1-v3.patch"
cmp "$work/v1-got-v3.tar" "$work/v3.tar" && echo "  result identical to v3.tar"

echo "== device at v2 streams v2->v3 from stdin (as if downloading)"
"$bspatch" -v "$work/v2.tar" "$work/v2-got-v3.tar" - < "$work/v2-v3.patch" 2>&1 ||
  echo "  (BSDIFF40 cannot be streamed; the BSDELTA format can)"

echo "== failures a device must survive"
set +e
if [ "$fmt" = BSDELTA ]; then
  "$bspatch" "$work/v2.tar" "$work/bad.tar" "$work/v1-v3.patch"
  echo "  wrong base -> exit $? (7), output exists: $([ -e "$work/bad.tar" ] && echo yes || echo no)"
fi
head -c $(( $(size "$work/v1-v3.patch") / 2 )) "$work/v1-v3.patch" > "$work/half.patch"
"$bspatch" "$work/v1.tar" "$work/bad.tar" "$work/half.patch"
echo "  truncated download -> exit $? (6), output exists: $([ -e "$work/bad.tar" ] && echo yes || echo no)"
set -e
echo "demo finished"
