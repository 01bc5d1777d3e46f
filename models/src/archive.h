#pragma once
// What a PyTorch zip archive holds, found without loading it: read_weights and
// load_torchscript both start here, so bad files get the same clear messages.
// Private to skipzoo::models.
#include <exception>
#include <string>

namespace skipzoo::models::detail {

struct ArchiveInfo {
  bool torchscript = false;  // code/ and constants.pkl: torch.jit.save or torch::jit::Module::save
  std::string data_pkl;      // the top-level pickle ("" when absent)
};

// Throws WeightsError naming `path` (as "<what> '<path>'") when the file is missing, a
// directory, empty, not a zip archive (legacy torch.save, text, ...) or truncated/corrupt.
ArchiveInfo inspect_archive(const std::string& path, const std::string& what);

// An exception's message without LibTorch's C++ backtrace, cut to `limit` characters.
std::string brief(const std::exception& e, size_t limit = 400);

}  // namespace skipzoo::models::detail
