// Tests of load recipes for dsla bench: decoding with every error at once, deterministic Poisson
// ramps whose request counts follow the rates, traces.
#include <gtest/gtest.h>

#include <fstream>

#include "config/yaml_file.h"
#include "core/error.h"
#include "core/paths.h"
#include "loadtest/load_recipe.h"
#include "support/test_paths.h"

using namespace dsla::loadtest;

TEST(LoadRecipe, PoissonRampFollowsItsRatesAndIsDeterministic) {
  auto dir = dsla::testing::make_temp_dir("load");
  std::ofstream(dir / "ramp.yaml") << "arrivals: poisson\n"
                                      "phases:\n  - {rate: 2, seconds: 100}\n"
                                      "  - {rate: 20, seconds: 100}\n"
                                      "prompt_tokens: {min: 10, max: 20}\n"
                                      "max_tokens: {min: 4, max: 4}\nseed: 3\n";
  LoadRecipe c = read_load_recipe(dir / "ramp.yaml");
  auto plan = plan_requests(c);
  EXPECT_EQ(plan_requests(c).size(), plan.size());
  int64_t first = 0, second = 0;
  for (const auto& r : plan) {
    (r.at_s < 100 ? first : second)++;
    EXPECT_GE(r.prompt_tokens, 10);
    EXPECT_LE(r.prompt_tokens, 20);
    EXPECT_EQ(r.max_tokens, 4);
  }
  // Poisson counts: mean 200 and 2000, standard deviation ~14 and ~45.
  EXPECT_NEAR(static_cast<double>(first), 200, 60);
  EXPECT_NEAR(static_cast<double>(second), 2000, 200);
  EXPECT_TRUE(std::is_sorted(plan.begin(), plan.end(),
                             [](const auto& a, const auto& b) { return a.at_s < b.at_s; }));
  c.seed = 4;
  EXPECT_NE(plan_requests(c).front().at_s, plan.front().at_s);
}

TEST(LoadRecipe, ReportsEveryProblemAtOnce) {
  auto dir = dsla::testing::make_temp_dir("load_bad");
  // (phases[1] and [2] were found by fuzz_yaml: 6e94 seconds planned arrivals forever, NaN passed)
  std::ofstream(dir / "bad.yaml") << "arrivals: poisson\nphases:\n  - {rate: -1, seconds: 5}\n"
                                     "  - {rate: 1, seconds: 6e94}\n  - {rate: .nan, seconds: 5}\n"
                                     "prompt_tokens: {min: 50, max: 10}\nmax_token: 3\n";
  try {
    read_load_recipe(dir / "bad.yaml");
    ADD_FAILURE() << "a bad recipe was accepted";
  } catch (const dsla::Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("bad.yaml"), std::string::npos) << m;
    EXPECT_NE(m.find("phases[0]: rate must be in (0, 10000] per second"), std::string::npos) << m;
    EXPECT_NE(m.find("phases[1]: rate must be in"), std::string::npos) << m;
    EXPECT_NE(m.find("phases[2]: rate must be in"), std::string::npos) << m;
    EXPECT_NE(m.find("prompt_tokens: need 1 <= min <= max"), std::string::npos) << m;
    EXPECT_NE(m.find("unknown key 'max_token'"), std::string::npos) << m;
  }
  EXPECT_THROW(read_load_recipe(dir / "missing.yaml"), dsla::Error);
}

TEST(LoadRecipe, TraceArrivals) {
  auto dir = dsla::testing::make_temp_dir("load_trace");
  std::ofstream(dir / "t.jsonl") << R"({"t": 2.5, "prompt_tokens": 30, "max_tokens": 5})"
                                 << "\n"
                                 << R"({"t": 0.5, "prompt_tokens": 10, "max_tokens": 7})"
                                 << "\n";
  std::ofstream(dir / "trace.yaml")
      << "arrivals: trace\ntrace: " << (dir / "t.jsonl").string() << "\n";
  auto plan = plan_requests(read_load_recipe(dir / "trace.yaml"));
  ASSERT_EQ(plan.size(), 2u);
  EXPECT_DOUBLE_EQ(plan[0].at_s, 0.5);
  EXPECT_EQ(plan[1].prompt_tokens, 30);
  std::ofstream(dir / "t.jsonl") << "{\"t\": 1}\n";
  EXPECT_THROW(plan_requests(read_load_recipe(dir / "trace.yaml")), dsla::Error);
}

TEST(LoadRecipe, EveryLoadRecipeInTheRepositoryParses) {
  int count = 0;
  for (const auto& e :
       std::filesystem::recursive_directory_iterator(dsla::repo_root() / "recipes")) {
    if (e.path().extension() != ".yaml") continue;
    auto root = dsla::config::read_yaml_file(e.path());
    if (dsla::config::file_schema(root, e.path()) != dsla::config::FileSchema::load) continue;
    ++count;
    EXPECT_FALSE(plan_requests(read_load_recipe(e.path())).empty()) << e.path();
  }
  EXPECT_GE(count, 2);
}
