#include <skipzoo/models/weights.h>
#include <torch/script.h>

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "archive.h"

namespace fs = std::filesystem;

namespace skipzoo::models {

namespace {

void collect(const torch::nn::Module& m, const std::string& prefix, NamedTensors& out) {
  for (const auto& p : m.named_parameters(/*recurse=*/false)) out.emplace_back(prefix + p.key(), p.value());
  for (const auto& b : m.named_buffers(/*recurse=*/false)) out.emplace_back(prefix + b.key(), b.value());
  for (const auto& c : m.named_children()) collect(*c.value(), prefix + c.key() + ".", out);
}

std::string shape(const torch::Tensor& t) {
  std::ostringstream s;
  s << t.sizes();
  return s.str();
}

std::vector<char> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!in.eof() && in.fail()) throw WeightsError("cannot read weights file '" + path + "'");
  return bytes;
}

NamedTensors from_script(const std::string& path) {
  torch::jit::Module m;
  try {
    m = torch::jit::load(path, torch::kCPU);
  } catch (const std::exception& e) {
    throw WeightsError("cannot load TorchScript archive '" + path + "': " + detail::brief(e));
  }
  NamedTensors out;
  for (const auto& p : m.named_parameters(/*recurse=*/true)) out.emplace_back(p.name, p.value);
  for (const auto& b : m.named_buffers(/*recurse=*/true)) out.emplace_back(b.name, b.value);
  // torch::jit::freeze (an --optimize export) turns every weight into a graph constant.
  if (out.empty()) {
    throw WeightsError("TorchScript archive '" + path +
                       "' has no parameters or buffers (a frozen or --optimize export keeps its weights as "
                       "constants); use an export made without --optimize, or a state dict");
  }
  return out;
}

// True when the pickle's top-level object is a collections.OrderedDict: right after the
// protocol opcode comes GLOBAL "collections OrderedDict" (tensors inside mention it too).
bool top_level_ordered_dict(const std::string& data_pkl) {
  const std::string global = "ccollections\nOrderedDict\n";
  return data_pkl.size() > 2 + global.size() && data_pkl.compare(2, global.size(), global) == 0;
}

NamedTensors from_pickle(const std::string& path, const std::vector<char>& bytes, const std::string& data_pkl) {
  // Debian's LibTorch 1.13 cannot rebuild an OrderedDict: explain the fix instead.
  if (top_level_ordered_dict(data_pkl)) {
    throw WeightsError("'" + path +
                       "' holds an OrderedDict (plain torch.save(model.state_dict())), which LibTorch cannot read. "
                       "Save a plain dict instead: torch.save(dict(model.state_dict()), f)");
  }
  c10::IValue value;
  try {
    value = torch::pickle_load(bytes);
  } catch (const std::exception& e) {
    throw WeightsError("cannot unpickle '" + path + "': " + detail::brief(e));
  }
  if (!value.isGenericDict()) {
    throw WeightsError("'" + path + "' does not hold a dict of tensors (found " + value.tagKind() +
                       "); save one with torch.save(dict(model.state_dict()), f)");
  }
  NamedTensors out;
  for (const auto& item : value.toGenericDict()) {
    if (!item.key().isString()) throw WeightsError("'" + path + "': state dict keys must be strings");
    const std::string key = item.key().toStringRef();
    if (!item.value().isTensor()) {
      throw WeightsError("'" + path + "': entry '" + key + "' is a " + item.value().tagKind() +
                         ", not a tensor; expected a flat state dict {name: tensor}");
    }
    out.emplace_back(key, item.value().toTensor());
  }
  return out;
}

}  // namespace

NamedTensors state_dict(const torch::nn::Module& module) {
  NamedTensors out;
  collect(module, "", out);
  return out;
}

std::string LoadReport::summary() const {
  std::ostringstream s;
  for (const auto& k : missing) s << "  missing in file: " << k << '\n';
  for (const auto& k : unexpected) s << "  unexpected in file: " << k << '\n';
  for (const auto& k : mismatched) s << "  shape mismatch: " << k << '\n';
  for (const auto& k : skipped) s << "  skipped: " << k << '\n';
  return s.str();
}

LoadReport load_state_dict(torch::nn::Module& module, const NamedTensors& weights, const LoadOptions& options) {
  auto skip = [&](const std::string& key) {
    for (const auto& p : options.skip_prefixes) {
      if (key.rfind(p, 0) == 0) return true;
    }
    return false;
  };
  std::map<std::string, torch::Tensor> given(weights.begin(), weights.end());
  LoadReport report;
  std::vector<std::pair<torch::Tensor, torch::Tensor>> copies;  // (destination, source)
  for (auto& [key, dest] : state_dict(module)) {
    if (skip(key)) {
      report.skipped.push_back(key);
      given.erase(key);
      continue;
    }
    auto it = given.find(key);
    if (it == given.end()) {
      report.missing.push_back(key);
      continue;
    }
    if (it->second.sizes() != dest.sizes()) {
      report.mismatched.push_back(key + ": file " + shape(it->second) + ", model " + shape(dest));
    } else {
      copies.emplace_back(dest, it->second);
      report.loaded.push_back(key);
    }
    given.erase(it);
  }
  for (const auto& kv : given) {
    if (skip(kv.first)) report.skipped.push_back(kv.first);
    else report.unexpected.push_back(kv.first);
  }
  if (options.strict && !report.clean()) {
    throw WeightsError("weights do not match the model (strict loading):\n" + report.summary() +
                       "use non-strict loading to load only the matching tensors");
  }
  torch::NoGradGuard no_grad;
  for (auto& [dest, src] : copies) dest.copy_(src);
  return report;
}

NamedTensors read_weights(const std::string& path) {
  const auto archive = detail::inspect_archive(path, "weights file");
  if (archive.torchscript) return from_script(path);
  if (archive.data_pkl.empty()) throw WeightsError("'" + path + "' holds no data.pkl: not a torch.save file");
  return from_pickle(path, read_bytes(path), archive.data_pkl);
}

void save_state_dict(const torch::nn::Module& module, const std::string& path) {
  c10::Dict<std::string, torch::Tensor> dict;
  // Contiguous: a plain file whatever layout training used.
  for (const auto& [key, tensor] : state_dict(module)) dict.insert(key, tensor.detach().cpu().contiguous());
  const auto bytes = torch::pickle_save(dict);
  write_file_atomic(path, std::string(bytes.begin(), bytes.end()));
}

LoadReport load_weights(torch::nn::Module& module, const std::string& path, const LoadOptions& options) {
  try {
    return load_state_dict(module, read_weights(path), options);
  } catch (const WeightsError& e) {
    const std::string what = e.what();
    if (what.find(path) != std::string::npos) throw;
    throw WeightsError("'" + path + "': " + what);
  }
}

void write_file_atomic(const std::string& path, const std::string& bytes) {
  static std::atomic<int> counter{0};
  const fs::path target(path);
  std::error_code ec;
  if (target.has_parent_path() && !fs::create_directories(target.parent_path(), ec) && ec) {
    throw std::runtime_error("cannot write '" + path + "': cannot create its folder: " + ec.message());
  }
  const std::string tmp = path + ".tmp" + std::to_string(::getpid()) + "_" + std::to_string(counter++);
  const auto fail = [&](const std::string& why) {
    ::unlink(tmp.c_str());
    throw std::runtime_error("cannot write '" + path + "': " + why);
  };
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw std::runtime_error("cannot write '" + path + "': " + std::strerror(errno));
  for (size_t done = 0; done < bytes.size();) {
    const auto n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = n < 0 ? errno : ENOSPC;
      ::close(fd);
      fail(std::strerror(err));
    }
    done += static_cast<size_t>(n);
  }
  // fsync: a full disk or a failing device may only report at write-back.
  if (::fsync(fd) != 0) {
    const int err = errno;
    ::close(fd);
    fail(std::strerror(err));
  }
  if (::close(fd) != 0) fail(std::strerror(errno));
  if (::rename(tmp.c_str(), path.c_str()) != 0) fail(std::strerror(errno));
}

void to_memory_format(torch::nn::Module& module, at::MemoryFormat format) {
  torch::NoGradGuard no_grad;
  for (auto& [key, tensor] : state_dict(module)) {
    if (tensor.dim() == 4) tensor.set_data(tensor.data().contiguous(format));
  }
}

}  // namespace skipzoo::models
