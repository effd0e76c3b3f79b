// stories260K against its published references: prompt logits, 200-token greedy text, perplexity,
// cache paths.
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "model/generator.h"
#include "model/perplexity.h"
#include "model/weight_loader.h"
#include "support/test_paths.h"
#include "tokenizer/tokenizer.h"

using dsla::model::LlamaForCausalLM;
using json = nlohmann::json;
namespace t = dsla::testing;

namespace {

LlamaForCausalLM& stories() {
  static LlamaForCausalLM model = dsla::model::load_llama(t::stories260k_dir());
  return model;
}

json read_json(const std::filesystem::path& p) {
  return json::parse(t::read_file(p));
}

at::Tensor read_f32(const std::filesystem::path& p, std::vector<int64_t> shape) {
  std::string bytes = t::read_file(p);
  at::Tensor out = at::empty(shape, at::kFloat);
  EXPECT_EQ(bytes.size(), static_cast<size_t>(out.numel()) * sizeof(float)) << p;
  std::memcpy(out.data_ptr<float>(), bytes.data(), bytes.size());
  return out;
}

}  // namespace

TEST(Stories260k, PromptLogitsMatchReference) {
  json ref = read_json(t::stories260k_reference_dir() / "prompt_logits.json");
  auto ids = ref["tokens"].get<std::vector<int64_t>>();
  at::Tensor expected = read_f32(t::stories260k_reference_dir() / "prompt_logits.f32",
                                 ref["shape"].get<std::vector<int64_t>>());
  c10::InferenceMode guard;
  at::Tensor logits = stories()->forward(at::tensor(ids, at::kLong).unsqueeze(0)).squeeze(0);
  double max_diff = (logits - expected).abs().max().item<double>();
  EXPECT_LE(max_diff, 1e-4) << "max |logit diff| vs the fp64 reference";
  EXPECT_EQ(logits.argmax(-1).to(at::kLong).contiguous().data_ptr<int64_t>()[15],
            ref["argmax_per_position"][15].get<int64_t>());
}

TEST(Stories260k, GreedyFromBosReproducesLlama2cOutput) {
  json ref = read_json(t::stories260k_reference_dir() / "greedy_from_bos_200.json");
  auto expected = ref["tokens_including_bos"].get<std::vector<int64_t>>();
  dsla::model::GenerateOptions go;
  go.max_new_tokens = 200;
  auto result = dsla::model::generate(*stories(), {expected[0]}, go);
  std::vector<int64_t> got = {expected[0]};
  got.insert(got.end(), result.tokens.begin(), result.tokens.end());
  EXPECT_EQ(got, expected);
  auto tok = dsla::load_tokenizer(t::stories260k_dir());
  std::string text = tok->decode(got);
  std::string want =
      t::read_file(t::stories260k_reference_dir() / "llama2c_test_all_expected_stdout.txt");
  EXPECT_EQ(text, want);
}

TEST(Stories260k, CachedDecodingEqualsFullForward) {
  json ref = read_json(t::stories260k_reference_dir() / "greedy_from_bos_200.json");
  auto ids = ref["tokens_including_bos"].get<std::vector<int64_t>>();
  c10::InferenceMode guard;
  at::Tensor all = at::tensor(ids, at::kLong).unsqueeze(0);  // [1, 201]
  at::Tensor full = stories()->forward(all);
  // Prefill 100 tokens in chunks of 37, then decode one token at a time.
  auto cache = stories()->make_cache();
  std::vector<at::Tensor> parts;
  int64_t pos = 0;
  for (int64_t chunk : {37, 37, 26}) {
    parts.push_back(stories()->forward(all.narrow(1, pos, chunk), pos, &cache));
    pos += chunk;
  }
  for (; pos < all.size(1); ++pos)
    parts.push_back(stories()->forward(all.narrow(1, pos, 1), pos, &cache));
  at::Tensor stepped = at::cat(parts, 1);
  EXPECT_LE((stepped - full).abs().max().item<double>(), 2e-5);
  EXPECT_EQ(cache.layer(0).length, all.size(1));
}

TEST(Stories260k, PerplexityMatchesReferenceProtocol) {
  json ref = read_json(t::stories260k_reference_dir() / "tinystories_val_loss.json");
  auto tok = dsla::load_tokenizer(t::stories260k_dir());
  std::string text = t::read_file(dsla::testing::stories260k_dir().parent_path().parent_path() /
                                  "datasets" / "tinystories_val_sample" / "tinystories_val.txt");
  auto tokens = tok->encode(text, /*add_bos=*/false);
  dsla::model::PerplexityOptions o;
  o.context = 255;
  o.stride = 255;
  o.bos_id = 1;
  o.max_tokens = ref["n_predicted_tokens"].get<int64_t>();
  o.progress = false;
  auto r = dsla::model::compute_perplexity(*stories(), tokens, o);
  EXPECT_EQ(r.scored_tokens, 2040);
  EXPECT_EQ(r.windows, 8);
  EXPECT_NEAR(r.mean_nll(), ref["mean_nll_nats"].get<double>(), 1e-4);
}
