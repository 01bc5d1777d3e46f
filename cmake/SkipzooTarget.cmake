# Common settings for every skipzoo target: warnings, -fPIC, and one precompiled <torch/torch.h>
# shared by all targets (each LibTorch TU costs ~20 s without it).
set(SKIPZOO_COMPILE_OPTIONS -Wall -Wextra -Wno-unused-parameter -fPIC)

# at::parallel_for (ATen/Parallel.h) is an inline template: in Debian's LibTorch, built with
# AT_PARALLEL_OPENMP, it splits a loop over the intra-op threads with `#pragma omp parallel`,
# which only code compiled with OpenMP gets; without it the loop runs on one thread (skipzoo's
# fused kernels measured 2.4x slower on 2 cores). GCC's OpenMP is libgomp, the runtime LibTorch
# uses; another compiler's would be a second thread pool, so those builds keep serial loops,
# as does a build against another LibTorch (bench/gpu).
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND NOT SKIPZOO_ENGINE_CORE_ONLY)
  list(APPEND SKIPZOO_COMPILE_OPTIONS -fopenmp)
  set(SKIPZOO_OPENMP_LIBRARY gomp)
endif()

# Sanitizers: our own code is instrumented (LibTorch and OpenCV are not); any undefined
# behaviour aborts, so a test fails on it instead of printing a line nobody reads.
set(SKIPZOO_SANITIZER_FLAGS -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer)
if(SKIPZOO_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "SKIPZOO_FUZZ needs clang (libFuzzer): configure with CXX=clang++")
  endif()
  list(APPEND SKIPZOO_COMPILE_OPTIONS ${SKIPZOO_SANITIZER_FLAGS} -fsanitize=fuzzer-no-link -g1)
elseif(SKIPZOO_SANITIZE)
  list(APPEND SKIPZOO_COMPILE_OPTIONS ${SKIPZOO_SANITIZER_FLAGS} -g1)
endif()

function(skipzoo_target_defaults target)
  target_compile_options(${target} PRIVATE ${SKIPZOO_COMPILE_OPTIONS})
  if(SKIPZOO_FUZZ OR SKIPZOO_SANITIZE)
    # PUBLIC: whatever links an instrumented library (the tests, the installed package's
    # consumers) needs the sanitizer runtimes too.
    target_link_options(${target} PUBLIC ${SKIPZOO_SANITIZER_FLAGS})
  endif()
  target_compile_features(${target} PUBLIC cxx_std_17)
  if(SKIPZOO_OPENMP_LIBRARY)
    target_link_libraries(${target} PRIVATE ${SKIPZOO_OPENMP_LIBRARY})
  endif()
  if(TARGET skipzoo_pch)
    target_precompile_headers(${target} REUSE_FROM skipzoo_pch)
  endif()
endfunction()

# The PCH lives in a tiny object library so any target can reuse it.
add_library(skipzoo_pch OBJECT ${CMAKE_CURRENT_LIST_DIR}/pch.cpp)
target_link_libraries(skipzoo_pch PRIVATE torch)
target_compile_options(skipzoo_pch PRIVATE ${SKIPZOO_COMPILE_OPTIONS})
target_precompile_headers(skipzoo_pch PRIVATE <torch/torch.h> <torch/script.h>)
