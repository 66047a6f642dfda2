#!/usr/bin/env bash
# Installs the Debian packages bsdelta needs (build, tests, benchmarks). Idempotent: runs
# apt-get only when something is missing. Usage: setup-deps.sh [build|test|bench|all]
set -euo pipefail
what=${1:-test}
pkgs=(build-essential cmake pkg-config bzip2 libbz2-dev libdivsufsort-dev libxxhash-dev
      libarchive-dev libssl-dev libzstd-dev libcjson-dev libcurl4-openssl-dev)
case "$what" in
  build) ;;
  test) pkgs+=(bsdiff clang libclang-rt-14-dev zip unzip nginx-light python3 curl) ;;
  bench|all) pkgs+=(bsdiff clang libclang-rt-14-dev zip unzip nginx-light python3 curl xdelta3 zstd time python3) ;;
  *) echo "setup-deps.sh: unknown set '$what' (build, test, bench, all)" >&2; exit 1 ;;
esac
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "setup-deps.sh: missing packages: ${missing[*]}; run as root or install them with apt-get" >&2
  exit 1
fi
echo "setup-deps.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
