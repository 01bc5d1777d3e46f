#include "engine/checkpoint.h"

#include <caffe2/serialize/inline_container.h>
#include <skipzoo/models/weights.h>

#include <filesystem>
#include <stdexcept>

namespace skipzoo::app {

namespace {
constexpr int64_t kFormatVersion = 1;

std::runtime_error bad(const std::string& path, const std::string& why) {
  return std::runtime_error("checkpoint '" + path + "': " + why);
}
}  // namespace

void save_checkpoint(const std::string& path, const CheckpointState& s, torch::nn::Module& model,
                     torch::optim::Optimizer* optimizer, const std::vector<torch::Tensor>& average) {
  torch::serialize::OutputArchive archive;
  archive.write("skipzoo_checkpoint", c10::IValue(kFormatVersion));
  archive.write("config", c10::IValue(s.config_json));
  archive.write("epoch", c10::IValue(s.epoch));
  archive.write("batch", c10::IValue(s.batch));
  archive.write("step", c10::IValue(s.step));
  archive.write("best_metric", c10::IValue(s.best_metric));
  archive.write("best_epoch", c10::IValue(s.best_epoch));
  archive.write("history", c10::IValue(s.history_json));
  archive.write("elapsed", c10::IValue(s.elapsed));
  archive.write("epoch_sums", c10::IValue(s.epoch_json));
  archive.write("rng_cpu", at::detail::getDefaultCPUGenerator().get_state(), /*is_buffer=*/true);
  torch::serialize::OutputArchive model_archive;
  model.save(model_archive);
  archive.write("model", model_archive);
  if (optimizer) {
    torch::serialize::OutputArchive optimizer_archive;
    optimizer->save(optimizer_archive);
    archive.write("optimizer", optimizer_archive);
  }
  if (!average.empty()) {
    torch::serialize::OutputArchive average_archive;
    for (size_t i = 0; i < average.size(); ++i) average_archive.write(std::to_string(i), average[i], /*is_buffer=*/true);
    archive.write("weight_average", average_archive);
  }
  // Serialised in memory, then written with every result checked: LibTorch's file writer reports
  // a full disk from its destructor, which ends the process.
  std::string bytes;
  archive.save_to([&bytes](const void* data, size_t n) {
    bytes.append(static_cast<const char*>(data), n);
    return n;
  });
  models::write_file_atomic(path, bytes);
}

bool is_checkpoint(const std::string& path) {
  try {
    caffe2::serialize::PyTorchStreamReader reader(path);
    for (const auto& r : reader.getAllRecords()) {
      if (r.find("skipzoo_checkpoint") != std::string::npos) return true;
    }
    // The archive stores attribute names inside data.pkl; look there too.
    if (reader.hasRecord("data.pkl")) {
      auto [data, size] = reader.getRecord("data.pkl");
      return std::string(static_cast<const char*>(data.get()), size).find("skipzoo_checkpoint") != std::string::npos;
    }
  } catch (const std::exception&) {
  }
  return false;
}

CheckpointReader::CheckpointReader(const std::string& path) : path_(path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) throw bad(path, "no such file");
  try {
    archive_.load_from(path);
  } catch (const std::exception& e) {
    throw bad(path, "cannot read it (truncated, corrupt or not a checkpoint): " + std::string(e.what()).substr(0, 200));
  }
  c10::IValue v;
  if (!archive_.try_read("skipzoo_checkpoint", v)) throw bad(path, "not a skipzoo checkpoint");
  if (v.toInt() > kFormatVersion) throw bad(path, "written by a newer skipzoo (format " + std::to_string(v.toInt()) + ")");
  auto read = [&](const char* key) {
    c10::IValue value;
    if (!archive_.try_read(key, value)) throw bad(path, std::string("missing entry '") + key + "'");
    return value;
  };
  state_.config_json = read("config").toStringRef();
  state_.epoch = read("epoch").toInt();
  state_.batch = read("batch").toInt();
  state_.step = read("step").toInt();
  state_.best_metric = read("best_metric").toDouble();
  state_.best_epoch = read("best_epoch").toInt();
  state_.history_json = read("history").toStringRef();
  c10::IValue optional;  // entries added after format 1 was first written
  if (archive_.try_read("elapsed", optional)) state_.elapsed = optional.toDouble();
  if (archive_.try_read("epoch_sums", optional)) state_.epoch_json = optional.toStringRef();
}

void CheckpointReader::load_model(torch::nn::Module& model) {
  torch::serialize::InputArchive model_archive;
  if (!archive_.try_read("model", model_archive)) throw bad(path_, "holds no model weights");
  // LibTorch's Module::load replaces tensors wholesale (set_), even with another shape: check.
  std::vector<std::pair<std::string, std::vector<int64_t>>> shapes;
  for (const auto& [key, t] : models::state_dict(model)) shapes.emplace_back(key, t.sizes().vec());
  try {
    model.load(model_archive);
  } catch (const std::exception& e) {
    throw bad(path_, "its weights do not fit this model (another architecture?): " +
                         std::string(e.what()).substr(0, 300));
  }
  const auto loaded = models::state_dict(model);
  for (size_t i = 0; i < loaded.size(); ++i) {
    if (loaded[i].second.sizes().vec() != shapes[i].second) {
      throw bad(path_, "tensor '" + loaded[i].first + "' has another shape than this model's (another architecture?)");
    }
  }
}

void CheckpointReader::load_optimizer(torch::optim::Optimizer& optimizer) {
  torch::serialize::InputArchive optimizer_archive;
  if (!archive_.try_read("optimizer", optimizer_archive)) throw bad(path_, "holds no optimizer state");
  optimizer.load(optimizer_archive);
}

std::vector<torch::Tensor> CheckpointReader::weight_average() {
  std::vector<torch::Tensor> out;
  torch::serialize::InputArchive average_archive;
  if (!archive_.try_read("weight_average", average_archive)) return out;
  // A fresh tensor for each read: reading into a defined tensor re-points that same tensor
  // (set_), so reusing one would leave every entry aliasing the last one read.
  for (;;) {
    torch::Tensor t;
    if (!average_archive.try_read(std::to_string(out.size()), t, /*is_buffer=*/true)) return out;
    out.push_back(t);
  }
}

void CheckpointReader::restore_rng() {
  torch::Tensor state;
  if (archive_.try_read("rng_cpu", state, /*is_buffer=*/true)) {
    auto generator = at::detail::getDefaultCPUGenerator();
    generator.set_state(state);
  }
}

}  // namespace skipzoo::app
