#pragma once
// A cache for LibTorch's large CPU blocks. glibc hands out every allocation above 32 MiB (and many
// smaller ones, depending on its heuristics) as fresh mmap'ed pages, which the kernel faults in
// and zeroes on first touch, and takes them back on free: a training step repeats this for every
// big activation and gradient (a U-Net step on 256x256 patches: 13% of its CPU time in the kernel
// without this cache, 9% with it, and 1.13-1.30x the images/s; docs/benchmarks.md). Freed
// blocks kept for reuse change no result: LibTorch never relies on fresh memory being zero.
#include <cstddef>

namespace skipzoo::app {

// Routes LibTorch's CPU allocations of at least kMinCachedBlock bytes through a cache of freed
// blocks holding at most `budget_bytes` (reuse: the smallest cached block that fits with at most
// 25% to spare). Smaller allocations keep LibTorch's default allocator. Once per process; a
// budget of 0 installs nothing. Returns the budget in force.
size_t install_cpu_block_cache(size_t budget_bytes);

// The budget from the environment variable SKIPZOO_CPU_CACHE_MB (0 turns the cache off),
// else 1/8 of the physical memory. Throws std::invalid_argument for a value that is not a number.
size_t default_cpu_block_cache_budget();

// The budget installed (0: none).
size_t cpu_block_cache_budget();

constexpr size_t kMinCachedBlock = size_t{256} << 10;

}  // namespace skipzoo::app
