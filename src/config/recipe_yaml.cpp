// Reading and writing distill recipes through their sections' settings tables: unknown keys with
// suggestions, typed values, overrides, every error at once.
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <yaml-cpp/yaml.h>

#include "config/recipe.h"
#include "config/recipe_sections.h"
#include "config/yaml_file.h"
#include "core/error.h"

namespace dsla::config {

Recipe load_recipe(const std::filesystem::path& path, const std::vector<std::string>& overrides) {
  YAML::Node root = read_yaml_file(path);
  expect_schema(root, path, FileSchema::distill);
  std::vector<std::string> errors;
  apply_overrides(root, overrides, 2, errors);
  Recipe r;
  if (errors.empty()) {
    nlohmann::json j = yaml_to_json(root);
    std::vector<std::string> known = {"schema"};
    for_each_section(r, [&](const char* name, auto& section, const auto& table) {
      known.push_back(name);
      if (j.contains(name)) read_settings(table, j[name], section, name, errors);
    });
    for (const auto& [key, value] : j.items()) {
      if (std::find(known.begin(), known.end(), key) == known.end()) {
        errors.push_back(fmt::format("recipe: unknown key '{}'{}", key, suggestion(key, known)));
      }
    }
  }
  DSLA_CHECK(errors.empty(), "{}: {} problem(s):\n  {}", path.string(), errors.size(),
             fmt::join(errors, "\n  "));
  return r;
}

std::string recipe_to_yaml(const Recipe& recipe) {
  YAML::Emitter out;
  out << YAML::BeginMap << YAML::Key << "schema" << YAML::Value << "distill";
  for_each_section(recipe, [&](const char* name, const auto& section, const auto& table) {
    out << YAML::Key << name << YAML::Value << YAML::BeginMap;
    for (const auto& setting : table) {
      out << YAML::Key << setting.name << YAML::Value;
      emit_json(out, setting.write(section));
    }
    out << YAML::EndMap;
  });
  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

}  // namespace dsla::config
