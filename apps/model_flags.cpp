#include "model_flags.h"

namespace skipzoo::app {

void add_model_config_flags(CLI::App* cmd, models::ModelConfig& config) {
  cmd->add_option("--classes", config.classes, "number of classes / outputs (default: the model's)");
  cmd->add_option("--in-channels", config.in_channels, "input channels / features (default: the model's)");
  cmd->add_option("--options", config.options, "model options as a JSON object")->capture_default_str();
}

}  // namespace skipzoo::app
