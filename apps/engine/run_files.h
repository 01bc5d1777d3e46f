#pragma once
// The files of a run directory that are not checkpoints: config.json, metrics.csv,
// metrics.json and curves.png.
#include <nlohmann/json.hpp>

#include <string>

#include "engine/json_file.h"

namespace skipzoo::app {

// Rewrites metrics.json, metrics.csv (one row per epoch; scalar values only, columns in
// order of first appearance) and curves.png (training loss and `main_metric` per epoch).
void write_run_logs(const std::string& run_dir, const nlohmann::json& history, const std::string& main_metric);

}  // namespace skipzoo::app
