// YAML decoding and validation of evaluation task files.
#include "eval/task_config.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <yaml-cpp/yaml.h>

#include "config/yaml_file.h"
#include "config/yaml_reader.h"
#include "core/error.h"

namespace dsla::eval {
namespace {

void read_fields(const YAML::Node& root, TaskConfig& t, std::string& kind,
                 std::vector<std::string>& errors) {
  config::SectionReader r(root, "task", errors);
  std::string data;
  std::vector<std::string> files;
  r.nested("schema");
  r.field("name", t.name);
  r.field("kind", kind);
  r.field("format", t.format);
  r.field("data", data);
  r.field("files", files);
  r.field("prompt", t.prompt);
  r.field("target", t.target);
  r.field("few_shot", t.few_shot);
  r.field("few_shot_separator", t.few_shot_separator);
  r.field("add_bos", t.add_bos);
  r.field("truncate_field", t.truncate_field);
  r.field("max_field_tokens", t.max_field_tokens);
  r.field("metric", t.metric);
  r.field("reference_field", t.reference_field);
  r.field("include_unanswerable", t.include_unanswerable);
  r.field("max_new_tokens", t.max_new_tokens);
  r.field("stop", t.stop);
  r.field("chat_template", t.chat_template);
  r.field("pad_context_to", t.pad_context_to);
  r.field("query_field", t.query_field);
  r.field("choices_field", t.choices_field);
  r.field("gold_field", t.gold_field);
  r.field("choice_prefix", t.choice_prefix);
  r.field("cloze_choices", t.cloze_choices);
  r.field("context", t.context);
  r.field("stride", t.stride);
  r.field("max_tokens", t.max_tokens);
  r.field("limit", t.limit);
  r.finish();
  t.data = data;
  for (const auto& f : files) t.files.emplace_back(f);
}

void validate(const TaskConfig& t, std::vector<std::string>& errors) {
  auto need = [&](bool ok, std::string msg) {
    if (!ok) errors.push_back(std::move(msg));
  };
  need(!t.name.empty(), "task: 'name' is required");
  need(t.limit >= 0, "task.limit: must be >= 0");
  need(t.few_shot >= 0, "task.few_shot: must be >= 0");
  need(t.max_field_tokens >= 0, "task.max_field_tokens: must be >= 0");
  if (t.kind == TaskKind::kPerplexity) {
    need(!t.files.empty(), "task.files: a perplexity task needs at least one text file");
    need(t.context >= 2, "task.context: must be >= 2");
    need(t.stride >= 1 && t.stride <= t.context, "task.stride: must be in [1, context]");
    need(t.max_tokens >= 0, "task.max_tokens: must be >= 0");
    return;
  }
  need(!t.data.empty(), "task.data: the examples file is required");
  const std::vector<std::string> formats = {"squad", "jsonl", "text_cloze"};
  need(std::find(formats.begin(), formats.end(), t.format) != formats.end(),
       fmt::format("task.format: '{}' is not one of {}", t.format, fmt::join(formats, ", ")));
  if (t.kind == TaskKind::kGenerate) {
    need(t.metric == "squad" || t.metric == "rouge",
         fmt::format("task.metric: '{}' is not one of squad, rouge", t.metric));
    need(t.format != "text_cloze", "task.format: text_cloze is for multiple_choice tasks");
    need(t.format != "jsonl" || !t.reference_field.empty(),
         "task.reference_field: required for jsonl generation tasks (e.g. summary)");
    need(t.max_new_tokens >= 1 && t.max_new_tokens <= 4096,
         "task.max_new_tokens: must be in [1, 4096]");
    for (int64_t len : t.pad_context_to) {
      need(len >= 64, fmt::format("task.pad_context_to: {} is too short (>= 64 tokens)", len));
    }
    need(t.pad_context_to.empty() || t.format == "squad",
         "task.pad_context_to: only for squad-format tasks");
  } else {
    need(t.format != "squad", "task.format: squad is for generate tasks");
    need(t.cloze_choices >= 2, "task.cloze_choices: must be >= 2");
  }
}

}  // namespace

TaskConfig load_task(const std::filesystem::path& path) {
  DSLA_CHECK(std::filesystem::is_regular_file(path), "{}: task file not found", path.string());
  YAML::Node root = config::read_yaml_file(path);
  config::expect_schema(root, path, config::FileSchema::eval_task);
  TaskConfig t;
  t.file = path;
  std::vector<std::string> errors;
  std::string kind = "generate";
  read_fields(root, t, kind, errors);
  if (kind == "generate") {
    t.kind = TaskKind::kGenerate;
  } else if (kind == "multiple_choice") {
    t.kind = TaskKind::kMultipleChoice;
  } else if (kind == "perplexity") {
    t.kind = TaskKind::kPerplexity;
  } else {
    errors.push_back(
        fmt::format("task.kind: '{}' is not one of generate, multiple_choice, perplexity", kind));
  }
  validate(t, errors);
  DSLA_CHECK(errors.empty(), "{}: {} problem(s):\n  {}", path.string(), errors.size(),
             fmt::join(errors, "\n  "));
  return t;
}

std::string task_label(const TaskConfig& task, int64_t length) {
  return length > 0 ? fmt::format("{}@{}", task.name, length) : task.name;
}

}  // namespace dsla::eval
