// Tests for the safetensors reader and writer: round trip, sharded index, and every kind of bad
// file.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "core/atomic_file.h"
#include "core/error.h"
#include "io/safetensors.h"
#include "support/test_paths.h"

namespace fs = std::filesystem;
using dsla::io::SafetensorsCollection;
using dsla::io::SafetensorsFile;
using dsla::testing::make_temp_dir;
using dsla::testing::read_file;

namespace {

/// Writes a file made of an 8-byte length, `header` and `data_bytes` zero bytes.
void write_raw(const fs::path& path, const std::string& header, size_t data_bytes) {
  std::string len(8, '\0');
  for (int i = 0; i < 8; ++i) len[i] = static_cast<char>((header.size() >> (8 * i)) & 0xff);
  dsla::write_text_atomically(path, len + header + std::string(data_bytes, '\0'));
}

/// Expects opening `path` to throw dsla::Error whose message names the file and contains `needle`.
void expect_bad(const fs::path& path, const std::string& needle) {
  try {
    SafetensorsFile f(path);
    FAIL() << "expected an error for " << path;
  } catch (const dsla::Error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find(path.string()), std::string::npos) << msg;
    EXPECT_NE(msg.find(needle), std::string::npos) << msg;
  }
}

}  // namespace

TEST(Safetensors, RoundTripsDtypesShapesAndMetadata) {
  fs::path dir = make_temp_dir("st");
  std::map<std::string, at::Tensor> in = {{"a.f32", at::randn({3, 5})},
                                          {"b.bf16", at::randn({7}).to(at::kBFloat16)},
                                          {"c.f16", at::randn({2, 2, 2}).to(at::kHalf)},
                                          {"d.i64", at::arange(10, at::kLong)},
                                          {"e.empty", at::zeros({0, 4})}};
  dsla::io::save_safetensors(dir / "model.safetensors", in, {{"format", "pt"}});
  SafetensorsFile f(dir / "model.safetensors");
  EXPECT_EQ(f.metadata().at("format"), "pt");
  ASSERT_EQ(f.entries().size(), in.size());
  for (const auto& [name, t] : in) {
    at::Tensor got = f.tensor(name);
    EXPECT_EQ(got.scalar_type(), t.scalar_type()) << name;
    EXPECT_EQ(got.sizes(), t.sizes()) << name;
    EXPECT_TRUE(at::equal(got, t)) << name;
  }
  EXPECT_THROW(f.tensor("nope"), dsla::Error);
  fs::remove_all(dir);
}

TEST(Safetensors, ReadsShardedIndex) {
  fs::path dir = make_temp_dir("st-shard");
  at::Tensor a = at::randn({4}), b = at::randn({2, 3});
  dsla::io::save_safetensors(dir / "model-00001-of-00002.safetensors", {{"a", a}});
  dsla::io::save_safetensors(dir / "model-00002-of-00002.safetensors", {{"b", b}});
  nlohmann::json idx = {
      {"weight_map",
       {{"a", "model-00001-of-00002.safetensors"}, {"b", "model-00002-of-00002.safetensors"}}}};
  dsla::write_text_atomically(dir / "model.safetensors.index.json", idx.dump());
  SafetensorsCollection c(dir);
  EXPECT_EQ(c.names().size(), 2u);
  EXPECT_TRUE(at::equal(c.tensor("a"), a));
  EXPECT_TRUE(at::equal(c.tensor("b"), b));
  EXPECT_EQ(c.file_of("b").filename(), "model-00002-of-00002.safetensors");
  fs::remove_all(dir);
}

TEST(Safetensors, RejectsTruncatedFile) {
  fs::path dir = make_temp_dir("st-trunc");
  dsla::io::save_safetensors(dir / "m.safetensors", {{"w", at::randn({64, 64})}});
  std::string bytes = read_file(dir / "m.safetensors");
  dsla::write_text_atomically(dir / "m.safetensors", bytes.substr(0, bytes.size() - 100));
  expect_bad(dir / "m.safetensors", "truncated");
  dsla::write_text_atomically(dir / "tiny.safetensors", "abc");
  expect_bad(dir / "tiny.safetensors", "too short");
  fs::remove_all(dir);
}

TEST(Safetensors, RejectsBadHeaders) {
  fs::path dir = make_temp_dir("st-bad");
  auto p = [&](const char* n) { return dir / n; };
  // Header length pointing past the end of the file.
  std::string len(8, '\0');
  len[0] = static_cast<char>(200);
  dsla::write_text_atomically(p("len.safetensors"), len + "{}");
  expect_bad(p("len.safetensors"), "does not fit");
  write_raw(p("json.safetensors"), "{not json", 0);
  expect_bad(p("json.safetensors"), "not valid JSON");
  write_raw(p("dtype.safetensors"), R"({"w":{"dtype":"Q4","shape":[2],"data_offsets":[0,2]}})", 2);
  expect_bad(p("dtype.safetensors"), "unsupported dtype 'Q4'");
  write_raw(p("size.safetensors"), R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8);
  expect_bad(p("size.safetensors"), "need 12");
  write_raw(p("past.safetensors"), R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[8,24]}})",
            16);
  expect_bad(p("past.safetensors"), "past its end");
  write_raw(p("overlap.safetensors"),
            R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
            R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
            12);
  expect_bad(p("overlap.safetensors"), "overlap");
  write_raw(p("fields.safetensors"), R"({"w":{"dtype":"F32"}})", 0);
  expect_bad(p("fields.safetensors"), "lacks");
  // The data section must be covered exactly: a hole, or bytes left over at the end.
  write_raw(p("hole.safetensors"),
            R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
            R"("b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})",
            12);
  expect_bad(p("hole.safetensors"), "belong to no tensor");
  write_raw(p("tail.safetensors"), R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", 5);
  expect_bad(p("tail.safetensors"), "the tensors cover 4");
  fs::remove_all(dir);
}

TEST(Safetensors, HeaderLengthOffByThePaddingIsRefused) {
  // A header padded with spaces (as writers align it) still parses when its stated length is one
  // byte short, which would shift every tensor by a byte: the coverage rule refuses it.
  fs::path dir = make_temp_dir("st-shift");
  std::string header = R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}} )";
  std::string len(8, '\0');
  for (int i = 0; i < 8; ++i) len[i] = static_cast<char>(((header.size() - 1) >> (8 * i)) & 0xff);
  dsla::write_text_atomically(dir / "w.safetensors", len + header + std::string(8, '\0'));
  expect_bad(dir / "w.safetensors", "the tensors cover 8");
  fs::remove_all(dir);
}

TEST(Safetensors, MistypedFieldsAndOverflowingShapesAreRefused) {
  // Each of these escaped as a JSON type_error naming no file, or (the shape) wrapped its byte size
  // around 2^64 to an empty span whose tensor view would claim 2^66 bytes.
  fs::path dir = make_temp_dir("st-types");
  auto p = [&](const char* n) { return dir / n; };
  write_raw(p("dtype.safetensors"), R"({"w":{"dtype":5,"shape":[1],"data_offsets":[0,4]}})", 4);
  expect_bad(p("dtype.safetensors"), "unsupported dtype '5'");
  write_raw(p("shape.safetensors"), R"({"w":{"dtype":"F32","shape":4,"data_offsets":[0,4]}})", 4);
  expect_bad(p("shape.safetensors"), "not a list");
  write_raw(p("meta.safetensors"),
            R"({"__metadata__":[1],"w":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}})", 1);
  expect_bad(p("meta.safetensors"), "__metadata__ is not a JSON object");
  write_raw(p("wrap.safetensors"),
            R"({"w":{"dtype":"F32","shape":[2147483648,2147483648,4],"data_offsets":[0,0]}})", 0);
  expect_bad(p("wrap.safetensors"), "overflows 64 bits");
  fs::remove_all(dir);
}

TEST(Safetensors, MissingFilesAreClearErrors) {
  fs::path dir = make_temp_dir("st-missing");
  try {
    SafetensorsCollection c(dir);
    FAIL();
  } catch (const dsla::Error& e) {
    EXPECT_NE(std::string(e.what()).find("no model.safetensors"), std::string::npos) << e.what();
  }
  expect_bad(dir / "absent.safetensors", "cannot open");
  fs::remove_all(dir);
}
