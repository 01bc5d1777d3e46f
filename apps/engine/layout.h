#pragma once
// The memory layout of a model's 4-D tensors (NCHW "contiguous" or NHWC "channels-last"),
// chosen per machine by measurement, as cuDNN's benchmark mode chooses kernels. oneDNN's NHWC
// convolutions win on some CPUs (1.04-1.2x U-Net steps with AVX-512) and lose on others (1.4x
// slower with AVX2 only), so no fixed default is right: `auto` times a few passes of the real
// workload in both layouts and keeps the faster, caching the answer per CPU, thread count,
// LibTorch version and workload so that a repeated run does not pay for it again.
#include <c10/util/Optional.h>
#include <nlohmann/json.hpp>
#include <skipzoo/models/registry.h>
#include <torch/torch.h>

#include <array>
#include <functional>
#include <string>

namespace skipzoo::app {

enum class Layout { Auto, ChannelsLast, Contiguous };

/// "auto", "channels-last" or "contiguous"; throws std::invalid_argument for anything else.
Layout parse_layout(const std::string& name);
std::string layout_name(Layout layout);

/// Seconds per pass of a workload in each layout (the fastest of the timed passes).
struct LayoutTimes {
  double contiguous = 0, channels_last = 0;
};

/// The layout a workload runs in, and why.
struct LayoutChoice {
  Layout requested = Layout::Auto;
  bool channels_last = false;
  c10::optional<LayoutTimes> times;  // set for `auto` (measured now or read from the cache)
  bool cached = false;               // the times came from the cache
  /// {"requested", "layout", "contiguous_s", "channels_last_s", "cached"}: stored in config.json.
  nlohmann::json to_json() const;
  /// One line for the log, e.g. "channels-last (auto: 0.412 s vs 0.518 s contiguous per pass, measured)".
  std::string describe() const;
};

/// Runs one pass of the workload in the given layout (converting what it needs) and returns its
/// seconds. Called alternately for the two layouts.
using LayoutPass = std::function<double(bool channels_last)>;

struct LayoutProbeOptions {
  int rounds = 2;          // timed passes per layout, after one untimed pass of each
  std::string cache_file;  // JSON file of earlier choices; "" = no cache
  std::string workload;    // what is timed: model, options, shapes, mode; part of the cache key
};

/// Seconds per pass of a workload run two ways (the fastest of the timed passes of each).
struct PairTimes {
  double first = 0, second = 0;  // pass(false), pass(true)
  bool cached = false;           // read from the cache, not measured now
  /// The second way only when it is more than 2% faster: a tie keeps the first, the default way.
  bool second_wins() const { return second < first / 1.02; }
};

/// The probe behind every choice by measurement: the times cached under `key` (machine and
/// workload) in options.cache_file, as names[0] + "_s" and names[1] + "_s"; or else alternating
/// passes, one untimed pass each way (first-call setup), then options.rounds timed each way, the
/// result cached. A cache that cannot be read or written is ignored (a warning on stderr).
PairTimes time_two_ways(const std::string& key, const std::array<std::string, 2>& names, const LayoutPass& pass,
                        const LayoutProbeOptions& options);

/// For Layout::Auto: time_two_ways() of the workload in each layout (cached per machine and
/// options.workload), channels-last winning only when more than 2% faster. Other layouts are
/// returned as requested, untimed.
LayoutChoice choose_layout(Layout requested, const LayoutPass& pass, const LayoutProbeOptions& options);

/// A training pass in the given layout: the model's 4-D weights and `inputs` converted, then
/// zero_grad, forward (bf16 autocast with `amp`), `loss(output)`, backward, and a read of the
/// loss (which waits for the device). Changes BatchNorm's running statistics: callers that keep
/// the model restore them. The model is left in the layout of the last pass.
LayoutPass training_pass(models::Model& model, torch::Tensor inputs,
                         std::function<torch::Tensor(const torch::Tensor& output)> loss, const torch::Device& device,
                         bool amp);
/// An inference pass: `forward(inputs in the layout)` under InferenceMode, waiting for the result.
LayoutPass inference_pass(std::function<torch::Tensor(const torch::Tensor&)> forward, torch::Tensor inputs);
/// The part of a cache key that names a workload: mode ("train", "infer"), model, input shape, device.
std::string workload_key(const std::string& mode, const models::ModelConfig& model, const torch::Tensor& inputs,
                         const torch::Device& device, bool amp);
/// Puts a model's 4-D weights in the layout.
void apply_layout(models::Model& model, bool channels_last);

/// $SKIPZOO_CACHE_DIR/layouts.json, else $XDG_CACHE_HOME/skipzoo/layouts.json, else
/// ~/.cache/skipzoo/layouts.json; "" when none of these can be formed.
std::string default_layout_cache();

/// What a cached choice is valid for besides the workload: the CPU model and its vector
/// extensions, LibTorch's version and the intra-op thread count.
std::string machine_key();

/// "Intel(R) Xeon(R) Processor; avx2 avx512f ..." from /proc/cpuinfo ("unknown CPU" elsewhere).
std::string cpu_description();

}  // namespace skipzoo::app
