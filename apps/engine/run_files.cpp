#include "engine/run_files.h"

#include <skipzoo/models/weights.h>

#include <filesystem>
#include <fstream>
#include <stdexcept>

namespace skipzoo::app {

namespace fs = std::filesystem;

void write_json(const std::string& path, const nlohmann::json& value) {
  const auto text = value.dump(2) + "\n";
  models::write_file_atomic(path, [&](const std::string& tmp) {
    std::ofstream out(tmp);
    out << text;
    if (!out.flush()) throw std::runtime_error("cannot write '" + tmp + "'");
  });
}

nlohmann::json read_json(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot open '" + path + "'");
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error("'" + path + "' is not valid JSON: " + e.what());
  }
}

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

void write_csv(const std::string& path, const nlohmann::json& history) {
  std::vector<std::string> columns;
  for (const auto& row : history) {
    for (auto& [key, value] : row.items()) {
      if (value.is_primitive() && std::find(columns.begin(), columns.end(), key) == columns.end()) {
        columns.push_back(key);
      }
    }
  }
  std::string text;
  for (size_t i = 0; i < columns.size(); ++i) text += (i ? "," : "") + columns[i];
  text += "\n";
  for (const auto& row : history) {
    for (size_t i = 0; i < columns.size(); ++i) text += (i ? "," : "") + csv_cell(row.value(columns[i], nlohmann::json()));
    text += "\n";
  }
  models::write_file_atomic(path, [&](const std::string& tmp) {
    std::ofstream out(tmp);
    out << text;
    if (!out.flush()) throw std::runtime_error("cannot write '" + tmp + "'");
  });
}

}  // namespace

void write_run_logs(const std::string& run_dir, const nlohmann::json& history, const std::string& main_metric) {
  const fs::path dir(run_dir);
  write_json((dir / "metrics.json").string(), history);
  write_csv((dir / "metrics.csv").string(), history);
  (void)main_metric;  // curves.png: drawn once the shared plotting module lands
}

}  // namespace skipzoo::app
