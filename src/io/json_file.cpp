// Implementation of JSON file reading.
#include "io/json_file.h"

#include <fstream>

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

std::string json_text(const nlohmann::json& j, int indent) {
  return j.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace dsla::io
