// Tests of dsla_report: line and bar charts come out as PNG files; errors name the problem.
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <cmath>
#include <csignal>
#include <limits>

#include "core/error.h"
#include "report/plot.h"
#include "support/test_paths.h"

namespace dsla::report {
namespace {

namespace fs = std::filesystem;

void expect_png(const fs::path& png) {
  ASSERT_TRUE(fs::is_regular_file(png)) << png;
  EXPECT_GT(fs::file_size(png), 1000u) << png;
  const std::string bytes = testing::read_file(png);
  EXPECT_EQ(bytes.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8)) << png;
  // Nothing left behind but the image.
  int entries = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(png.parent_path())) ++entries;
  EXPECT_EQ(entries, 1) << png.parent_path();
}

class Plot : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!plotting_available()) GTEST_SKIP() << "gnuplot is not installed";
    dir_ = testing::make_temp_dir("plot");
  }
  void TearDown() override {
    if (!dir_.empty()) fs::remove_all(dir_);
  }
  fs::path dir_;
};

TEST_F(Plot, LinePlotWritesPng) {
  Series a{"loss \"student\" layer_1", {0, 1, 2, 3, 4}, {4.0, 2.5, 1.7, 1.2, 1.0}};
  Series b{"teacher\\baseline", {0, 2, 4}, {1.1, std::numeric_limits<double>::quiet_NaN(), 0.9}};
  const fs::path png = dir_ / "loss.png";
  line_plot(png, "Distillation \"loss\"", "step", "MSE", {a, b}, /*log_y=*/true);
  expect_png(png);
}

TEST_F(Plot, BarPlotWritesPngAndReplacesExistingFile) {
  const fs::path png = dir_ / "bars.png";
  bar_plot(png, "Perplexity", "ppl", {"softmax", "dsla 50%", "it's \"all\""}, {12.5, 14.0, -1.0});
  expect_png(png);
  const auto first_size = fs::file_size(png);
  bar_plot(png, "100% of layers", "ppl", {"a"}, {3.0});
  expect_png(png);
  EXPECT_NE(fs::file_size(png), first_size);
}

TEST_F(Plot, MissingDirectoryIsAClearError) {
  const fs::path png = dir_ / "no" / "such" / "dir" / "x.png";
  try {
    line_plot(png, "t", "x", "y", {Series{"s", {0, 1}, {1, 2}}});
    FAIL() << "no error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(png.string()), std::string::npos) << msg;
    EXPECT_NE(msg.find("does not exist"), std::string::npos) << msg;
  }
  EXPECT_FALSE(fs::exists(dir_ / "no"));
}

TEST_F(Plot, BadSeriesIsAnError) {
  EXPECT_THROW(line_plot(dir_ / "a.png", "t", "x", "y", {}), Error);
  EXPECT_THROW(line_plot(dir_ / "b.png", "t", "x", "y", {Series{"s", {0, 1}, {1}}}), Error);
  EXPECT_THROW(bar_plot(dir_ / "c.png", "t", "y", {"a", "b"}, {1}), Error);
}

TEST_F(Plot, GnuplotFailureQuotesItsMessage) {
  // Every y value is non-positive on a log scale: gnuplot refuses, and its words come back.
  try {
    line_plot(dir_ / "log.png", "t", "x", "y", {Series{"s", {0, 1}, {-1, 0}}}, /*log_y=*/true);
    FAIL() << "no error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("gnuplot failed"), std::string::npos) << msg;
  }
  EXPECT_TRUE(fs::is_empty(dir_));
}

TEST_F(Plot, ImageCutShortByAFullDiskIsAClearError) {
  // A file-size limit of 1 KiB (SIGXFSZ ignored, so writes fail with EFBIG) cuts the image the way
  // a disk filling up does: gnuplot still exits 0 and leaves a truncated PNG, which used to be
  // moved into place as the plot.
  struct rlimit old {};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &old), 0);
  struct rlimit small = old;
  small.rlim_cur = 1024;
  auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
  std::string msg;
  try {
    line_plot(dir_ / "cut.png", "t", "x", "y", {Series{"s", {0, 1, 2}, {1, 2, 3}}});
  } catch (const Error& e) {
    msg = e.what();
  }
  ::setrlimit(RLIMIT_FSIZE, &old);
  std::signal(SIGXFSZ, old_handler);
  EXPECT_NE(msg.find("could not write a complete image"), std::string::npos) << msg;
  EXPECT_TRUE(fs::is_empty(dir_));
}

}  // namespace
}  // namespace dsla::report
