# toolchain/linux-gnu-cross.cmake — what every cross toolchain file here shares: Debian's
# <triplet>-gcc/g++ and binutils, a baseline -march for the whole build (so the binary runs on every
# board of the arch), the cross libc as the only place to find headers and libraries, and QEMU as
# the emulator for try_run() and ctest. Included by riscv64-linux-gnu.cmake and
# aarch64-linux-gnu.cmake after they set SF_CROSS_TRIPLET, SF_CROSS_PROCESSOR, SF_CROSS_BASELINE and
# SF_CROSS_QEMU.
#
# Faster extensions (riscv64 Zbc, arm64 CRC32/PMULL) are never enabled here: CMakeLists.txt compiles
# them into their own files with their own -march, and the dispatcher chooses at run time. The _INIT
# variables let those per-file flags come after, and win.

set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR ${SF_CROSS_PROCESSOR})

set(CMAKE_C_COMPILER ${SF_CROSS_TRIPLET}-gcc)
set(CMAKE_CXX_COMPILER ${SF_CROSS_TRIPLET}-g++)
set(CMAKE_STRIP ${SF_CROSS_TRIPLET}-strip CACHE FILEPATH "${SF_CROSS_PROCESSOR} strip")
set(CMAKE_AR ${SF_CROSS_TRIPLET}-ar CACHE FILEPATH "${SF_CROSS_PROCESSOR} ar")
set(CMAKE_RANLIB ${SF_CROSS_TRIPLET}-ranlib CACHE FILEPATH "${SF_CROSS_PROCESSOR} ranlib")

set(CMAKE_C_FLAGS_INIT "${SF_CROSS_BASELINE}")
set(CMAKE_CXX_FLAGS_INIT "${SF_CROSS_BASELINE}")

# Headers and libraries only from the cross toolchain's own sysroot; programs from the build host.
set(CMAKE_FIND_ROOT_PATH /usr/${SF_CROSS_TRIPLET})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# try_run() and ctest run target programs through QEMU against the cross libc, with or without
# binfmt; QEMU_CPU from the environment (toolchain/run-target sets it) picks the emulated CPU.
find_program(STEADFAST_CROSS_QEMU ${SF_CROSS_QEMU})
if(STEADFAST_CROSS_QEMU)
  set(CMAKE_CROSSCOMPILING_EMULATOR "${STEADFAST_CROSS_QEMU};-L;/usr/${SF_CROSS_TRIPLET}")
endif()
