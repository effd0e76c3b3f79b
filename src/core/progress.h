// A terminal progress bar with rate and ETA, written to stderr (plain lines when stderr is not a
// terminal).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace dsla {

/// A rate as people read it: "2.5 tok/s" at one unit a second or more, "12.3 s/step" below.
std::string format_rate(double units_per_second, const std::string& unit);

class ProgressBar {
 public:
  /// `total` units of work named `unit` (e.g. "tok"); `label` prefixes the bar.
  ProgressBar(std::string label, int64_t total, std::string unit);
  ~ProgressBar();
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;

  /// Adds `n` done units; `extra` (e.g. "loss 2.31") is shown after the rate.
  void advance(int64_t n, const std::string& extra = "");
  /// Ends the bar with a final line.
  void finish();
  /// Units per second since construction.
  double rate() const;

 private:
  void draw(bool final_line);

  std::string label_, unit_, extra_;
  int64_t total_, done_ = 0;
  bool tty_, finished_ = false;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

}  // namespace dsla
