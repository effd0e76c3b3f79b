// Test helper: reads data/fixtures/tokenizer_ids.json (written by tools/gen_tokenizer_fixtures.py).
#pragma once

#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "support/test_paths.h"

namespace dsla::testing {

inline const nlohmann::json& tokenizer_fixture() {
  static const nlohmann::json fixture =
      nlohmann::json::parse(read_file(fixtures_dir() / "tokenizer_ids.json"));
  return fixture;
}

inline std::vector<std::string> fixture_strings() {
  return tokenizer_fixture().at("strings").get<std::vector<std::string>>();
}

/// The file a fixture entry's "location" names: {"fixtures": name}, {"smollm2_dir": name} or
/// {"stories260k_dir": name}.
inline std::filesystem::path fixture_location(const nlohmann::json& location) {
  if (location.contains("fixtures"))
    return fixtures_dir() / location.at("fixtures").get<std::string>();
  if (location.contains("smollm2_dir")) {
    return smollm2_dir() / location.at("smollm2_dir").get<std::string>();
  }
  return stories260k_dir() / location.at("stories260k_dir").get<std::string>();
}

/// Deletes a test's temp directory (one level of files). Not std::filesystem::remove_all:
/// libtorch.so exports its own copy, which calls a libstdc++ 13 symbol missing from Debian 12 and
/// segfaults.
inline void remove_temp_dir(const std::filesystem::path& dir) {
  for (const auto& entry : std::filesystem::directory_iterator(dir)) ::unlink(entry.path().c_str());
  ::rmdir(dir.c_str());
}

/// The BPE entry named `name`, or null when the fixture has none.
inline nlohmann::json bpe_fixture(const std::string& name) {
  for (const auto& entry : tokenizer_fixture().at("bpe")) {
    if (entry.at("name") == name) return entry;
  }
  return nullptr;
}

}  // namespace dsla::testing
