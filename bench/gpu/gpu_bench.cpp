// skipzoo_gpu_bench: `skipzoo bench train` and `skipzoo bench peak` without the CLI's other
// dependencies (CLI11, OpenCV), for machines whose only C++ dependency is the LibTorch inside their
// PyTorch. Same code (apps/bench_*.cpp), same flags, same JSON; bench/compare_pytorch.py drives it.
//
//   skipzoo_gpu_bench [--threads N] bench train --model NAME [--batch B] [--input C,H,W] [--steps N]
//       [--warmup N] [--channels-last|--contiguous|--layout auto] [--zero-grad none|zeros] [--device cuda] [--amp] [--seed S]
//       [--options JSON] [--classes K] [--in-channels C] [--json]
//   skipzoo_gpu_bench --version
//   skipzoo_gpu_bench [--threads N] bench peak [--batch B] [--channels C] [--size S] [--iters N]
//       [--warmup N] [--device cuda] [--amp] [--json]
// Output: one JSON object (--json is accepted for compatibility; it is the only format).
#include <torch/torch.h>
#include <torch/version.h>

#include <algorithm>
#include <iostream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "bench/core/bench_core.h"

namespace {

using skipzoo::app::Layout;
using skipzoo::app::parse_layout;
using skipzoo::app::PeakOptions;
using skipzoo::app::TrainBenchOptions;

// Flags as name -> value ("" for switches), in the order given; unknown flags are errors.
class Flags {
 public:
  Flags(const std::vector<std::string>& args, size_t from, const std::vector<std::string>& with_value,
        const std::vector<std::string>& switches) {
    for (size_t i = from; i < args.size(); ++i) {
      const auto& a = args[i];
      if (contains(switches, a)) {
        values_[a] = "";
      } else if (contains(with_value, a) && i + 1 < args.size()) {
        values_[a] = args[++i];
      } else {
        throw std::invalid_argument("unknown flag or missing value: '" + a + "'");
      }
    }
  }
  bool has(const std::string& name) const { return values_.count(name) > 0; }
  std::string text(const std::string& name, const std::string& fallback) const {
    return has(name) ? values_.at(name) : fallback;
  }
  int64_t integer(const std::string& name, int64_t fallback) const {
    if (!has(name)) return fallback;
    size_t used = 0;
    const long long v = std::stoll(values_.at(name), &used);
    if (used != values_.at(name).size()) throw std::invalid_argument(name + ": not an integer");
    return v;
  }

 private:
  static bool contains(const std::vector<std::string>& v, const std::string& s) {
    return std::find(v.begin(), v.end(), s) != v.end();
  }
  std::map<std::string, std::string> values_;
};

std::vector<int64_t> dims(const std::string& text) {
  std::vector<int64_t> out;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) out.push_back(std::stoll(item));
  return out;
}

nlohmann::json train(const Flags& f) {
  TrainBenchOptions o;
  o.model.name = f.text("--model", "");
  if (o.model.name.empty()) throw std::invalid_argument("--model is required");
  o.model.options = f.text("--options", "{}");
  o.model.classes = f.integer("--classes", -1);
  o.model.in_channels = f.integer("--in-channels", -1);
  o.batch = f.integer("--batch", o.batch);
  if (f.has("--input")) o.input = dims(f.text("--input", ""));
  o.steps = f.integer("--steps", o.steps);
  o.warmup = f.integer("--warmup", o.warmup);
  // channels-last unless told (bf16 tensor cores want NHWC); --layout auto measures, as `skipzoo bench train`
  o.layout = f.has("--contiguous") ? Layout::Contiguous : parse_layout(f.text("--layout", "channels-last"));
  o.grad_to_none = f.text("--zero-grad", "none") == "none";
  o.device = f.text("--device", "cuda");
  o.amp = f.has("--amp");
  o.seed = static_cast<uint64_t>(f.integer("--seed", 0));
  return to_json(skipzoo::app::run_train_bench(o));
}

nlohmann::json peak(const Flags& f) {
  PeakOptions o;
  o.batch = f.integer("--batch", o.batch);
  o.channels = f.integer("--channels", o.channels);
  o.size = f.integer("--size", o.size);
  o.iters = f.integer("--iters", o.iters);
  o.warmup = f.integer("--warmup", o.warmup);
  o.device = f.text("--device", "cuda");
  o.amp = f.has("--amp");
  return to_json(skipzoo::app::run_peak_bench(o));
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  try {
    if (args.size() == 1 && args[0] == "--version") {
      std::cout << SKIPZOO_VERSION << " (skipzoo_gpu_bench, LibTorch " << TORCH_VERSION << ")\n";
      return 0;
    }
    size_t i = 0;
    if (args.size() >= 2 && args[0] == "--threads") {
      at::set_num_threads(static_cast<int>(std::stoi(args[1])));
      i = 2;
    }
    if (args.size() < i + 2 || args[i] != "bench" || (args[i + 1] != "train" && args[i + 1] != "peak")) {
      throw std::invalid_argument("usage: skipzoo_gpu_bench [--threads N] bench train|peak [flags] (see the source)");
    }
    const bool is_train = args[i + 1] == "train";
    const Flags flags(args, i + 2,
                      is_train ? std::vector<std::string>{"--model", "--options", "--classes", "--in-channels", "--batch",
                                                          "--input", "--steps", "--warmup", "--zero-grad", "--device",
                                                          "--seed", "--layout"}
                               : std::vector<std::string>{"--batch", "--channels", "--size", "--iters", "--warmup",
                                                          "--device"},
                      is_train ? std::vector<std::string>{"--channels-last", "--contiguous", "--amp", "--json"}
                               : std::vector<std::string>{"--amp", "--json"});
    std::cout << (is_train ? train(flags) : peak(flags)).dump() << std::endl;
  } catch (const std::exception& e) {
    std::cerr << "skipzoo_gpu_bench: error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
