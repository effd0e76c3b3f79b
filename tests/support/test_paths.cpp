// Implementation of the test helpers in test_paths.h.
#include "support/test_paths.h"

#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>

#include "core/error.h"
#include "core/paths.h"

namespace fs = std::filesystem;

namespace dsla::testing {

fs::path fixtures_dir() {
  return repo_root() / "data" / "fixtures";
}

fs::path stories260k_dir() {
  return assets_dir() / "stories260K" / "hf";
}

fs::path stories260k_reference_dir() {
  return assets_dir() / "stories260K" / "reference";
}

fs::path smollm2_dir() {
  const char* v = std::getenv("DSLA_SMOLLM2_DIR");
  if (v != nullptr && *v != '\0') return v;
  return cache_dir() / "models" / "SmolLM2-135M-Instruct";
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  DSLA_CHECK(in.good(), "cannot open {}", path.string());
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

fs::path make_temp_dir(const std::string& tag) {
  fs::path p =
      fs::temp_directory_path() / fmt::format("dsla-test-{}-{}", tag, std::random_device{}());
  fs::remove_all(p);
  fs::create_directories(p);
  return p;
}

}  // namespace dsla::testing
