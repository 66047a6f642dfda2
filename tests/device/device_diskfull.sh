# device_diskfull.sh - the install directory on a small tmpfs (a private mount namespace):
# sized so that the new bundle fits but its unpacked files do not, the update fails with exit
# 3, says the disk is full, leaves the install as it was and tmp/ empty; sized so that not
# even the download fits, the same; once there is room the next update succeeds.
. "$(dirname "$0")/device_testlib.sh"
need_tools unshare mount

# the mount namespace: as root a plain one, otherwise one in a new user namespace
if [ "$(id -u)" -eq 0 ]; then NS=(unshare -m); else NS=(unshare -Urm); fi
mkdir -p "$T/probe"
if ! "${NS[@]}" sh -c 'mount -t tmpfs -o size=64k tmpfs "$1"' sh "$T/probe" 2>"$T/probe.err"; then
    echo "$TEST_NAME: cannot mount a tmpfs in a private mount namespace ($(cat "$T/probe.err")); skipping" >&2
    trap - EXIT
    rm -rf "$T"
    exit 77
fi

# an app of three 256 KiB files; the next version changes one of them (a small patch)
make_app m1 11 3 262144
make_app m2 11 3 262144 2
id_1=$(pack_id m1 m1.zip)
id_2=$(pack_id m2 m2.zip)
S=$T/store
release "$S" 1.0 m1
release "$S" 2.0 m2
check "the store has a patch 1.0 -> 2.0" test -f "$S/$APP/patches/$id_1-$id_2.bsdelta"
serve_store "$S"
b1=$(fsize m1.zip)
b2=$(fsize m2.zip)

# the device's life inside the namespace: D on a tmpfs with SIZE KiB free holds 1.0; one
# update; then a ballast file of ROOM KiB (there from the start) is removed and a second
# update runs. Snapshots of D are copied out. (A remount to grow the tmpfs is not allowed in
# a user namespace.)
cat >"$T/inner.sh" <<'EOF'
set -u
pkgtool=$1 url=$2 size=$3 room=$4 out=$5 bundle=$6
mnt=$out/mnt
mkdir -p "$mnt"
mount -t tmpfs -o "size=$((size + room))k" tmpfs "$mnt" || exit 90
head -c "$((room * 1024))" /dev/zero >"$mnt/ballast" || exit 94
D=$mnt/D
"$pkgtool" install --install-dir "$D" --app demo "$bundle" >"$out/install.out" 2>&1 || exit 91
"$pkgtool" start --install-dir "$D" >/dev/null 2>&1 && "$pkgtool" confirm --install-dir "$D" >/dev/null 2>&1 || exit 92
df -k "$mnt" >"$out/df-before.txt"
"$pkgtool" update --install-dir "$D" --store "$url" --app demo --native 1 --json >"$out/update1.out" 2>"$out/update1.err"
echo $? >"$out/update1.rc"
"$pkgtool" start --install-dir "$D" >"$out/start1.out" 2>&1
cp -a "$D" "$out/after1"
rm "$mnt/ballast"
"$pkgtool" update --install-dir "$D" --store "$url" --app demo --native 1 --json >"$out/update2.out" 2>"$out/update2.err"
echo $? >"$out/update2.rc"
cp -a "$D" "$out/after2"
umount "$mnt"
EOF

# scenario NAME SIZE_BYTES: runs the device's life on a tmpfs of that size and checks it
scenario() {
    local name=$1 size=$(($2 / 1024)) out=$T/$1
    mkdir -p "$out"
    "${NS[@]}" bash "$T/inner.sh" "$PKGTOOL" "$URL" "$size" $((size * 3)) "$out" "$T/m1.zip" >"$out/inner.log" 2>&1
    local rc=$?
    expect_eq "$rc" 0 "$name: the device's life in the namespace ran through ($(cat "$out/inner.log" "$out/install.out" 2>/dev/null))"
    RC=$(cat "$out/update1.rc" 2>/dev/null)
    ERR=$(cat "$out/update1.err" 2>/dev/null)
    expect_rc 3 "$name: the update fails: cannot write"
    says "$ERR" "disk|space|full" "$name: the message says the disk is full"
    # the test hits the step it is sized for (the message names the file being written)
    case $name in
    unpack) says "$ERR" "unpack" "$name: the disk filled up while unpacking" ;;
    *) case $ERR in *unpack*) fail "$name: the disk filled up while unpacking, not downloading: $ERR" ;; *) ok ;; esac ;;
    esac
    says "$ERR" "unchanged|untouched|still|kept" "$name: the message says the installed version is unchanged"
    local D=$out/after1
    installed "$D" "$id_1" m1 "$name: current untouched"
    expect_eq "$(sv "$D" pending)/$(sv "$D" previous)" "false/null" "$name: state as before"
    versions_are "$D" "$id_1"
    check "$name: tmp/ is empty" tmp_clean "$D"
    check "$name: no stray files" no_stray "$D"
    expect_eq "$(sed 's|.*/versions/||' "$out/start1.out" | tail -n 1)" "$id_1" "$name: start runs the old version"
    RC=$(cat "$out/update2.rc" 2>/dev/null)
    ERR=$(cat "$out/update2.err" 2>/dev/null)
    expect_rc 0 "$name: with room again, the update succeeds"
    D=$out/after2
    installed "$D" "$id_2" m2 "$name: with room again"
    versions_are "$D" "$id_2" "$id_1"
    check "$name: with room again, tmp/ is empty" tmp_clean "$D"
}

# D holds 1.0 twice (files and bundle): 2 x b1. The new bundle then needs b2, its unpacked
# files b2 more.
scenario unpack $((2 * b1 + b2 + b2 / 2))
scenario download $((2 * b1 + b2 / 2))
finish
