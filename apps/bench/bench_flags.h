#pragma once
// Flag handling shared by the `skipzoo bench` subcommands.
#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "cli/cli.h"

namespace skipzoo::app {

// --input for a benchmark: C,H,W (or F for vector models); UsageError otherwise.
std::vector<int64_t> bench_input_dims(const std::string& text);

// Runs a benchmark whose core reports unusable options as std::invalid_argument (bench_core.h),
// turning those into UsageError, then prints the result: one JSON line with --json, else `line`.
void run_and_print(bool json, const std::function<nlohmann::json()>& run,
                   const std::function<std::string(const nlohmann::json&)>& line);

// Adds --device (cpu or cuda) and --amp (bfloat16 autocast) to a benchmark.
void add_device_flags(CLI::App* cmd, std::string& device, bool& amp);

}  // namespace skipzoo::app
