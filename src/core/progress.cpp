// Implementation of the progress bar in progress.h.
#include "core/progress.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include "core/seconds.h"

namespace dsla {
namespace {

std::string format_duration(double seconds) {
  if (seconds < 0 || seconds > 1e7) return "--:--";
  auto s = static_cast<int64_t>(seconds + 0.5);
  if (s >= 3600) return fmt::format("{}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60);
  return fmt::format("{:02}:{:02}", s / 60, s % 60);
}

}  // namespace

std::string format_rate(double units_per_second, const std::string& unit) {
  if (units_per_second >= 1.0 || units_per_second <= 0.0)
    return fmt::format("{:.1f} {}/s", units_per_second, unit);
  return fmt::format("{:.1f} s/{}", 1.0 / units_per_second, unit);
}

ProgressBar::ProgressBar(std::string label, int64_t total, std::string unit)
    : label_(std::move(label)),
      unit_(std::move(unit)),
      total_(std::max<int64_t>(total, 1)),
      tty_(::isatty(STDERR_FILENO) == 1),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_) {}

ProgressBar::~ProgressBar() {
  if (!finished_) finish();
}

double ProgressBar::rate() const {
  double secs = seconds_since(start_);
  return secs > 0 ? static_cast<double>(done_) / secs : 0.0;
}

void ProgressBar::advance(int64_t n, const std::string& extra) {
  done_ += n;
  extra_ = extra;
  auto now = std::chrono::steady_clock::now();
  double since = std::chrono::duration<double>(now - last_draw_).count();
  // Redraw at most 10x/s on a terminal, every 5 s in logs.
  if (done_ >= total_) {
    finish();
  } else if (since >= (tty_ ? 0.1 : 5.0)) {
    last_draw_ = now;
    draw(false);
  }
}

void ProgressBar::finish() {
  if (finished_) return;
  finished_ = true;
  draw(true);
}

void ProgressBar::draw(bool final_line) {
  double frac = std::min(1.0, static_cast<double>(done_) / static_cast<double>(total_));
  double r = rate();
  double eta = r > 0 ? static_cast<double>(total_ - done_) / r : -1;
  double elapsed = seconds_since(start_);
  constexpr int kWidth = 24;
  int filled = static_cast<int>(frac * kWidth);
  std::string bar = std::string(filled, '#') + std::string(kWidth - filled, '.');
  std::string line = fmt::format(
      "{} [{}] {:3.0f}% {}/{} {} | {} | {} {}{}", label_, bar, frac * 100, done_, total_, unit_,
      format_rate(r, unit_), final_line ? "took" : "eta",
      format_duration(final_line ? elapsed : eta), extra_.empty() ? "" : " | " + extra_);
  std::fprintf(stderr, tty_ ? "\r\033[K%s%s" : "%s%s", line.c_str(),
               (final_line || !tty_) ? "\n" : "");
  std::fflush(stderr);
}

}  // namespace dsla
