# SPDX-License-Identifier: GPL-2.0
# Cross build of the userspace programs for the ppc64le guest of
# make vm-test (`make ppc64le` configures build-ppc64le/ with it):
#   cmake -S . -B build-ppc64le -DCMAKE_TOOLCHAIN_FILE=cmake/ppc64le-toolchain.cmake
# Debian's powerpc64le-linux-gnu-gcc/g++ bring glibc and libstdc++ for the
# target (/usr/powerpc64le-linux-gnu); GoogleTest, gflags, liburing, libnuma
# and liburcu come from the sysroot scripts/ppc64el-sysroot.sh fetched
# (SMM_PPC64EL_ROOT, default .cache/ppc64el/root).  Everything is linked
# statically, so the guest needs no libraries; tcmalloc and the Google
# Benchmark microbenchmarks, which have no static ppc64el library in Debian,
# are left out.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR ppc64le)
set(CMAKE_C_COMPILER powerpc64le-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER powerpc64le-linux-gnu-g++)

if(NOT SMM_PPC64EL_ROOT)
  if(DEFINED ENV{SHADOWMM_CACHE})
    set(SMM_PPC64EL_ROOT $ENV{SHADOWMM_CACHE}/ppc64el/root)
  else()
    get_filename_component(SMM_PPC64EL_ROOT
      ${CMAKE_CURRENT_LIST_DIR}/../.cache/ppc64el/root ABSOLUTE)
  endif()
endif()
if(NOT EXISTS ${SMM_PPC64EL_ROOT}/usr/lib/powerpc64le-linux-gnu)
  message(FATAL_ERROR "no ppc64el sysroot in ${SMM_PPC64EL_ROOT}: make deps fetches it")
endif()
# try_compile() projects see the same sysroot.
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES SMM_PPC64EL_ROOT)

set(CMAKE_FIND_ROOT_PATH ${SMM_PPC64EL_ROOT} /usr/powerpc64le-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
set(CMAKE_FIND_LIBRARY_SUFFIXES .a)
# The sysroot's headers (urcu/, liburing.h, numa.h, ...) for sources that
# name no target for them.
foreach(lang C CXX)
  set(CMAKE_${lang}_STANDARD_INCLUDE_DIRECTORIES
    ${SMM_PPC64EL_ROOT}/usr/include/powerpc64le-linux-gnu
    ${SMM_PPC64EL_ROOT}/usr/include)
endforeach()
set(CMAKE_EXE_LINKER_FLAGS_INIT -static)

# pkg-config reads the sysroot's .pc files and prefixes their paths.
set(ENV{PKG_CONFIG_DIR} "")
set(ENV{PKG_CONFIG_LIBDIR}
  ${SMM_PPC64EL_ROOT}/usr/lib/powerpc64le-linux-gnu/pkgconfig:${SMM_PPC64EL_ROOT}/usr/share/pkgconfig)
set(ENV{PKG_CONFIG_SYSROOT_DIR} ${SMM_PPC64EL_ROOT})

# gflags' package picks its static library with this.
set(GFLAGS_SHARED OFF)
set(SMM_TCMALLOC OFF CACHE BOOL "")
set(SMM_MICROBENCH OFF CACHE BOOL "")
