// The shared plotting module: sizes, where series and bars land, degenerate data, PNG files.
#include <gtest/gtest.h>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <cmath>
#include <filesystem>

#include <unistd.h>

#include "plot/plot.h"

namespace app = skipzoo::app;
namespace fs = std::filesystem;

namespace {

const cv::Scalar kRed(0, 0, 255), kGreen(0, 200, 0);

// Pixels within a small distance of `color`.
cv::Mat mask_of(const cv::Mat& img, const cv::Scalar& color, int tolerance = 30) {
  cv::Mat mask;
  cv::inRange(img, color - cv::Scalar::all(tolerance), color + cv::Scalar::all(tolerance), mask);
  return mask;
}

// Mean row of the masked pixels in column range [x0, x1), or -1 when there are none.
double mean_row(const cv::Mat& mask, int x0, int x1) {
  double sum = 0;
  int n = 0;
  for (int y = 0; y < mask.rows; ++y) {
    for (int x = x0; x < x1; ++x) {
      if (mask.at<uchar>(y, x)) sum += y, ++n;
    }
  }
  return n ? sum / n : -1;
}

cv::Rect extent(const cv::Mat& mask) {
  std::vector<cv::Point> points;
  cv::findNonZero(mask, points);
  return points.empty() ? cv::Rect() : cv::boundingRect(points);
}

app::Series line(std::vector<double> x, std::vector<double> y, cv::Scalar color) {
  app::Series s;
  s.x = std::move(x);
  s.y = std::move(y);
  s.color = color;
  return s;
}

TEST(Plot, LineChartSizeAndRisingSeries) {
  app::ChartOptions o;
  o.width = 640;
  o.height = 400;
  o.title = "rising";
  o.x_label = "epoch";
  o.y_label = "loss";
  const auto img = app::line_chart({line({0, 10}, {0, 10}, kRed)}, o);
  EXPECT_EQ(img.size(), cv::Size(640, 400));
  EXPECT_EQ(img.type(), CV_8UC3);
  const auto mask = mask_of(img, kRed);
  const auto box = extent(mask);
  ASSERT_GT(box.width, 400);  // spans most of the width
  ASSERT_GT(box.height, 250);
  const double left = mean_row(mask, box.x, box.x + 20), right = mean_row(mask, box.x + box.width - 20, box.x + box.width);
  EXPECT_GT(left, right + 200);  // higher values are drawn higher up
}

TEST(Plot, LegendHidesNoData) {
  // The legend goes to the emptiest corner, here not the top-left one the line starts in.
  auto named = line({0, 1}, {10, 0}, kRed), unnamed = named;
  named.name = "falling";
  const int with_legend = cv::countNonZero(mask_of(app::line_chart({named}), kRed));
  const int without = cv::countNonZero(mask_of(app::line_chart({unnamed}), kRed));
  EXPECT_GE(with_legend, without);  // every pixel of the line, plus the legend's sample
}

TEST(Plot, LogScaleMakesExponentialsStraight) {
  app::ChartOptions o;
  o.log_y = true;
  const auto mask = mask_of(app::line_chart({line({0, 1, 2, 3}, {1, 10, 100, 1000}, kRed)}, o), kRed);
  const auto box = extent(mask);
  const int third = box.width / 3;
  const double a = mean_row(mask, box.x, box.x + 3), b = mean_row(mask, box.x + third - 1, box.x + third + 2),
               c = mean_row(mask, box.x + 2 * third - 1, box.x + 2 * third + 2);
  EXPECT_NEAR(a - b, b - c, 4.0);  // equal steps per decade
}

TEST(Plot, SecondaryAxisScalesItsSeriesSeparately) {
  auto small = line({0, 1}, {0, 1}, kRed);
  auto large = line({0, 1}, {1000, 0}, kGreen);  // falling, so the lines only cross
  large.right_axis = true;
  app::ChartOptions o;
  o.y2_label = "large";
  const auto img = app::line_chart({small, large}, o);
  const auto a = extent(mask_of(img, kRed)), b = extent(mask_of(img, kGreen));
  EXPECT_GT(a.height, 300);
  EXPECT_NEAR(a.height, b.height, 6);  // without its own axis the small one would be flat
}

TEST(Plot, DegenerateDataDrawsWithoutFailing) {
  const double nan = std::nan(""), inf = INFINITY;
  app::ChartOptions log;
  log.log_y = true;
  for (const auto& series : std::vector<std::vector<app::Series>>{
           {},
           {line({}, {}, kRed)},
           {line({}, {5, 5, 5}, kRed)},
           {line({0, 1, 2, 3}, {1, nan, inf, 2}, kRed)},
           {line({}, {nan, nan}, kRed)},
           {line({3}, {7}, kRed)}}) {
    for (const auto& o : {app::ChartOptions{}, log}) {
      const auto img = app::line_chart(series, o);
      EXPECT_EQ(img.size(), cv::Size(900, 540));
    }
  }
  // A single point still shows, as a dot.
  EXPECT_GT(cv::countNonZero(mask_of(app::line_chart({line({3}, {7}, kRed)}), kRed)), 10);
  // Constant data: a flat line in the middle, not at an edge.
  const auto flat = extent(mask_of(app::line_chart({line({}, {5, 5, 5}, kRed)}), kRed));
  EXPECT_LE(flat.height, 4);
  EXPECT_NEAR(flat.y, 270, 60);
  EXPECT_THROW(app::line_chart({line({1, 2}, {1}, kRed)}), std::invalid_argument);
}

TEST(Plot, BarHeightsAreProportional) {
  app::BarChartOptions o;
  o.colors = {kRed};
  o.value_labels = false;
  const auto img = app::bar_chart({"a", "b", "c"}, {{1, 2, std::nan("")}}, o);
  EXPECT_EQ(img.size(), cv::Size(900, 540));
  const auto mask = mask_of(img, kRed, 5);
  std::vector<cv::Rect> bars;
  std::vector<std::vector<cv::Point>> contours;
  cv::findContours(mask, contours, cv::RETR_EXTERNAL, cv::CHAIN_APPROX_SIMPLE);
  for (const auto& c : contours) bars.push_back(cv::boundingRect(c));
  ASSERT_EQ(bars.size(), 2u);  // the NaN bar is left out
  std::sort(bars.begin(), bars.end(), [](auto& p, auto& q) { return p.x < q.x; });
  EXPECT_EQ(bars[0].y + bars[0].height, bars[1].y + bars[1].height);  // both stand on zero
  EXPECT_NEAR(bars[1].height, 2.0 * bars[0].height, 2.0);
  EXPECT_THROW(app::bar_chart({"a"}, {{1, 2}}), std::invalid_argument);
  EXPECT_EQ(app::bar_chart({}, {}).size(), cv::Size(900, 540));
}

TEST(Plot, BarLabelsWrapInsideTheirSlotsAndPositiveBarsStandOnTheFrame) {
  app::BarChartOptions o;
  o.colors = {kRed};
  const std::vector<std::string> labels(12, "infer resnet50 optimized vs py optimized");
  const auto img = app::bar_chart(labels, {std::vector<double>(12, 1.5)}, o);
  // The frame: the outermost rows and columns that are mostly axis colour.
  const cv::Mat axis = mask_of(img, cv::Scalar(60, 60, 60), 3);
  int top = -1, bottom = -1, left = -1, right = -1;
  for (int y = 0; y < img.rows; ++y)
    if (cv::countNonZero(axis.row(y)) > img.cols / 2) (top < 0 ? top : bottom) = y;
  for (int x = 0; x < img.cols; ++x)
    if (cv::countNonZero(axis.col(x)) > img.rows / 2) (left < 0 ? left : right) = x;
  ASSERT_GT(top, 0);
  ASSERT_GT(bottom, top);
  ASSERT_GT(right, left);
  // All values positive: the axis starts at 0, so the bars stand on the frame's bottom line.
  const auto bars = extent(mask_of(img, kRed, 5));
  EXPECT_NEAR(bars.y + bars.height, bottom, 2);
  // Each label wraps inside its slot: no text crosses a boundary between two slots.
  const double slot = (right - left) / 12.0;
  cv::Mat gray;
  cv::cvtColor(img.rowRange(bottom + 2, img.rows), gray, cv::COLOR_BGR2GRAY);
  int text_pixels = 0;
  for (int k = 1; k < 12; ++k) {
    const int x = left + static_cast<int>(std::lround(slot * k));
    EXPECT_EQ(cv::countNonZero(gray.col(x) < 160), 0) << "text across the boundary at x = " << x;
  }
  for (int k = 0; k < 12; ++k) text_pixels += cv::countNonZero(gray.col(left + static_cast<int>(slot * (k + 0.5))) < 160);
  EXPECT_GT(text_pixels, 12 * 3 * 2);  // the labels are there, on several lines
}

TEST(Plot, HeatmapColoursFollowValues) {
  app::HeatmapOptions o;
  o.show_values = false;
  o.colorbar = false;
  o.cell = 40;
  const auto img = app::heatmap({{0, 1}, {1, 0}}, {"r0", "r1"}, {"c0", "c1"}, o);
  // Viridis: the low end is dark, the high end bright yellow (BGR ~ (36, 231, 253)).
  const auto high = mask_of(img, cv::Scalar(36, 231, 253), 20);
  EXPECT_EQ(cv::countNonZero(high), 2 * 40 * 40);
  const auto box = extent(mask_of(img, cv::Scalar(84, 1, 68), 20) | high);  // the whole grid
  ASSERT_EQ(box.size(), cv::Size(80, 80));
  EXPECT_TRUE(high.at<uchar>(box.y + 10, box.x + 60));   // row 0, column 1
  EXPECT_TRUE(high.at<uchar>(box.y + 60, box.x + 10));   // row 1, column 0
  EXPECT_FALSE(high.at<uchar>(box.y + 10, box.x + 10));  // row 0, column 0
  // With values, colour bar and NaN cells it still draws; mismatched labels are errors.
  EXPECT_FALSE(app::heatmap({{1, std::nan("")}, {123456, 0}}, {"a", "b"}, {"c", "d"}).empty());
  EXPECT_FALSE(app::heatmap({}, {}, {}).empty());
  EXPECT_THROW(app::heatmap({{1, 2}}, {"a"}, {"c"}), std::invalid_argument);
  EXPECT_THROW(app::heatmap({{1, 2}, {3}}, {"a", "b"}, {"c", "d"}), std::invalid_argument);
}

TEST(Plot, SavePngWritesAReadableFileOrExplains) {
  const auto dir = fs::temp_directory_path() / ("skipzoo_plot_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const auto path = (dir / "chart.png").string();
  app::save_png(path, app::line_chart({line({0, 1}, {0, 1}, kRed)}));
  const auto back = cv::imread(path);
  EXPECT_EQ(back.size(), cv::Size(900, 540));
  // A path below a regular file cannot be created.
  try {
    app::save_png(path + "/inside.png", back);
    FAIL() << "no error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("cannot write '" + path + "/inside.png': cannot create its folder"),
              std::string::npos)
        << e.what();
  }
  EXPECT_THROW(app::save_png((dir / "empty.png").string(), cv::Mat()), std::runtime_error);
  fs::remove_all(dir);
}

}  // namespace
