// Options shared by the commands that run a recipe (RECIPE, --set, --run-dir) and loading it.
#pragma once

#include <cxxopts.hpp>

#include "config/recipe.h"

namespace dsla::cli {

/// Adds the positional RECIPE, --set and --run-dir to `options`.
void add_recipe_options(cxxopts::Options& options);

/// The --set values as given: cxxopts splits vector values at commas, so "distill.layers=[3,5]"
/// arrives as two pieces; a piece without '=' is joined back onto the previous one.
std::vector<std::string> set_overrides(const cxxopts::ParseResult& args);

/// Loads the recipe with its overrides, applies --run-dir, and validates it with file checks;
/// throws dsla::Error listing every problem.
config::Recipe load_recipe_from_options(const cxxopts::ParseResult& args);

}  // namespace dsla::cli
