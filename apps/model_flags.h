#pragma once
// The flags that complete a model name into a models::ModelConfig, for every command that builds
// a zoo model by name.
#include <skipzoo/models/registry.h>

#include <cstdint>
#include <string>
#include <vector>

#include "cli.h"

namespace skipzoo::app {

// Adds --classes, --in-channels and --options; `config` must outlive the parse.
void add_model_config_flags(CLI::App* cmd, models::ModelConfig& config);

// --input "C,H,W" (or "F"): positive integers separated by commas, else a UsageError that quotes
// the text and names `form`, the shape expected.
std::vector<int64_t> parse_input_dims(const std::string& text, const std::string& form);

}  // namespace skipzoo::app
