// PNG line and bar charts for reports, drawn by the gnuplot program (Debian package gnuplot-nox).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace dsla::report {

/// One curve of a line plot: points (x[i], y[i]); non-finite values leave a gap.
struct Series {
  std::string label;
  std::vector<double> x, y;
};

/// True when the gnuplot program is on PATH.
bool plotting_available();

/// Draws `series` as lines with points into `png` (900x540), y on a log scale when `log_y`.
/// The file is written atomically (a temp file beside it, then renamed). Throws dsla::Error when
/// the directory of `png` does not exist, a series is empty or its x and y differ in length,
/// gnuplot is not installed, or gnuplot fails (quoting its stderr).
void line_plot(const std::filesystem::path& png, const std::string& title,
               const std::string& xlabel, const std::string& ylabel,
               const std::vector<Series>& series, bool log_y = false);

/// Draws one bar per category into `png` (900x540), same file handling and errors as line_plot.
void bar_plot(const std::filesystem::path& png, const std::string& title, const std::string& ylabel,
              const std::vector<std::string>& categories, const std::vector<double>& values);

}  // namespace dsla::report
