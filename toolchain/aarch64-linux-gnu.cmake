# toolchain/aarch64-linux-gnu.cmake — CMake toolchain file for cross-building to
# arm64 (aarch64) Linux with Debian's aarch64-linux-gnu-gcc/g++
# (apt: g++-aarch64-linux-gnu).
#
# Use: cmake-js compile --arch arm64 --out build-arm64 \
#        --CDCMAKE_TOOLCHAIN_FILE=toolchain/aarch64-linux-gnu.cmake
# (toolchain/prebuild does this for you.)

set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
set(CMAKE_STRIP aarch64-linux-gnu-strip CACHE FILEPATH "aarch64 strip")
set(CMAKE_AR aarch64-linux-gnu-ar CACHE FILEPATH "aarch64 ar")
set(CMAKE_RANLIB aarch64-linux-gnu-ranlib CACHE FILEPATH "aarch64 ranlib")

# armv8-a is the baseline every arm64 Linux distribution targets, so the binary
# runs on every board (the CRC32 instructions are optional in ARMv8.0). Faster
# extensions (CRC32, PMULL) are never enabled here: they are compiled into their
# own files with their own -march (+crc, +crc+crypto) and chosen at run time by
# the dispatcher. The _INIT variables let CMakeLists.txt and the user add flags
# after these, so a per-file -march=armv8-a+crc still wins for that file.
set(CMAKE_C_FLAGS_INIT "-march=armv8-a")
set(CMAKE_CXX_FLAGS_INIT "-march=armv8-a")

# Look for headers and libraries only in the cross toolchain's own sysroot (the
# aarch64 ones), but for programs on the build host.
set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# Lets ctest and try_run() execute aarch64 test programs through QEMU against the
# cross toolchain's libc, with or without binfmt. QEMU_CPU from the environment
# (toolchain/run-target sets it) picks the emulated CPU; QEMU's default, max, has
# CRC32 and PMULL.
find_program(STEADFAST_QEMU_AARCH64 qemu-aarch64)
if(STEADFAST_QEMU_AARCH64)
  set(CMAKE_CROSSCOMPILING_EMULATOR "${STEADFAST_QEMU_AARCH64};-L;/usr/aarch64-linux-gnu")
endif()
