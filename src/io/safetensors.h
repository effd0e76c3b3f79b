// Safetensors files: a validating memory-mapped reader (single file or sharded index) and an atomic
// writer.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace dsla::io {

/// One tensor's entry in a safetensors header.
struct TensorEntry {
  std::string name;
  at::ScalarType dtype;
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;  // byte offsets relative to the data section
};

/// A memory-mapped .safetensors file whose header has been validated: every offset inside the file,
/// sizes equal to dtype x shape, no two tensors overlapping. Tensors are returned as read-only
/// views of the mapping.
class SafetensorsFile {
 public:
  explicit SafetensorsFile(const std::filesystem::path& path);
  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::filesystem::path& path() const { return path_; }
  const std::map<std::string, TensorEntry>& entries() const { return entries_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  bool contains(const std::string& name) const { return entries_.count(name) != 0; }
  /// A CPU tensor viewing the mapped bytes (kept alive by the tensor). Throws dsla::Error for
  /// unknown names.
  at::Tensor tensor(const std::string& name) const;

 private:
  struct Mapping;
  std::filesystem::path path_;
  std::shared_ptr<Mapping> mapping_;
  uint64_t data_offset_ = 0;
  std::map<std::string, TensorEntry> entries_;
  std::map<std::string, std::string> metadata_;
};

/// All tensors of a model directory: model.safetensors, or the shards listed in
/// model.safetensors.index.json.
class SafetensorsCollection {
 public:
  /// Opens a model directory `dir` (model.safetensors or its sharded index) or one .safetensors
  /// file; throws dsla::Error naming the file when none is found or a shard is invalid.
  explicit SafetensorsCollection(const std::filesystem::path& dir);
  /// The directory or file this was opened from.
  const std::filesystem::path& origin() const { return origin_; }
  std::vector<std::string> names() const;
  bool contains(const std::string& name) const { return owner_.count(name) != 0; }
  const TensorEntry& entry(const std::string& name) const;
  at::Tensor tensor(const std::string& name) const;
  /// The file holding `name`, for error messages.
  std::filesystem::path file_of(const std::string& name) const;

 private:
  std::filesystem::path origin_;
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::map<std::string, const SafetensorsFile*> owner_;
};

/// The safetensors dtype string ("F32", "BF16", ...) of a LibTorch dtype; throws for unsupported
/// dtypes.
std::string safetensors_dtype_name(at::ScalarType dtype);

/// Writes `tensors` (any device/layout; copied to contiguous CPU) with `metadata` to `path`
/// atomically.
void save_safetensors(const std::filesystem::path& path,
                      const std::map<std::string, at::Tensor>& tensors,
                      const std::map<std::string, std::string>& metadata = {});

}  // namespace dsla::io
