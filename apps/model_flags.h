#pragma once
// The flags that complete a model name into a models::ModelConfig, for every command that builds
// a zoo model by name.
#include <skipzoo/models/registry.h>

#include "cli.h"

namespace skipzoo::app {

// Adds --classes, --in-channels and --options; `config` must outlive the parse.
void add_model_config_flags(CLI::App* cmd, models::ModelConfig& config);

}  // namespace skipzoo::app
