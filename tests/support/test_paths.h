// Test helpers: where the shared assets, fixtures and optional models are; skipping when an
// optional one is absent.
#pragma once

#include <filesystem>
#include <string>

namespace dsla::testing {

/// <repo>/data/fixtures.
std::filesystem::path fixtures_dir();
/// The shared stories260K HF directory (../shared/assets/stories260K/hf or $DSLA_ASSETS).
std::filesystem::path stories260k_dir();
/// The shared stories260K reference outputs.
std::filesystem::path stories260k_reference_dir();
/// The converted SmolLM2-135M-Instruct directory ($DSLA_SMOLLM2_DIR, else
/// <cache>/models/SmolLM2-135M-Instruct).
std::filesystem::path smollm2_dir();
/// Reads a whole file as bytes; throws dsla::Error when it cannot.
std::string read_file(const std::filesystem::path& path);
/// A fresh empty temp directory for one test.
std::filesystem::path make_temp_dir(const std::string& tag);

}  // namespace dsla::testing
