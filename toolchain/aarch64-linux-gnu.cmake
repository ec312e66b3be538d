# toolchain/aarch64-linux-gnu.cmake — CMake toolchain file for cross-building to arm64 (aarch64)
# Linux with Debian's aarch64-linux-gnu-gcc/g++ (apt: g++-aarch64-linux-gnu). The shared part is
# linux-gnu-cross.cmake.
#
# Use: cmake-js compile --arch arm64 --out build-arm64 \
#        --CDCMAKE_TOOLCHAIN_FILE=toolchain/aarch64-linux-gnu.cmake
# (toolchain/prebuild does this for you.)

set(SF_CROSS_TRIPLET aarch64-linux-gnu)
set(SF_CROSS_PROCESSOR aarch64)
set(SF_CROSS_QEMU qemu-aarch64)
# armv8-a: the baseline of every arm64 distribution (the CRC32 instructions are optional in
# ARMv8.0). crc_armcrc.c and crc_pmull.c alone add +crc and +crc+crypto.
set(SF_CROSS_BASELINE "-march=armv8-a")
include(${CMAKE_CURRENT_LIST_DIR}/linux-gnu-cross.cmake)
