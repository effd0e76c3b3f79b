// dsla validate: parse and validate a recipe (with --set overrides) and print the resolved form.
#include <cstdio>
#include <cxxopts.hpp>
#include <iostream>

#include "cli/commands.h"
#include "cli/recipe_options.h"
#include "config/recipe.h"
#include "core/error.h"

namespace dsla::cli {

int run_validate(int argc, char** argv) {
  cxxopts::Options options("dsla validate", "Check a recipe: every error is reported at once.");
  // clang-format off
  options.add_options()
      ("recipe", "recipe YAML file", cxxopts::value<std::string>())
      ("set", "override, section.key=value (repeatable)", cxxopts::value<std::vector<std::string>>())
      ("no-file-checks", "do not require the model directory and data files to exist")
      ("h,help", "show this help");
  // clang-format on
  options.parse_positional({"recipe"});
  options.positional_help("RECIPE");
  auto args = options.parse(argc, argv);
  if (args.count("help") != 0) {
    std::cout << options.help() << std::endl;
    return 0;
  }
  DSLA_CHECK(args.count("recipe") != 0, "a recipe file is required (dsla validate RECIPE)");
  std::string path = args["recipe"].as<std::string>();
  config::Recipe recipe = config::load_recipe(path, set_overrides(args));
  auto problems = config::validate_recipe(recipe, args.count("no-file-checks") == 0);
  if (!problems.empty()) {
    std::fprintf(stderr, "dsla validate: %s: %zu problem(s):\n", path.c_str(), problems.size());
    for (const auto& p : problems) std::fprintf(stderr, "  %s\n", p.c_str());
    return 1;
  }
  std::cout << config::recipe_to_yaml(recipe);
  std::fprintf(stderr, "dsla validate: %s is valid\n", path.c_str());
  return 0;
}

}  // namespace dsla::cli
