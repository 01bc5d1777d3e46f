#pragma once
// Weight interchange with PyTorch: ordered state dicts, strict loading with a full report,
// and files that Python's torch.load / torch.jit.load and torchvision accept.
#include <torch/torch.h>

#include <functional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace skipzoo::models {

using NamedTensors = std::vector<std::pair<std::string, torch::Tensor>>;

// A weights file that cannot be used; the message names the file and the reason.
class WeightsError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Parameters and buffers in Python's state_dict() order (per module: parameters, buffers,
// then children), num_batches_tracked included.
NamedTensors state_dict(const torch::nn::Module& module);

struct LoadOptions {
  bool strict = true;                       // any missing/unexpected/mismatched key is an error
  std::vector<std::string> skip_prefixes;   // e.g. {"fc."}: keep the model's own head
};

struct LoadReport {
  std::vector<std::string> loaded, missing, unexpected, mismatched, skipped;
  bool clean() const { return missing.empty() && unexpected.empty() && mismatched.empty(); }
  std::string summary() const;  // every problem, one per line
};

// Copies matching tensors into the module. Strict: throws WeightsError listing every
// problem and leaves the module untouched. Non-strict: loads what matches and reports the rest.
LoadReport load_state_dict(torch::nn::Module& module, const NamedTensors& weights, const LoadOptions& options = {});

// Reads a Python `torch.save(dict(model.state_dict()), f)` file, a skipzoo state dict, or a
// TorchScript archive (its parameters and buffers). Tensors come back on the CPU.
NamedTensors read_weights(const std::string& path);

// Writes the module's state dict as a plain {name: tensor} dict (torch.load reads it;
// torchvision's load_state_dict(strict=True) accepts it for the ResNets). Atomic.
void save_state_dict(const torch::nn::Module& module, const std::string& path);

LoadReport load_weights(torch::nn::Module& module, const std::string& path, const LoadOptions& options = {});

// Every 4-D parameter and buffer in `format` (torch::nn::Module::to takes no memory format).
// Channels-last convolution weights make oneDNN run convolutions in NHWC on the CPU: measured
// 1.06-1.26x faster training steps on the zoo's models (docs/benchmarks.md).
void to_memory_format(torch::nn::Module& module, at::MemoryFormat format);

// Writes `path` through a temporary file in the same folder, renamed into place only when
// `write` succeeded: readers never see a partial file, and a failure leaves none behind.
void write_file_atomic(const std::string& path, const std::function<void(const std::string& tmp_path)>& write);

}  // namespace skipzoo::models
