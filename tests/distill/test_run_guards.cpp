// Guards around a run directory: one writer at a time, attempts numbered in metrics.jsonl, and a
// resume that changes training settings refused unless allowed (then recorded).
#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "core/error.h"
#include "distill/driver.h"
#include "run/run_directory.h"
#include "support/test_paths.h"
#include "support/tiny_recipe.h"

using namespace dsla;
namespace t = dsla::testing;
namespace fs = std::filesystem;

TEST(RunGuards, OneWriterAtATime) {
  fs::path dir = t::make_temp_dir("run_lock");
  {
    run::RunDirectory first(dir);
    first.lock_for_writing();
    run::RunDirectory second(dir);
    try {
      second.lock_for_writing();
      FAIL() << "a second writer took the lock";
    } catch (const Error& e) {
      std::string what = e.what();
      EXPECT_NE(what.find("another dsla job (pid " + std::to_string(::getpid())), std::string::npos)
          << what;
    }
  }
  run::RunDirectory after(dir);  // the first writer's lock ended with it
  EXPECT_NO_THROW(after.lock_for_writing());
  fs::remove_all(dir);
}

TEST(RunGuards, AttemptsAreNumberedAndChangedSettingsNeedAllowChange) {
  fs::path dir = t::make_temp_dir("run_attempts");
  config::Recipe r = t::tiny_stories_recipe(dir / "run");
  r.distill.order = config::OrderKind::list;
  r.distill.layers = {4, 1};
  r.distill.fraction = 0.5;
  r.distill.steps_per_layer = 3;
  distill::run_distill(r, {});
  run::RunDirectory run(dir / "run");

  r.distill.fraction = 1.0;  // more stages: free
  r.distill.lr = 3e-3;       // shapes training: refused
  r.run.seed = 7;
  distill::DistillOptions resume;
  resume.resume = true;
  try {
    distill::run_distill(r, resume);
    FAIL() << "a changed lr was accepted";
  } catch (const Error& e) {
    std::string what = e.what();
    EXPECT_NE(what.find("distill.lr (0.001 vs 0.003)"), std::string::npos) << what;
    EXPECT_NE(what.find("run.seed (0 vs 7)"), std::string::npos) << what;
    EXPECT_EQ(what.find("distill.fraction"), std::string::npos) << what;
    EXPECT_NE(what.find("--allow-change"), std::string::npos) << what;
  }
  EXPECT_TRUE(distill::recipe_changes(r, run).size() == 2);
  resume.allow_change = true;
  run::RunProgress done = distill::run_distill(r, resume);
  EXPECT_EQ(done.plan.converted, 2);
  EXPECT_TRUE(fs::exists(run.root() / "recipe_history" / "recipe.attempt-2.yaml"));

  // metrics.jsonl: attempt 1 then 2 (the refused resume started none), each step line numbered.
  std::ifstream in(run.metrics_file());
  std::vector<int> attempts;
  int steps_1 = 0, steps_2 = 0;
  for (std::string line; std::getline(in, line);) {
    auto j = nlohmann::json::parse(line);
    if (j["event"] == "attempt") attempts.push_back(j["number"].get<int>());
    if (j["event"] == "step") (j["attempt"] == 1 ? steps_1 : steps_2) += 1;
    if (j["event"] == "attempt" && j["number"] == 2) {
      EXPECT_EQ(j["recipe_changes"].size(), 2u) << line;
      EXPECT_EQ(j["converted"], 1) << line;
    }
  }
  EXPECT_EQ(attempts, (std::vector<int>{1, 2}));
  EXPECT_GT(steps_1, 0);
  EXPECT_GT(steps_2, 0);
  fs::remove_all(dir);
}
