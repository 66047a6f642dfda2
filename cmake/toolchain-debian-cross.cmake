# Shared part of toolchain-aarch64.cmake and toolchain-armhf.cmake (which set BSDELTA_ARM_ARCH,
# BSDELTA_TRIPLET, BSDELTA_QEMU and CMAKE_SYSTEM_PROCESSOR): Debian's cross gcc with --sysroot,
# libraries and pkg-config files from the sysroot only, test programs run by qemu-user.
# BSDELTA_SYSROOT (cache) defaults to build-arm/sysroot-ARCH in the source tree.
set(CMAKE_SYSTEM_NAME Linux)
get_filename_component(_bsdelta_default_sysroot
                       "${CMAKE_CURRENT_LIST_DIR}/../build-arm/sysroot-${BSDELTA_ARM_ARCH}" ABSOLUTE)
set(BSDELTA_SYSROOT "${_bsdelta_default_sysroot}" CACHE PATH
    "Debian ${BSDELTA_ARM_ARCH} sysroot (scripts/arm-sysroot.sh ${BSDELTA_ARM_ARCH})")
if(NOT EXISTS "${BSDELTA_SYSROOT}/usr/include/stdio.h")
  message(FATAL_ERROR "No ${BSDELTA_ARM_ARCH} sysroot at ${BSDELTA_SYSROOT}: "
                      "run scripts/arm-sysroot.sh ${BSDELTA_ARM_ARCH} or set BSDELTA_SYSROOT")
endif()
# try_compile projects read this file again: hand them the sysroot.
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES BSDELTA_SYSROOT)

set(CMAKE_SYSROOT "${BSDELTA_SYSROOT}")
set(CMAKE_C_COMPILER ${BSDELTA_TRIPLET}-gcc)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
# The linker resolves a shared library's own dependencies (libarchive -> libxml2 ...) here.
set(_bsdelta_libdirs "${BSDELTA_SYSROOT}/lib/${BSDELTA_TRIPLET}:${BSDELTA_SYSROOT}/usr/lib/${BSDELTA_TRIPLET}")
set(CMAKE_EXE_LINKER_FLAGS_INIT "-Wl,-rpath-link,${_bsdelta_libdirs}")
set(CMAKE_SHARED_LINKER_FLAGS_INIT "-Wl,-rpath-link,${_bsdelta_libdirs}")

# pkg-config (the host's) reads only the sysroot's .pc files and prefixes their paths with it.
set(ENV{PKG_CONFIG_LIBDIR} "${BSDELTA_SYSROOT}/usr/lib/${BSDELTA_TRIPLET}/pkgconfig:${BSDELTA_SYSROOT}/usr/share/pkgconfig")
set(ENV{PKG_CONFIG_SYSROOT_DIR} "${BSDELTA_SYSROOT}")
unset(ENV{PKG_CONFIG_PATH})

# ctest (and add_test with a target as COMMAND) runs test programs as: qemu -L SYSROOT PROGRAM.
# -L makes qemu load ld.so and the shared libraries from the sysroot.
find_program(BSDELTA_QEMU_PROGRAM NAMES ${BSDELTA_QEMU} ${BSDELTA_QEMU}-static)
if(BSDELTA_QEMU_PROGRAM)
  set(CMAKE_CROSSCOMPILING_EMULATOR "${BSDELTA_QEMU_PROGRAM};-L;${BSDELTA_SYSROOT}")
else()
  message(WARNING "${BSDELTA_QEMU} not found (apt-get install qemu-user): the tests cannot run")
endif()
