// Test helper driven by the Python cross-checks: runs skipzoo's *eager* C++ models so that
// Python can compare them with torchvision. Not installed.
//   xcheck keys    --model NAME [--classes N] [--in-channels C] [--options JSON]
//   xcheck forward --model NAME ... --weights W.pt --input X.pt --output Y.pt
//   xcheck cases                        the export parity cases (export_cases.h) as JSON
//   xcheck export-case --case ID --dir D [--optimize]
//       D/model.ts: the export of the case's seeded model with randomized norm statistics;
//       D/x<i>.pt, D/y<i>.pt: its inputs and the eager C++ outputs (eval mode).
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <skipzoo/models.h>

#include <fstream>
#include <iostream>

#include "export_cases.h"

namespace zoo = skipzoo::models;

static void save_tensor(const torch::Tensor& t, const std::string& path) {
  auto bytes = torch::pickle_save(t);
  std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

static torch::Tensor load_tensor(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return torch::pickle_load(bytes).toTensor();
}

int main(int argc, char** argv) {
  CLI::App app{"skipzoo cross-check helper"};
  zoo::ModelConfig config;
  std::string weights, input, output;
  auto add_model = [&](CLI::App* cmd) {
    cmd->add_option("--model", config.name)->required();
    cmd->add_option("--classes", config.classes);
    cmd->add_option("--in-channels", config.in_channels);
    cmd->add_option("--options", config.options);
  };
  auto* keys = app.add_subcommand("keys", "state_dict keys in order, and the parameter count");
  add_model(keys);
  auto* forward = app.add_subcommand("forward", "eval-mode eager forward with given weights");
  add_model(forward);
  forward->add_option("--weights", weights)->required();
  forward->add_option("--input", input)->required();
  forward->add_option("--output", output)->required();
  auto* cases = app.add_subcommand("cases", "the export parity cases");
  auto* export_case = app.add_subcommand("export-case", "export a case's model, with inputs and eager outputs");
  std::string case_id, dir;
  bool optimize = false;
  export_case->add_option("--case", case_id)->required();
  export_case->add_option("--dir", dir)->required();
  export_case->add_flag("--optimize", optimize);
  app.require_subcommand(1);
  CLI11_PARSE(app, argc, argv);

  try {
    if (*cases) {
      nlohmann::json j = nlohmann::json::array();
      for (const auto& c : skipzoo::testing::export_cases()) {
        j.push_back({{"id", c.id}, {"model", c.config.name}, {"inputs", c.inputs}});
      }
      std::cout << j.dump() << "\n";
      return 0;
    }
    if (*export_case) {
      const auto all = skipzoo::testing::export_cases();
      const auto& c = skipzoo::testing::find_export_case(all, case_id);
      auto model = zoo::create_model(c.config, 0);
      skipzoo::testing::randomize_norm_stats(model.module(), 1);
      model.module().eval();
      zoo::ExportOptions options;
      options.optimize = optimize;
      zoo::export_torchscript(model, dir + "/model.ts", options);
      torch::InferenceMode guard;
      torch::manual_seed(2);
      for (size_t i = 0; i < c.inputs.size(); ++i) {
        const auto x = torch::randn(c.inputs[i]);
        save_tensor(x, dir + "/x" + std::to_string(i) + ".pt");
        save_tensor(model.forward(x), dir + "/y" + std::to_string(i) + ".pt");
      }
      return 0;
    }
    auto model = zoo::create_model(config, 0);
    if (*keys) {
      nlohmann::json j;
      j["keys"] = nlohmann::json::array();
      for (const auto& kv : zoo::state_dict(model.module())) j["keys"].push_back(kv.first);
      j["parameters"] = zoo::count_parameters(model.module());
      std::cout << j.dump() << "\n";
    } else {
      zoo::load_weights(model.module(), weights);
      model.module().eval();
      torch::InferenceMode guard;
      save_tensor(model.forward(load_tensor(input)), output);
    }
  } catch (const std::exception& e) {
    std::cerr << "xcheck: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
