#pragma once
// Reading LibTorch layer options, for the script and ONNX twins (internal).
#include <torch/torch.h>
#include <torch/version.h>

#include <cstdint>
#include <vector>

namespace skipzoo::models::detail {

// LibTorch's option variants are c10::variant up to 2.1 and std::variant from 2.2 on.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 2)
using std::get;
using std::get_if;
#else
using c10::get;
using c10::get_if;
#endif

// An ExpandingArray (kernel size, stride, ...) as a plain vector.
template <size_t D>
std::vector<int64_t> vec(const torch::ExpandingArray<D>& a) {
  return std::vector<int64_t>(a->begin(), a->end());
}

}  // namespace skipzoo::models::detail
