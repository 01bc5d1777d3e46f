// Test helper driven by the Python cross-checks: runs skipzoo's *eager* C++ models so that
// Python can compare them with torchvision. Not installed.
//   xcheck keys    --model NAME [--classes N] [--in-channels C] [--options JSON]
//   xcheck forward --model NAME ... --weights W.pt --input X.pt --output Y.pt
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <skipzoo/models.h>

#include <fstream>
#include <iostream>

namespace zoo = skipzoo::models;

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
  app.require_subcommand(1);
  CLI11_PARSE(app, argc, argv);

  try {
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
      auto y = model.forward(load_tensor(input));
      auto bytes = torch::pickle_save(y);
      std::ofstream(output, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    }
  } catch (const std::exception& e) {
    std::cerr << "xcheck: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
