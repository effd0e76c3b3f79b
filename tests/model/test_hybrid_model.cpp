// The switchable-depth model and the layer walk: a depth scope gives each depth's model and puts
// the previous modules back; depth 0 is the teacher; the walk with the own-attention step is the
// forward pass; a scoped conversion restores the teacher's module.
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <gtest/gtest.h>

#include "core/error.h"
#include "model/conversion.h"
#include "model/hybrid_model.h"
#include "model/weight_loader.h"
#include "support/test_paths.h"

using namespace dsla::model;
namespace t = dsla::testing;

namespace {

/// stories260K with layers 3 then 1 converted (fresh DSLA layers with random-initialised gates).
std::unique_ptr<HybridModel> two_stage_model() {
  auto h = HybridModel::from_teacher(load_llama(t::stories260k_dir()));
  DslaSettings spec;
  spec.gate_rank = 4;
  at::manual_seed(3);
  for (int64_t layer : {3, 1}) {
    convert_layer(h->model(), layer, spec);
    h->add_stage(layer);
  }
  return h;
}

}  // namespace

TEST(HybridModel, DepthScopesGiveEachDepthAndRestore) {
  auto h = two_stage_model();
  c10::InferenceMode guard;
  at::manual_seed(1);
  at::Tensor ids = at::randint(1, 512, {2, 20}, at::kLong);
  at::Tensor teacher = load_llama(t::stories260k_dir())->forward(ids);
  at::Tensor deepest = h->model().forward(ids);  // outside any scope: all stages
  EXPECT_EQ(h->max_depth(), 2);
  EXPECT_EQ(h->order(), (std::vector<int64_t>{3, 1}));
  {
    DepthScope scope = h->at_depth(0);
    EXPECT_TRUE(at::equal(scope->forward(ids), teacher));
    EXPECT_EQ(attention_kinds(scope.model())[3], "softmax");
  }
  {
    DepthScope scope = h->at_depth(1);
    EXPECT_EQ(attention_kinds(scope.model())[3], "dsla");
    EXPECT_EQ(attention_kinds(scope.model())[1], "softmax");
    EXPECT_EQ(&h->attention(1, 3), scope.model().layer(3).attention().get());
  }
  // Scopes nest and unwind in order; afterwards the model is at its deepest state again.
  {
    DepthScope outer = h->at_depth(1);
    { DepthScope inner = h->at_depth(0); }
    EXPECT_EQ(attention_kinds(h->model())[3], "dsla");
    EXPECT_EQ(attention_kinds(h->model())[1], "softmax");
  }
  EXPECT_TRUE(at::equal(h->model().forward(ids), deepest));
  EXPECT_FALSE(at::equal(deepest, teacher));
  EXPECT_THROW((void)h->at_depth(3), dsla::Error);
  EXPECT_THROW(h->add_stage(3), dsla::Error);  // already converted
  EXPECT_LT(h->cache_bytes(2, 4096), h->cache_bytes(0, 4096));
}

TEST(HybridModel, TheLayerWalkIsTheForwardPass) {
  auto model = load_llama(t::stories260k_dir());
  c10::InferenceMode guard;
  at::Tensor ids = at::randint(1, 512, {2, 17}, at::kLong);
  AttentionContext ctx = model->make_context(0, 17);
  at::Tensor h = model->model->embed_tokens->forward(ids);
  // Two halves of the walk equal the whole; a step that records its layers sees each once, in
  // order.
  std::vector<int64_t> seen;
  auto own = model->own_attention(ctx, nullptr);
  auto recording = [&](int64_t i, const at::Tensor& x) {
    seen.push_back(i);
    return own(i, x);
  };
  at::Tensor half = model->forward_layers(h, 0, 2, recording);
  at::Tensor walked = model->forward_layers(half, 2, model->num_layers(), recording);
  EXPECT_EQ(seen, (std::vector<int64_t>{0, 1, 2, 3, 4}));
  EXPECT_TRUE(at::equal(model->logits(model->model->norm->forward(walked)), model->forward(ids)));
  EXPECT_TRUE(at::equal(model->residual_before(ids, 2), half));
  // A zero attention step leaves only the MLP halves: a different model, so the step is used.
  auto zero = [](int64_t, const at::Tensor& x) { return at::zeros_like(x); };
  EXPECT_FALSE(at::equal(model->forward_layers(h, 0, 5, zero), walked));
  EXPECT_THROW(model->forward_layers(h, 3, 2, own), dsla::Error);
}

TEST(HybridModel, ScopedConversionPutsTheTeacherBack) {
  auto model = load_llama(t::stories260k_dir());
  auto teacher = model->layer(2).attention();
  {
    ScopedConversion converted(*model, 2, DslaSettings{});
    EXPECT_EQ(model->layer(2).attention()->kind(), "dsla");
  }
  EXPECT_EQ(model->layer(2).attention(), teacher);
}
