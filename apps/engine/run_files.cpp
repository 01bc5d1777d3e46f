#include "engine/run_files.h"

#include <skipzoo/models/weights.h>

#include "plot/plot.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <regex>
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

RunLock::RunLock(const std::string& run_dir) {
  const auto path = (fs::path(run_dir) / ".lock").string();
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) throw std::runtime_error("cannot create '" + path + "': " + std::strerror(errno));
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    char owner[32] = {0};
    const auto n = ::pread(fd_, owner, sizeof owner - 1, 0);
    ::close(fd_);
    fd_ = -1;
    if (err != EWOULDBLOCK) throw std::runtime_error("cannot lock '" + path + "': " + std::strerror(err));
    const std::string pid = n > 0 ? std::string(owner, static_cast<size_t>(n)) : "unknown";
    throw std::runtime_error("'" + run_dir + "' is in use by another skipzoo training (process " + pid +
                             "): wait for it to end, or choose another --out");
  }
  const auto pid = std::to_string(::getpid());
  if (::ftruncate(fd_, 0) != 0 || ::pwrite(fd_, pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size())) {
    // The lock holds without the id; only the message of a refused second run would lack it.
  }
}

RunLock::~RunLock() {
  if (fd_ >= 0) ::close(fd_);  // closing the descriptor releases the flock
}

std::uintmax_t remove_stale_temporaries(const std::string& run_dir) {
  static const std::regex temporary(R"(.+\.tmp([0-9]+)_[0-9]+)");
  std::uintmax_t freed = 0;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(run_dir, ec)) {
    std::smatch m;
    const auto name = entry.path().filename().string();
    if (!entry.is_regular_file(ec) || !std::regex_match(name, m, temporary)) continue;
    const auto pid = static_cast<pid_t>(std::stoll(m[1]));
    if (pid == ::getpid() || ::kill(pid, 0) == 0 || errno == EPERM) continue;  // a live writer's file
    const auto size = entry.file_size(ec);
    if (fs::remove(entry.path(), ec)) freed += ec ? 0 : size;
  }
  return freed;
}

}  // namespace skipzoo::app
