#include "archive.h"

#include <caffe2/serialize/inline_container.h>
#include <skipzoo/models/weights.h>

#include <filesystem>
#include <fstream>

namespace fs = std::filesystem;

namespace skipzoo::models::detail {

std::string brief(const std::exception& e, size_t limit) {
  const auto* c10_error = dynamic_cast<const c10::Error*>(&e);
  std::string what = c10_error ? c10_error->what_without_backtrace() : e.what();
  while (!what.empty() && (what.back() == '\n' || what.back() == ' ')) what.pop_back();
  return what.size() > limit ? what.substr(0, limit) + "..." : what;
}

ArchiveInfo inspect_archive(const std::string& path, const std::string& what) {
  const std::string named = what + " '" + path + "'";
  std::error_code ec;
  if (!fs::exists(path, ec)) throw WeightsError(named + " does not exist");
  if (fs::is_directory(path, ec)) throw WeightsError(named + " is a directory");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw WeightsError("cannot open " + named);
  char magic[4] = {};
  in.read(magic, sizeof magic);
  if (in.gcount() == 0) throw WeightsError(named + " is empty");
  if (in.gcount() < 4 || std::string(magic, 4) != std::string("PK\x03\x04", 4)) {
    throw WeightsError(named + " is not a PyTorch zip archive (a legacy torch.save file or another format); "
                       "write it with a current torch.save or torch.jit.save");
  }
  ArchiveInfo info;
  try {
    caffe2::serialize::PyTorchStreamReader reader(path);
    for (const auto& r : reader.getAllRecords()) {
      if (r == "constants.pkl" || r.rfind("code/", 0) == 0) info.torchscript = true;
    }
    if (!info.torchscript && reader.hasRecord("data.pkl")) {
      auto [data, size] = reader.getRecord("data.pkl");
      info.data_pkl.assign(static_cast<const char*>(data.get()), size);
    }
  } catch (const std::exception& e) {
    throw WeightsError(named + " is a truncated or corrupt archive: " + brief(e, 200));
  }
  return info;
}

}  // namespace skipzoo::models::detail
