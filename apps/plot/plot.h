#pragma once
// Charts drawn with OpenCV, for the figures the apps write next to their results: training
// curves (line_chart, with an optional secondary y axis), benchmark ratios (bar_chart) and
// confusion matrices (heatmap). Each returns a BGR cv::Mat; save_png writes it.
#include <opencv2/core.hpp>

#include <optional>
#include <string>
#include <vector>

namespace skipzoo::app {

// The i-th colour of the default palette (matplotlib's "tab10", BGR), cycling.
cv::Scalar palette_color(size_t i);

struct Series {
  std::string name;                 // legend entry; unnamed series get none
  std::vector<double> x, y;         // x empty: 0, 1, 2, ...; non-finite points break the line
  bool right_axis = false;          // plotted against the secondary (right) y axis
  std::optional<cv::Scalar> color;  // default: palette_color(index of the series)
  bool markers = false;             // a dot on every point (isolated points always get one)
};

struct ChartOptions {
  std::string title, x_label, y_label, y2_label;  // y2: the right axis, drawn when a series uses it
  int width = 900, height = 540;
  bool log_y = false, log_y2 = false;  // log10 scale; non-positive values are skipped
};

// Axes with "nice" ticks (1, 2, 5 x 10^k; decades on log axes), a light grid and a legend.
// Empty, constant and non-finite data draw an empty or flat chart, never fail.
cv::Mat line_chart(const std::vector<Series>& series, const ChartOptions& options = {});

struct BarChartOptions {
  std::string title, x_label, y_label;
  std::vector<std::string> group_names;  // legend, one per group (empty: no legend)
  std::vector<cv::Scalar> colors;        // one per group (default: the palette)
  int width = 900, height = 540;
  std::optional<double> reference;       // dashed horizontal line, e.g. 1.0 for ratios
  bool value_labels = true;              // each bar's value above (or below) it
  int decimals = 2;
};

// One cluster of bars per label; groups[g][i] is group g's value for labels[i]. The y axis
// always includes 0. Throws std::invalid_argument when a group's length differs from labels'.
cv::Mat bar_chart(const std::vector<std::string>& labels, const std::vector<std::vector<double>>& groups,
                  const BarChartOptions& options = {});

struct HeatmapOptions {
  std::string title, x_label, y_label;  // e.g. "predicted", "true"
  int cell = 44;                        // cell side in pixels
  bool show_values = true;              // the value in each cell (shrunk to fit, or left out)
  int decimals = 0;
  bool colorbar = true;
  std::optional<double> min, max;       // colour range (default: the data's)
};

// matrix[r][c] coloured with viridis (low: dark blue, high: yellow); NaN cells are grey.
// Throws std::invalid_argument when rows are ragged or the label counts do not match.
cv::Mat heatmap(const std::vector<std::vector<double>>& matrix, const std::vector<std::string>& row_labels,
                const std::vector<std::string>& col_labels, const HeatmapOptions& options = {});

// Writes a PNG (through a temporary file, renamed into place). Throws std::runtime_error
// naming the path and the reason when it cannot.
void save_png(const std::string& path, const cv::Mat& image);

}  // namespace skipzoo::app
