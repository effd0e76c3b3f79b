// Implementation of YAML file reading, schemas, overrides and the YAML <-> JSON mapping.
#include "config/yaml_file.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <fstream>
#include <iterator>
#include <set>

#include "config/yaml_reader.h"
#include "core/error.h"
#include "core/utf8_text.h"

namespace dsla::config {
namespace fs = std::filesystem;

namespace {

/// Appends "line N: key 'k' appears twice" for every mapping of `node` (recursively) that repeats a
/// key (YAML readers keep one of the values silently), and "line N: ..." for a key that is a list
/// or a mapping (YAML allows them; no setting has one).
void find_bad_keys(const YAML::Node& node, std::vector<std::string>& out) {
  if (node.IsSequence()) {
    for (const auto& item : node) find_bad_keys(item, out);
  } else if (node.IsMap()) {
    std::set<std::string> seen;
    for (const auto& kv : node) {
      if (!kv.first.IsScalar()) {
        out.push_back(fmt::format("line {}: a key must be a plain name, not a list or a mapping",
                                  kv.first.Mark().line + 1));
        continue;
      }
      std::string key = kv.first.Scalar();
      if (!seen.insert(key).second) {
        out.push_back(
            fmt::format("line {}: key '{}' appears twice", kv.first.Mark().line + 1, key));
      }
      find_bad_keys(kv.second, out);
    }
  }
}

}  // namespace

YAML::Node read_yaml_file(const fs::path& path) {
  DSLA_CHECK(!fs::is_directory(path), "{}: is a directory, not a YAML file", path.string());
  std::ifstream in(path, std::ios::binary);
  DSLA_CHECK(in.good(), "{}: cannot open the file", path.string());
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t bad = first_non_text_byte(text);
  DSLA_CHECK(bad == std::string::npos,
             "{}: byte {} is not UTF-8 text (0x{:02x}); YAML files must be UTF-8", path.string(),
             bad, bad == std::string::npos ? 0 : static_cast<unsigned char>(text[bad]));
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    DSLA_FAIL("{}: invalid YAML: {}", path.string(), e.what());
  }
  if (root.IsNull()) root = YAML::Node(YAML::NodeType::Map);
  DSLA_CHECK(root.IsMap(), "{}: the top level must be a mapping of settings", path.string());
  std::vector<std::string> bad_keys;
  find_bad_keys(root, bad_keys);
  DSLA_CHECK(bad_keys.empty(), "{}: {}", path.string(), fmt::join(bad_keys, "; "));
  return root;
}

FileSchema file_schema(const YAML::Node& root, const fs::path& path) {
  if (!root["schema"]) return FileSchema::distill;
  std::string name =
      root["schema"].IsScalar() ? root["schema"].Scalar() : YAML::Dump(root["schema"]);
  auto schema = parse_enum<FileSchema>(name);
  DSLA_CHECK(schema.has_value(), "{}: schema '{}' is not one of: {}", path.string(), name,
             enum_choices<FileSchema>());
  return *schema;
}

void expect_schema(const YAML::Node& root, const fs::path& path, FileSchema expected) {
  if (!root["schema"]) return;
  FileSchema got = file_schema(root, path);
  DSLA_CHECK(got == expected, "{}: declares 'schema: {}', but a '{}' file is expected here",
             path.string(), enum_name(got), enum_name(expected));
}

namespace {

nlohmann::json scalar_to_json(const YAML::Node& node) {
  const std::string& text = node.Scalar();
  if (node.Tag() == "!") return expand_vars(text);  // quoted: always a string
  if (text.empty() || text == "~" || text == "null" || text == "Null" || text == "NULL") {
    return nullptr;
  }
  int64_t i = 0;
  if (YAML::convert<int64_t>::decode(node, i)) return i;
  uint64_t u = 0;
  if (YAML::convert<uint64_t>::decode(node, u)) return u;
  double d = 0;
  if (YAML::convert<double>::decode(node, d)) return d;
  bool b = false;
  if (YAML::convert<bool>::decode(node, b)) return b;
  return expand_vars(text);
}

}  // namespace

nlohmann::json yaml_to_json(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map: {
      nlohmann::json out = nlohmann::json::object();
      for (const auto& kv : node) {
        DSLA_CHECK(kv.first.IsScalar(),
                   "line {}: a key must be a plain name, not a list or a mapping",
                   kv.first.Mark().line + 1);
        out[kv.first.Scalar()] = yaml_to_json(kv.second);
      }
      return out;
    }
    case YAML::NodeType::Sequence: {
      nlohmann::json out = nlohmann::json::array();
      for (const auto& item : node) out.push_back(yaml_to_json(item));
      return out;
    }
    case YAML::NodeType::Scalar:
      return scalar_to_json(node);
    default:
      return nullptr;
  }
}

void emit_json(YAML::Emitter& out, const nlohmann::json& value) {
  if (value.is_object()) {
    out << YAML::BeginMap;
    for (const auto& [key, v] : value.items()) {
      out << YAML::Key << key << YAML::Value;
      emit_json(out, v);
    }
    out << YAML::EndMap;
  } else if (value.is_array()) {
    out << YAML::Flow << YAML::BeginSeq;
    for (const auto& v : value) emit_json(out, v);
    out << YAML::EndSeq;
  } else if (value.is_boolean()) {
    out << value.get<bool>();
  } else if (value.is_number_unsigned()) {
    out << value.get<uint64_t>();
  } else if (value.is_number_integer()) {
    out << value.get<int64_t>();
  } else if (value.is_number()) {
    out << value.get<double>();
  } else if (value.is_string()) {
    out << value.get<std::string>();
  } else {
    out << YAML::Null;
  }
}

void apply_overrides(YAML::Node& root, const std::vector<std::string>& overrides, int section_depth,
                     std::vector<std::string>& errors) {
  for (const auto& spec : overrides) {
    size_t eq = spec.find('='), dot = spec.find('.');
    bool dotted = dot != std::string::npos && dot < eq;
    if (eq == std::string::npos || (section_depth == 2 && !dotted)) {
      errors.push_back(fmt::format("--set '{}': expected {}=value", spec,
                                   section_depth == 2 ? "section.key" : "key"));
      continue;
    }
    try {
      YAML::Node value = YAML::Load(spec.substr(eq + 1));
      if (section_depth == 2) {
        root[spec.substr(0, dot)][spec.substr(dot + 1, eq - dot - 1)] = value;
      } else {
        root[spec.substr(0, eq)] = value;
      }
    } catch (const YAML::Exception& e) {
      errors.push_back(fmt::format("--set '{}': bad value: {}", spec, e.what()));
    }
  }
}

}  // namespace dsla::config
