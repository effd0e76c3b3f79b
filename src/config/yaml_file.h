// YAML files of dsla: reading one with clear errors, the schema each file declares (distill recipe,
// evaluation task, load recipe, server config), and YAML <-> JSON for settings tables.
#pragma once

#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "core/settings.h"

namespace dsla::config {

/// What a YAML file is, from its top-level `schema:` key (absent = distill, the historic default).
enum class FileSchema { distill, eval_task, load, serve };
DSLA_ENUM_NAMES(FileSchema, {FileSchema::distill, "distill"}, {FileSchema::eval_task, "eval_task"},
                {FileSchema::load, "load"}, {FileSchema::serve, "serve"})

/// The root of a YAML file (an empty mapping for an empty file). Throws dsla::Error naming the file
/// when it cannot be opened, is not valid YAML, its top level is not a mapping, or a mapping
/// repeats a key (naming every repeated key and its line).
YAML::Node read_yaml_file(const std::filesystem::path& path);

/// The schema `root` declares. Throws naming the file when the value is not a known schema.
FileSchema file_schema(const YAML::Node& root, const std::filesystem::path& path);

/// Throws when `root` declares a schema other than `expected` (a file that declares none is taken
/// for what its reader expects).
void expect_schema(const YAML::Node& root, const std::filesystem::path& path, FileSchema expected);

/// A YAML tree as JSON: unquoted scalars become integers, numbers, booleans or null when they read
/// as such, other scalars strings with ${DSLA_ASSETS} and ${DSLA_HOME} expanded.
nlohmann::json yaml_to_json(const YAML::Node& node);

/// Writes a JSON value into a YAML emitter (mappings in key order).
void emit_json(YAML::Emitter& out, const nlohmann::json& value);

/// Applies "prefix.key=value" overrides (the value parsed as YAML) to `root`; `section_depth` is
/// 1 for "key=value" and 2 for "section.key=value". Appends malformed overrides to `errors`.
void apply_overrides(YAML::Node& root, const std::vector<std::string>& overrides, int section_depth,
                     std::vector<std::string>& errors);

}  // namespace dsla::config
