// YAML decoding of recipes: typed fields, unknown-key rejection with suggestions, overrides, all
// errors at once.
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstdlib>
#include <set>

#include "config/recipe.h"
#include "config/yaml_reader.h"
#include "core/error.h"
#include "core/paths.h"

namespace dsla::config {
namespace {

void apply_override(YAML::Node& root, const std::string& spec, std::vector<std::string>& errors) {
  size_t eq = spec.find('='), dot = spec.find('.');
  if (eq == std::string::npos || dot == std::string::npos || dot > eq) {
    errors.push_back(fmt::format("--set '{}': expected section.key=value", spec));
    return;
  }
  std::string section = spec.substr(0, dot), key = spec.substr(dot + 1, eq - dot - 1);
  try {
    root[section][key] = YAML::Load(spec.substr(eq + 1));
  } catch (const YAML::Exception& e) {
    errors.push_back(fmt::format("--set '{}': bad value: {}", spec, e.what()));
  }
}

Recipe decode(const YAML::Node& root, std::vector<std::string>& errors) {
  Recipe r;
  SectionReader m(root["model"], "model", errors);
  m.field("path", r.model.path), m.field("dtype", r.model.dtype), m.finish();
  SectionReader d(root["data"], "data", errors);
  d.field("train_files", r.data.train_files), d.field("eval_files", r.data.eval_files);
  d.field("seq_len", r.data.seq_len), d.field("max_train_tokens", r.data.max_train_tokens);
  d.field("max_eval_tokens", r.data.max_eval_tokens), d.field("eval_context", r.data.eval_context);
  d.field("holdout_fraction", r.data.holdout_fraction), d.finish();
  SectionReader s(root["dsla"], "dsla", errors);
  auto& x = r.dsla;
  s.field("variant", x.variant), s.field("tau", x.tau), s.field("gate_rank", x.gate_rank);
  s.field("per_head_gamma", x.per_head_gamma), s.field("rope", x.rope);
  s.field("output_norm", x.output_norm), s.field("history_decay", x.history_decay);
  s.field("recency_decay", x.recency_decay), s.field("chunk_size", x.chunk_size);
  s.field("window", x.window), s.field("single_decay", x.single_decay), s.finish();
  SectionReader p(root["profile"], "profile", errors);
  p.field("sequences", r.profile.sequences), p.field("seq_len", r.profile.seq_len);
  p.field("metrics", r.profile.metrics), p.field("fit_steps", r.profile.fit_steps), p.finish();
  SectionReader c(root["distill"], "distill", errors);
  auto& y = r.distill;
  c.field("order", y.order), c.field("layers", y.layers), c.field("fraction", y.fraction);
  c.field("steps_per_layer", y.steps_per_layer), c.field("batch_size", y.batch_size);
  c.field("lr", y.lr), c.field("gate_separation", y.gate_separation);
  c.field("e2e_steps", y.e2e_steps), c.field("kd_weight", y.kd_weight);
  c.field("cache_sequences", y.cache_sequences), c.field("max_grad_norm", y.max_grad_norm);
  c.field("log_every", y.log_every), c.finish();
  SectionReader u(root["run"], "run", errors);
  u.field("dir", r.run.dir), u.field("threads", r.run.threads), u.field("seed", r.run.seed),
      u.finish();
  SectionReader top(root, "recipe", errors);
  for (const char* name : {"model", "data", "dsla", "profile", "distill", "run"}) {
    YAML::Node ignored;
    top.field(name, ignored);
  }
  top.finish();
  return r;
}

}  // namespace

Recipe load_recipe(const std::filesystem::path& path, const std::vector<std::string>& overrides) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(path.string());
  } catch (const YAML::BadFile&) {
    DSLA_FAIL("{}: cannot open the recipe", path.string());
  } catch (const YAML::Exception& e) {
    DSLA_FAIL("{}: invalid YAML: {}", path.string(), e.what());
  }
  if (root.IsNull()) root = YAML::Node(YAML::NodeType::Map);
  std::vector<std::string> errors;
  if (!root.IsMap()) errors.push_back("recipe: the top level must be a mapping of sections");
  for (const auto& o : overrides) apply_override(root, o, errors);
  Recipe r = errors.empty() ? decode(root, errors) : Recipe{};
  DSLA_CHECK(errors.empty(), "{}: {} problem(s):\n  {}", path.string(), errors.size(),
             fmt::join(errors, "\n  "));
  return r;
}

std::string recipe_to_yaml(const Recipe& r) {
  YAML::Emitter out;
  out << YAML::BeginMap;
  out << YAML::Key << "model" << YAML::Value << YAML::BeginMap << YAML::Key << "path" << YAML::Value
      << r.model.path << YAML::Key << "dtype" << YAML::Value << r.model.dtype << YAML::EndMap;
  out << YAML::Key << "data" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "train_files" << YAML::Value << r.data.train_files;
  out << YAML::Key << "eval_files" << YAML::Value << r.data.eval_files;
  out << YAML::Key << "seq_len" << YAML::Value << r.data.seq_len;
  out << YAML::Key << "max_train_tokens" << YAML::Value << r.data.max_train_tokens;
  out << YAML::Key << "max_eval_tokens" << YAML::Value << r.data.max_eval_tokens;
  out << YAML::Key << "eval_context" << YAML::Value << r.data.eval_context;
  out << YAML::Key << "holdout_fraction" << YAML::Value << r.data.holdout_fraction << YAML::EndMap;
  const auto& x = r.dsla;
  out << YAML::Key << "dsla" << YAML::Value << YAML::BeginMap << YAML::Key << "variant"
      << YAML::Value << x.variant << YAML::Key << "tau" << YAML::Value << x.tau << YAML::Key
      << "gate_rank" << YAML::Value << x.gate_rank << YAML::Key << "per_head_gamma" << YAML::Value
      << x.per_head_gamma << YAML::Key << "rope" << YAML::Value << x.rope << YAML::Key
      << "output_norm" << YAML::Value << x.output_norm << YAML::Key << "history_decay"
      << YAML::Value << x.history_decay << YAML::Key << "recency_decay" << YAML::Value
      << x.recency_decay << YAML::Key << "chunk_size" << YAML::Value << x.chunk_size << YAML::Key
      << "window" << YAML::Value << x.window << YAML::Key << "single_decay" << YAML::Value
      << x.single_decay << YAML::EndMap;
  out << YAML::Key << "profile" << YAML::Value << YAML::BeginMap << YAML::Key << "sequences"
      << YAML::Value << r.profile.sequences << YAML::Key << "seq_len" << YAML::Value
      << r.profile.seq_len << YAML::Key << "metrics" << YAML::Value << r.profile.metrics
      << YAML::Key << "fit_steps" << YAML::Value << r.profile.fit_steps << YAML::EndMap;
  const auto& y = r.distill;
  out << YAML::Key << "distill" << YAML::Value << YAML::BeginMap << YAML::Key << "order"
      << YAML::Value << y.order << YAML::Key << "layers" << YAML::Value << y.layers << YAML::Key
      << "fraction" << YAML::Value << y.fraction << YAML::Key << "steps_per_layer" << YAML::Value
      << y.steps_per_layer << YAML::Key << "batch_size" << YAML::Value << y.batch_size << YAML::Key
      << "lr" << YAML::Value << y.lr << YAML::Key << "gate_separation" << YAML::Value
      << y.gate_separation << YAML::Key << "e2e_steps" << YAML::Value << y.e2e_steps << YAML::Key
      << "kd_weight" << YAML::Value << y.kd_weight << YAML::Key << "cache_sequences" << YAML::Value
      << y.cache_sequences << YAML::Key << "max_grad_norm" << YAML::Value << y.max_grad_norm
      << YAML::Key << "log_every" << YAML::Value << y.log_every << YAML::EndMap;
  out << YAML::Key << "run" << YAML::Value << YAML::BeginMap << YAML::Key << "dir" << YAML::Value
      << r.run.dir << YAML::Key << "threads" << YAML::Value << r.run.threads << YAML::Key << "seed"
      << YAML::Value << r.run.seed << YAML::EndMap;
  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

}  // namespace dsla::config
