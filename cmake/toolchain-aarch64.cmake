# Cross build for 64-bit ARM Linux (Debian's aarch64-linux-gnu-gcc) against a Debian arm64
# sysroot made by scripts/arm-sysroot.sh; ctest runs the test programs under qemu-aarch64.
#   cmake -S . -B build-arm/arm64 -DCMAKE_TOOLCHAIN_FILE=cmake/toolchain-aarch64.cmake \
#         -DBSDELTA_SYSROOT=$PWD/build-arm/sysroot-arm64 -DBSDELTA_BUILD_TOOLS=OFF
set(BSDELTA_ARM_ARCH arm64)
set(BSDELTA_TRIPLET aarch64-linux-gnu)
set(BSDELTA_QEMU qemu-aarch64)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
include(${CMAKE_CURRENT_LIST_DIR}/toolchain-debian-cross.cmake)
