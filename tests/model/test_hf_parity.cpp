// Logits and greedy continuations against HF transformers fixtures (tools/gen_hf_fixtures.py) for
// both models.
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <gtest/gtest.h>

#include <cstring>
#include <nlohmann/json.hpp>

#include "model/generator.h"
#include "model/weight_loader.h"
#include "support/test_paths.h"

namespace fs = std::filesystem;
using json = nlohmann::json;
using dsla::model::LlamaForCausalLM;
namespace t = dsla::testing;

namespace {

json fixture(const std::string& name) {
  return json::parse(t::read_file(t::fixtures_dir() / (name + ".json")));
}

at::Tensor fixture_rows(const json& meta) {
  std::string bytes = t::read_file(t::fixtures_dir() / meta["file"].get<std::string>());
  at::Tensor out = at::empty(meta["shape"].get<std::vector<int64_t>>(), at::kFloat);
  EXPECT_EQ(bytes.size(), static_cast<size_t>(out.numel()) * sizeof(float));
  std::memcpy(out.data_ptr<float>(), bytes.data(), std::min<size_t>(bytes.size(), out.nbytes()));
  return out;
}

LlamaForCausalLM* smollm2() {
  static std::unique_ptr<LlamaForCausalLM> model;
  if (!model && fs::exists(t::smollm2_dir() / "model.safetensors")) {
    model = std::make_unique<LlamaForCausalLM>(dsla::model::load_llama(t::smollm2_dir()));
  }
  return model.get();
}

/// Compares the model's logits at the fixture's positions: max |diff| within `rel` of the
/// reference's range.
void expect_logits_match(LlamaForCausalLM& model, const std::string& name, double rel) {
  json meta = fixture(name);
  auto ids = meta["ids"].get<std::vector<int64_t>>();
  auto positions = meta["positions"].get<std::vector<int64_t>>();
  at::Tensor ref = fixture_rows(meta);
  c10::InferenceMode guard;
  at::Tensor logits = model->forward(at::tensor(ids, at::kLong).unsqueeze(0)).squeeze(0);
  at::Tensor got = logits.index_select(0, at::tensor(positions, at::kLong));
  double range = (ref.max() - ref.min()).item<double>();
  double max_diff = (got - ref).abs().max().item<double>();
  EXPECT_LE(max_diff, rel * range) << name << ": max |diff| " << max_diff << ", range " << range;
  EXPECT_TRUE(at::equal(got.argmax(-1), ref.argmax(-1))) << name << ": argmax differs";
}

std::vector<int64_t> greedy(LlamaForCausalLM& model, const std::vector<int64_t>& prompt, int64_t n,
                            std::vector<int64_t> stop) {
  dsla::model::GenerateOptions go;
  go.max_new_tokens = n;
  go.stop_ids = std::move(stop);
  return dsla::model::generate(*model, prompt, go).tokens;
}

}  // namespace

TEST(HfParity, Stories260kLogits) {
  auto model = dsla::model::load_llama(t::stories260k_dir());
  for (const char* name : {"hf_stories260k_logits_lily", "hf_stories260k_logits_park",
                           "hf_stories260k_logits_long300"}) {
    expect_logits_match(model, name, 1e-5);
  }
}

TEST(HfParity, Stories260kGreedy) {
  auto model = dsla::model::load_llama(t::stories260k_dir());
  json meta = fixture("hf_stories260k_greedy_lily");
  auto want = meta["new_ids"].get<std::vector<int64_t>>();
  EXPECT_EQ(
      greedy(model, meta["prompt_ids"].get<std::vector<int64_t>>(), meta["max_new_tokens"], {2}),
      want);
}

TEST(HfParity, SmolLM2Logits) {
  if (smollm2() == nullptr) GTEST_SKIP() << "SmolLM2 not converted at " << t::smollm2_dir();
  for (const char* name :
       {"hf_smollm2_logits_plain", "hf_smollm2_logits_chat", "hf_smollm2_logits_long1280"}) {
    expect_logits_match(*smollm2(), name, 1e-3);
  }
}

TEST(HfParity, SmolLM2Greedy) {
  if (smollm2() == nullptr) GTEST_SKIP() << "SmolLM2 not converted at " << t::smollm2_dir();
  json meta = fixture("hf_smollm2_greedy");
  for (const auto& c : meta["continuations"]) {
    auto want = c["new_ids"].get<std::vector<int64_t>>();
    auto got = greedy(*smollm2(), c["prompt_ids"].get<std::vector<int64_t>>(),
                      c["max_new_tokens"].get<int64_t>(), {2});
    EXPECT_EQ(got, want) << c["prompt_name"];
  }
}
