// Parallel attention transfer on stories260K: every layer takes exactly the steps fit_attention
// gives it alone on the teacher's inputs; a parallel run checkpoints its phase, resumes it for new
// layers only, and its stages hold the phase's layers.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>

#include "core/error.h"
#include "distill/driver.h"
#include "distill/parallel_transfer.h"
#include "io/json_file.h"
#include "io/safetensors.h"
#include "model/conversion.h"
#include "model/export.h"
#include "model/weight_loader.h"
#include "support/test_paths.h"
#include "support/tiny_recipe.h"

using namespace dsla;
namespace t = dsla::testing;
namespace fs = std::filesystem;

namespace {

/// The recipes' layer form at stories260K size: every part of the layer is exercised.
model::DslaSettings recipe_form() {
  model::DslaSettings spec;
  spec.gate_rank = 4;
  spec.feature_map = model::FeatureMap::hedgehog;
  spec.normalize = model::Normalize::qz;
  spec.window = 4;
  spec.sinks = 1;
  spec.rope = true;
  spec.output_norm = false;
  return spec;
}

distill::LayerStudents fresh_students(model::LlamaForCausalLMImpl& teacher,
                                      const model::DslaSettings& spec,
                                      const std::vector<int64_t>& layers) {
  distill::LayerStudents out;
  for (int64_t layer : layers) {
    at::manual_seed(100 + static_cast<uint64_t>(layer));
    out[layer] = model::make_student_attention(*teacher.layer(layer).attention(), teacher.config(),
                                               spec, layer);
  }
  return out;
}

/// A stories260K recipe in the recipes' form, transferring `layers` in that order in parallel, 5
/// steps each, perplexity at the last stage only.
config::Recipe parallel_recipe(const fs::path& run_dir, const std::vector<int64_t>& layers) {
  config::Recipe r = t::tiny_stories_recipe(run_dir);
  r.dsla = recipe_form();
  r.distill.transfer = config::TransferKind::parallel;
  r.distill.order = config::OrderKind::list;
  r.distill.layers = layers;
  r.distill.steps_per_layer = 5;
  r.distill.eval_every = 0;
  return r;
}

}  // namespace

TEST(ParallelTransfer, EachLayerTakesTheStepsItWouldTakeAlone) {
  auto teacher = model::load_llama(t::stories260k_dir());
  for (auto& p : teacher->parameters()) p.set_requires_grad(false);
  model::DslaSettings spec = recipe_form();
  at::manual_seed(3);
  at::Tensor ids = at::randint(1, teacher->config().vocab_size, {8, 32}, at::kLong);
  distill::FitOptions o;
  o.steps = 4;
  o.batch_size = 2;
  o.lr = 3e-3;
  o.gate_separation = 0.01;
  o.seed = 5;
  auto together = fresh_students(*teacher, spec, {1, 3});
  auto alone = fresh_students(*teacher, spec, {1, 3});
  auto result = distill::parallel_transfer(*teacher, together, ids, o, nullptr);
  ASSERT_EQ(result.layers, (std::vector<int64_t>{1, 3}));
  ASSERT_EQ(result.final_loss.size(), 2u);
  EXPECT_EQ(result.tokens, 4 * 2 * 32);
  model::AttentionContext ctx = teacher->make_context(0, 32);
  for (int64_t layer : {1, 3}) {
    // The reference: the teacher's layer inputs collected by the chained path, one layer fitted.
    distill::LayerIO io =
        distill::collect_layer_io(*teacher, layer, *teacher->layer(layer).attention(), ids, 2);
    auto untouched = fresh_students(*teacher, spec, {layer}).at(layer)->named_parameters();
    distill::fit_attention(*alone.at(layer), io, ctx, o);
    auto got = together.at(layer)->named_parameters();
    auto want = alone.at(layer)->named_parameters();
    bool moved = false;
    for (const auto& item : want) {
      EXPECT_TRUE(at::allclose(got[item.key()], item.value(), 1e-4, 1e-6))
          << "layer " << layer << " " << item.key();
      moved = moved || !at::equal(item.value(), untouched[item.key()]);
    }
    EXPECT_TRUE(moved) << "layer " << layer << " did not train";
  }
  // With frozen projections only the layer's new parameters move.
  auto frozen = fresh_students(*teacher, spec, {2});
  auto start = fresh_students(*teacher, spec, {2}).at(2)->named_parameters();
  distill::FitOptions keep = o;
  keep.freeze_projections = true;
  distill::parallel_transfer(*teacher, frozen, ids, keep, nullptr);
  for (const auto& item : frozen.at(2)->named_parameters()) {
    bool projection = item.key().find("_proj.") != std::string::npos;
    EXPECT_EQ(at::equal(item.value(), start[item.key()]), projection) << item.key();
  }
  // Held-out MSE of the walk equals the one computed on the collected inputs.
  at::Tensor heldout = at::randint(1, teacher->config().vocab_size, {3, 32}, at::kLong);
  auto mse = distill::transfer_mse(*teacher, together, heldout, 2);
  for (int64_t layer : {1, 3}) {
    distill::LayerIO io =
        distill::collect_layer_io(*teacher, layer, *teacher->layer(layer).attention(), heldout, 3);
    at::Tensor out = together.at(layer)->forward(io.x, ctx, nullptr);
    double want = ((out - io.y).pow(2).sum() / io.y.pow(2).sum()).item<double>();
    EXPECT_NEAR(mse.at(layer), want, 1e-4 * want) << layer;
    EXPECT_LT(mse.at(layer), 1.0) << layer;
  }
  // A teacher whose layer is already converted cannot give that layer's targets.
  model::convert_layer(*teacher, 3, spec);
  EXPECT_THROW(distill::parallel_transfer(*teacher, together, ids, o, nullptr), Error);
}

TEST(ParallelTransfer, RunCheckpointsThePhaseAndResumesItForNewLayersOnly) {
  fs::path dir = t::make_temp_dir("parallel_run");
  config::Recipe r = parallel_recipe(dir / "run", {4, 1, 2});  // eval_every 0: the last stage only
  r.distill.fraction = 2.0 / 3.0;
  run::RunProgress first = distill::run_distill(r, {});
  ASSERT_EQ(first.plan.converted, 2);
  ASSERT_EQ(first.stages.size(), 3u);
  EXPECT_TRUE(first.stages[1].perplexity.empty());  // eval_every 0: stage 1 not evaluated
  EXPECT_FALSE(first.stages[2].perplexity.empty());
  EXPECT_GT(first.stages[2].seconds_by_part.at("evaluation"), 0.0);
  run::RunDirectory run(dir / "run");
  nlohmann::json summary = io::read_json_file(run.transfer_summary_file());
  EXPECT_EQ(summary["layers"].size(), 2u);
  EXPECT_EQ(summary["phases"].size(), 1u);
  EXPECT_EQ(summary["phases"][0]["tokens_per_layer"].get<int64_t>(), 5 * 4 * 64);
  EXPECT_EQ(summary["phases"][0]["sources"][0]["sequences"].get<int64_t>(), 5 * 4);
  double heldout = summary["layers"]["4"]["heldout_mse"].get<double>();
  EXPECT_TRUE(heldout > 0 && heldout < 1) << heldout;
  EXPECT_DOUBLE_EQ(first.stages[1].transfer_final_loss,
                   summary["layers"]["4"]["final_loss"].get<double>());
  // No end-to-end phase: stage 1's file holds exactly the phase's layer 4.
  io::SafetensorsCollection phase(run.transfer_file()), stage1(run.stage_file(1));
  for (const auto& name : stage1.names()) {
    EXPECT_TRUE(at::equal(stage1.tensor(name), phase.tensor(name))) << name;
  }
  std::string stage1_bytes = t::read_file(run.stage_file(1));
  std::string metrics = t::read_file(run.metrics_file());
  EXPECT_NE(metrics.find("\"parallel_transfer\""), std::string::npos);
  EXPECT_NE(metrics.find("\"layer_losses\""), std::string::npos);
  std::string report = t::read_file(run.root() / "report.md");
  EXPECT_NE(report.find("## Parallel attention transfer"), std::string::npos) << report;
  EXPECT_NE(report.find("1280 tokens per layer"), std::string::npos) << report;
  EXPECT_NE(report.find("Stage time by part:"), std::string::npos) << report;

  // Resuming to all three layers trains only layer 2 in a second phase; stage 1 is kept.
  r.distill.fraction = 1.0;
  run::RunProgress full = distill::run_distill(r, {true});
  EXPECT_EQ(full.plan.converted, 3);
  summary = io::read_json_file(run.transfer_summary_file());
  EXPECT_EQ(summary["layers"].size(), 3u);
  ASSERT_EQ(summary["phases"].size(), 2u);
  EXPECT_EQ(summary["phases"][1]["layers"], nlohmann::json::array({2}));
  EXPECT_EQ(t::read_file(run.stage_file(1)), stage1_bytes);
  fs::remove_all(dir);
}

TEST(ParallelTransfer, ExtraPhaseTrainsTheWorstLayersLongerAndLeavesTheRest) {
  fs::path dir = t::make_temp_dir("extra_phase");
  config::Recipe r = parallel_recipe(dir / "plain", {4, 1, 2, 0, 3});
  distill::run_distill(r, {});
  run::RunDirectory plain(dir / "plain");
  nlohmann::json before = io::read_json_file(plain.transfer_summary_file());
  // The two layers of highest held-out MSE after the first phase, found here independently.
  std::vector<std::pair<double, int64_t>> by_mse;
  for (const auto& [key, v] : before["layers"].items())
    by_mse.emplace_back(v["heldout_mse"].get<double>(), std::stoll(key));
  std::sort(by_mse.rbegin(), by_mse.rend());
  std::vector<int64_t> worst = {std::min(by_mse[0].second, by_mse[1].second),
                                std::max(by_mse[0].second, by_mse[1].second)};

  r.run.dir = (dir / "extra").string();
  r.distill.extra_steps = 6;
  r.distill.extra_worst = 2;
  distill::run_distill(r, {});
  run::RunDirectory extra(dir / "extra");
  nlohmann::json after = io::read_json_file(extra.transfer_summary_file());
  ASSERT_EQ(after["phases"].size(), 2u);
  EXPECT_EQ(after["phases"][1]["name"], "extra_transfer");
  EXPECT_EQ(after["phases"][1]["layers"], nlohmann::json(worst));
  EXPECT_EQ(after["phases"][1]["tokens_per_layer"].get<int64_t>(), 6 * 4 * 64);
  int64_t sequences = 0;
  for (const auto& s : after["phases"][1]["sources"]) sequences += s["sequences"].get<int64_t>();
  EXPECT_EQ(sequences, 6 * 4);  // its own fresh sequences, after the first phase's
  io::SafetensorsCollection a(plain.transfer_file()), b(extra.transfer_file());
  for (int64_t layer : r.distill.layers) {
    bool trained = layer == worst[0] || layer == worst[1];
    const nlohmann::json& entry = after["layers"][std::to_string(layer)];
    EXPECT_EQ(entry.contains("extra"), trained) << layer;
    std::string prefix = model::layer_attention_prefix(layer);
    bool same = true;
    for (const auto& name : a.names()) {
      if (name.rfind(prefix, 0) == 0) same = same && at::equal(a.tensor(name), b.tensor(name));
    }
    EXPECT_EQ(same, !trained) << layer;  // the first phase is the same run in both directories
    if (!trained) continue;
    double first_mse = before["layers"][std::to_string(layer)]["heldout_mse"].get<double>();
    EXPECT_DOUBLE_EQ(entry["extra"]["before_heldout_mse"].get<double>(), first_mse);
    EXPECT_LT(entry["heldout_mse"].get<double>(), first_mse) << layer;
  }
  // The stages hold the phase's layers; a resumed run trains nothing again.
  io::SafetensorsCollection stage(extra.stage_file(5));
  for (const auto& name : stage.names()) EXPECT_TRUE(at::equal(stage.tensor(name), b.tensor(name)));
  std::string bytes = t::read_file(extra.transfer_file());
  distill::run_distill(r, {true});
  EXPECT_EQ(t::read_file(extra.transfer_file()), bytes);
  std::string report = t::read_file(extra.root() / "report.md");
  EXPECT_NE(report.find("- extra_transfer: 2 layers, 6 steps"), std::string::npos) << report;
  fs::remove_all(dir);
}
