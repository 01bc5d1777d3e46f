#pragma once
/// @file
/// Weight interchange with PyTorch: ordered state dicts, strict loading with a full report,
/// and files that Python's torch.load / torch.jit.load and torchvision accept.
#include <torch/torch.h>

#include <functional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace skipzoo::models {

/// (name, tensor) pairs in a fixed order, as state_dict() returns them.
using NamedTensors = std::vector<std::pair<std::string, torch::Tensor>>;

/// A weights file that cannot be used; the message names the file and the reason.
class WeightsError : public std::runtime_error {
 public:
  /// Takes the message, as std::runtime_error does.
  using std::runtime_error::runtime_error;
};

/// Parameters and buffers in Python's state_dict() order (per module: parameters, buffers,
/// then children), num_batches_tracked included. The tensors are the module's own, not copies.
NamedTensors state_dict(const torch::nn::Module& module);

/// Options of load_state_dict() and load_weights().
struct LoadOptions {
  bool strict = true;                       ///< any missing/unexpected/mismatched key is an error
  std::vector<std::string> skip_prefixes;   ///< keys to leave alone, e.g. {"fc."}: keep the model's own head
};

/// What load_state_dict() did, key by key.
struct LoadReport {
  /// Keys copied; keys of the model absent from the file; keys of the file absent from the model;
  /// "key: file [shape], model [shape]" for shape mismatches; keys matched by skip_prefixes.
  std::vector<std::string> loaded, missing, unexpected, mismatched, skipped;
  /// No missing, unexpected or mismatched keys (skipped ones are fine).
  bool clean() const { return missing.empty() && unexpected.empty() && mismatched.empty(); }
  /// Every problem and skipped key, one per line.
  std::string summary() const;
};

/// Copies matching tensors into the module (without autograd; copy_ converts dtype and device).
/// Strict: throws WeightsError listing every problem and leaves the module untouched.
/// Non-strict: loads what matches and reports the rest.
LoadReport load_state_dict(torch::nn::Module& module, const NamedTensors& weights, const LoadOptions& options = {});

/// Reads a Python `torch.save(dict(model.state_dict()), f)` file, a skipzoo state dict, or a
/// TorchScript archive (its parameters and buffers). Tensors come back on the CPU. Throws
/// WeightsError naming the file when it is missing, empty, a folder, not a zip archive (legacy
/// torch.save), truncated, an OrderedDict (plain torch.save(model.state_dict()): wrap it in
/// dict()), not a flat {name: tensor} dict, or a TorchScript archive without parameters (a
/// frozen export).
NamedTensors read_weights(const std::string& path);

/// Writes the module's state dict as a plain {name: tensor} dict of contiguous CPU tensors
/// (torch.load reads it; torchvision's load_state_dict(strict=True) accepts it for the ResNets).
/// Atomic (see write_file_atomic). Throws std::runtime_error when the file cannot be written.
void save_state_dict(const torch::nn::Module& module, const std::string& path);

/// read_weights() then load_state_dict(); every WeightsError message names `path`.
LoadReport load_weights(torch::nn::Module& module, const std::string& path, const LoadOptions& options = {});

/// Every 4-D parameter and buffer in `format` (torch::nn::Module::to takes no memory format).
/// Channels-last convolution weights make oneDNN run convolutions in NHWC on the CPU: measured
/// 1.06-1.26x faster training steps on the zoo's models (docs/benchmarks.md).
void to_memory_format(torch::nn::Module& module, at::MemoryFormat format);

/// Writes `bytes` to `path` through a temporary file in the same folder (created if missing):
/// written, flushed and fsync'ed with every result checked, then renamed into place. Readers never
/// see a partial file; on any failure the temporary file is removed and a previous file at `path`
/// is kept. Throws std::runtime_error "cannot write 'PATH': REASON" with the system's reason (e.g.
/// "No space left on device").
void write_file_atomic(const std::string& path, const std::string& bytes);

}  // namespace skipzoo::models
