// `skipzoo info MODEL`: what a model is before it is trained (the torchinfo of skipzoo), and
// the chapter's residual-network analyses: --paths (problem 11.2) and --variance (11.4).
#include <skipzoo/models/analysis.h>
#include <skipzoo/models/registry.h>

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <iostream>
#include <sstream>

#include "cli/cli.h"
#include "cli/model_flags.h"

namespace skipzoo::app {

namespace {

struct InfoArgs {
  models::ModelConfig config;
  std::string input;
  bool paths = false, variance = false, json = false;
  int64_t batch = 16;
  uint64_t seed = 0;
};

// "25557032" -> "25,557,032" (any number of digits, so exact big counts read well too).
std::string group_digits(const std::string& digits) {
  std::string out;
  const size_t n = digits.size();
  for (size_t i = 0; i < n; ++i) {
    out += digits[i];
    if (i + 1 < n && (n - i - 1) % 3 == 0) out += ',';
  }
  return out;
}
std::string group_digits(int64_t v) { return v < 0 ? "-" + group_digits(std::to_string(-v)) : group_digits(std::to_string(v)); }

std::string fixed(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

std::string bytes_text(int64_t bytes) {
  const char* units[] = {"bytes", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 4) v /= 1024, ++u;
  return u == 0 ? std::to_string(bytes) + " bytes" : fixed(v, 2) + " " + units[u];
}

// --input: C,H,W for image models, C for vector models; C must be the model's channels.
std::vector<int64_t> parse_input(const std::string& text, const models::Model& model) {
  const auto expected = models::default_input_shape(model);
  const std::string form = expected.size() == 1 ? "C" : "C,H,W";
  const auto shape = parse_input_dims(text, form);
  if (shape.size() != expected.size()) {
    throw UsageError("--input '" + text + "': model '" + model.config.name + "' takes " + form + " (" +
                     std::to_string(expected.size()) + " number" + (expected.size() == 1 ? "" : "s") + ")");
  }
  if (shape[0] != model.config.in_channels) {
    throw UsageError("--input '" + text + "': model '" + model.config.name + "' has " +
                     std::to_string(model.config.in_channels) + " input channels (set them with --in-channels)");
  }
  return shape;
}

nlohmann::json summary_json(const models::ModelSummary& s) {
  auto layers = nlohmann::json::array();
  for (const auto& l : s.layers) {
    layers.push_back({{"name", l.name}, {"type", l.type}, {"output_shape", l.output_shape}, {"params", l.params},
                      {"trainable_params", l.trainable_params}, {"buffer_values", l.buffer_values},
                      {"macs", l.macs}});
  }
  return {{"input_shape", s.input_shape},
          {"output_shape", s.output_shape},
          {"layers", layers},
          {"totals",
           {{"params", s.params}, {"trainable_params", s.trainable_params},
            {"non_trainable_params", s.params - s.trainable_params}, {"buffer_values", s.buffer_values},
            {"param_bytes", s.param_bytes}, {"buffer_bytes", s.buffer_bytes}, {"macs", s.macs},
            {"activation_bytes", s.activation_bytes}}}};
}

void print_summary(const models::ModelSummary& s) {
  size_t name_w = 5, type_w = 4, shape_w = 12;
  for (const auto& l : s.layers) {
    name_w = std::max(name_w, l.name.size());
    type_w = std::max(type_w, l.type.size());
    shape_w = std::max(shape_w, models::shape_text(l.output_shape).size());
  }
  auto row = [&](const std::string& name, const std::string& type, const std::string& shape, const std::string& params,
                 const std::string& macs) {
    std::printf("%-*s  %-*s  %-*s  %13s  %15s\n", static_cast<int>(name_w), name.c_str(), static_cast<int>(type_w),
                type.c_str(), static_cast<int>(shape_w), shape.c_str(), params.c_str(), macs.c_str());
  };
  row("layer", "type", "output shape", "params", "MACs");
  for (const auto& l : s.layers) {
    row(l.name, l.type, models::shape_text(l.output_shape), group_digits(l.params), group_digits(l.macs));
  }
  std::printf("\n");
  std::printf("input               %s\n", models::shape_text(s.input_shape).c_str());
  std::printf("output              %s\n", models::shape_text(s.output_shape).c_str());
  std::printf("parameters          %s (trainable %s, non-trainable %s): %s\n", group_digits(s.params).c_str(),
              group_digits(s.trainable_params).c_str(), group_digits(s.params - s.trainable_params).c_str(),
              bytes_text(s.param_bytes).c_str());
  std::printf("buffers             %s values (e.g. BN running statistics): %s\n", group_digits(s.buffer_values).c_str(),
              bytes_text(s.buffer_bytes).c_str());
  std::printf("MACs                %s (%s G) for this input; conv, transposed conv and linear layers\n",
              group_digits(s.macs).c_str(), fixed(static_cast<double>(s.macs) / 1e9, 2).c_str());
  std::printf("activations         %s created by one forward pass (training keeps about this much)\n",
              bytes_text(s.activation_bytes).c_str());
}

nlohmann::json paths_json(const models::PathDistribution& d) {
  return {{"blocks", d.blocks}, {"paths", d.paths}, {"total", d.total}, {"share", d.share},
          {"mean_length", d.mean_length}};
}

void print_paths(const models::PathDistribution& d) {
  std::printf("\nresidual paths: K = %lld residual blocks unravel into 2^%lld = %s paths; mean length %s blocks\n",
              static_cast<long long>(d.blocks), static_cast<long long>(d.blocks), group_digits(d.total).c_str(),
              fixed(d.mean_length, 2).c_str());
  std::printf("%6s  %30s  %10s\n", "length", "paths C(K, length)", "share");
  for (size_t l = 0; l < d.paths.size(); ++l) {
    std::printf("%6zu  %30s  %10s\n", l, group_digits(d.paths[l]).c_str(), fixed(d.share[l], 6).c_str());
  }
}

nlohmann::json variance_json(const std::vector<models::BlockVariance>& rows, int64_t batch) {
  auto blocks = nlohmann::json::array();
  for (const auto& r : rows) {
    blocks.push_back({{"name", r.name}, {"type", r.type}, {"input_shape", r.input_shape},
                      {"output_shape", r.output_shape}, {"input_variance", r.input_variance},
                      {"output_variance", r.output_variance}});
  }
  return {{"batch", batch}, {"blocks", blocks}};
}

void print_variance(const std::vector<models::BlockVariance>& rows, int64_t batch) {
  std::printf("\nvariance of each residual block's output, a batch of %lld N(0,1) inputs, training-mode forward\n",
              static_cast<long long>(batch));
  std::printf("%-12s  %-18s  %-14s  %14s  %14s  %9s\n", "block", "type", "output shape", "input var", "output var",
              "out/in");
  for (const auto& r : rows) {
    std::printf("%-12s  %-18s  %-14s  %14.6g  %14.6g  %9.4f\n", r.name.c_str(), r.type.c_str(),
                models::shape_text(r.output_shape).c_str(), r.input_variance, r.output_variance,
                r.output_variance / r.input_variance);
  }
  // Blocks with an identity shortcut show the chapter's effect; the others also rescale x.
  double log_sum = 0;
  int n = 0;
  for (const auto& r : rows) {
    if (!r.identity_shortcut()) continue;
    log_sum += std::log(r.output_variance / r.input_variance);
    ++n;
  }
  if (n > 0) {
    std::printf("geometric mean of out/in over the %d blocks with an identity shortcut: %.4f\n", n,
                std::exp(log_sum / n));
  }
  std::printf("variance grew %.6g-fold from the first block's input to the last block's output\n",
              rows.back().output_variance / rows.front().input_variance);
}

void run_info(InfoArgs& a) {
  auto model = create_model_from_flags(a.config, a.seed);
  const auto one = a.input.empty() ? models::default_input_shape(model) : parse_input(a.input, model);
  std::vector<int64_t> shape{1};
  shape.insert(shape.end(), one.begin(), one.end());
  const auto summary = models::summarize(model.net, shape);

  nlohmann::json out = {{"model", model.config.name}, {"task", model.task}, {"classes", model.config.classes},
                        {"in_channels", model.config.in_channels},
                        {"options", nlohmann::json::parse(model.config.options)}};
  out.update(summary_json(summary));
  if (!a.json) {
    std::printf("%s (%s): classes %lld, in_channels %lld, options %s\n\n", model.config.name.c_str(),
                model.task.c_str(), static_cast<long long>(model.config.classes),
                static_cast<long long>(model.config.in_channels), model.config.options.c_str());
    print_summary(summary);
  }
  if (a.paths) {
    const auto d = models::residual_paths(models::count_residual_blocks(model.module()));
    out["paths"] = paths_json(d);
    if (!a.json) print_paths(d);
  }
  if (a.variance) {
    shape[0] = a.batch;
    torch::manual_seed(a.seed);
    std::vector<models::BlockVariance> rows;
    try {
      rows = models::block_variances(model.net, torch::randn(shape));
    } catch (const std::invalid_argument& e) {
      throw UsageError(std::string("--variance: ") + e.what());
    }
    out["variance"] = variance_json(rows, a.batch);
    if (!a.json) print_variance(rows, a.batch);
  }
  if (a.json) std::cout << out.dump(2) << "\n";
}

}  // namespace

void add_info_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "info", "inspect a model: per-layer output shapes, parameters and MACs, totals, activation memory; "
              "residual paths and per-block variance at initialisation");
  auto a = std::make_shared<InfoArgs>();
  cmd->add_option("model", a->config.name, "model name (see `skipzoo models`)")->required();
  cmd->add_option("--classes", a->config.classes, "number of classes / outputs (default: the model's)");
  cmd->add_option("--in-channels", a->config.in_channels, "input channels / features (default: the model's)");
  cmd->add_option("--options", a->config.options, "model options as a JSON object")->capture_default_str();
  cmd->add_option("--input", a->input,
                  "one input without the batch, C,H,W (C for mlp) (default: C,224,224; C,32,32 for CIFAR "
                  "ResNets and single blocks)");
  cmd->add_flag("--paths", a->paths, "the residual network unraveled: paths per length C(K, l), 2^K in all");
  cmd->add_flag("--variance", a->variance, "variance of each residual block's output for N(0,1) inputs at init");
  cmd->add_option("--batch", a->batch, "batch size of the --variance inputs")->capture_default_str()->check(
      CLI::Range(int64_t{2}, int64_t{4096}));
  cmd->add_option("--seed", a->seed, "seed of the initialisation and of the --variance inputs")->capture_default_str();
  cmd->add_flag("--json", a->json, "print one JSON object instead of tables");
  on_run(cmd, [a] { run_info(*a); });
}

}  // namespace skipzoo::app
