// Reading JSON files with errors that name the file (config.json, tokenizer files, run records).
#pragma once

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>

namespace dsla::io {

/// Parses a JSON file; throws dsla::Error naming the file when it is missing or malformed.
nlohmann::json read_json_file(const std::filesystem::path& file);

/// `j` as an integer; throws dsla::Error "`what` must be an integer ..." for anything else (a float
/// such as 1.5 or 3e21 is refused, not truncated: converting an out-of-range double is undefined).
int64_t json_integer(const nlohmann::json& j, const std::string& what);

/// `j` as text; invalid UTF-8 in strings is written as U+FFFD instead of throwing.
std::string json_text(const nlohmann::json& j, int indent = -1);

}  // namespace dsla::io
