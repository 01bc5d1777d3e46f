#include "plot/plot.h"

#include "engine/json_file.h"

#include <skipzoo/models/weights.h>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace skipzoo::app {

namespace {

const cv::Scalar kWhite(255, 255, 255), kBlack(0, 0, 0), kAxis(60, 60, 60), kGrid(225, 225, 225);
constexpr int kFont = cv::FONT_HERSHEY_SIMPLEX;
constexpr double kSmall = 0.42, kNormal = 0.5, kTitle = 0.62;

cv::Size text_size(const std::string& s, double scale) {
  int baseline = 0;
  return cv::getTextSize(s, kFont, scale, 1, &baseline);
}

// Draws text with its anchor at `at`: h_align -1 left, 0 centre, 1 right; v_align the same
// for top, middle, bottom.
void text(cv::Mat& img, const std::string& s, cv::Point at, double scale, int h_align = -1, int v_align = 1,
          const cv::Scalar& color = kBlack) {
  const auto size = text_size(s, scale);
  const int x = at.x - (h_align + 1) * size.width / 2;
  const int y = at.y + (1 - v_align) * size.height / 2;
  cv::putText(img, s, {x, y}, kFont, scale, color, 1, cv::LINE_AA);
}

// Text turned 90 degrees (reading upwards, or downwards for the right axis), centred at `at`.
void vertical_text(cv::Mat& img, const std::string& s, cv::Point at, double scale, bool upwards) {
  if (s.empty()) return;
  const auto size = text_size(s, scale);
  cv::Mat strip(size.height + 8, size.width + 4, CV_8UC3, kWhite);
  text(strip, s, {2, strip.rows - 4}, scale);
  cv::Mat turned;
  cv::rotate(strip, turned, upwards ? cv::ROTATE_90_COUNTERCLOCKWISE : cv::ROTATE_90_CLOCKWISE);
  cv::Rect where(at.x - turned.cols / 2, at.y - turned.rows / 2, turned.cols, turned.rows);
  where &= cv::Rect(0, 0, img.cols, img.rows);
  turned(cv::Rect(0, 0, where.width, where.height)).copyTo(img(where));
}

void dashed_line(cv::Mat& img, cv::Point a, cv::Point b, const cv::Scalar& color) {
  const double length = std::hypot(b.x - a.x, b.y - a.y);
  for (double t = 0; t < length; t += 12) {
    const double u = std::min(t + 6, length);
    cv::line(img, a + (b - a) * (t / length), a + (b - a) * (u / length), color, 1, cv::LINE_AA);
  }
}

// Greedy word wrap: lines of `text` at most `width` pixels wide (a single longer word keeps a line).
std::vector<std::string> wrap_words(const std::string& text, int width, double scale) {
  std::vector<std::string> lines;
  std::string word, line;
  std::istringstream words(text);
  while (words >> word) {
    const std::string longer = line.empty() ? word : line + " " + word;
    if (!line.empty() && text_size(longer, scale).width > width) {
      lines.push_back(line);
      line = word;
    } else {
      line = longer;
    }
  }
  if (!line.empty() || lines.empty()) lines.push_back(line);
  return lines;
}

std::string format_number(double v, double step) {
  char buf[32];
  if (v == 0) return "0";
  const double magnitude = std::abs(v);
  if (magnitude >= 1e6 || magnitude < 1e-3) {
    std::snprintf(buf, sizeof buf, "%.3g", v);
  } else {
    const int decimals = step > 0 ? std::clamp(static_cast<int>(-std::floor(std::log10(step) + 1e-9)), 0, 6) : 2;
    std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  }
  return buf;
}

// A value axis: its range, ticks and labels, linear or log10.
struct Axis {
  double lo = 0, hi = 1;
  bool log = false;
  std::vector<double> ticks;
  std::vector<std::string> labels;

  double unit(double v) const {  // 0 at lo, 1 at hi
    return log ? (std::log10(v) - std::log10(lo)) / (std::log10(hi) - std::log10(lo)) : (v - lo) / (hi - lo);
  }
  bool usable(double v) const { return std::isfinite(v) && (!log || v > 0); }
  int label_width() const {
    int w = 0;
    for (const auto& l : labels) w = std::max(w, text_size(l, kSmall).width);
    return w;
  }
};

Axis make_axis(const std::vector<double>& values, bool log, bool include_zero) {
  Axis axis;
  axis.log = log;
  double lo = INFINITY, hi = -INFINITY;
  for (double v : values) {
    if (!axis.usable(v)) continue;
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  if (include_zero && !log) {
    lo = std::min(lo, 0.0);
    hi = std::max(hi, 0.0);
  }
  if (log) {
    if (!(lo <= hi)) lo = 1, hi = 10;
    axis.lo = std::pow(10.0, std::floor(std::log10(lo)));
    axis.hi = std::pow(10.0, std::ceil(std::log10(hi)));
    if (axis.hi <= axis.lo) axis.hi = axis.lo * 10;
    const int decades = static_cast<int>(std::round(std::log10(axis.hi / axis.lo)));
    const int every = std::max(1, (decades + 7) / 8);  // at most ~8 labelled decades
    for (int k = 0; k <= decades; k += every) {
      const double t = axis.lo * std::pow(10.0, k);
      const int e = static_cast<int>(std::round(std::log10(t)));
      axis.ticks.push_back(t);
      axis.labels.push_back(std::abs(e) >= 4 ? "1e" + std::to_string(e) : format_number(t, t));
    }
    return axis;
  }
  if (!(lo <= hi)) lo = 0, hi = 1;
  if (lo == hi) {
    const double pad = lo == 0 ? 1 : std::abs(lo) * 0.1;
    lo -= pad;
    hi += pad;
  }
  const double rough = (hi - lo) / 5, base = std::pow(10.0, std::floor(std::log10(rough)));
  const double fraction = rough / base;
  const double step = (fraction < 1.5 ? 1 : fraction < 3.5 ? 2 : fraction < 7.5 ? 5 : 10) * base;
  axis.lo = std::floor(lo / step + 1e-9) * step;
  axis.hi = std::ceil(hi / step - 1e-9) * step;
  for (double t = axis.lo; t <= axis.hi + step * 1e-6; t += step) {
    const double tick = std::abs(t) < step * 1e-9 ? 0.0 : t;
    axis.ticks.push_back(tick);
    axis.labels.push_back(format_number(tick, step));
  }
  return axis;
}

// The frame every chart shares: title, plot rectangle, axes with ticks and grid.
struct Frame {
  cv::Mat img;
  cv::Rect plot;
  int y_of(const Axis& a, double v) const { return plot.y + plot.height - cvRound(a.unit(v) * plot.height); }
  int x_of(const Axis& a, double v) const { return plot.x + cvRound(a.unit(v) * plot.width); }
};

Frame make_frame(int width, int height, const std::string& title, const Axis& y, const Axis* y2,
                 const std::string& y_label, const std::string& y2_label, const std::string& x_label,
                 int x_label_rows) {
  Frame f;
  f.img = cv::Mat(std::max(height, 120), std::max(width, 160), CV_8UC3, kWhite);
  const int left = 14 + y.label_width() + (y_label.empty() ? 0 : 22);
  const int right = y2 ? 14 + y2->label_width() + (y2_label.empty() ? 0 : 22) : 16;
  const int top = title.empty() ? 14 : 38;
  const int bottom = 8 + x_label_rows * 18 + (x_label.empty() ? 0 : 20);
  f.plot = cv::Rect(left, top, std::max(10, f.img.cols - left - right), std::max(10, f.img.rows - top - bottom));
  if (!title.empty()) text(f.img, title, {f.img.cols / 2, 12}, kTitle, 0, -1);
  if (!x_label.empty()) text(f.img, x_label, {f.plot.x + f.plot.width / 2, f.img.rows - 6}, kNormal, 0, 1);
  vertical_text(f.img, y_label, {11, f.plot.y + f.plot.height / 2}, kNormal, true);
  for (size_t i = 0; i < y.ticks.size(); ++i) {
    const int py = f.y_of(y, y.ticks[i]);
    cv::line(f.img, {f.plot.x, py}, {f.plot.x + f.plot.width, py}, kGrid, 1);
    cv::line(f.img, {f.plot.x - 4, py}, {f.plot.x, py}, kAxis, 1);
    text(f.img, y.labels[i], {f.plot.x - 6, py}, kSmall, 1, 0);
  }
  if (y2) {
    const int px = f.plot.x + f.plot.width;
    for (size_t i = 0; i < y2->ticks.size(); ++i) {
      const int py = f.y_of(*y2, y2->ticks[i]);
      cv::line(f.img, {px, py}, {px + 4, py}, kAxis, 1);
      text(f.img, y2->labels[i], {px + 6, py}, kSmall, -1, 0);
    }
    vertical_text(f.img, y2_label, {f.img.cols - 11, f.plot.y + f.plot.height / 2}, kNormal, false);
  }
  cv::rectangle(f.img, f.plot, kAxis, 1);
  return f;
}

// Pixels of a region that carry data: coloured or dark, not the white and grey background.
int inked(const cv::Mat& img, const cv::Rect& r) {
  int n = 0;
  for (int y = r.y; y < r.y + r.height; ++y) {
    for (int x = r.x; x < r.x + r.width; ++x) {
      const auto& p = img.at<cv::Vec3b>(y, x);
      const int spread = std::max({p[0], p[1], p[2]}) - std::min({p[0], p[1], p[2]});
      if (spread > 30 || p[0] < 150) ++n;
    }
  }
  return n;
}

// Legend entries (colour, name) in a box, in the plot corner that hides the least data.
void legend(Frame& f, const std::vector<std::pair<cv::Scalar, std::string>>& entries) {
  if (entries.empty()) return;
  int w = 0;
  for (const auto& e : entries) w = std::max(w, text_size(e.second, kSmall).width);
  const int row = 18;
  const cv::Size size(w + 42, static_cast<int>(entries.size()) * row + 8);
  cv::Rect box;
  int least = -1;
  for (const bool right : {false, true}) {
    for (const bool bottom : {false, true}) {
      const cv::Rect candidate(right ? f.plot.x + f.plot.width - 8 - size.width : f.plot.x + 8,
                               bottom ? f.plot.y + f.plot.height - 8 - size.height : f.plot.y + 8, size.width,
                               size.height);
      const cv::Rect inside = candidate & cv::Rect(0, 0, f.img.cols, f.img.rows);
      const int cost = inked(f.img, inside);
      if (least < 0 || cost < least) least = cost, box = inside;
    }
  }
  cv::rectangle(f.img, box, kWhite, cv::FILLED);
  cv::rectangle(f.img, box, kGrid, 1);
  for (size_t i = 0; i < entries.size(); ++i) {
    const int y = box.y + 4 + static_cast<int>(i) * row + row / 2;
    cv::line(f.img, {box.x + 6, y}, {box.x + 28, y}, entries[i].first, 3, cv::LINE_AA);
    text(f.img, entries[i].second, {box.x + 34, y}, kSmall, -1, 0);
  }
}

double x_at(const Series& s, size_t i) { return s.x.empty() ? static_cast<double>(i) : s.x[i]; }

}  // namespace

cv::Scalar palette_color(size_t i) {
  static const cv::Scalar tab10[] = {{180, 119, 31}, {14, 127, 255}, {44, 160, 44},  {40, 39, 214},  {189, 103, 148},
                                     {75, 86, 140},  {194, 119, 227}, {127, 127, 127}, {34, 189, 188}, {207, 190, 23}};
  return tab10[i % 10];
}

cv::Mat line_chart(const std::vector<Series>& series, const ChartOptions& o) {
  std::vector<double> xs, ys, ys2;
  bool has_right = false;
  for (const auto& s : series) {
    if (!s.x.empty() && s.x.size() != s.y.size()) {
      throw std::invalid_argument("line_chart: series '" + s.name + "' has " + std::to_string(s.x.size()) +
                                  " x values but " + std::to_string(s.y.size()) + " y values");
    }
    has_right |= s.right_axis;
    for (size_t i = 0; i < s.y.size(); ++i) {
      xs.push_back(x_at(s, i));
      (s.right_axis ? ys2 : ys).push_back(s.y[i]);
    }
  }
  const Axis x = make_axis(xs, false, false), y = make_axis(ys, o.log_y, false);
  const Axis y2 = make_axis(ys2, o.log_y2, false);
  Frame f = make_frame(o.width, o.height, o.title, y, has_right ? &y2 : nullptr, o.y_label, o.y2_label, o.x_label, 1);
  for (size_t i = 0; i < x.ticks.size(); ++i) {
    const int px = f.x_of(x, x.ticks[i]);
    cv::line(f.img, {px, f.plot.y}, {px, f.plot.y + f.plot.height}, kGrid, 1);
    cv::line(f.img, {px, f.plot.y + f.plot.height}, {px, f.plot.y + f.plot.height + 4}, kAxis, 1);
    text(f.img, x.labels[i], {px, f.plot.y + f.plot.height + 8}, kSmall, 0, -1);
  }
  cv::rectangle(f.img, f.plot, kAxis, 1);  // grid lines drawn over the frame's edge

  std::vector<std::pair<cv::Scalar, std::string>> entries;
  for (size_t k = 0; k < series.size(); ++k) {
    const auto& s = series[k];
    const Axis& axis = s.right_axis ? y2 : y;
    const cv::Scalar color = s.color.value_or(palette_color(k));
    std::vector<std::optional<cv::Point>> points;
    for (size_t i = 0; i < s.y.size(); ++i) {
      const double vx = x_at(s, i), vy = s.y[i];
      points.push_back(std::isfinite(vx) && axis.usable(vy) ? std::optional<cv::Point>(cv::Point(f.x_of(x, vx), f.y_of(axis, vy)))
                                                            : std::nullopt);
    }
    for (size_t i = 0; i < points.size(); ++i) {
      if (!points[i]) continue;
      const bool joined_before = i > 0 && points[i - 1], joined_after = i + 1 < points.size() && points[i + 1];
      if (joined_after) cv::line(f.img, *points[i], *points[i + 1], color, 2, cv::LINE_AA);
      if (s.markers || (!joined_before && !joined_after)) cv::circle(f.img, *points[i], 3, color, cv::FILLED, cv::LINE_AA);
    }
    if (!s.name.empty()) entries.emplace_back(color, s.name + (has_right && s.right_axis ? " (right axis)" : ""));
  }
  legend(f, entries);
  return f.img;
}

cv::Mat bar_chart(const std::vector<std::string>& labels, const std::vector<std::vector<double>>& groups,
                  const BarChartOptions& o) {
  std::vector<double> values;
  for (size_t g = 0; g < groups.size(); ++g) {
    if (groups[g].size() != labels.size()) {
      throw std::invalid_argument("bar_chart: group " + std::to_string(g) + " has " + std::to_string(groups[g].size()) +
                                  " values for " + std::to_string(labels.size()) + " labels");
    }
    values.insert(values.end(), groups[g].begin(), groups[g].end());
  }
  if (o.reference) values.push_back(*o.reference);
  if (o.value_labels) {  // headroom beyond the longest bars for their labels, on the side they point to
    double lo = 0, hi = 0;
    for (double v : values) {
      if (std::isfinite(v)) lo = std::min(lo, v), hi = std::max(hi, v);
    }
    if (hi > 0) values.push_back(hi + 0.08 * (hi - lo));
    if (lo < 0) values.push_back(lo - 0.08 * (hi - lo));
  }
  const Axis y = make_axis(values, false, true);
  // The plot's width decides how the labels wrap, and their lines decide the plot's height.
  const int plot_width = make_frame(o.width, o.height, "", y, nullptr, o.y_label, "", "", 1).plot.width;
  const double slot = labels.empty() ? 0 : static_cast<double>(plot_width) / static_cast<double>(labels.size());
  std::vector<std::vector<std::string>> lines;
  size_t rows = 1;
  for (const auto& label : labels) {
    lines.push_back(wrap_words(label, static_cast<int>(slot) - 4, kSmall));
    rows = std::max(rows, lines.back().size());
  }
  Frame f = make_frame(o.width, o.height, o.title, y, nullptr, o.y_label, "", o.x_label, static_cast<int>(rows));
  const double bar = groups.empty() ? 0 : slot * 0.8 / static_cast<double>(groups.size());
  const int zero = f.y_of(y, 0.0);
  for (size_t i = 0; i < labels.size(); ++i) {
    const double left = f.plot.x + slot * static_cast<double>(i) + slot * 0.1;
    for (size_t r = 0; r < lines[i].size(); ++r) {
      double scale = kSmall;  // a single word wider than its slot shrinks
      while (scale > 0.3 && text_size(lines[i][r], scale).width > slot - 4) scale -= 0.04;
      text(f.img, lines[i][r], {cvRound(left + slot * 0.4), f.plot.y + f.plot.height + 8 + 18 * static_cast<int>(r)},
           scale, 0, -1);
    }
    for (size_t g = 0; g < groups.size(); ++g) {
      const double v = groups[g][i];
      if (!std::isfinite(v)) continue;
      const int x0 = cvRound(left + bar * static_cast<double>(g)), x1 = cvRound(left + bar * static_cast<double>(g + 1)) - 1;
      const int top = f.y_of(y, v);
      const cv::Scalar color = g < o.colors.size() ? o.colors[g] : palette_color(g);
      cv::rectangle(f.img, cv::Point(x0, std::min(top, zero)), cv::Point(std::max(x0, x1), std::max(top, zero)), color,
                    cv::FILLED);
      if (o.value_labels) {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%.*f", o.decimals, v);
        if (text_size(buf, 0.36).width <= bar + 8) {
          text(f.img, buf, {(x0 + x1) / 2, v >= 0 ? top - 3 : top + 3}, 0.36, 0, v >= 0 ? 1 : -1);
        }
      }
    }
  }
  cv::line(f.img, {f.plot.x, zero}, {f.plot.x + f.plot.width, zero}, kAxis, 1);
  if (o.reference) {
    const int ry = f.y_of(y, *o.reference);
    dashed_line(f.img, {f.plot.x, ry}, {f.plot.x + f.plot.width, ry}, kAxis);
  }
  std::vector<std::pair<cv::Scalar, std::string>> entries;
  for (size_t g = 0; g < o.group_names.size() && g < groups.size(); ++g) {
    entries.emplace_back(g < o.colors.size() ? o.colors[g] : palette_color(g), o.group_names[g]);
  }
  legend(f, entries);
  return f.img;
}

cv::Mat heatmap(const std::vector<std::vector<double>>& matrix, const std::vector<std::string>& row_labels,
                const std::vector<std::string>& col_labels, const HeatmapOptions& o) {
  const size_t rows = matrix.size(), cols = rows ? matrix[0].size() : 0;
  for (const auto& r : matrix) {
    if (r.size() != cols) throw std::invalid_argument("heatmap: rows have different lengths");
  }
  if (row_labels.size() != rows || col_labels.size() != cols) {
    throw std::invalid_argument("heatmap: " + std::to_string(rows) + "x" + std::to_string(cols) + " matrix with " +
                                std::to_string(row_labels.size()) + " row and " + std::to_string(col_labels.size()) +
                                " column labels");
  }
  double lo = INFINITY, hi = -INFINITY;
  for (const auto& r : matrix) {
    for (double v : r) {
      if (std::isfinite(v)) lo = std::min(lo, v), hi = std::max(hi, v);
    }
  }
  lo = o.min.value_or(std::isfinite(lo) ? lo : 0.0);
  hi = o.max.value_or(std::isfinite(hi) ? hi : 1.0);
  auto level = [&](double v) { return hi > lo ? std::clamp((v - lo) / (hi - lo), 0.0, 1.0) : 0.5; };
  auto viridis = [](double unit) {
    cv::Mat in(1, 1, CV_8UC1, cv::Scalar(cvRound(unit * 255))), out;
    cv::applyColorMap(in, out, cv::COLORMAP_VIRIDIS);
    const auto c = out.at<cv::Vec3b>(0, 0);
    return cv::Scalar(c[0], c[1], c[2]);
  };

  int label_w = 0, col_label_h = 0;
  for (const auto& l : row_labels) label_w = std::max(label_w, text_size(l, kSmall).width);
  for (const auto& l : col_labels) col_label_h = std::max(col_label_h, text_size(l, kSmall).width);
  const int cell = std::max(8, o.cell), cw = cell * static_cast<int>(cols), ch = cell * static_cast<int>(rows);
  const int left = 10 + (o.y_label.empty() ? 0 : 24) + label_w + 6;
  const int top = 10 + (o.title.empty() ? 0 : 28) + (o.x_label.empty() ? 0 : 30) + col_label_h + 6;
  const int right = o.colorbar ? 90 : 12;
  cv::Mat img(std::max(top + ch + 12, 60), std::max(left + cw + right, 160), CV_8UC3, kWhite);
  if (!o.title.empty()) text(img, o.title, {img.cols / 2, 10}, kTitle, 0, -1);
  if (!o.x_label.empty()) text(img, o.x_label, {left + cw / 2, top - col_label_h - 18}, kNormal, 0, 1);
  vertical_text(img, o.y_label, {14, top + ch / 2}, kNormal, true);
  if (rows == 0 || cols == 0) text(img, "no data", {img.cols / 2, img.rows / 2}, kNormal, 0, 0);

  for (size_t r = 0; r < rows; ++r) {
    const int y = top + static_cast<int>(r) * cell;
    text(img, row_labels[r], {left - 6, y + cell / 2}, kSmall, 1, 0);
    for (size_t c = 0; c < cols; ++c) {
      const double v = matrix[r][c];
      const cv::Rect box(left + static_cast<int>(c) * cell, y, cell, cell);
      const cv::Scalar fill = std::isfinite(v) ? viridis(level(v)) : cv::Scalar(200, 200, 200);
      cv::rectangle(img, box, fill, cv::FILLED);
      if (!o.show_values || !std::isfinite(v)) continue;
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.*f", o.decimals, v);
      double scale = kSmall;
      while (scale > 0.28 && text_size(buf, scale).width > cell - 4) scale -= 0.03;
      if (text_size(buf, scale).width > cell - 2) continue;
      const double luminance = 0.114 * fill[0] + 0.587 * fill[1] + 0.299 * fill[2];
      text(img, buf, {box.x + cell / 2, box.y + cell / 2}, scale, 0, 0, luminance < 128 ? kWhite : kBlack);
    }
  }
  for (size_t c = 0; c < cols; ++c) {
    vertical_text(img, col_labels[c], {left + static_cast<int>(c) * cell + cell / 2, top - 6 - col_label_h / 2}, kSmall,
                  true);
  }
  if (o.colorbar && ch > 0) {
    const int x = left + cw + 16;
    for (int py = 0; py < ch; ++py) {
      cv::line(img, {x, top + py}, {x + 16, top + py}, viridis(1.0 - static_cast<double>(py) / std::max(1, ch - 1)), 1);
    }
    cv::rectangle(img, cv::Rect(x, top, 17, ch), kAxis, 1);
    text(img, format_number(hi, std::abs(hi - lo) / 10), {x + 20, top}, kSmall, -1, -1);
    text(img, format_number(lo, std::abs(hi - lo) / 10), {x + 20, top + ch}, kSmall, -1, 1);
  }
  return img;
}

void save_png(const std::string& path, const cv::Mat& image) {
  const std::string what = "cannot write PNG '" + path + "': ";
  if (image.empty()) throw std::runtime_error(what + "the image is empty");
  std::vector<uchar> bytes;
  if (!cv::imencode(".png", image, bytes)) throw std::runtime_error(what + "PNG encoding failed");
  write_text(path, std::string(bytes.begin(), bytes.end()));  // "cannot write 'PATH': REASON"
}

}  // namespace skipzoo::app
