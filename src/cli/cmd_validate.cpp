// dsla validate: checks any dsla YAML file (distill recipe, evaluation task, load recipe, serve
// config; its `schema:` key says which), reports every problem at once, prints the resolved form.
#include <cstdio>
#include <cxxopts.hpp>
#include <iostream>

#include "cli/commands.h"
#include "cli/recipe_options.h"
#include "config/recipe.h"
#include "config/yaml_file.h"
#include "core/error.h"
#include "eval/task_config.h"
#include "loadtest/load_recipe.h"
#include "serve/serve_config.h"

namespace dsla::cli {
namespace {

/// Validates a distill recipe; prints its resolved YAML. Returns the problems.
std::vector<std::string> validate_distill(const std::string& path,
                                          const std::vector<std::string>& overrides,
                                          bool check_files) {
  config::Recipe recipe = config::load_recipe(path, overrides);
  auto problems = config::validate_recipe(recipe, check_files);
  if (problems.empty()) std::cout << config::recipe_to_yaml(recipe);
  return problems;
}

}  // namespace

int run_validate(int argc, char** argv) {
  cxxopts::Options options("dsla validate",
                           "Check a dsla YAML file -- a distill recipe, an evaluation task, a load "
                           "recipe or a serve config (its 'schema:' key; none = distill): every "
                           "problem is reported at once.");
  // clang-format off
  options.add_options()
      ("file", "YAML file", cxxopts::value<std::string>())
      ("set", "override, section.key=value (key=value for load and serve files; repeatable)",
       cxxopts::value<std::vector<std::string>>())
      ("no-file-checks", "do not require the model directory and data files to exist")
      ("h,help", "show this help");
  // clang-format on
  options.parse_positional({"file"});
  options.positional_help("FILE");
  auto args = options.parse(argc, argv);
  if (args.count("help") != 0) {
    std::cout << options.help() << std::endl;
    return 0;
  }
  DSLA_CHECK(args.count("file") != 0, "a file is required (dsla validate FILE)");
  std::string path = args["file"].as<std::string>();
  config::FileSchema schema = config::file_schema(config::read_yaml_file(path), path);
  std::vector<std::string> problems;
  switch (schema) {
    case config::FileSchema::distill:
      problems = validate_distill(path, set_overrides(args), args.count("no-file-checks") == 0);
      break;
    case config::FileSchema::eval_task:
      DSLA_CHECK(args.count("set") == 0, "--set is not supported for evaluation tasks");
      eval::load_task(path);  // throws listing every problem
      break;
    case config::FileSchema::load:
      loadtest::read_load_recipe(path, set_overrides(args));
      break;
    case config::FileSchema::serve:
      serve::load_serve_config(path, set_overrides(args));
      break;
  }
  if (!problems.empty()) {
    std::fprintf(stderr, "dsla validate: %s: %zu problem(s):\n", path.c_str(), problems.size());
    for (const auto& p : problems) std::fprintf(stderr, "  %s\n", p.c_str());
    return 1;
  }
  std::fprintf(stderr, "dsla validate: %s is valid (a %s file)\n", path.c_str(),
               enum_name(schema).c_str());
  return 0;
}

}  // namespace dsla::cli
