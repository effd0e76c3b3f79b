// Recipes: every file in recipes/ parses and validates; unknown keys, wrong types, overrides and
// cross-field errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <map>

#include "config/recipe.h"
#include "config/yaml_file.h"
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
  std::map<dsla::config::FileSchema, int> kinds;
  for (const auto& e : fs::recursive_directory_iterator(dsla::repo_root() / "recipes")) {
    if (e.path().extension() != ".yaml") continue;
    // Every file says what it is; the other schemas are validated by test_cli_errors (dsla
    // validate) and their own tests.
    auto root = dsla::config::read_yaml_file(e.path());
    EXPECT_TRUE(root["schema"]) << e.path() << " declares no schema";
    auto schema = dsla::config::file_schema(root, e.path());
    ++kinds[schema];
    if (schema != dsla::config::FileSchema::distill) continue;
    ++count;
    auto r = load_recipe(e.path());
    auto problems = validate_recipe(r, /*check_files=*/false);
    EXPECT_TRUE(problems.empty()) << e.path() << ": " << (problems.empty() ? "" : problems[0]);
  }
  EXPECT_GE(count, 2);
  EXPECT_EQ(kinds.size(), 4u);  // distill, eval_task, load and serve files all ship
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
  // Choices are enums parsed once, when the recipe is read, listing the known values.
  std::string variant = load_error(p, {"dsla.variant=triple"});
  EXPECT_NE(variant.find("dsla.variant: 'triple' is not one of: dual, single, sliding_window"),
            std::string::npos)
      << variant;
  EXPECT_NE(load_error(p, {"profile.metrics=[entropy, kl]"})
                .find("profile.metrics: item 1: 'kl' is not one of: entropy, replace_kl"),
            std::string::npos);
  auto empty = validate_recipe(load_recipe(p, {"profile.metrics=[]"}), false);
  EXPECT_TRUE(std::any_of(empty.begin(), empty.end(), [](const std::string& e) {
    return e.find("profile.metrics: at least one metric is required") != std::string::npos;
  }));
}

TEST(Settings, OneTableReadsWritesChecksAndCompares) {
  using dsla::model::DslaSettings;
  const auto& table = dsla::model::dsla_settings_table();
  // Every setting is written and read back; the written form holds every key of the table.
  DslaSettings a;
  a.variant = dsla::model::DslaVariant::single;
  a.history_decay = 0.99;
  a.chunk_size = 32;
  nlohmann::json j = dsla::settings_to_json(table, a);
  EXPECT_EQ(j.size(), table.size());
  EXPECT_EQ(j["variant"], "single");
  DslaSettings b;
  std::vector<std::string> errors;
  dsla::read_stored_settings(table, j, b, "dsla", errors);
  EXPECT_TRUE(errors.empty());
  EXPECT_TRUE(dsla::differing_settings(table, a, b).empty());
  // Differences are named with both values.
  b.chunk_size = 64;
  auto differ = dsla::differing_settings(table, a, b);
  ASSERT_EQ(differ.size(), 1u);
  EXPECT_EQ(differ[0], "chunk_size (32 vs 64)");
  // A stored form lacking a key is refused, naming it; a recipe section may leave keys out.
  j.erase("gamma_init");
  errors.clear();
  dsla::read_stored_settings(table, j, b, "dsla", errors);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].find("lacks 'gamma_init'"), std::string::npos) << errors[0];
  errors.clear();
  dsla::read_settings(table, nlohmann::json{{"tau", 8}}, b, "dsla", errors);
  EXPECT_TRUE(errors.empty());
  EXPECT_DOUBLE_EQ(b.tau, 8);
  // The default comes from the declaration.
  EXPECT_EQ(table.front().default_value(), "dual");
  // Checks name the setting and the value.
  DslaSettings bad;
  bad.tau = -1;
  bad.recency_decay = 0.9995;
  auto problems = dsla::model::check_dsla_settings(bad);
  ASSERT_EQ(problems.size(), 2u);
  EXPECT_EQ(problems[0], "dsla.tau: must be > 0, got -1");
  EXPECT_NE(problems[1].find("must exceed dsla.recency_decay"), std::string::npos);
}

TEST(Recipes, AFileOfAnotherSchemaIsNotARecipe) {
  fs::path p = write_recipe("schema: eval_task\nname: x\n");
  EXPECT_NE(load_error(p).find("declares 'schema: eval_task', but a 'distill' file is expected"),
            std::string::npos)
      << load_error(p);
  fs::path q = write_recipe("schema: blueprint\n");
  EXPECT_NE(load_error(q).find("schema 'blueprint' is not one of: distill, eval_task, load, serve"),
            std::string::npos)
      << load_error(q);
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
  fs::path d = write_recipe("distill:\n  lr: 1\n  steps_per_layer: 3\n  lr: 2\n");
  EXPECT_NE(load_error(d).find("line 4: key 'lr' appears twice"), std::string::npos)
      << load_error(d);
  fs::path q = write_recipe("- a\n- b\n");
  EXPECT_NE(load_error(q).find("top level must be a mapping"), std::string::npos);
  // Found by tests/fuzz/fuzz_yaml: both escaped as a yaml-cpp or JSON exception naming no file.
  fs::path k = write_recipe("distill:\n  ? [a, b]\n  : 1\n");
  EXPECT_NE(load_error(k).find("line 2: a key must be a plain name"), std::string::npos)
      << load_error(k);
  fs::path u = write_recipe("data:\n  train_files: [\"a\xff\"]\n");
  EXPECT_NE(load_error(u).find("byte 24 is not UTF-8 text (0xff)"), std::string::npos)
      << load_error(u);
  EXPECT_NE(load_error(u).find(u.string()), std::string::npos) << load_error(u);
}
