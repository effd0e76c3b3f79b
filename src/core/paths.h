// Locating the repository, the shared assets and the cache directory, each overridable by an
// environment variable.
#pragma once

#include <filesystem>

namespace dsla {

/// Repository root: $DSLA_REPO_ROOT, else the nearest ancestor of the executable holding `recipes/`
/// and `src/`.
std::filesystem::path repo_root();

/// Shared assets folder: $DSLA_ASSETS, else <repo>/../shared/assets.
std::filesystem::path assets_dir();

/// Cache for venvs and converted models: $DSLA_HOME, else ~/.cache/dsla.
std::filesystem::path cache_dir();

/// The bundled default model: $DSLA_DEFAULT_MODEL, else <assets>/stories260K/hf.
std::filesystem::path default_model_dir();

}  // namespace dsla
