#pragma once
// Which thread pool gets the cores. LibTorch runs convolutions (oneDNN), element-wise loops and
// skipzoo's own kernels on OpenMP's intra-op threads, but matrix products (Linear layers) in the
// BLAS library, and Debian's OpenBLAS (pthreads build) keeps a pool of its own. With both pools
// as wide as the machine, each pool's threads spin after their work while the other pool runs,
// and on 2 cores they take turns stealing the cores: an MLP training step ran 2.1-2.7x slower than
// with all threads in OpenBLAS's pool, and the 8 x 2048 -> 1000 classifier head of ResNet-50 took
// 10.5 ms instead of 4.9 ms (docs/benchmarks.md). So one pool gets the threads and the other
// runs on one: the pool that does the model's work, known from the model's share of MACs in
// matrix products and, where that share is large enough to matter, timed. Only OpenBLAS's
// pthreads build has a pool of its own; with another BLAS nothing here touches it.
#include <c10/util/Optional.h>
#include <nlohmann/json.hpp>
#include <skipzoo/models/analysis.h>

#include <functional>
#include <string>

#include "engine/layout.h"

namespace skipzoo::app {

enum class ThreadPool {
  OpenMP,  // LibTorch's intra-op threads: convolutions, element-wise ops, skipzoo's kernels
  Blas,    // the BLAS library's own threads: matrix products
};
std::string thread_pool_name(ThreadPool pool);  // "openmp" or "blas"

/// OpenBLAS's thread count; -1 when no OpenBLAS with a pool of its own (the pthreads build) is in
/// the process.
int blas_threads();
/// Sets that OpenBLAS's thread count; false, and nothing done, when there is none. Throws
/// std::invalid_argument for threads < 1.
bool set_blas_threads(int threads);

/// Gives `threads` (>= 1) to `pool` and one thread to the other pool (overriding
/// OPENBLAS_NUM_THREADS, as --threads overrides OMP_NUM_THREADS). Throws std::invalid_argument
/// for threads < 1.
void use_thread_pool(ThreadPool pool, int threads);

/// The share of a model's multiply-accumulates in matrix products (summarize()'s rows of type
/// Linear) in [0, 1]; 0 for a model without MACs.
double matmul_share(const models::ModelSummary& summary);

/// Below this share of MACs in matrix products, the BLAS pool cannot win: giving it the threads
/// would speed up at most that share while running the rest on one thread. Not timed.
constexpr double kMatmulShareWorthTiming = 0.1;

/// The pool a workload runs with, and why.
struct ThreadPoolChoice {
  ThreadPool pool = ThreadPool::OpenMP;
  int threads = 1;                  // the threads given to `pool`
  c10::optional<double> matmul_share;  // of the model's MACs, where counted
  c10::optional<PairTimes> times;   // seconds per pass with the OpenMP pool (first) and the BLAS pool (second)
  /// {"pool", "threads", ["matmul_share"], ["openmp_s", "blas_s", "cached"]}: in config.json and
  /// `bench train --json`.
  nlohmann::json to_json() const;
  /// One line for the log, e.g. "blas, 2 threads (OpenMP on one; matrix products 100% of MACs;
  /// 0.036 s vs 0.065 s per pass with openmp, measured now)".
  std::string describe() const;
};

/// Chooses and applies the pool for `threads` threads. OpenMP's, untimed, when `share` (of MACs in
/// matrix products) is unknown or under kMatmulShareWorthTiming, `pass` is empty, threads is 1 or
/// OpenBLAS has no pool of its own; else `pass()` (a pass of the workload: forward, loss and
/// backward, not the optimizer step) is timed with each pool as time_two_ways() does (cached per
/// machine, OpenBLAS build and options.workload) and the faster pool wins (OpenMP on a tie).
ThreadPoolChoice choose_thread_pool(int threads, c10::optional<double> share, const std::function<double()>& pass,
                                    const LayoutProbeOptions& options);

}  // namespace skipzoo::app
