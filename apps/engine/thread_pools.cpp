#include "engine/thread_pools.h"

#include <ATen/Parallel.h>
#include <dlfcn.h>

#include <cstdio>
#include <stdexcept>

namespace skipzoo::app {

namespace {

// OpenBLAS's own API, looked up once in the process: LibTorch links whichever BLAS the system
// provides (Debian's alternatives), so it may be absent. `set` and `get` are kept only for an
// OpenBLAS with a thread pool of its own, the pthreads build (openblas_get_parallel() == 1): the
// OpenMP build shares LibTorch's pool (its openblas_set_num_threads sets OpenMP's width) and the
// serial one has none, so neither is touched.
struct OpenBlas {
  void (*set)(int) = nullptr;
  int (*get)() = nullptr;
  char* (*config)() = nullptr;
};

const OpenBlas& separate_openblas() {
  static const OpenBlas api = [] {
    auto find = [](const char* name) { return dlsym(RTLD_DEFAULT, name); };
    OpenBlas a;
    const auto parallel = reinterpret_cast<int (*)()>(find("openblas_get_parallel"));
    if (parallel == nullptr || parallel() != 1) return a;
    a.set = reinterpret_cast<void (*)(int)>(find("openblas_set_num_threads"));
    a.get = reinterpret_cast<int (*)()>(find("openblas_get_num_threads"));
    a.config = reinterpret_cast<char* (*)()>(find("openblas_get_config"));
    if (a.set == nullptr || a.get == nullptr) a = OpenBlas{};
    return a;
  }();
  return api;
}

}  // namespace

std::string thread_pool_name(ThreadPool pool) { return pool == ThreadPool::Blas ? "blas" : "openmp"; }

int blas_threads() { return separate_openblas().get ? separate_openblas().get() : -1; }

bool set_blas_threads(int threads) {
  if (threads < 1) throw std::invalid_argument("BLAS threads must be >= 1, got " + std::to_string(threads));
  if (!separate_openblas().set) return false;
  separate_openblas().set(threads);
  return true;
}

void use_thread_pool(ThreadPool pool, int threads) {
  if (threads < 1) throw std::invalid_argument("threads must be >= 1, got " + std::to_string(threads));
  set_blas_threads(pool == ThreadPool::Blas ? threads : 1);
  at::set_num_threads(pool == ThreadPool::OpenMP ? threads : 1);  // last: LibTorch's width stands
}

double matmul_share(const models::ModelSummary& summary) {
  if (summary.macs <= 0) return 0;
  int64_t matmul = 0;
  for (const auto& layer : summary.layers) {
    if (layer.type == "Linear") matmul += layer.macs;
  }
  return static_cast<double>(matmul) / static_cast<double>(summary.macs);
}

nlohmann::json ThreadPoolChoice::to_json() const {
  nlohmann::json j = {{"pool", thread_pool_name(pool)}, {"threads", threads}};
  if (matmul_share) j["matmul_share"] = *matmul_share;
  if (times) {
    j["openmp_s"] = times->first;
    j["blas_s"] = times->second;
    j["cached"] = times->cached;
  }
  return j;
}

std::string ThreadPoolChoice::describe() const {
  char text[200];
  std::snprintf(text, sizeof text, "%s, %d thread%s (%s on one", thread_pool_name(pool).c_str(), threads,
                threads == 1 ? "" : "s", pool == ThreadPool::Blas ? "OpenMP" : "OpenBLAS");
  std::string s = text;
  if (matmul_share) {
    std::snprintf(text, sizeof text, "; matrix products %.3g%% of MACs", 100 * *matmul_share);
    s += text;
  }
  if (!times) return s + ")";
  const bool blas = pool == ThreadPool::Blas;
  std::snprintf(text, sizeof text, "; %.3f s vs %.3f s per pass with %s, %s)", blas ? times->second : times->first,
                blas ? times->first : times->second, blas ? "openmp" : "blas",
                times->cached ? "cached" : "measured now");
  return s + text;
}

ThreadPoolChoice choose_thread_pool(int threads, c10::optional<double> share, const std::function<double()>& pass,
                                    const LayoutProbeOptions& options) {
  ThreadPoolChoice choice;
  choice.threads = threads;
  choice.matmul_share = share;
  if (pass && share && *share >= kMatmulShareWorthTiming && threads > 1 && separate_openblas().set) {
    use_thread_pool(ThreadPool::OpenMP, threads);  // machine_key() names the intra-op threads: the budget
    const auto config = separate_openblas().config;
    const std::string key = machine_key() + "; " + (config ? config() : "OpenBLAS") + "; thread pool; " + options.workload;
    choice.times = time_two_ways(key, {"openmp", "blas"}, [&](bool blas) {
      use_thread_pool(blas ? ThreadPool::Blas : ThreadPool::OpenMP, threads);
      return pass();
    }, options);
    if (choice.times->second_wins()) choice.pool = ThreadPool::Blas;
  }
  use_thread_pool(choice.pool, threads);
  return choice;
}

}  // namespace skipzoo::app
