// Implementation of the shared recipe options.
#include "cli/recipe_options.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/error.h"

namespace dsla::cli {

void add_recipe_options(cxxopts::Options& options) {
  // clang-format off
  options.add_options("recipe")
      ("recipe", "recipe YAML file", cxxopts::value<std::string>())
      ("set", "override, section.key=value (repeatable)", cxxopts::value<std::vector<std::string>>())
      ("run-dir", "run directory (overrides run.dir)", cxxopts::value<std::string>());
  // clang-format on
  options.parse_positional({"recipe"});
  options.positional_help("RECIPE");
}

config::Recipe load_recipe_from_options(const cxxopts::ParseResult& args) {
  DSLA_CHECK(args.count("recipe") != 0, "a recipe file is required (see --help)");
  std::string path = args["recipe"].as<std::string>();
  std::vector<std::string> sets;
  if (args.count("set") != 0) sets = args["set"].as<std::vector<std::string>>();
  config::Recipe recipe = config::load_recipe(path, sets);
  if (args.count("run-dir") != 0) recipe.run.dir = args["run-dir"].as<std::string>();
  auto problems = config::validate_recipe(recipe, /*check_files=*/true);
  DSLA_CHECK(problems.empty(), "{}: {} problem(s):\n  {}", path, problems.size(),
             fmt::join(problems, "\n  "));
  return recipe;
}

}  // namespace dsla::cli
