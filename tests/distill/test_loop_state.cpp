// Checkpointed fitting loops: a loop resumed from a saved state (through the file format) ends
// exactly where the uninterrupted loop ends, and a parallel-transfer run stopped by the time limit
// at every checkpoint and resumed each time ends with the same layers as one run straight through.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <vector>

#include "core/error.h"
#include "distill/driver.h"
#include "distill/layer_fit.h"
#include "distill/loop_state.h"
#include "io/json_file.h"
#include "io/safetensors.h"
#include "run/run_directory.h"
#include "support/test_paths.h"
#include "support/tiny_recipe.h"

using namespace dsla;
namespace t = dsla::testing;
namespace fs = std::filesystem;

namespace {

/// Two parameters fitted to per-sequence targets, so the batch order matters.
struct ToyLoop {
  at::Tensor data = at::arange(24, at::kFloat).reshape({8, 3}).sin();
  at::Tensor a = at::zeros({3}), b = at::ones({2, 3});
  distill::FitResult run(int64_t steps, distill::LoopCheckpoints* checkpoints) {
    distill::FitOptions o;
    o.steps = steps;
    o.batch_size = 2;
    o.lr = 0.05;
    o.seed = 11;
    o.checkpoints = checkpoints;
    auto step = [&](const distill::FitBatch& batch) {
      at::Tensor target = data.index_select(0, batch.rows);  // [2, 3]
      at::Tensor mse = (a + b.sum(0) - target).pow(2).mean();
      at::Tensor parts = at::stack({mse, (b - 1).pow(2).mean()});
      return distill::StepLosses{parts.sum(), mse, {}, parts, false};
    };
    return distill::run_fit_loop(std::vector<std::vector<at::Tensor>>{{a}, {b}}, 8, 1, o, "toy",
                                 step, nullptr);
  }
};

}  // namespace

TEST(LoopState, AResumedLoopEndsExactlyWhereTheUninterruptedOneDoes) {
  ToyLoop straight;
  distill::FitResult want = straight.run(10, nullptr);

  fs::path dir = t::make_temp_dir("loop_state");
  ToyLoop first;
  distill::LoopCheckpoints save_every_4;
  save_every_4.every = 4;
  std::vector<int64_t> saved_at;
  save_every_4.save = [&](const distill::LoopState& s) {
    saved_at.push_back(s.steps_done);
    if (s.steps_done == 4) distill::save_loop_state(dir / "state.safetensors", s, {{"k", "v"}});
  };
  first.run(10, &save_every_4);
  EXPECT_EQ(saved_at, (std::vector<int64_t>{4, 8}));

  auto [state, metadata] = distill::load_loop_state(dir / "state.safetensors");
  EXPECT_EQ(metadata.at("k"), "v");
  EXPECT_EQ(state.steps_done, 4);
  EXPECT_EQ(state.adam_steps, (std::vector<int64_t>{4, 4}));
  ToyLoop resumed;  // fresh parameters: the state supplies them
  distill::LoopCheckpoints from_4;
  from_4.resume = state;
  distill::FitResult got = resumed.run(10, &from_4);
  EXPECT_EQ(got.resumed_at, 4);
  EXPECT_TRUE(at::equal(resumed.a, straight.a));
  EXPECT_TRUE(at::equal(resumed.b, straight.b));
  EXPECT_DOUBLE_EQ(got.first_loss, want.first_loss);
  EXPECT_DOUBLE_EQ(got.final_loss, want.final_loss);
  ASSERT_EQ(got.final_parts.size(), 2u);
  EXPECT_DOUBLE_EQ(got.final_parts[1], want.final_parts[1]);

  // A state for another loop (other parameter shapes) is refused.
  ToyLoop other;
  other.b = at::ones({3, 3});
  EXPECT_THROW(other.run(10, &from_4), dsla::Error);
  fs::remove_all(dir);
}

TEST(LoopState, AStoppedAndResumedParallelRunEqualsOneRunStraightThrough) {
  fs::path dir = t::make_temp_dir("stopped_run");
  auto recipe = [&](const fs::path& run_dir) {
    config::Recipe r = t::tiny_stories_recipe(run_dir);
    r.distill.transfer = config::TransferKind::parallel;
    r.distill.order = config::OrderKind::list;
    r.distill.layers = {4, 1};
    r.distill.steps_per_layer = 6;
    r.distill.checkpoint_every = 2;
    r.distill.eval_every = 0;
    return r;
  };
  config::Recipe straight = recipe(dir / "straight");
  distill::run_distill(straight, {});

  config::Recipe r = recipe(dir / "stopped");
  run::RunDirectory run(dir / "stopped");
  distill::DistillOptions hurry;
  hurry.time_limit_s = 1e-9;                                          // stop at every checkpoint
  EXPECT_THROW(distill::run_distill(r, hurry), distill::RunStopped);  // after step 2
  EXPECT_TRUE(fs::exists(run.transfer_partial_file()));
  EXPECT_FALSE(fs::exists(run.transfer_file()));
  hurry.resume = true;
  EXPECT_THROW(distill::run_distill(r, hurry), distill::RunStopped);  // after step 4
  EXPECT_THROW(distill::run_distill(r, hurry), distill::RunStopped);  // after stage 1
  EXPECT_FALSE(fs::exists(run.transfer_partial_file())) << "removed once the phase is saved";
  run::RunProgress done = distill::run_distill(r, {true});
  EXPECT_EQ(done.plan.converted, 2);

  nlohmann::json summary = io::read_json_file(run.transfer_summary_file());
  EXPECT_EQ(summary["phases"][0]["resumed_at_step"].get<int64_t>(), 4);
  run::RunDirectory want_run(dir / "straight");
  io::SafetensorsCollection got(run.transfer_file()), want(want_run.transfer_file());
  ASSERT_EQ(got.names(), want.names());
  for (const auto& name : want.names()) {
    EXPECT_TRUE(at::equal(got.tensor(name), want.tensor(name))) << name;
  }
  for (int64_t stage : {1, 2}) {
    EXPECT_EQ(t::read_file(run.stage_file(stage)), t::read_file(want_run.stage_file(stage)))
        << "stage " << stage;
  }
  fs::remove_all(dir);
}
