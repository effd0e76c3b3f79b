// Implementation of safetensors.h: header parsing and validation, mmap, sharded index, atomic
// writer.
#include "io/safetensors.h"

#include <ATen/ATen.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "core/atomic_file.h"
#include "core/error.h"
#include "io/json_file.h"
#include "io/safetensors_header.h"

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace dsla::io {
namespace {

struct DtypeName {
  const char* name;
  at::ScalarType dtype;
};
constexpr DtypeName kDtypes[] = {{"F32", at::kFloat},  {"F16", at::kHalf}, {"BF16", at::kBFloat16},
                                 {"F64", at::kDouble}, {"I64", at::kLong}, {"I32", at::kInt},
                                 {"I16", at::kShort},  {"I8", at::kChar},  {"U8", at::kByte},
                                 {"BOOL", at::kBool}};

/// The LibTorch dtype of a name parse_safetensors_header() accepted.
at::ScalarType scalar_type_of(const std::string& name) {
  for (const auto& d : kDtypes) {
    if (name == d.name) return d.dtype;
  }
  DSLA_FAIL("safetensors dtype '{}' has no LibTorch dtype", name);
}

}  // namespace

struct SafetensorsFile::Mapping {
  void* addr = nullptr;
  size_t size = 0;
  ~Mapping() {
    if (addr != nullptr && size > 0) ::munmap(addr, size);
  }
};

SafetensorsFile::SafetensorsFile(const fs::path& path) : path_(path) {
  int fd = ::open(path.c_str(), O_RDONLY);
  DSLA_CHECK(fd >= 0, "{}: cannot open: {}", path.string(), std::strerror(errno));
  struct stat st {};
  ::fstat(fd, &st);
  auto size = static_cast<uint64_t>(st.st_size);
  mapping_ = std::make_shared<Mapping>();
  if (size > 0) {
    mapping_->addr = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  }
  ::close(fd);
  DSLA_CHECK(size >= 8, "{}: file is {} bytes, too short for a safetensors header", path.string(),
             size);
  DSLA_CHECK(mapping_->addr != MAP_FAILED, "{}: mmap failed: {}", path.string(),
             std::strerror(errno));
  mapping_->size = size;
  SafetensorsHeader header = parse_safetensors_header(
      static_cast<const unsigned char*>(mapping_->addr), size, path.string());
  for (auto& [name, t] : header.tensors) {
    entries_.emplace(
        name, TensorEntry{name, scalar_type_of(t.dtype), std::move(t.shape), t.begin, t.end});
  }
  metadata_ = std::move(header.metadata);
  data_offset_ = header.data_offset;
}

SafetensorsFile::~SafetensorsFile() = default;

at::Tensor SafetensorsFile::tensor(const std::string& name) const {
  auto it = entries_.find(name);
  DSLA_CHECK(it != entries_.end(), "{}: no tensor named '{}'", path_.string(), name);
  const TensorEntry& e = it->second;
  auto* base = static_cast<char*>(mapping_->addr) + data_offset_ + e.begin;
  auto keep = mapping_;  // the tensor's deleter keeps the mapping alive
  return at::from_blob(
      base, e.shape, [keep](void*) mutable { keep.reset(); }, at::TensorOptions().dtype(e.dtype));
}

SafetensorsCollection::SafetensorsCollection(const fs::path& dir) : origin_(dir) {
  fs::path single = fs::is_regular_file(dir) ? dir : dir / "model.safetensors";
  fs::path index = dir / "model.safetensors.index.json";
  std::vector<fs::path> shards;
  if (fs::exists(index)) {
    json j = read_json_file(index);
    DSLA_CHECK(j.contains("weight_map") && j["weight_map"].is_object(), "{}: missing 'weight_map'",
               index.string());
    std::set<std::string> files;
    for (const auto& [t, f] : j["weight_map"].items()) files.insert(f.get<std::string>());
    for (const auto& f : files) shards.push_back(dir / f);
  } else {
    DSLA_CHECK(fs::exists(single), "{}: no model.safetensors or model.safetensors.index.json",
               dir.string());
    shards.push_back(single);
  }
  for (const auto& s : shards) {
    files_.push_back(std::make_unique<SafetensorsFile>(s));
    for (const auto& [n, e] : files_.back()->entries()) {
      DSLA_CHECK(owner_.emplace(n, files_.back().get()).second,
                 "{}: tensor '{}' appears in more than one shard", s.string(), n);
    }
  }
}

std::vector<std::string> SafetensorsCollection::names() const {
  std::vector<std::string> out;
  for (const auto& [n, f] : owner_) out.push_back(n);
  return out;
}

const TensorEntry& SafetensorsCollection::entry(const std::string& name) const {
  auto it = owner_.find(name);
  DSLA_CHECK(it != owner_.end(), "no tensor named '{}' in the model files", name);
  return it->second->entries().at(name);
}

at::Tensor SafetensorsCollection::tensor(const std::string& name) const {
  auto it = owner_.find(name);
  DSLA_CHECK(it != owner_.end(), "no tensor named '{}' in the model files", name);
  return it->second->tensor(name);
}

fs::path SafetensorsCollection::file_of(const std::string& name) const {
  auto it = owner_.find(name);
  return it == owner_.end() ? fs::path() : it->second->path();
}

std::string safetensors_dtype_name(at::ScalarType dtype) {
  for (const auto& d : kDtypes) {
    if (d.dtype == dtype) return d.name;
  }
  DSLA_FAIL("dtype {} cannot be stored in safetensors", c10::toString(dtype));
}

void save_safetensors(const fs::path& path, const std::map<std::string, at::Tensor>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  json header = json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::vector<at::Tensor> blobs;
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    at::Tensor c = t.detach().to(at::kCPU).contiguous();
    uint64_t nbytes = static_cast<uint64_t>(c.numel()) * c.element_size();
    header[name] = {{"dtype", safetensors_dtype_name(c.scalar_type())},
                    {"shape", c.sizes().vec()},
                    {"data_offsets", {offset, offset + nbytes}}};
    offset += nbytes;
    blobs.push_back(c);
  }
  std::string h = header.dump();
  h.append((8 - h.size() % 8) % 8, ' ');  // pad so the data section is 8-byte aligned
  write_file_atomically(path, [&](std::ostream& out) {
    uint64_t n = h.size();
    char len[8];
    for (int i = 0; i < 8; ++i) len[i] = static_cast<char>((n >> (8 * i)) & 0xff);
    out.write(len, 8);
    out.write(h.data(), static_cast<std::streamsize>(h.size()));
    for (const auto& b : blobs) {
      out.write(static_cast<const char*>(b.data_ptr()),
                static_cast<std::streamsize>(b.numel() * b.element_size()));
    }
  });
}

}  // namespace dsla::io
