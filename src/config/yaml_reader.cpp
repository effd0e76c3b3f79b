// Implementation of the YAML reading helpers: variable expansion.
#include "config/yaml_reader.h"

#include "core/paths.h"

namespace dsla::config {
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
