// The repair phase on stories260K: it trains every converted layer at once and lowers the held-out
// KL to the teacher; the run keeps the stages' layers for smaller depths, and the repaired ones at
// the repaired depth are what export, eval and serve load; a resumed run does not repair again.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "distill/builders.h"
#include "distill/driver.h"
#include "distill/end_to_end.h"
#include "io/safetensors.h"
#include "model/export.h"
#include "run/open_run.h"
#include "support/test_paths.h"
#include "support/tiny_recipe.h"
#include "tokenizer/tokenizer.h"

using namespace dsla;
namespace t = dsla::testing;
namespace fs = std::filesystem;

namespace {

config::Recipe repair_recipe(const fs::path& run_dir, int64_t repair_steps) {
  config::Recipe r = t::tiny_stories_recipe(run_dir);
  r.distill.transfer = config::TransferKind::parallel;
  r.distill.order = config::OrderKind::list;
  r.distill.layers = {4, 1, 2};
  r.distill.fraction = 2.0 / 3.0;
  r.distill.steps_per_layer = 4;
  r.distill.eval_every = 0;
  r.distill.e2e_steps = 2;  // a stage trained on the layers before it: stage 3 shows which it got
  r.distill.repair_steps = repair_steps;
  r.distill.check_every =
      4;  // held-out KL before each end-to-end phase, every 4 steps and at its end
  r.distill.spike_factor = 0;
  return r;
}

/// Every tensor of `a` equals the one of the same name in `b`.
bool same_tensors(const fs::path& a, const fs::path& b) {
  io::SafetensorsCollection x(a), y(b);
  if (x.names() != y.names()) return false;
  for (const auto& name : x.names()) {
    if (!at::equal(x.tensor(name), y.tensor(name))) return false;
  }
  return true;
}

}  // namespace

TEST(Repair, TrainsAllConvertedLayersAndKeepsTheStagesForSmallerDepths) {
  fs::path dir = t::make_temp_dir("repair_run");
  config::Recipe plain = repair_recipe(dir / "plain", 0);
  distill::run_distill(plain, {});
  config::Recipe r = repair_recipe(dir / "repair", 8);
  run::RunProgress p = distill::run_distill(r, {});
  ASSERT_TRUE(p.repair.has_value());
  EXPECT_EQ(p.repair->depth, 2);
  EXPECT_EQ(p.repair->steps, 8);
  EXPECT_EQ(p.repair->tokens, 8 * 4 * 64);
  EXPECT_FALSE(p.repair->perplexity.empty());
  ASSERT_TRUE(p.repair->checks.has_value());
  EXPECT_LT(p.repair->checks->best, p.repair->checks->first);

  run::RunDirectory a(dir / "plain"), b(dir / "repair");
  for (int64_t k = 1; k <= 2; ++k) {
    // The stages are the plain run's; the repaired files moved both layers.
    EXPECT_TRUE(same_tensors(a.stage_file(k), b.stage_file(k))) << k;
    EXPECT_FALSE(same_tensors(b.stage_file(k), b.repaired_stage_file(k))) << k;
  }
  // Depth 1 loads the stage, depth 2 the repair; the repaired model reproduces the held-out KL
  // the phase kept, on the same held-out sequences, computed here independently of the loop.
  run::RunModel depth1 = run::load_run_model(dir / "repair", 1);
  run::RunModel depth2 = run::load_run_model(dir / "repair", 2);
  io::SafetensorsCollection stage1(b.stage_file(1)), repaired1(b.repaired_stage_file(1));
  for (const auto& [name, value] : model::layer_attention_parameters(*depth1.model, 4)) {
    EXPECT_TRUE(at::equal(value, stage1.tensor(name))) << name;
  }
  for (const auto& [name, value] : model::layer_attention_parameters(*depth2.model, 4)) {
    EXPECT_TRUE(at::equal(value, repaired1.tensor(name))) << name;
  }
  // The switchable model (serve) runs the repaired layers at depth 2 only, the stage's below.
  auto hybrid = run::load_run_hybrid(run::open_run(dir / "repair"));
  for (auto [depth, file] :
       {std::pair{int64_t{1}, b.stage_file(1)}, {2, b.repaired_stage_file(1)}}) {
    io::SafetensorsCollection want(file);
    for (const auto& item : hybrid->attention(depth, 4).named_parameters()) {
      std::string name = model::layer_attention_prefix(4) + item.key();
      EXPECT_TRUE(at::equal(item.value(), want.tensor(name))) << depth << " " << name;
    }
  }
  auto tokenizer = load_tokenizer(r.model.path);
  distill::Corpus corpus = distill::load_corpus(r, *tokenizer);
  at::Tensor heldout = corpus.heldout_sequences(r.data.seq_len, 2 * r.distill.batch_size);
  EXPECT_NEAR(distill::kl_to_teacher(*hybrid, heldout, r.distill.batch_size),
              p.repair->checks->best, 1e-3 * p.repair->checks->best);

  // A resumed run with nothing left to do trains nothing again.
  std::string bytes = t::read_file(b.repaired_stage_file(2));
  distill::run_distill(r, {true});
  EXPECT_EQ(t::read_file(b.repaired_stage_file(2)), bytes);
  std::string report = t::read_file(b.root() / "report.md");
  EXPECT_NE(report.find("Repair of all 2 converted layers"), std::string::npos) << report;

  // Going on to all three layers trains stage 3 on the stages' layers (not the repaired ones),
  // keeps the depth-2 repair for depth 2 ... until the new repair at depth 3 replaces it.
  r.distill.fraction = 1.0;
  plain.distill.fraction = 1.0;
  distill::run_distill(plain, {true});
  run::RunProgress full = distill::run_distill(r, {true});
  ASSERT_TRUE(full.repair.has_value());
  EXPECT_EQ(full.repair->depth, 3);
  EXPECT_TRUE(same_tensors(a.stage_file(3), b.stage_file(3)));
  fs::remove_all(dir);
}

TEST(Repair, AStoppedAndResumedRepairEqualsOneStraightThrough) {
  fs::path dir = t::make_temp_dir("repair_stopped");
  auto recipe = [&](const fs::path& run_dir) {
    config::Recipe r = repair_recipe(run_dir, 6);
    r.distill.fraction = 1.0;
    r.distill.e2e_steps = 0;
    r.distill.check_every = 0;       // held-out checks and loop checkpoints do not combine
    r.distill.checkpoint_every = 2;  // the repair saves after steps 2 and 4
    return r;
  };
  config::Recipe straight = recipe(dir / "straight");
  run::RunProgress want = distill::run_distill(straight, {});
  ASSERT_TRUE(want.repair.has_value());

  config::Recipe r = recipe(dir / "stopped");
  run::RunDirectory run(dir / "stopped");
  distill::DistillOptions hurry;
  hurry.time_limit_s = 1e-9;  // stop at every chance: after stages 1 and 2, before the repair, ...
  int stops = 0;
  bool saw_partial = false;
  for (;; ++stops) {
    ASSERT_LT(stops, 20) << "the run never finished";
    try {
      distill::run_distill(r, hurry);
      break;
    } catch (const distill::RunStopped&) {
      saw_partial = saw_partial || fs::exists(run.repair_partial_file());
    }
    hurry.resume = true;
  }
  EXPECT_TRUE(saw_partial) << "the repair never checkpointed";
  EXPECT_FALSE(fs::exists(run.repair_partial_file())) << "removed once the repair is saved";
  EXPECT_GE(stops, 4);  // two stages, before the repair, and at least one repair checkpoint
  run::RunDirectory want_run(dir / "straight");
  for (int64_t k = 1; k <= 3; ++k) {
    EXPECT_EQ(t::read_file(run.repaired_stage_file(k)),
              t::read_file(want_run.repaired_stage_file(k)))
        << "stage " << k;
  }
  fs::remove_all(dir);
}
