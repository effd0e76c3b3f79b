// Test helper: a distill recipe on stories260K and the shared TinyStories sample, small enough for
// unit tests; callers set the order, steps and phases they need.
#pragma once

#include <filesystem>

#include "config/recipe.h"

namespace dsla::testing {

/// stories260K, 20k training tokens of 64-token sequences (10 % held out), gate rank 4, batch 4,
/// 8 cached sequences, one thread, written to `run_dir`.
config::Recipe tiny_stories_recipe(const std::filesystem::path& run_dir);

}  // namespace dsla::testing
