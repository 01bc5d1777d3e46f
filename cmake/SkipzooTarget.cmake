# Common settings for every skipzoo target: warnings, -fPIC, and one precompiled <torch/torch.h>
# shared by all targets (each LibTorch TU costs ~20 s without it).
set(SKIPZOO_COMPILE_OPTIONS -Wall -Wextra -Wno-unused-parameter -fPIC)

function(skipzoo_target_defaults target)
  target_compile_options(${target} PRIVATE ${SKIPZOO_COMPILE_OPTIONS})
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
