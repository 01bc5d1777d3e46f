#pragma once
// The flags that complete a model name into a models::ModelConfig, for every command that builds
// a zoo model by name.
#include <skipzoo/models/registry.h>

#include <cstdint>
#include <string>
#include <vector>

#include "cli/cli.h"

namespace skipzoo::app {

// Adds --classes, --in-channels and --options; `config` must outlive the parse.
void add_model_config_flags(CLI::App* cmd, models::ModelConfig& config);

// models::create_model for a name and options the user typed: an unknown name or a bad option is
// the command line's mistake, so std::invalid_argument becomes a UsageError (exit status 2).
models::Model create_model_from_flags(const models::ModelConfig& config, c10::optional<uint64_t> seed);

// --input "C,H,W" (or "F"): positive integers separated by commas, else a UsageError that quotes
// the text and names `form`, the shape expected.
std::vector<int64_t> parse_input_dims(const std::string& text, const std::string& form);

}  // namespace skipzoo::app
