# toolchain/riscv64-linux-gnu.cmake — CMake toolchain file for cross-building to riscv64 Linux with
# Debian's riscv64-linux-gnu-gcc/g++ (apt: g++-riscv64-linux-gnu). The shared part is
# linux-gnu-cross.cmake.
#
# Use: cmake-js compile --arch riscv64 --out build-riscv64 \
#        --CDCMAKE_TOOLCHAIN_FILE=toolchain/riscv64-linux-gnu.cmake
# (toolchain/prebuild does this for you.)

set(SF_CROSS_TRIPLET riscv64-linux-gnu)
set(SF_CROSS_PROCESSOR riscv64)
set(SF_CROSS_QEMU qemu-riscv64)
# rv64gc/lp64d: the baseline every riscv64 Linux distribution targets. crc_zbc.c alone adds _zbc.
set(SF_CROSS_BASELINE "-march=rv64gc -mabi=lp64d")
include(${CMAKE_CURRENT_LIST_DIR}/linux-gnu-cross.cmake)
