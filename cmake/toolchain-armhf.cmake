# Cross build for 32-bit ARM Linux, hard-float (Debian's arm-linux-gnueabihf-gcc: ARMv7-A,
# Thumb-2, VFPv3-D16) against a Debian armhf sysroot made by scripts/arm-sysroot.sh; ctest runs
# the test programs under qemu-arm.
#   cmake -S . -B build-arm/armhf -DCMAKE_TOOLCHAIN_FILE=cmake/toolchain-armhf.cmake \
#         -DBSDELTA_SYSROOT=$PWD/build-arm/sysroot-armhf -DBSDELTA_BUILD_TOOLS=OFF
set(BSDELTA_ARM_ARCH armhf)
set(BSDELTA_TRIPLET arm-linux-gnueabihf)
set(BSDELTA_QEMU qemu-arm)
set(CMAKE_SYSTEM_PROCESSOR arm)
include(${CMAKE_CURRENT_LIST_DIR}/toolchain-debian-cross.cmake)
