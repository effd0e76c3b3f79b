// Implementation of the YAML reading helpers: edit-distance suggestions and variable expansion.
#include "config/yaml_reader.h"

#include <fmt/ranges.h>

#include "core/paths.h"

namespace dsla::config {
namespace {

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

}  // namespace

std::string suggestion(const std::string& key, const std::vector<std::string>& known) {
  std::string best;
  size_t best_d = 3;  // suggest only close matches
  for (const auto& k : known) {
    size_t d = edit_distance(key, k);
    if (d < best_d) best_d = d, best = k;
  }
  return best.empty() ? fmt::format(" (known: {})", fmt::join(known, ", "))
                      : fmt::format(" (did you mean '{}'?)", best);
}

std::string expand_vars(std::string s) {
  const std::pair<std::string, std::string> vars[] = {{"${DSLA_ASSETS}", assets_dir().string()},
                                                      {"${DSLA_HOME}", cache_dir().string()}};
  for (const auto& [name, value] : vars) {
    for (size_t p = s.find(name); p != std::string::npos; p = s.find(name, p + value.size())) {
      s.replace(p, name.size(), value);
    }
  }
  return s;
}

}  // namespace dsla::config
