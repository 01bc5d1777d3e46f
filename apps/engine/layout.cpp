#include "engine/layout.h"

#include <ATen/Parallel.h>
#include <skipzoo/models/weights.h>
#include <torch/version.h>

#include <chrono>
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>
#include <sstream>

#include "engine/autocast.h"
#include "engine/json_file.h"

namespace skipzoo::app {

namespace fs = std::filesystem;

Layout parse_layout(const std::string& name) {
  if (name == "auto") return Layout::Auto;
  if (name == "channels-last") return Layout::ChannelsLast;
  if (name == "contiguous") return Layout::Contiguous;
  throw std::invalid_argument("unknown layout '" + name + "' (expected auto, channels-last or contiguous)");
}

std::string layout_name(Layout layout) {
  switch (layout) {
    case Layout::Auto: return "auto";
    case Layout::ChannelsLast: return "channels-last";
    case Layout::Contiguous: return "contiguous";
  }
  return "?";
}

nlohmann::json LayoutChoice::to_json() const {
  nlohmann::json j = {{"requested", layout_name(requested)},
                      {"layout", channels_last ? "channels-last" : "contiguous"}};
  if (times) {
    j["contiguous_s"] = times->contiguous;
    j["channels_last_s"] = times->channels_last;
    j["cached"] = cached;
  }
  return j;
}

std::string LayoutChoice::describe() const {
  std::string s = channels_last ? "channels-last" : "contiguous";
  if (!times) return s + " (as requested)";
  char text[160];
  const double mine = channels_last ? times->channels_last : times->contiguous;
  const double other = channels_last ? times->contiguous : times->channels_last;
  std::snprintf(text, sizeof text, " (auto: %.3f s vs %.3f s %s per pass, %s)", mine, other,
                channels_last ? "contiguous" : "channels-last", cached ? "cached" : "measured now");
  return s + text;
}

std::string cpu_description() {
  std::ifstream in("/proc/cpuinfo");
  std::string line, model = "unknown CPU";
  std::set<std::string> flags;
  while (std::getline(in, line)) {
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string key = line.substr(0, colon);
    key.erase(key.find_last_not_of(" \t") + 1);
    const std::string value = colon + 2 <= line.size() ? line.substr(colon + 2) : "";
    if (key == "model name") model = value;
    if (key == "flags" && flags.empty()) {
      std::istringstream words(value);
      for (std::string w; words >> w;) {
        if (w.rfind("avx", 0) == 0 || w.rfind("amx", 0) == 0 || w == "fma") flags.insert(w);
      }
    }
  }
  std::string s = model + ";";
  for (const auto& f : flags) s += " " + f;
  return s;
}

std::string machine_key() {
  return cpu_description() + "; torch " + TORCH_VERSION + "; " + std::to_string(at::get_num_threads()) + " threads";
}

std::string default_layout_cache() {
  auto env = [](const char* name) -> std::string {
    const char* v = std::getenv(name);
    return v && *v ? v : "";
  };
  if (auto dir = env("SKIPZOO_CACHE_DIR"); !dir.empty()) return (fs::path(dir) / "layouts.json").string();
  if (auto dir = env("XDG_CACHE_HOME"); !dir.empty()) return (fs::path(dir) / "skipzoo" / "layouts.json").string();
  if (auto home = env("HOME"); !home.empty()) return (fs::path(home) / ".cache" / "skipzoo" / "layouts.json").string();
  return "";
}

namespace {

at::MemoryFormat format_of(bool channels_last) {
  return channels_last ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

void apply_layout(models::Model& model, bool channels_last) {
  models::to_memory_format(model.module(), format_of(channels_last));
}

LayoutPass training_pass(models::Model& model, torch::Tensor inputs,
                         std::function<torch::Tensor(const torch::Tensor& output)> loss, const torch::Device& device,
                         bool amp) {
  return [&model, inputs, loss, device, amp](bool channels_last) {
    apply_layout(model, channels_last);
    const auto x = inputs.contiguous(format_of(channels_last));
    const auto start = std::chrono::steady_clock::now();
    model.module().zero_grad(/*set_to_none=*/true);
    torch::Tensor value;
    {
      AutocastGuard autocast(device, amp);
      value = loss(model.forward(x));
    }
    value.backward();
    (void)value.item<double>();
    return seconds_since(start);
  };
}

LayoutPass inference_pass(std::function<torch::Tensor(const torch::Tensor&)> forward, torch::Tensor inputs) {
  return [forward, inputs](bool channels_last) {
    c10::InferenceMode guard;
    const auto x = inputs.contiguous(format_of(channels_last));
    const auto start = std::chrono::steady_clock::now();
    (void)forward(x).sum().item<double>();
    return seconds_since(start);
  };
}

std::string workload_key(const std::string& mode, const models::ModelConfig& c, const torch::Tensor& inputs,
                         const torch::Device& device, bool amp) {
  std::string shape;
  for (auto d : inputs.sizes()) shape += (shape.empty() ? "" : "x") + std::to_string(d);
  return mode + " " + c.name + " " + nlohmann::json::parse(c.options).dump() + " classes " + std::to_string(c.classes) +
         " in " + std::to_string(c.in_channels) + " input " + shape + " " + device.str() + (amp ? " amp" : "");
}

namespace {

nlohmann::json read_cache(const std::string& file) {
  std::error_code ec;
  if (file.empty() || !fs::exists(file, ec)) return nlohmann::json::object();
  try {
    auto j = read_json(file);
    if (j.is_object()) return j;
  } catch (const std::exception&) {
  }
  std::cerr << "skipzoo: warning: ignoring the unreadable probe cache " << file << "\n";
  return nlohmann::json::object();
}

void write_cache(const std::string& file, const std::string& key, const nlohmann::json& entry) {
  if (file.empty()) return;
  try {
    fs::create_directories(fs::path(file).parent_path());
    auto cache = read_cache(file);
    cache[key] = entry;
    write_json(file, cache);
  } catch (const std::exception& e) {
    std::cerr << "skipzoo: warning: cannot update the probe cache " << file << ": " << e.what() << "\n";
  }
}

}  // namespace

PairTimes time_two_ways(const std::string& key, const std::array<std::string, 2>& names, const LayoutPass& pass,
                        const LayoutProbeOptions& options) {
  const std::string first = names[0] + "_s", second = names[1] + "_s";
  const auto cache = read_cache(options.cache_file);
  if (cache.contains(key) && cache[key].value(first, 0.0) > 0 && cache[key].value(second, 0.0) > 0) {
    return {cache[key][first].get<double>(), cache[key][second].get<double>(), true};
  }
  pass(false);  // untimed: first-call setup (kernel selection, allocations) each way
  pass(true);
  PairTimes times{1e300, 1e300, false};
  for (int r = 0; r < std::max(1, options.rounds); ++r) {
    // Alternate who goes first, so a drift in machine speed hits both ways alike.
    for (bool way : {r % 2 == 1, r % 2 == 0}) {
      double& best = way ? times.second : times.first;
      best = std::min(best, pass(way));
    }
  }
  write_cache(options.cache_file, key, {{first, times.first}, {second, times.second}});
  return times;
}

LayoutChoice choose_layout(Layout requested, const LayoutPass& pass, const LayoutProbeOptions& options) {
  LayoutChoice choice;
  choice.requested = requested;
  if (requested != Layout::Auto) {
    choice.channels_last = requested == Layout::ChannelsLast;
    return choice;
  }
  const auto t = time_two_ways(machine_key() + "; " + options.workload, {"contiguous", "channels_last"}, pass, options);
  choice.times = LayoutTimes{t.first, t.second};
  choice.cached = t.cached;
  choice.channels_last = t.second_wins();
  return choice;
}

}  // namespace skipzoo::app
