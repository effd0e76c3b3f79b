// Implementation of JSON file reading.
#include "io/json_file.h"

#include <fstream>
#include <limits>

#include "core/error.h"

namespace dsla::io {

nlohmann::json read_json_file(const std::filesystem::path& file) {
  DSLA_CHECK(!std::filesystem::is_directory(file), "{}: is a directory, not a JSON file",
             file.string());
  std::ifstream in(file, std::ios::binary);
  DSLA_CHECK(in.good(), "{}: cannot open", file.string());
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    DSLA_FAIL("{}: not valid JSON (malformed JSON: {})", file.string(), e.what());
  }
}

int64_t json_integer(const nlohmann::json& j, const std::string& what) {
  constexpr auto kMax = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
  bool too_large = j.is_number_unsigned() && j.get<uint64_t>() > kMax;
  DSLA_CHECK(j.is_number_integer() && !too_large, "{} must be an integer, got {}", what,
             json_text(j));
  return j.get<int64_t>();
}

std::string json_text(const nlohmann::json& j, int indent) {
  return j.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace dsla::io
