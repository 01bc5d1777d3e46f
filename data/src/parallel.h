#pragma once
// A plain parallel loop over indices (internal). Exceptions from `body` are rethrown.
#include <cstdint>
#include <functional>

namespace skipzoo::data {

void parallel_for(int64_t n, int threads, const std::function<void(int64_t)>& body);

}  // namespace skipzoo::data
