// Test helper: reads data/fixtures/tokenizer_ids.json (written by tools/gen_tokenizer_fixtures.py).
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/paths.h"
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

/// The shared text the fixture's "corpus" digests were computed on.
inline std::string fixture_corpus() {
  return read_file(assets_dir() / tokenizer_fixture().at("corpus").get<std::string>());
}

/// {"count", "fnv1a64"} of `ids` (FNV-1a 64 over little-endian int64s), as the generator writes it.
inline nlohmann::json ids_digest(const std::vector<int64_t>& ids) {
  uint64_t hash = 0xcbf29ce484222325ULL;
  for (int64_t id : ids) {
    for (int byte = 0; byte < 8; ++byte) {
      hash = (hash ^ ((static_cast<uint64_t>(id) >> (8 * byte)) & 0xFF)) * 0x100000001b3ULL;
    }
  }
  char hex[17];
  std::snprintf(hex, sizeof(hex), "%016llx", static_cast<unsigned long long>(hash));
  return {{"count", ids.size()}, {"fnv1a64", hex}};
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
