// Profiling and chained distillation on stories260K: attention weights against SDPA, attention
// transfer lowers its loss, training streams carry data.copy_fraction (calibration never), a run
// checkpoints / resumes / refuses mismatches, and an export loads back with bit-identical logits.
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <gtest/gtest.h>

#include <fstream>

#include "core/error.h"
#include "core/paths.h"
#include "distill/builders.h"
#include "distill/driver.h"
#include "distill/layer_fit.h"
#include "model/export.h"
#include "model/softmax_attention.h"
#include "model/weight_loader.h"
#include "support/test_paths.h"
#include "support/tiny_recipe.h"
#include "tokenizer/tokenizer.h"

using namespace dsla;
namespace t = dsla::testing;
namespace fs = std::filesystem;

namespace {

config::Recipe tiny_recipe(const fs::path& run_dir) {
  config::Recipe r = t::tiny_stories_recipe(run_dir);
  fs::path data = assets_dir() / "datasets" / "tinystories_val_sample";
  r.data.eval_files = {(data / "cs336_tinystories_sample.txt").string()};
  r.data.max_eval_tokens = 1024;
  r.distill.order = config::OrderKind::list;
  r.distill.layers = {4, 1, 2};
  r.distill.fraction = 1.0 / 3.0;
  r.distill.steps_per_layer = 6;
  r.distill.e2e_steps = 2;
  r.distill.log_every = 2;
  return r;
}

std::string slurp(const fs::path& p) {
  return t::read_file(p);
}

}  // namespace

TEST(Profile, AttentionProbabilitiesReproduceTheLayerOutput) {
  auto model = model::load_llama(t::stories260k_dir());
  c10::InferenceMode guard;
  at::manual_seed(11);
  at::Tensor x = at::randn({2, 24, model->config().hidden_size});
  model::AttentionContext ctx = model->make_context(0, 24);
  auto* soft = dynamic_cast<model::SoftmaxAttention*>(model->layer(3).attention().get());
  at::Tensor p = soft->attention_probabilities(x, ctx);  // [B, H, T, T]
  EXPECT_TRUE(at::allclose(p.sum(-1), at::ones({2, p.size(1), 24}), 1e-5, 1e-5));
  EXPECT_EQ(at::triu(p, 1).abs().max().item<float>(), 0.0f);  // causal
  // o_proj(P V) must equal the SDPA-based forward.
  const auto& c = model->config();
  at::Tensor v = soft->v_proj->forward(x).view({2, 24, c.num_key_value_heads, c.head_dim});
  v = v.transpose(1, 2).repeat_interleave(c.num_attention_heads / c.num_key_value_heads, 1);
  at::Tensor mixed = at::matmul(p, v).transpose(1, 2).reshape({2, 24, -1});
  EXPECT_TRUE(
      at::allclose(soft->o_proj->forward(mixed), soft->forward(x, ctx, nullptr), 1e-4, 1e-5));
  // Entropy scores: one per layer, within [0, log T].
  at::Tensor ids = at::randint(0, c.vocab_size, {3, 24}, at::kLong);
  auto entropy = distill::attention_entropy(*model, ids, 2);
  ASSERT_EQ(static_cast<int64_t>(entropy.size()), model->num_layers());
  for (double e : entropy) EXPECT_TRUE(e > 0 && e < std::log(24.0)) << e;
}

TEST(Distill, AttentionTransferLowersTheLoss) {
  auto model = model::load_llama(t::stories260k_dir());
  for (auto& p : model->parameters()) p.set_requires_grad(false);
  auto teacher = model->layer(2).attention();
  model::DslaSettings spec;
  spec.gate_rank = 4;
  model::convert_layer(*model, 2, spec);
  at::manual_seed(1);
  at::Tensor ids = at::randint(1, model->config().vocab_size, {8, 48}, at::kLong);
  distill::LayerIO io = distill::collect_layer_io(*model, 2, *teacher, ids, 4);
  distill::FitOptions o;
  o.steps = 60;
  o.lr = 3e-3;
  o.gate_separation = 0.01;
  auto r = distill::fit_attention(*model->layer(2).attention(), io, model->make_context(0, 48), o);
  EXPECT_LT(r.final_loss, 0.7 * r.first_loss) << r.first_loss << " -> " << r.final_loss;
  for (auto& p : model->layer(2).attention()->parameters()) EXPECT_FALSE(p.requires_grad());
}

TEST(Distill, TrainingStreamsCarryTheRecipesCopyFractionCalibrationNever) {
  fs::path dir = t::make_temp_dir("corpus_copies");
  config::Recipe r = tiny_recipe(dir);
  r.data.copy_fraction = 0.5;
  auto tokenizer = load_tokenizer(r.model.path);
  distill::Corpus corpus = distill::load_corpus(r, *tokenizer);
  const int64_t seq_len = r.data.seq_len, half = seq_len / 2, n = 8;
  // [n, seq_len] each; copies repeat their first half, the rest are the calibration's sequences.
  at::Tensor train = at::tensor(corpus.training_stream(seq_len, 7).next(n)).view({n, seq_len});
  at::Tensor calib = at::tensor(corpus.calibration_stream(seq_len, 7).next(n)).view({n, seq_len});
  int64_t copies = 0;
  for (int64_t i = 0; i < n; ++i) {
    bool copy = at::equal(train[i].slice(0, half, 2 * half), train[i].slice(0, 0, half));
    copies += copy ? 1 : 0;
    EXPECT_TRUE(at::equal(train[i].slice(0, 0, half), calib[i].slice(0, 0, half))) << i;
    if (!copy) {
      EXPECT_TRUE(at::equal(train[i], calib[i])) << i;
    }
    EXPECT_FALSE(at::equal(calib[i].slice(0, half, 2 * half), calib[i].slice(0, 0, half))) << i;
  }
  EXPECT_EQ(copies, n / 2);
  fs::remove_all(dir);
}

TEST(Distill, RunCheckpointsResumesAndExportsBitIdentically) {
  fs::path dir = t::make_temp_dir("distill_run");
  config::Recipe r = tiny_recipe(dir / "run");
  run::RunProgress first = distill::run_distill(r, {});
  EXPECT_EQ(first.plan.converted, 1);
  ASSERT_EQ(first.stages.size(), 2u);  // teacher + stage 1
  EXPECT_GT(first.stages[1].perplexity.at("tinystories_val_heldout"), 1.0);
  EXPECT_GT(first.stages[0].perplexity.at("cs336_tinystories_sample"), 1.0);
  for (const char* f : {"progress.json", "metrics.jsonl", "report.md", "recipe.yaml",
                        "stages/stage_001.safetensors"}) {
    EXPECT_TRUE(fs::exists(dir / "run" / f)) << f;
  }
  EXPECT_NE(slurp(dir / "run" / "metrics.jsonl").find("\"attention_transfer\""), std::string::npos);
  EXPECT_NE(slurp(dir / "run" / "report.md").find("| 1 | 4 |"), std::string::npos);
  std::string stage1 = slurp(dir / "run" / "stages" / "stage_001.safetensors");

  // An existing run is never overwritten silently.
  EXPECT_THROW(distill::run_distill(r, {}), Error);
  // Resuming with other conversion settings is refused, naming the setting.
  config::Recipe other = r;
  other.dsla.variant = model::DslaVariant::single;
  try {
    distill::run_distill(other, {true});
    ADD_FAILURE() << "resume with another variant was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("variant"), std::string::npos) << e.what();
  }
  // Resume to all three layers: stage 1 is kept as it was.
  r.distill.fraction = 1.0;
  run::RunProgress full = distill::run_distill(r, {true});
  EXPECT_EQ(full.plan.converted, 3);
  EXPECT_EQ(full.stages.size(), 4u);
  EXPECT_EQ(slurp(dir / "run" / "stages" / "stage_001.safetensors"), stage1);

  // The in-memory model of the last stage vs its export loaded back.
  run::RunDirectory run_dir(dir / "run");
  auto model = model::load_llama(t::stories260k_dir());
  auto progress = run_dir.load_progress(model->num_layers());
  ASSERT_TRUE(progress.has_value());
  model::apply_plan(*model, progress->plan);
  run_dir.load_stages(*model, *progress);
  model::export_model(*model, progress->plan, t::stories260k_dir(), dir / "export");
  auto loaded = model::load_llama(dir / "export");
  EXPECT_EQ(model::attention_kinds(*loaded), model::attention_kinds(*model));
  EXPECT_EQ(model::attention_kinds(*loaded)[4], "dsla");
  EXPECT_EQ(model::attention_kinds(*loaded)[0], "softmax");
  c10::InferenceMode guard;
  at::Tensor ids = at::randint(1, model->config().vocab_size, {2, 40}, at::kLong);
  EXPECT_TRUE(at::equal(model->forward(ids), loaded->forward(ids)));
  auto plan = model::read_conversion_plan(dir / "export");
  ASSERT_TRUE(plan.has_value());
  EXPECT_EQ(plan->converted_layers(), (std::vector<int64_t>{4, 1, 2}));
  EXPECT_TRUE(fs::exists(dir / "export" / "tokenizer.model"));
  // An earlier export is replaced; any other directory, or the source model, is not.
  model::export_model(*model, progress->plan, t::stories260k_dir(), dir / "export");
  fs::create_directories(dir / "precious");
  std::ofstream(dir / "precious" / "notes.txt") << "keep";
  EXPECT_THROW(model::export_model(*model, progress->plan, t::stories260k_dir(), dir / "precious"),
               Error);
  EXPECT_TRUE(fs::exists(dir / "precious" / "notes.txt"));
  EXPECT_THROW(
      model::export_model(*model, progress->plan, t::stories260k_dir(), t::stories260k_dir()),
      Error);
}

TEST(Distill, LoadingAnExportWithMissingTensorsNamesThem) {
  fs::path dir = t::make_temp_dir("distill_bad_export");
  auto model = model::load_llama(t::stories260k_dir());
  model::ConversionPlan plan;
  plan.order = {0, 1, 2, 3, 4};
  plan.converted = 1;
  model::apply_plan(*model, plan);
  model::export_model(*model, plan, t::stories260k_dir(), dir / "export");
  // Claim a second converted layer whose gate tensors the file does not have.
  nlohmann::json config = nlohmann::json::parse(slurp(dir / "export" / "config.json"));
  config["dsla"]["converted"] = 2;
  std::ofstream(dir / "export" / "config.json") << config.dump();
  try {
    model::load_llama(dir / "export");
    ADD_FAILURE() << "an export lacking tensors loaded";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("model.layers.1.self_attn.history_gate"),
              std::string::npos)
        << e.what();
  }
}
