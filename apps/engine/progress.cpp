#include "engine/progress.h"

#include <unistd.h>

#include <cctype>
#include <cmath>
#include <cstdio>
#include <stdexcept>
#include <ostream>

namespace skipzoo::app {

std::string format_duration(double seconds) {
  if (!(seconds >= 0) || seconds > 1e7) return "--:--";
  const auto s = static_cast<int64_t>(seconds + 0.5);
  char buf[32];
  if (s >= 3600) {
    std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", static_cast<long long>(s / 3600),
                  static_cast<long long>(s / 60 % 60), static_cast<long long>(s % 60));
  } else {
    std::snprintf(buf, sizeof buf, "%02lld:%02lld", static_cast<long long>(s / 60), static_cast<long long>(s % 60));
  }
  return buf;
}

double parse_duration(const std::string& text) {
  const auto bad = [&] {
    return std::invalid_argument("'" + text + "' is not a duration (expected e.g. 90s, 10m, 1h30m, or 600 seconds)");
  };
  double total = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t start = pos;
    while (pos < text.size() && (std::isdigit(static_cast<unsigned char>(text[pos])) || text[pos] == '.')) ++pos;
    if (pos == start) throw bad();
    double value = 0;
    try {
      size_t used = 0;
      value = std::stod(text.substr(start, pos - start), &used);
      if (used != pos - start) throw bad();
    } catch (const std::logic_error&) {
      throw bad();
    }
    if (pos == text.size()) {
      if (start != 0) throw bad();  // "1h30": a bare number only stands alone
      total = value;
      break;
    }
    const char unit = text[pos++];
    const double scale = unit == 's' ? 1 : unit == 'm' ? 60 : unit == 'h' ? 3600 : unit == 'd' ? 86400 : 0;
    if (scale == 0) throw bad();
    total += value * scale;
  }
  if (!(total > 0) || !std::isfinite(total)) throw bad();
  return total;
}

bool stdout_is_tty() { return ::isatty(STDOUT_FILENO) == 1; }

Progress::Progress(std::string label, int64_t total, std::ostream& out, bool tty)
    : label_(std::move(label)), total_(total), out_(out), tty_(tty), start_(std::chrono::steady_clock::now()),
      last_draw_(start_) {}

double Progress::elapsed() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

void Progress::update(int64_t done, const std::string& stats) {
  const auto now = std::chrono::steady_clock::now();
  const double since_draw = std::chrono::duration<double>(now - last_draw_).count();
  // Redraw a few times a second on a terminal; write a heartbeat line every 30 s otherwise.
  if (since_draw < (tty_ ? 0.2 : 30.0) && done < total_) return;
  last_draw_ = now;
  const double t = elapsed();
  const double eta = done > 0 ? t / done * (total_ - done) : -1;
  if (tty_) {
    constexpr int width = 24;
    const int filled = total_ > 0 ? static_cast<int>(width * done / total_) : 0;
    out_ << "\r\033[K" << label_ << " [" << std::string(filled, '#') << std::string(width - filled, '.') << "] " << done
         << "/" << total_ << "  " << stats << "  ETA " << format_duration(eta) << std::flush;
  } else if (done < total_) {
    out_ << label_ << " " << done << "/" << total_ << "  " << stats << "  ETA " << format_duration(eta) << "\n"
         << std::flush;
  }
}

void Progress::finish(const std::string& stats) {
  if (tty_) out_ << "\r\033[K";
  out_ << label_ << " " << stats << "  (" << format_duration(elapsed()) << ")\n" << std::flush;
}

}  // namespace skipzoo::app
