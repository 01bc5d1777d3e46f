#include "engine/run_files.h"

#include <skipzoo/models/weights.h>

#include "plot/plot.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <stdexcept>

namespace skipzoo::app {

namespace fs = std::filesystem;

namespace {

std::string csv_cell(const nlohmann::json& v) {
  if (v.is_null()) return "";
  if (v.is_number_float()) {
    const double d = v.get<double>();
    return std::isfinite(d) ? v.dump() : "";
  }
  if (v.is_string()) return v.get<std::string>();
  return v.dump();
}

void write_csv(const std::string& path, const nlohmann::json& history, const std::string& main_metric) {
  std::vector<std::string> seen;
  for (const auto& row : history) {
    for (auto& [key, value] : row.items()) {
      if (value.is_primitive() && std::find(seen.begin(), seen.end(), key) == seen.end()) seen.push_back(key);
    }
  }
  // The columns people read first lead; the rest follow in order of appearance.
  std::vector<std::string> columns;
  for (const std::string& key : std::vector<std::string>{"epoch", "step", "train_loss", "val_" + main_metric, "lr"}) {
    if (std::find(seen.begin(), seen.end(), key) != seen.end()) columns.push_back(key);
  }
  for (const auto& key : seen) {
    if (std::find(columns.begin(), columns.end(), key) == columns.end()) columns.push_back(key);
  }
  std::string text;
  for (size_t i = 0; i < columns.size(); ++i) text += (i ? "," : "") + columns[i];
  text += "\n";
  for (const auto& row : history) {
    for (size_t i = 0; i < columns.size(); ++i) text += (i ? "," : "") + csv_cell(row.value(columns[i], nlohmann::json()));
    text += "\n";
  }
  write_text(path, text);
}

}  // namespace

void write_run_logs(const std::string& run_dir, const nlohmann::json& history, const std::string& main_metric) {
  const fs::path dir(run_dir);
  write_json((dir / "metrics.json").string(), history);
  write_csv((dir / "metrics.csv").string(), history, main_metric);

  Series loss, metric;
  loss.name = "training loss";
  metric.name = "validation " + main_metric;
  metric.right_axis = true;
  metric.markers = true;
  for (const auto& row : history) {
    const double epoch = row.value("epoch", 0.0);
    loss.x.push_back(epoch);
    loss.y.push_back(row.value("train_loss", std::nan("")));
    const auto key = "val_" + main_metric;
    if (row.contains(key) && row[key].is_number()) {
      metric.x.push_back(epoch);
      metric.y.push_back(row[key].get<double>());
    }
  }
  ChartOptions chart;
  chart.title = "training curves";
  chart.x_label = "epoch";
  chart.y_label = "loss";
  chart.y2_label = main_metric;
  save_png((dir / "curves.png").string(), line_chart({loss, metric}, chart));
}

}  // namespace skipzoo::app
