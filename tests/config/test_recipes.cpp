// Recipes: every file in recipes/ parses and validates; unknown keys, wrong types, overrides and
// cross-field errors.
#include <gtest/gtest.h>

#include <filesystem>

#include "config/recipe.h"
#include "core/atomic_file.h"
#include "core/error.h"
#include "core/paths.h"
#include "support/test_paths.h"

namespace fs = std::filesystem;
using dsla::config::load_recipe;
using dsla::config::validate_recipe;

namespace {

fs::path write_recipe(const std::string& text) {
  static int n = 0;
  fs::path dir = dsla::testing::make_temp_dir("recipe" + std::to_string(n++));
  dsla::write_text_atomically(dir / "r.yaml", text);
  return dir / "r.yaml";
}

std::string load_error(const fs::path& p, const std::vector<std::string>& sets = {}) {
  try {
    load_recipe(p, sets);
  } catch (const dsla::Error& e) {
    return e.what();
  }
  return "";
}

const char* kMinimal = "model: {path: /m}\ndata: {train_files: [/a.txt]}\n";

}  // namespace

TEST(Recipes, EveryRecipeInTheRepositoryParsesAndValidates) {
  int count = 0;
  for (const auto& e : fs::recursive_directory_iterator(dsla::repo_root() / "recipes")) {
    if (e.path().extension() != ".yaml") continue;
    // Task files (tests/eval) and load recipes (tests/serve) are not distill recipes.
    if (e.path().parent_path().filename() == "eval") continue;
    if (e.path().parent_path().filename() == "serve") continue;
    ++count;
    auto r = load_recipe(e.path());
    auto problems = validate_recipe(r, /*check_files=*/false);
    EXPECT_TRUE(problems.empty()) << e.path() << ": " << (problems.empty() ? "" : problems[0]);
  }
  EXPECT_GE(count, 2);
  // The CI-sized recipe points at files that exist here.
  auto r = load_recipe(dsla::repo_root() / "recipes" / "stories260k" / "distill.yaml");
  EXPECT_EQ(r.model.path, (dsla::assets_dir() / "stories260K" / "hf").string());
  auto problems = validate_recipe(r, /*check_files=*/true);
  EXPECT_TRUE(problems.empty()) << (problems.empty() ? "" : problems[0]);
}

TEST(Recipes, UnknownKeysAndWrongTypesAreAllReportedWithSuggestions) {
  fs::path p =
      write_recipe(std::string(kMinimal) +
                   "distill: {steps_per_layr: 10, lr: fast}\ndsla: {rope: maybe}\nrunn: {}\n");
  std::string err = load_error(p);
  EXPECT_NE(err.find(p.string()), std::string::npos) << err;
  EXPECT_NE(err.find("4 problem(s)"), std::string::npos) << err;
  EXPECT_NE(err.find("unknown key 'steps_per_layr' (did you mean 'steps_per_layer'?)"),
            std::string::npos)
      << err;
  EXPECT_NE(err.find("distill.lr: cannot read 'fast' as a number"), std::string::npos) << err;
  EXPECT_NE(err.find("dsla.rope: cannot read 'maybe' as true/false"), std::string::npos) << err;
  EXPECT_NE(err.find("unknown key 'runn' (did you mean 'run'?)"), std::string::npos) << err;
}

TEST(Recipes, OverridesAreTypedAndChecked) {
  fs::path p = write_recipe(kMinimal);
  auto r = load_recipe(p, {"distill.lr=3e-4", "dsla.rope=true", "data.eval_files=[/x, /y]"});
  EXPECT_DOUBLE_EQ(r.distill.lr, 3e-4);
  EXPECT_TRUE(r.dsla.rope);
  EXPECT_EQ(r.data.eval_files.size(), 2u);
  EXPECT_NE(load_error(p, {"distill.lrr=1"}).find("did you mean 'lr'"), std::string::npos);
  EXPECT_NE(load_error(p, {"nodot"}).find("expected section.key=value"), std::string::npos);
}

TEST(Recipes, ValidationReportsEveryCrossFieldProblem) {
  fs::path p = write_recipe(std::string(kMinimal) +
                            "dsla: {history_decay: 0.8, recency_decay: 0.9}\n"
                            "distill: {order: list, fraction: 1.5}\n");
  auto problems = validate_recipe(load_recipe(p), /*check_files=*/true);
  auto has = [&](const std::string& s) {
    for (const auto& q : problems) {
      if (q.find(s) != std::string::npos) return true;
    }
    return false;
  };
  EXPECT_TRUE(has("dsla.history_decay: must exceed dsla.recency_decay"));
  EXPECT_TRUE(has("distill.layers: required when distill.order is 'list'"));
  EXPECT_TRUE(has("distill.fraction: must be in (0, 1]"));
  EXPECT_TRUE(has("model.path: '/m' is not an HF model directory"));
  EXPECT_TRUE(has("data: file '/a.txt' not found"));
  auto variant = validate_recipe(load_recipe(p, {"dsla.variant=triple"}), false);
  ASSERT_FALSE(variant.empty());
  EXPECT_NE(variant[0].find("dsla.variant: 'triple' is not one of"), std::string::npos)
      << variant[0];
}

TEST(Recipes, ResolvedYamlRoundTrips) {
  auto r = load_recipe(dsla::repo_root() / "recipes" / "smollm2_135m" / "distill.yaml",
                       {"distill.layers=[3, 1]"});
  fs::path p = write_recipe(dsla::config::recipe_to_yaml(r));
  auto back = load_recipe(p);
  EXPECT_EQ(back.model.path, r.model.path);
  EXPECT_EQ(back.data.eval_files, r.data.eval_files);
  EXPECT_EQ(back.distill.layers, (std::vector<int64_t>{3, 1}));
  EXPECT_DOUBLE_EQ(back.distill.fraction, r.distill.fraction);
  EXPECT_DOUBLE_EQ(back.dsla.history_decay, r.dsla.history_decay);
}

TEST(Recipes, BadFilesNameTheFile) {
  EXPECT_NE(load_error("/nonexistent/recipe.yaml").find("/nonexistent/recipe.yaml: cannot open"),
            std::string::npos);
  fs::path p = write_recipe("model: [unclosed\n");
  EXPECT_NE(load_error(p).find("invalid YAML"), std::string::npos);
  fs::path q = write_recipe("- a\n- b\n");
  EXPECT_NE(load_error(q).find("top level must be a mapping"), std::string::npos);
}
