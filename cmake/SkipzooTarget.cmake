# Common settings for every skipzoo target: warnings, -fPIC, and one precompiled <torch/torch.h>
# shared by all targets (each LibTorch TU costs ~20 s without it).
set(SKIPZOO_COMPILE_OPTIONS -Wall -Wextra -Wno-unused-parameter -fPIC)

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
  if(TARGET skipzoo_pch)
    target_precompile_headers(${target} REUSE_FROM skipzoo_pch)
  endif()
endfunction()

# The PCH lives in a tiny object library so any target can reuse it.
add_library(skipzoo_pch OBJECT ${CMAKE_CURRENT_LIST_DIR}/pch.cpp)
target_link_libraries(skipzoo_pch PRIVATE torch)
target_compile_options(skipzoo_pch PRIVATE ${SKIPZOO_COMPILE_OPTIONS})
target_precompile_headers(skipzoo_pch PRIVATE <torch/torch.h> <torch/script.h>)
