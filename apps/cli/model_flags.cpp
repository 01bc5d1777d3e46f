#include "cli/model_flags.h"

#include <sstream>
#include <stdexcept>

namespace skipzoo::app {

void add_model_config_flags(CLI::App* cmd, models::ModelConfig& config) {
  cmd->add_option("--classes", config.classes, "number of classes / outputs (default: the model's)");
  cmd->add_option("--in-channels", config.in_channels, "input channels / features (default: the model's)");
  cmd->add_option("--options", config.options, "model options as a JSON object")->capture_default_str();
}

models::Model create_model_from_flags(const models::ModelConfig& config, c10::optional<uint64_t> seed) {
  try {
    return models::create_model(config, seed);
  } catch (const std::invalid_argument& e) {
    throw UsageError(e.what());
  }
}

std::vector<int64_t> parse_input_dims(const std::string& text, const std::string& form) {
  std::vector<int64_t> dims;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    size_t used = 0;
    long long v = 0;
    try {
      v = std::stoll(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != item.size() || v < 1) {
      throw UsageError("--input '" + text + "': expected positive integers separated by commas (" + form + ")");
    }
    dims.push_back(v);
  }
  if (dims.empty()) throw UsageError("--input '" + text + "': expected " + form);
  return dims;
}

}  // namespace skipzoo::app
