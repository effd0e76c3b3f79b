// Evaluation tasks defined in YAML: kind, data, prompt template, few-shot, decoding, metric.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace dsla::eval {

/// What a task does with the model.
enum class TaskKind {
  kGenerate,        ///< generate an answer per example and score it (QA, summarization)
  kMultipleChoice,  ///< pick the choice with the highest log-likelihood
  kPerplexity,      ///< sliding-window perplexity of text files
};

struct TaskConfig {
  std::filesystem::path file;  ///< the YAML file this came from (for messages)
  std::string name;
  TaskKind kind = TaskKind::kGenerate;
  /// squad (SQuAD 2.0 JSON) | jsonl (one object per line) | text_cloze (built from a text file).
  std::string format = "jsonl";
  std::filesystem::path data;                ///< examples file (generate, multiple choice)
  std::vector<std::filesystem::path> files;  ///< perplexity text files

  // Prompts. Templates name example fields as {field}; few-shot exemplars are the prompt followed
  // by `target` and come from other examples of the same file.
  std::string prompt = "{text}";
  std::string target = " {answer}";
  int64_t few_shot = 0;
  std::string few_shot_separator = "\n\n";
  bool add_bos = true;           ///< let the tokenizer add what it adds at the start of a text
  std::string truncate_field;    ///< field cut to `max_field_tokens` tokens (e.g. document)
  int64_t max_field_tokens = 0;  ///< 0 = no cut

  // Generation and scoring (kind generate).
  std::string metric = "squad";       ///< squad (EM/F1) | rouge (ROUGE-1/2/L F)
  std::string reference_field;        ///< jsonl: the reference text field (e.g. summary)
  bool include_unanswerable = false;  ///< squad: also questions without an answer
  int64_t max_new_tokens = 32;
  std::vector<std::string> stop;  ///< generation ends at the first of these; the text is cut there
  /// Send the rendered prompt (exemplars included) as one user message through the model's chat
  /// template (tokenizer_config.json), the answer being the assistant's turn, which also ends it.
  bool chat_template = false;
  /// squad: also evaluate with the context padded by unrelated paragraphs to these prompt lengths
  /// (tokens); each length is reported as its own task "<name>@<length>".
  std::vector<int64_t> pad_context_to;

  // Multiple choice (the lm-evaluation-harness convention).
  std::string query_field = "query", choices_field = "choices", gold_field = "gold";
  std::string choice_prefix = " ";  ///< put between the prompt and each choice
  int64_t cloze_choices = 4;  ///< text_cloze: choices per question (1 right, the rest distractors)

  // Perplexity.
  int64_t context = 1024, stride = 512, max_tokens = 0;

  int64_t limit = 0;  ///< evaluate only the first N examples (0 = all); --limit overrides
};

/// Reads and validates a task file; throws dsla::Error listing every problem, naming the file.
TaskConfig load_task(const std::filesystem::path& path);

/// The task's name for a padded-context length ("squad_long@4096"); `length` 0 = the plain task.
std::string task_label(const TaskConfig& task, int64_t length);

}  // namespace dsla::eval
