// Typed reading of YAML mappings for recipes and task files: unknown-key rejection with
// suggestions, ${DSLA_ASSETS}/${DSLA_HOME} expansion, every error collected.
#pragma once

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <string>
#include <vector>

#include "core/suggest.h"

namespace dsla::config {

/// Replaces ${DSLA_ASSETS} and ${DSLA_HOME} in `s` by the shared assets and cache directories.
std::string expand_vars(std::string s);

/// Reads one mapping's fields into typed members, remembering known keys and collecting errors.
class SectionReader {
 public:
  SectionReader(const YAML::Node& node, std::string section, std::vector<std::string>& errors)
      : node_(node), section_(std::move(section)), errors_(errors) {
    if (node_ && !node_.IsMap()) errors_.push_back(fmt::format("{}: expected a mapping", section_));
  }

  template <typename T>
  void field(const char* key, T& out) {
    known_.push_back(key);
    if (!node_ || !node_.IsMap() || !node_[key]) return;
    try {
      out = node_[key].as<T>();
      expand(out);
    } catch (const YAML::Exception&) {
      errors_.push_back(fmt::format("{}.{}: cannot read '{}' as {}", section_, key,
                                    YAML::Dump(node_[key]), type_name(out)));
    }
  }

  /// Declares `key` known without reading it (a nested mapping read by its own reader).
  void nested(const char* key) { known_.push_back(key); }

  /// Reports every key of the mapping that no field() or nested() call named.
  void finish() {
    if (!node_ || !node_.IsMap()) return;
    for (const auto& kv : node_) {
      auto key = kv.first.IsScalar() ? kv.first.Scalar() : YAML::Dump(kv.first);
      if (std::find(known_.begin(), known_.end(), key) == known_.end()) {
        errors_.push_back(
            fmt::format("{}: unknown key '{}'{}", section_, key, suggestion(key, known_)));
      }
    }
  }

 private:
  static void expand(std::string& s) { s = expand_vars(s); }
  static void expand(std::vector<std::string>& v) {
    for (auto& s : v) s = expand_vars(s);
  }
  template <typename T>
  static void expand(T&) {}
  static const char* type_name(const std::string&) { return "a string"; }
  static const char* type_name(bool) { return "true/false"; }
  static const char* type_name(double) { return "a number"; }
  template <typename T>
  static const char* type_name(const std::vector<T>&) {
    return "a list";
  }
  template <typename T>
  static const char* type_name(const T&) {
    return "an integer";
  }

  YAML::Node node_;
  std::string section_;
  std::vector<std::string>& errors_;
  std::vector<std::string> known_;
};

}  // namespace dsla::config
