// Implementation of the path resolution in paths.h.
#include "core/paths.h"

#include <unistd.h>

#include <cstdlib>

#include "core/error.h"

namespace fs = std::filesystem;

namespace dsla {
namespace {

fs::path env_path(const char* name) {
  const char* v = std::getenv(name);
  return (v != nullptr && *v != '\0') ? fs::path(v) : fs::path();
}

fs::path executable_dir() {
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::current_path() : exe.parent_path();
}

bool looks_like_repo(const fs::path& p) {
  std::error_code ec;
  return fs::is_directory(p / "recipes", ec) && fs::is_directory(p / "src", ec) &&
         fs::exists(p / "CMakeLists.txt", ec);
}

}  // namespace

fs::path repo_root() {
  if (fs::path p = env_path("DSLA_REPO_ROOT"); !p.empty()) return p;
  for (fs::path start : {executable_dir(), fs::current_path()}) {
    for (fs::path p = start; !p.empty(); p = p.parent_path()) {
      if (looks_like_repo(p)) return p;
      if (p == p.root_path()) break;
    }
  }
  DSLA_FAIL("cannot find the dsla repository root from {}; set DSLA_REPO_ROOT",
            executable_dir().string());
}

fs::path assets_dir() {
  if (fs::path p = env_path("DSLA_ASSETS"); !p.empty()) return p;
  return (repo_root().parent_path() / "shared" / "assets").lexically_normal();
}

fs::path cache_dir() {
  if (fs::path p = env_path("DSLA_HOME"); !p.empty()) return p;
  fs::path home = env_path("HOME");
  DSLA_CHECK(!home.empty(), "neither DSLA_HOME nor HOME is set; cannot place the dsla cache");
  return home / ".cache" / "dsla";
}

fs::path default_model_dir() {
  if (fs::path p = env_path("DSLA_DEFAULT_MODEL"); !p.empty()) return p;
  return assets_dir() / "stories260K" / "hf";
}

}  // namespace dsla
