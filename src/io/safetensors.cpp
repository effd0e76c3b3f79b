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

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace dsla::io {
namespace {

constexpr uint64_t kMaxHeaderBytes = 100u << 20;  // the format's own limit is 100 MB

struct DtypeName {
  const char* name;
  at::ScalarType dtype;
};
constexpr DtypeName kDtypes[] = {{"F32", at::kFloat},  {"F16", at::kHalf}, {"BF16", at::kBFloat16},
                                 {"F64", at::kDouble}, {"I64", at::kLong}, {"I32", at::kInt},
                                 {"I16", at::kShort},  {"I8", at::kChar},  {"U8", at::kByte},
                                 {"BOOL", at::kBool}};

at::ScalarType parse_dtype(const std::string& s, const std::string& tensor, const fs::path& file) {
  for (const auto& d : kDtypes) {
    if (s == d.name) return d.dtype;
  }
  DSLA_FAIL(
      "{}: tensor '{}' has unsupported dtype '{}' (supported: F32, F16, BF16, F64, I64, I32, "
      "I16, I8, U8, BOOL)",
      file.string(), tensor, s);
}

TensorEntry parse_entry(const std::string& name, const json& j, const fs::path& file) {
  DSLA_CHECK(
      j.is_object() && j.contains("dtype") && j.contains("shape") && j.contains("data_offsets"),
      "{}: header entry '{}' lacks dtype, shape or data_offsets", file.string(), name);
  TensorEntry e;
  e.name = name;
  e.dtype = parse_dtype(j["dtype"].get<std::string>(), name, file);
  for (const auto& d : j["shape"]) {
    DSLA_CHECK(d.is_number_integer() && d.get<int64_t>() >= 0,
               "{}: tensor '{}' has an invalid shape", file.string(), name);
    e.shape.push_back(d.get<int64_t>());
  }
  const json& off = j["data_offsets"];
  DSLA_CHECK(off.is_array() && off.size() == 2 && off[0].is_number_unsigned() &&
                 off[1].is_number_unsigned(),
             "{}: tensor '{}' has invalid data_offsets", file.string(), name);
  e.begin = off[0].get<uint64_t>();
  e.end = off[1].get<uint64_t>();
  uint64_t numel = 1;
  for (int64_t d : e.shape) numel *= static_cast<uint64_t>(d);
  uint64_t want = numel * at::elementSize(e.dtype);
  DSLA_CHECK(e.end >= e.begin && e.end - e.begin == want,
             "{}: tensor '{}' spans {} bytes but its dtype and shape need {}", file.string(), name,
             e.end >= e.begin ? e.end - e.begin : 0, want);
  return e;
}

void check_layout(const std::map<std::string, TensorEntry>& entries, uint64_t data_bytes,
                  const fs::path& file) {
  std::vector<const TensorEntry*> sorted;
  for (const auto& [n, e] : entries) {
    DSLA_CHECK(e.end <= data_bytes,
               "{}: tensor '{}' ends at byte {} of the data section, past its end ({} bytes); "
               "the file is truncated or corrupt",
               file.string(), n, e.end, data_bytes);
    sorted.push_back(&e);
  }
  std::sort(sorted.begin(), sorted.end(),
            [](const TensorEntry* a, const TensorEntry* b) { return a->begin < b->begin; });
  // The format's rule: the data section is covered exactly, without holes (a header length that
  // is off by a few bytes of padding would otherwise shift every tensor).
  uint64_t covered = 0;
  const TensorEntry* previous = nullptr;
  for (const TensorEntry* e : sorted) {
    DSLA_CHECK(previous == nullptr || e->begin >= covered, "{}: tensors '{}' and '{}' overlap",
               file.string(), previous ? previous->name : "", e->name);
    DSLA_CHECK(e->begin == covered,
               "{}: bytes {}..{} of the data section belong to no tensor (before '{}'); the header "
               "length or the offsets are wrong",
               file.string(), covered, e->begin, e->name);
    covered = e->end;
    previous = e;
  }
  DSLA_CHECK(covered == data_bytes,
             "{}: the data section has {} bytes but the tensors cover {}; the header length or the "
             "offsets are wrong",
             file.string(), data_bytes, covered);
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
  const auto* bytes = static_cast<const unsigned char*>(mapping_->addr);
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | bytes[i];  // little-endian
  DSLA_CHECK(header_len <= kMaxHeaderBytes && 8 + header_len <= size,
             "{}: header length {} does not fit in the file ({} bytes)", path.string(), header_len,
             size);
  json header;
  try {
    header = json::parse(bytes + 8, bytes + 8 + header_len);
  } catch (const json::exception& e) {
    DSLA_FAIL("{}: header is not valid JSON: {}", path.string(), e.what());
  }
  DSLA_CHECK(header.is_object(), "{}: header is not a JSON object", path.string());
  for (const auto& [name, value] : header.items()) {
    if (name == "__metadata__") {
      for (const auto& [k, v] : value.items()) {
        metadata_[k] = v.is_string() ? v.get<std::string>() : v.dump();
      }
      continue;
    }
    entries_.emplace(name, parse_entry(name, value, path));
  }
  data_offset_ = 8 + header_len;
  check_layout(entries_, size - data_offset_, path);
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
