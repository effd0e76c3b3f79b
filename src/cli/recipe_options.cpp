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
      ("run-dir", "run directory (overrides run.dir)", cxxopts::value<std::string>())
      ("device", "cpu, cuda or cuda:N (overrides run.device)", cxxopts::value<std::string>());
  // clang-format on
  options.parse_positional({"recipe"});
  options.positional_help("RECIPE");
}

std::vector<std::string> set_overrides(const cxxopts::ParseResult& args) {
  std::vector<std::string> joined;
  if (args.count("set") == 0) return joined;
  for (const auto& piece : args["set"].as<std::vector<std::string>>()) {
    if (!joined.empty() && piece.find('=') == std::string::npos) {
      joined.back() += "," + piece;
    } else {
      joined.push_back(piece);
    }
  }
  return joined;
}

config::Recipe load_recipe_from_options(const cxxopts::ParseResult& args) {
  DSLA_CHECK(args.count("recipe") != 0, "a recipe file is required (see --help)");
  std::string path = args["recipe"].as<std::string>();
  std::vector<std::string> overrides = set_overrides(args);
  if (args.count("device") != 0)
    overrides.push_back("run.device=" + args["device"].as<std::string>());
  config::Recipe recipe = config::load_recipe(path, overrides);
  if (args.count("run-dir") != 0) recipe.run.dir = args["run-dir"].as<std::string>();
  auto problems = config::validate_recipe(recipe, /*check_files=*/true);
  DSLA_CHECK(problems.empty(), "{}: {} problem(s):\n  {}", path, problems.size(),
             fmt::join(problems, "\n  "));
  return recipe;
}

}  // namespace dsla::cli
