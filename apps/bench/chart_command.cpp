// `skipzoo bench chart`: draws a grouped bar chart (engine/plot.h) from a small JSON file, so that
// bench/compare_pytorch.py makes its figure with skipzoo itself and needs no plotting package.
#include <nlohmann/json.hpp>

#include <cmath>
#include <fstream>
#include <iostream>

#include "bench/bench_flags.h"
#include "plot/plot.h"

namespace skipzoo::app {

namespace {

// {"series": [{"name": .., "x": [..], "y": [.., null, ..]}], "title", "x_label", "y_label"}: lines.
cv::Mat lines_from(const nlohmann::json& spec) {
  ChartOptions o;
  o.title = spec.value("title", "");
  o.x_label = spec.value("x_label", "");
  o.y_label = spec.value("y_label", "");
  std::vector<Series> series;
  for (const auto& j : spec.at("series")) {
    Series line;
    line.name = j.at("name").get<std::string>();
    for (const auto& x : j.at("x")) line.x.push_back(x.is_null() ? std::nan("") : x.get<double>());
    for (const auto& y : j.at("y")) line.y.push_back(y.is_null() ? std::nan("") : y.get<double>());
    if (line.x.size() != line.y.size()) throw std::invalid_argument("series '" + line.name + "': x and y differ in length");
    line.markers = j.value("markers", true);
    series.push_back(std::move(line));
  }
  return line_chart(series, o);
}

// Reads {"labels": [..], "groups": [{"name": .., "values": [.., null, ..]}], "title", "x_label",
// "y_label", "reference", "decimals"} (bars) or {"series": ...} (lines); every problem is
// reported with the file's name.
cv::Mat chart_from_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw UsageError(path + ": cannot open the chart description");
  nlohmann::json spec;
  try {
    spec = nlohmann::json::parse(in);
    if (spec.contains("series")) return lines_from(spec);
    BarChartOptions o;
    o.title = spec.value("title", "");
    o.x_label = spec.value("x_label", "");
    o.y_label = spec.value("y_label", "");
    o.decimals = spec.value("decimals", 2);
    if (spec.contains("reference")) o.reference = spec.at("reference").get<double>();
    std::vector<std::vector<double>> values;
    for (const auto& g : spec.at("groups")) {
      o.group_names.push_back(g.at("name").get<std::string>());
      std::vector<double> v;  // null: no bar (e.g. a workload without a target)
      for (const auto& x : g.at("values")) v.push_back(x.is_null() ? std::nan("") : x.get<double>());
      values.push_back(v);
    }
    return bar_chart(spec.at("labels").get<std::vector<std::string>>(), values, o);
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error(path + ": not a chart description (labels, groups [{name, values}], or series [{name, x, y}]): " +
                     e.what());
  } catch (const std::invalid_argument& e) {
    throw UsageError(path + ": " + e.what());
  }
}

}  // namespace

void add_bench_chart_command(CLI::App& bench_group) {
  auto* cmd = bench_group.add_subcommand("chart", "bar or line chart PNG of benchmark results described in JSON");
  cmd->footer(R"(Bars: {"labels": ["a", "b"], "groups": [{"name": "x", "values": [1.2, 0.9]}], "title": "...",)"
              R"( "y_label": "...", "reference": 1.0, "decimals": 2}.)"
              "\n"
              R"(Lines: {"series": [{"name": "x", "x": [0, 60], "y": [0.5, 0.8]}], "title": "...", "x_label": "...",)"
              R"( "y_label": "..."}.)");
  auto in = std::make_shared<std::string>(), out = std::make_shared<std::string>();
  cmd->add_option("--in", *in, "the chart description (JSON)")->required();
  cmd->add_option("--out", *out, "the PNG to write")->required();
  on_run(cmd, [in, out] {
    save_png(*out, chart_from_file(*in));
    std::cout << "wrote " << *out << "\n";
  });
}

}  // namespace skipzoo::app
