// Line and bar charts: builds a gnuplot script with inline data blocks and runs gnuplot on it.
#include "report/plot.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>

#include "core/error.h"

extern char** environ;

namespace fs = std::filesystem;

namespace dsla::report {
namespace {

constexpr const char* kProgram = "gnuplot";
constexpr const char* kNotFound = "gnuplot not found: install gnuplot-nox (tools/setup.sh does)";

/// `s` as a gnuplot double-quoted string literal.
std::string gp_string(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c != '\r') {
      out += c;
    }
  }
  return out + "\"";
}

/// `s` as a gnuplot tic label: quoted, and '%' doubled (tic labels are format strings).
std::string tic_label(const std::string& s) {
  std::string escaped;
  for (char c : s) {
    escaped += c;
    if (c == '%') escaped += '%';
  }
  return gp_string(escaped);
}

std::string number(double v) {
  return std::isfinite(v) ? fmt::format("{:.17g}", v) : std::string("NaN");
}

/// Removes a file when it goes out of scope (best effort).
struct TempFile {
  fs::path path;
  ~TempFile() {
    std::error_code ec;
    fs::remove(path, ec);
  }
};

/// Whether `path` holds a whole PNG: the signature first and the IEND chunk last. A disk that fills
/// up while gnuplot writes leaves a truncated file, and gnuplot still exits 0.
bool is_complete_png(const fs::path& path) {
  static const std::string kSignature("\x89PNG\r\n\x1a\n", 8);
  static const std::string kEnd("\0\0\0\0IEND\xae\x42\x60\x82", 12);
  std::ifstream f(path, std::ios::binary);
  std::string head(8, '\0'), tail(12, '\0');
  if (!f.read(head.data(), 8) || head != kSignature) return false;
  if (!f.seekg(-12, std::ios::end) || !f.read(tail.data(), 12)) return false;
  return tail == kEnd;
}

std::string unique_suffix() {
  return fmt::format("{}-{:x}", ::getpid(), std::random_device{}());
}

/// Runs `gnuplot script`, stdout discarded; returns the exit status and stderr.
std::pair<int, std::string> run_gnuplot(const fs::path& script) {
  int err_pipe[2];
  DSLA_CHECK(::pipe(err_pipe) == 0, "plot: cannot create a pipe: {}", std::strerror(errno));
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, err_pipe[1], STDERR_FILENO);
  posix_spawn_file_actions_addclose(&actions, err_pipe[0]);
  posix_spawn_file_actions_addclose(&actions, err_pipe[1]);

  std::string program = kProgram;
  std::string script_arg = script.string();
  char* argv[] = {program.data(), script_arg.data(), nullptr};
  pid_t pid = 0;
  const int rc = ::posix_spawnp(&pid, kProgram, &actions, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(err_pipe[1]);
  if (rc != 0) {
    ::close(err_pipe[0]);
    if (rc == ENOENT) DSLA_FAIL("{}", kNotFound);
    DSLA_FAIL("plot: cannot run gnuplot: {}", std::strerror(rc));
  }

  std::string err;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(err_pipe[0], buf, sizeof buf);
    if (n > 0) {
      err.append(buf, static_cast<size_t>(n));
    } else if (n == 0 || errno != EINTR) {
      break;
    }
  }
  ::close(err_pipe[0]);

  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) DSLA_FAIL("plot: waiting for gnuplot failed: {}", std::strerror(errno));
  }
  // posix_spawnp reports a missing program as exit status 127 on some C libraries.
  if (WIFEXITED(status) && WEXITSTATUS(status) == 127 && err.empty()) DSLA_FAIL("{}", kNotFound);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), err};
}

/// Writes the PNG `png` from `body` (everything after `set terminal` / `set output`): pngcairo,
/// or the libgd png terminal when this gnuplot has no cairo.
void render(const fs::path& png, const std::string& body) {
  const fs::path dir = png.has_parent_path() ? png.parent_path() : fs::path(".");
  std::error_code ec;
  DSLA_CHECK(fs::is_directory(dir, ec), "plot {}: the directory {} does not exist", png.string(),
             dir.string());

  const std::string suffix = unique_suffix();
  TempFile out{dir / fmt::format(".{}.tmp-{}", png.filename().string(), suffix)};
  TempFile script{fs::temp_directory_path() / fmt::format("dsla-plot-{}.gp", suffix)};

  for (const char* terminal :
       {"pngcairo noenhanced size 900,540 font \"Sans,11\"", "png noenhanced size 900,540"}) {
    {
      std::ofstream f(script.path, std::ios::binary | std::ios::trunc);
      f << "set terminal " << terminal << "\n"
        << "set output " << gp_string(out.path.string()) << "\n"
        << body << "unset output\n";
      DSLA_CHECK(f.good(), "plot {}: cannot write the gnuplot script {}", png.string(),
                 script.path.string());
    }
    const auto [status, err] = run_gnuplot(script.path);
    if (status == 0 && is_complete_png(out.path)) {
      fs::rename(out.path, png, ec);
      DSLA_CHECK(!ec, "plot {}: cannot move the finished image into place: {}", png.string(),
                 ec.message());
      return;
    }
    const bool no_cairo = err.find("terminal type") != std::string::npos &&
                          std::string(terminal).rfind("pngcairo", 0) == 0;
    if (no_cairo) {
      std::fprintf(stderr, "[plot] gnuplot has no pngcairo terminal; using the png terminal\n");
      continue;
    }
    if (status == 0) {  // gnuplot says nothing when the image cannot be written
      fs::space_info space = fs::space(dir, ec);
      DSLA_FAIL("plot {}: gnuplot could not write a complete image into {} ({} bytes free{})",
                png.string(), dir.string(), ec ? 0 : space.available,
                !ec && space.available < (1 << 20) ? ": the disk is full" : "");
    }
    DSLA_FAIL("plot {}: gnuplot failed (exit {}): {}", png.string(), status,
              err.empty() ? std::string("no message") : err);
  }
}

std::string common_header(const std::string& title, const std::string& ylabel) {
  return fmt::format("set title {}\nset ylabel {}\nset grid\nset key top right\n", gp_string(title),
                     gp_string(ylabel));
}

}  // namespace

bool plotting_available() {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    const fs::path candidate = fs::path(dir.empty() ? "." : dir) / kProgram;
    if (::access(candidate.c_str(), X_OK) == 0) return true;
  }
  return false;
}

void line_plot(const fs::path& png, const std::string& title, const std::string& xlabel,
               const std::string& ylabel, const std::vector<Series>& series, bool log_y) {
  DSLA_CHECK(!series.empty(), "plot {}: no series to draw", png.string());
  std::string body = common_header(title, ylabel);
  body += fmt::format("set xlabel {}\n", gp_string(xlabel));
  if (log_y) body += "set logscale y\n";
  std::string plot = "plot ";
  for (size_t i = 0; i < series.size(); ++i) {
    const Series& s = series[i];
    DSLA_CHECK(s.x.size() == s.y.size(), "plot {}: series '{}' has {} x values but {} y values",
               png.string(), s.label, s.x.size(), s.y.size());
    DSLA_CHECK(!s.x.empty(), "plot {}: series '{}' has no points", png.string(), s.label);
    body += fmt::format("$d{} << EOD\n", i);
    for (size_t k = 0; k < s.x.size(); ++k) body += number(s.x[k]) + " " + number(s.y[k]) + "\n";
    body += "EOD\n";
    plot += fmt::format("{}$d{} using 1:2 with linespoints pt 7 ps 0.6 lw 2 title {}",
                        i == 0 ? "" : ", ", i, gp_string(s.label));
  }
  render(png, body + plot + "\n");
}

void bar_plot(const fs::path& png, const std::string& title, const std::string& ylabel,
              const std::vector<std::string>& categories, const std::vector<double>& values) {
  DSLA_CHECK(!categories.empty(), "plot {}: no bars to draw", png.string());
  DSLA_CHECK(categories.size() == values.size(), "plot {}: {} categories but {} values",
             png.string(), categories.size(), values.size());
  std::string body = common_header(title, ylabel);
  body += "set style fill solid 0.8 border -1\nset boxwidth 0.7\nunset key\n";
  body += fmt::format("set xrange [-0.6:{}]\n", static_cast<double>(categories.size()) - 0.4);
  body += "set yrange [*<0:0<*]\nset offsets 0, 0, graph 0.06, 0\n";  // autoscaled, with zero
  body += "set xtics (";
  for (size_t i = 0; i < categories.size(); ++i) {
    body += fmt::format("{}{} {}", i == 0 ? "" : ", ", tic_label(categories[i]), i);
  }
  body += ")";
  if (categories.size() > 6) body += " rotate by -30";
  body += "\n$bars << EOD\n";
  for (size_t i = 0; i < values.size(); ++i) body += fmt::format("{} {}\n", i, number(values[i]));
  body += "EOD\nplot $bars using 1:2 with boxes lc rgb \"#4477aa\"\n";
  render(png, body);
}

}  // namespace dsla::report
