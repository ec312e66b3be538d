# toolchain/riscv64-linux-gnu.cmake — CMake toolchain file for cross-building to
# riscv64 Linux with Debian's riscv64-linux-gnu-gcc/g++ (apt: g++-riscv64-linux-gnu).
#
# Use: cmake-js compile --arch riscv64 --out build-riscv64 \
#        --CDCMAKE_TOOLCHAIN_FILE=toolchain/riscv64-linux-gnu.cmake
# (toolchain/prebuild does this for you.)

set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR riscv64)

set(CMAKE_C_COMPILER riscv64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER riscv64-linux-gnu-g++)
set(CMAKE_STRIP riscv64-linux-gnu-strip CACHE FILEPATH "riscv64 strip")
set(CMAKE_AR riscv64-linux-gnu-ar CACHE FILEPATH "riscv64 ar")
set(CMAKE_RANLIB riscv64-linux-gnu-ranlib CACHE FILEPATH "riscv64 ranlib")

# rv64gc/lp64d is the baseline every riscv64 Linux distribution targets, so the
# binary runs on every board. Faster extensions (Zbc, V) are never enabled here:
# they are compiled into their own files with their own -march and chosen at run
# time by the dispatcher. The _INIT variables let CMakeLists.txt and the user add
# flags after these, so a per-file -march=rv64gc_zbc still wins for that file.
set(CMAKE_C_FLAGS_INIT "-march=rv64gc -mabi=lp64d")
set(CMAKE_CXX_FLAGS_INIT "-march=rv64gc -mabi=lp64d")

# Look for headers and libraries only in the cross toolchain's own sysroot (the
# riscv64 ones), but for programs on the build host.
set(CMAKE_FIND_ROOT_PATH /usr/riscv64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# Lets ctest and try_run() execute riscv64 test programs through QEMU against the
# cross toolchain's libc, with or without binfmt. QEMU_CPU from the environment
# (toolchain/run-riscv64 sets it) picks the emulated extensions.
find_program(STEADFAST_QEMU_RISCV64 qemu-riscv64)
if(STEADFAST_QEMU_RISCV64)
  set(CMAKE_CROSSCOMPILING_EMULATOR "${STEADFAST_QEMU_RISCV64};-L;/usr/riscv64-linux-gnu")
endif()
