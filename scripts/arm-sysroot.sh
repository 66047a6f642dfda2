#!/usr/bin/env bash
# Prepares an ARM cross build of the on-device code: installs the host cross compiler and
# qemu-user, then builds a sysroot of Debian 12 target-arch packages (the -dev packages the
# device libraries link against and every shared library they need at link and run time).
# usage: arm-sysroot.sh arm64|armhf     -> build-arm/sysroot-ARCH (git-ignored)
#
# The target packages are fetched with apt's own resolver, run in a private state (own lists,
# own cache, empty dpkg status, only Debian's archive as source): nothing is added to the host's
# dpkg architectures and the host's apt state is not touched. The .debs stay cached in
# build-arm/apt-ARCH/ (git-ignored), and a sysroot built from the same package list is reused
# as it is, so a re-run costs a second and needs no network. Delete build-arm/sysroot-ARCH to
# pick up newer Debian packages.
# Environment: BSDELTA_ARM_DIR (default build-arm), DEBIAN_MIRROR (default http://deb.debian.org).
set -euo pipefail
cd "$(dirname "$0")/.."

arch=${1:-}
case "$arch" in
  arm64) triplet=aarch64-linux-gnu ;;
  armhf) triplet=arm-linux-gnueabihf ;;
  *) echo "usage: $0 arm64|armhf" >&2; exit 1 ;;
esac

# Target packages (apt adds their dependencies; the resolved list is written to
# SYSROOT/PACKAGES). libc6-dev: the C library itself, since the compiler runs with --sysroot
# and qemu loads ld.so and libc from the sysroot. bzip2, zstd and xxHash: the bspatch library.
# OpenSSL's libcrypto, cJSON and libarchive: the client library (pkgtool/src/pkc_*.c); libarchive
# brings libxml2 -> libicu72 + libstdc++6, the largest downloads, needed because the linker
# resolves a shared library's own dependencies. libdivsufsort (bsdiff's suffix sort, 60 kB) only
# in case the client ends up linking the bsdiff library through pkgtool's.
target_pkgs=(libc6-dev libbz2-dev libzstd-dev libxxhash-dev libssl-dev libcjson-dev libarchive-dev
             libdivsufsort-dev)

# Host packages: the cross compiler and the user-mode emulator (qemu-user, without the
# recommended binfmt registration: ctest calls qemu explicitly).
host_pkgs=(gcc-$triplet qemu-user debian-archive-keyring)

top=${BSDELTA_ARM_DIR:-build-arm}
mkdir -p "$top"
top=$(cd "$top" && pwd)
sysroot=$top/sysroot-$arch
state=$top/apt-$arch
mirror=${DEBIAN_MIRROR:-http://deb.debian.org}

missing=()
for p in "${host_pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "arm-sysroot.sh: missing packages: ${missing[*]}; run as root or install them with apt-get" >&2
    exit 1
  fi
  echo "arm-sysroot.sh: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# A sysroot made by this same script (same package list, same mirror) is kept.
stamp="$(sha256sum "$0" | cut -d' ' -f1) $arch $mirror"
if [ -f "$sysroot/.stamp" ] && [ "$(cat "$sysroot/.stamp")" = "$stamp" ]; then
  echo "arm-sysroot.sh: $sysroot is up to date ($(wc -l <"$sysroot/PACKAGES") packages)"
  exit 0
fi

mkdir -p "$state/lists/partial" "$state/cache/archives/partial" "$state/sources.d"
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
cat >"$state/sources.list" <<EOF
deb [signed-by=$keyring] $mirror/debian bookworm main
deb [signed-by=$keyring] $mirror/debian bookworm-updates main
deb [signed-by=$keyring] $mirror/debian-security bookworm-security main
EOF
apt_opts=(-q -o "APT::Architecture=$arch" -o "APT::Architectures=$arch"
          -o "Dir::State::Lists=$state/lists" -o "Dir::State::status=/dev/null"
          -o "Dir::Cache=$state/cache" -o "Dir::Cache::archives=$state/cache/archives"
          -o "Dir::Etc::sourcelist=$state/sources.list" -o "Dir::Etc::sourceparts=$state/sources.d"
          -o "APT::Install-Recommends=false" -o "APT::Get::List-Cleanup=false")

echo "arm-sysroot.sh: fetching $arch packages: ${target_pkgs[*]} (and their dependencies)"
# A mirror caught mid-sync fails one index now and then: retry once, then go on with the lists
# there are (apt keeps the last good copy of a failed index; a missing bookworm-security index
# only means older versions of a few libraries, which the tests do not mind).
if ! apt-get "${apt_opts[@]}" update >"$state/update.log" 2>&1 &&
   ! { sleep 3; apt-get "${apt_opts[@]}" update >"$state/update.log" 2>&1; }; then
  if ls "$state/lists/"*_Packages* >/dev/null 2>&1; then
    echo "arm-sysroot.sh: apt-get update failed (see $state/update.log); using the package lists there are" >&2
  else
    cat "$state/update.log" >&2
    exit 1
  fi
fi
# The exact set apt resolves (name version), then the download (cached .debs are not fetched again).
apt-get "${apt_opts[@]}" -s install "${target_pkgs[@]}" |
  sed -n 's/^Inst \([^ ]*\) (\([^ ]*\) .*/\1 \2/p' | sort >"$state/PACKAGES"
apt-get "${apt_opts[@]}" -y -d install "${target_pkgs[@]}" >"$state/download.log" 2>&1 ||
  { cat "$state/download.log" >&2; exit 1; }

tmp=$sysroot.tmp
rm -rf "$tmp"
mkdir -p "$tmp"
while read -r name version; do
  debs=("$state/cache/archives/${name}_${version//:/%3a}_"*.deb)
  [ -f "${debs[0]}" ] || { echo "arm-sysroot.sh: ${name} ${version}: no .deb in $state/cache/archives" >&2; exit 1; }
  dpkg-deb -x "${debs[0]}" "$tmp"
done <"$state/PACKAGES"
# Absolute links (libbz2.so -> /lib/...) would point into the host: make them relative.
find "$tmp" -type l -lname '/*' | while read -r link; do
  ln -sfn "$(realpath -m -s --relative-to="$(dirname "$link")" "$tmp$(readlink "$link")")" "$link"
done
cp "$state/PACKAGES" "$tmp/PACKAGES"
echo "$stamp" >"$tmp/.stamp"
rm -rf "$sysroot"
mv "$tmp" "$sysroot"
echo "arm-sysroot.sh: $sysroot ready ($(wc -l <"$sysroot/PACKAGES") packages: $(cut -d' ' -f1 "$sysroot/PACKAGES" | tr '\n' ' '))"
