#include "engine/cpu_block_cache.h"

#include <c10/core/CPUAllocator.h>
#include <torch/version.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <unordered_map>

namespace skipzoo::app {

namespace {

// LibTorch 2.3 made Allocator::allocate non-const and added copy_data.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 3)
#define SKIPZOO_ALLOCATE_CONST
#define SKIPZOO_HAS_COPY_DATA 1
#else
#define SKIPZOO_ALLOCATE_CONST const
#define SKIPZOO_HAS_COPY_DATA 0
#endif

constexpr size_t kAlignment = 64;  // LibTorch's own CPU alignment
constexpr size_t kHugePage = size_t{2} << 20;

class BlockCache final : public c10::Allocator {
 public:
  BlockCache(c10::Allocator* fallback, size_t budget) : fallback_(fallback), budget_(budget) {
    TORCH_CHECK(fallback_->raw_deleter() != nullptr, "the default CPU allocator has no raw deleter");
  }

  c10::DataPtr allocate(size_t n) SKIPZOO_ALLOCATE_CONST override {
    if (n < kMinCachedBlock) return fallback_->allocate(n);
    void* ptr = take(n);
    return {ptr, ptr, &BlockCache::release, c10::Device(c10::DeviceType::CPU)};
  }

  // oneDNN allocates through raw_allocate/raw_deallocate, which need data == context.
  c10::DeleterFnPtr raw_deleter() const override { return &BlockCache::release; }

#if SKIPZOO_HAS_COPY_DATA
  void copy_data(void* dest, const void* src, size_t count) const override { std::memcpy(dest, src, count); }
#endif

  size_t budget() const { return budget_; }

 private:
  // The DataPtr's deleter: a plain function, so the cache is a process-wide instance (never
  // destroyed: tensors may be freed during static destruction).
  static void release(void* ptr);

  void* take(size_t n) const {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = free_.lower_bound(n);
      if (it != free_.end() && it->first <= n + n / 4) {
        void* ptr = it->second;
        cached_bytes_ -= it->first;
        free_.erase(it);
        return ptr;
      }
    }
    // Blocks of 2 MiB and more start on a 2 MiB boundary and ask for transparent huge pages
    // (Debian enables them on request only): fewer TLB misses for the big activations.
    const bool huge = n >= kHugePage;
    void* ptr = nullptr;
    if (posix_memalign(&ptr, huge ? kHugePage : kAlignment, n) != 0) {
      flush();  // the cache may hold what the system lacks
      TORCH_CHECK(posix_memalign(&ptr, huge ? kHugePage : kAlignment, n) == 0, "out of memory: failed to allocate ",
                  n, " bytes");
    }
    if (huge) madvise(ptr, n, MADV_HUGEPAGE);  // advice only: failure changes nothing
    std::lock_guard<std::mutex> lock(mutex_);
    sizes_[ptr] = n;
    return ptr;
  }

  void put(void* ptr) const {
    std::unique_lock<std::mutex> lock(mutex_);
    auto it = sizes_.find(ptr);
    if (it == sizes_.end()) {  // a small block of the fallback, freed through raw_deleter()
      lock.unlock();
      fallback_->raw_deleter()(ptr);
      return;
    }
    const size_t n = it->second;
    if (cached_bytes_ + n > budget_) {
      sizes_.erase(ptr);
      std::free(ptr);
      return;
    }
    cached_bytes_ += n;
    free_.emplace(n, ptr);
  }

  void flush() const {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto& [n, ptr] : free_) {
      sizes_.erase(ptr);
      std::free(ptr);
    }
    free_.clear();
    cached_bytes_ = 0;
  }

  c10::Allocator* fallback_;
  size_t budget_;
  mutable std::mutex mutex_;
  mutable std::multimap<size_t, void*> free_;           // size -> cached block
  mutable std::unordered_map<void*, size_t> sizes_;     // every block this cache handed out
  mutable size_t cached_bytes_ = 0;
};

BlockCache* instance = nullptr;  // set once, before any allocation can reach it

void BlockCache::release(void* ptr) { instance->put(ptr); }

}  // namespace

size_t install_cpu_block_cache(size_t budget_bytes) {
  static std::once_flag once;
  std::call_once(once, [budget_bytes] {
    if (budget_bytes == 0) return;
    instance = new BlockCache(c10::GetCPUAllocator(), budget_bytes);
    c10::SetCPUAllocator(instance, /*priority=*/1);
  });
  return cpu_block_cache_budget();
}

size_t default_cpu_block_cache_budget() {
  if (const char* mb = std::getenv("SKIPZOO_CPU_CACHE_MB")) {
    char* end = nullptr;
    const unsigned long long v = std::strtoull(mb, &end, 10);
    if (end == mb || *end != '\0' || mb[0] == '-') {
      throw std::invalid_argument("SKIPZOO_CPU_CACHE_MB='" + std::string(mb) +
                                  "': expected a whole number of MiB (0 turns the CPU block cache off)");
    }
    return static_cast<size_t>(v) << 20;
  }
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  return pages > 0 && page > 0 ? static_cast<size_t>(pages) * static_cast<size_t>(page) / 8 : size_t{1} << 30;
}

size_t cpu_block_cache_budget() { return instance ? instance->budget() : 0; }

}  // namespace skipzoo::app
