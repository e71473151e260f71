# Cross-build for arm64 (aarch64) on a Debian amd64 host with multiarch:
#
#   dpkg --add-architecture arm64
#   apt-get install crossbuild-essential-arm64 qemu-user libssl-dev:arm64 ...
#   cmake -S . -B build-arm64 -DCMAKE_TOOLCHAIN_FILE=cmake/toolchain-arm64.cmake
#
# (scripts/arm64.sh does all of it.) The :arm64 -dev packages put their
# libraries in /usr/lib/aarch64-linux-gnu and their .pc files in its
# pkgconfig/, headers in /usr/include: no sysroot, the host's root is it.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(TOKEND_CROSS_TRIPLET aarch64-linux-gnu)

set(CMAKE_C_COMPILER ${TOKEND_CROSS_TRIPLET}-gcc)
set(CMAKE_LIBRARY_ARCHITECTURE ${TOKEND_CROSS_TRIPLET})

# No CMAKE_FIND_ROOT_PATH: with the library architecture set, find_library
# looks in /usr/lib/aarch64-linux-gnu, and the Debian cross compiler
# searches /usr/include/aarch64-linux-gnu; programs (pkg-config, python3,
# umockdev-wrapper) are the host's.

# The host's pkg-config, reading the target's .pc files only: else an
# amd64 library would satisfy pkg_check_modules and fail at link time.
set(ENV{PKG_CONFIG_LIBDIR}
    "/usr/lib/${TOKEND_CROSS_TRIPLET}/pkgconfig:/usr/share/pkgconfig")
set(ENV{PKG_CONFIG_PATH} "")

# ctest runs the target's test programs under qemu-user. No binfmt_misc:
# a test that execs an arm64 program itself (a helper, a script) cannot
# run, nor one that checks what qemu-user does not emulate; such tests carry
# the ctest label "native" (scripts/arm64.sh runs -L unit -LE native).
# No -L /usr/aarch64-linux-gnu: the programs use libc6:arm64 (a dependency
# of every :arm64 library) through /lib/ld-linux-aarch64.so.1, while -L
# would load the cross toolchain's ld.so (libc6-arm64-cross, 2.36-8cross1
# on Debian 12) beside libc6:arm64's libc.so.6 (2.36-9+deb12u14): that mix
# hangs threaded programs (pthread waits never return).
find_program(TOKEND_QEMU_AARCH64 NAMES qemu-aarch64 qemu-aarch64-static)
if(TOKEND_QEMU_AARCH64)
  set(CMAKE_CROSSCOMPILING_EMULATOR ${TOKEND_QEMU_AARCH64})
endif()
