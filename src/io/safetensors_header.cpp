// Implementation of safetensors_header.h: the length prefix, the JSON table, entry checks with
// overflow-safe sizes, and the exact coverage of the data section.
#include "io/safetensors_header.h"

#include <algorithm>
#include <limits>
#include <nlohmann/json.hpp>

#include "core/error.h"

using json = nlohmann::json;

namespace dsla::io {
namespace {

constexpr uint64_t kMaxHeaderBytes = 100u << 20;  // the format's own limit is 100 MB

struct DtypeSize {
  const char* name;
  size_t bytes;
};
constexpr DtypeSize kDtypeSizes[] = {{"F64", 8}, {"F32", 4}, {"F16", 2}, {"BF16", 2}, {"I64", 8},
                                     {"I32", 4}, {"I16", 2}, {"I8", 1},  {"U8", 1},   {"BOOL", 1}};

std::string text_of(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

/// a * b, or false when it does not fit in 64 bits.
bool multiply(uint64_t a, uint64_t b, uint64_t& out) {
  if (a != 0 && b > std::numeric_limits<uint64_t>::max() / a) return false;
  out = a * b;
  return true;
}

std::vector<int64_t> parse_shape(const json& shape, const std::string& name,
                                 const std::string& file) {
  DSLA_CHECK(shape.is_array(), "{}: tensor '{}' has a shape that is not a list", file, name);
  std::vector<int64_t> out;
  for (const auto& d : shape) {
    DSLA_CHECK(d.is_number_unsigned() && d.get<uint64_t>() <= uint64_t{1} << 62,
               "{}: tensor '{}' has an invalid shape {}", file, name, text_of(shape));
    out.push_back(d.get<int64_t>());
  }
  return out;
}

HeaderTensor parse_entry(const std::string& name, const json& j, const std::string& file) {
  DSLA_CHECK(
      j.is_object() && j.contains("dtype") && j.contains("shape") && j.contains("data_offsets"),
      "{}: header entry '{}' lacks dtype, shape or data_offsets", file, name);
  HeaderTensor e;
  e.name = name;
  const json& dtype = j["dtype"];
  e.dtype = dtype.is_string() ? dtype.get<std::string>() : text_of(dtype);
  size_t element_size = safetensors_element_size(e.dtype);
  DSLA_CHECK(
      element_size > 0,
      "{}: tensor '{}' has unsupported dtype '{}' (supported: F32, F16, BF16, F64, I64, I32, "
      "I16, I8, U8, BOOL)",
      file, name, e.dtype);
  e.shape = parse_shape(j["shape"], name, file);
  const json& off = j["data_offsets"];
  DSLA_CHECK(off.is_array() && off.size() == 2 && off[0].is_number_unsigned() &&
                 off[1].is_number_unsigned(),
             "{}: tensor '{}' has invalid data_offsets", file, name);
  e.begin = off[0].get<uint64_t>();
  e.end = off[1].get<uint64_t>();
  uint64_t want = element_size;
  for (int64_t d : e.shape) {
    DSLA_CHECK(multiply(want, static_cast<uint64_t>(d), want),
               "{}: tensor '{}' has a shape whose size overflows 64 bits", file, name);
  }
  DSLA_CHECK(e.end >= e.begin && e.end - e.begin == want,
             "{}: tensor '{}' spans {} bytes but its dtype and shape need {}", file, name,
             e.end >= e.begin ? e.end - e.begin : 0, want);
  return e;
}

void check_layout(const std::map<std::string, HeaderTensor>& tensors, uint64_t data_bytes,
                  const std::string& file) {
  std::vector<const HeaderTensor*> sorted;
  for (const auto& [n, e] : tensors) {
    DSLA_CHECK(e.end <= data_bytes,
               "{}: tensor '{}' ends at byte {} of the data section, past its end ({} bytes); "
               "the file is truncated or corrupt",
               file, n, e.end, data_bytes);
    sorted.push_back(&e);
  }
  std::sort(sorted.begin(), sorted.end(),
            [](const HeaderTensor* a, const HeaderTensor* b) { return a->begin < b->begin; });
  // The format's rule: the data section is covered exactly, without holes (a header length that
  // is off by a few bytes of padding would otherwise shift every tensor).
  uint64_t covered = 0;
  const HeaderTensor* previous = nullptr;
  for (const HeaderTensor* e : sorted) {
    DSLA_CHECK(previous == nullptr || e->begin >= covered, "{}: tensors '{}' and '{}' overlap",
               file, previous ? previous->name : "", e->name);
    DSLA_CHECK(e->begin == covered,
               "{}: bytes {}..{} of the data section belong to no tensor (before '{}'); the header "
               "length or the offsets are wrong",
               file, covered, e->begin, e->name);
    covered = e->end;
    previous = e;
  }
  DSLA_CHECK(covered == data_bytes,
             "{}: the data section has {} bytes but the tensors cover {}; the header length or the "
             "offsets are wrong",
             file, data_bytes, covered);
}

}  // namespace

size_t safetensors_element_size(const std::string& dtype) {
  for (const auto& d : kDtypeSizes) {
    if (dtype == d.name) return d.bytes;
  }
  return 0;
}

SafetensorsHeader parse_safetensors_header(const unsigned char* bytes, uint64_t size,
                                           const std::string& file) {
  DSLA_CHECK(size >= 8, "{}: file is {} bytes, too short for a safetensors header", file, size);
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | bytes[i];  // little-endian
  DSLA_CHECK(header_len <= kMaxHeaderBytes && 8 + header_len <= size,
             "{}: header length {} does not fit in the file ({} bytes)", file, header_len, size);
  json table;
  try {
    table = json::parse(bytes + 8, bytes + 8 + header_len);
  } catch (const json::exception& e) {
    DSLA_FAIL("{}: header is not valid JSON: {}", file, e.what());
  }
  DSLA_CHECK(table.is_object(), "{}: header is not a JSON object", file);
  SafetensorsHeader h;
  h.data_offset = 8 + header_len;
  for (const auto& [name, value] : table.items()) {
    if (name == "__metadata__") {
      DSLA_CHECK(value.is_object(), "{}: __metadata__ is not a JSON object", file);
      for (const auto& [k, v] : value.items()) {
        h.metadata[k] = v.is_string() ? v.get<std::string>() : text_of(v);
      }
      continue;
    }
    h.tensors.emplace(name, parse_entry(name, value, file));
  }
  check_layout(h.tensors, size - h.data_offset, file);
  return h;
}

}  // namespace dsla::io
