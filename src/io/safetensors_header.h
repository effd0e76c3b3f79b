// The safetensors header, read from a file's bytes and validated: length, JSON table, dtypes,
// shapes and the data layout. No LibTorch (the fuzz target tests/fuzz/fuzz_safetensors calls it).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace dsla::io {

/// One tensor's entry: its dtype name ("F32", "BF16", ...), shape, and byte range in the data
/// section.
struct HeaderTensor {
  std::string name;
  std::string dtype;
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;  // byte offsets relative to the data section
};

struct SafetensorsHeader {
  uint64_t data_offset = 0;  ///< where the data section starts: 8 + the header's length
  std::map<std::string, HeaderTensor> tensors;
  std::map<std::string, std::string> metadata;
};

/// Bytes per element of a safetensors dtype name; 0 for a name the format does not define.
size_t safetensors_element_size(const std::string& dtype);

/// Parses the header of a `size`-byte file whose bytes start at `bytes`, by the format's rules: the
/// length fits in the file, the header is a JSON object of entries with a known dtype, a shape of
/// non-negative integers and data_offsets whose span equals dtype x shape, and the tensors cover
/// the data section exactly (no holes, no overlap, nothing left over). Throws dsla::Error naming
/// `file`.
SafetensorsHeader parse_safetensors_header(const unsigned char* bytes, uint64_t size,
                                           const std::string& file);

}  // namespace dsla::io
