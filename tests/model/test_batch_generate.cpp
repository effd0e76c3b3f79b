// Batched, left-padded inference against unbatched runs: prefill logits and greedy generation of
// the teacher, a DSLA hybrid and a sliding-window hybrid, with rows ending early.
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <gtest/gtest.h>

#include "model/batch_generator.h"
#include "model/conversion.h"
#include "model/weight_loader.h"
#include "support/test_paths.h"
#include "tokenizer/tokenizer.h"

using namespace dsla::model;
namespace t = dsla::testing;

namespace {

std::vector<std::vector<int64_t>> test_prompts() {
  auto tok = dsla::load_tokenizer(t::stories260k_dir());
  return {tok->encode("Once upon a time, there was a little girl named Lily.", true),
          tok->encode("The dog", true),
          tok->encode("Tom and his mom went to the park. They saw a big", true)};
}

/// The bundled model with `variant` applied to layers 0, 2 and 4 ("" = the teacher; "dual_window"
/// = DSLA with hedgehog features, the q.z normaliser, an exact window of 4 and one sink).
LlamaForCausalLM hybrid(const std::string& variant) {
  LlamaForCausalLM model = load_llama(t::stories260k_dir());
  if (variant.empty()) return model;
  ConversionPlan plan;
  if (variant == "dual_window") {
    plan.spec.feature_map = FeatureMap::hedgehog;
    plan.spec.normalize = Normalize::qz;
    plan.spec.sinks = 1;
    plan.spec.rope = true;
  } else {
    plan.spec.variant = *dsla::parse_enum<DslaVariant>(variant);
  }
  // Shorter than the prompts: windowed caches are trimmed (or feed the states) while decoding.
  if (variant == "dual_window" || variant == "sliding_window") plan.spec.window = 4;
  plan.order = {0, 2, 4};
  plan.converted = 3;
  torch::manual_seed(3);
  apply_plan(*model, plan);
  return model;
}

class BatchGenerate : public ::testing::TestWithParam<std::string> {};

TEST_P(BatchGenerate, PaddedPrefillLogitsMatchUnbatched) {
  LlamaForCausalLM model = hybrid(GetParam());
  c10::InferenceMode guard;
  auto prompts = test_prompts();
  size_t longest = 0;
  for (const auto& p : prompts) longest = std::max(longest, p.size());
  auto b = static_cast<int64_t>(prompts.size());
  at::Tensor ids = at::zeros({b, static_cast<int64_t>(longest)}, at::kLong);
  at::Tensor pad = at::zeros({b}, at::kLong);
  for (int64_t r = 0; r < b; ++r) {
    const auto& p = prompts[static_cast<size_t>(r)];
    auto offset = static_cast<int64_t>(longest - p.size());
    pad[r] = offset;
    ids[r].narrow(0, offset, static_cast<int64_t>(p.size())).copy_(at::tensor(p, at::kLong));
  }
  at::Tensor batched = model->forward(ids, 0, nullptr, LogitsFor::kAll, pad);  // [B, T, V]
  for (int64_t r = 0; r < b; ++r) {
    const auto& p = prompts[static_cast<size_t>(r)];
    auto n = static_cast<int64_t>(p.size());
    at::Tensor alone = model->forward(at::tensor(p, at::kLong).unsqueeze(0));  // [1, n, V]
    at::Tensor mine = batched[r].narrow(0, pad[r].item<int64_t>(), n);
    EXPECT_TRUE(at::allclose(mine, alone[0], 1e-4, 1e-4))
        << "row " << r << " max diff " << (mine - alone[0]).abs().max().item<double>();
  }
}

TEST_P(BatchGenerate, GreedyTokensMatchUnbatchedWithEarlyStops) {
  LlamaForCausalLM model = hybrid(GetParam());
  auto prompts = test_prompts();
  BatchGenerateOptions o;
  o.max_new_tokens = 16;
  // Row 1 ends after 3 tokens and row 0 after 9: the batch shrinks twice while decoding.
  auto stop = [](size_t row, const std::vector<int64_t>& tokens) {
    return (row == 1 && tokens.size() == 3) || (row == 0 && tokens.size() == 9);
  };
  auto batched = generate_batch(*model, prompts, o, stop);
  ASSERT_EQ(batched.size(), prompts.size());
  const int64_t expected_len[] = {9, 3, 16};
  for (size_t r = 0; r < prompts.size(); ++r) {
    GenerateOptions single;
    single.max_new_tokens = expected_len[r];
    auto alone = generate(*model, prompts[r], single);
    EXPECT_EQ(batched[r].tokens, alone.tokens) << "row " << r;
    EXPECT_EQ(batched[r].stopped, r != 2) << "row " << r;
  }
}

INSTANTIATE_TEST_SUITE_P(Variants, BatchGenerate,
                         ::testing::Values("", "dual", "single", "sliding_window", "dual_window"),
                         [](const ::testing::TestParamInfo<std::string>& p) {
                           return p.param.empty() ? std::string("teacher") : p.param;
                         });

}  // namespace
