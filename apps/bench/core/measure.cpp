// Measuring helpers shared by the benchmarks (bench_core.h).
#include <sys/resource.h>
#include <torch/version.h>

#include <algorithm>
#include <numeric>
#include <stdexcept>

#include "bench/core/bench_core.h"

namespace skipzoo::app {

TimeStats time_stats(std::vector<double> seconds) {
  if (seconds.empty()) throw std::invalid_argument("time_stats: no measurements");
  std::sort(seconds.begin(), seconds.end());
  const size_t n = seconds.size();
  TimeStats t;
  t.median = n % 2 ? seconds[n / 2] : 0.5 * (seconds[n / 2 - 1] + seconds[n / 2]);
  t.mean = std::accumulate(seconds.begin(), seconds.end(), 0.0) / static_cast<double>(n);
  t.min = seconds.front();
  t.max = seconds.back();
  return t;
}

nlohmann::json to_json(const TimeStats& t) {
  return {{"median", t.median}, {"mean", t.mean}, {"min", t.min}, {"max", t.max}};
}

double peak_rss_mib() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;  // KiB on Linux
}

torch::Device bench_device(const std::string& name) {
  c10::optional<torch::Device> device;
  try {
    device = torch::Device(name);
  } catch (const std::exception&) {
    throw std::invalid_argument("device '" + name + "': expected cpu or cuda[:N]");
  }
  if (device->is_cuda() && !torch::cuda::is_available()) {
    throw std::invalid_argument("device '" + name + "': no CUDA device is usable here (LibTorch " TORCH_VERSION
                                ", CUDA available: no)");
  }
  if (!device->is_cpu() && !device->is_cuda()) throw std::invalid_argument("device '" + name + "': expected cpu or cuda[:N]");
  return *device;
}

void synchronize(const torch::Device& device) {
  if (device.is_cuda()) torch::cuda::synchronize(device.has_index() ? device.index() : -1);
}

}  // namespace skipzoo::app
