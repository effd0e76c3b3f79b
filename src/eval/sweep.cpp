// Implementation of evaluation sweeps over models and tasks.
#include "eval/sweep.h"

#include <fmt/format.h>

#include <cctype>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "core/error.h"

namespace dsla::eval {
namespace fs = std::filesystem;

namespace {

/// Runs every task on one model; `done` sees each result as soon as it is complete.
void run_tasks(model::LlamaForCausalLMImpl& model, const Tokenizer& tokenizer,
               const std::vector<TaskConfig>& tasks,
               const std::vector<std::vector<Example>>& examples, EvalSettings settings,
               const fs::path& model_dir, const std::function<void(TaskResult)>& done) {
  for (size_t t = 0; t < tasks.size(); ++t) {
    const TaskConfig& task = tasks[t];
    auto predictions = [&](const std::string& label) {
      return model_dir / (file_safe(label) + ".jsonl");
    };
    if (task.kind == TaskKind::kPerplexity) {
      done(run_perplexity_task(model, tokenizer, task, settings));
    } else if (task.kind == TaskKind::kMultipleChoice) {
      settings.predictions = predictions(task.name);
      done(run_choice_task(model, tokenizer, task, examples[t], settings));
    } else {
      std::vector<int64_t> lengths = {0};
      lengths.insert(lengths.end(), task.pad_context_to.begin(), task.pad_context_to.end());
      // A task with padded lengths reports only those (the plain task is its own file).
      if (!task.pad_context_to.empty()) lengths.erase(lengths.begin());
      for (int64_t len : lengths) {
        settings.predictions = predictions(task_label(task, len));
        done(run_generate_task(model, tokenizer, task, examples[t], len, settings));
      }
    }
  }
}

}  // namespace

std::string file_safe(std::string s) {
  for (char& c : s) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-') c = '_';
  }
  return s;
}

nlohmann::json eval_row_json(const EvalRow& r) {
  return {{"model", r.model},
          {"converted", r.converted},
          {"num_layers", r.num_layers},
          {"task", r.result.task},
          {"metrics", r.result.metrics},
          {"examples", r.result.examples},
          {"seconds", r.result.seconds},
          {"examples_per_second", r.result.examples_per_second()},
          {"mean_prompt_tokens", r.result.mean_prompt_tokens},
          {"protocol", r.result.protocol}};
}

std::vector<EvalRow> run_sweep(const std::vector<ModelSpec>& models,
                               const std::vector<TaskConfig>& tasks, const EvalSettings& settings,
                               const fs::path& out_dir) {
  fs::create_directories(out_dir);
  std::vector<std::vector<Example>> examples;
  for (const auto& t : tasks) {
    examples.push_back(t.kind == TaskKind::kPerplexity ? std::vector<Example>{} : load_examples(t));
  }
  std::ofstream log(out_dir / "results.jsonl", std::ios::trunc);
  DSLA_CHECK(log.good(), "{}: cannot write results.jsonl", out_dir.string());
  std::vector<EvalRow> rows;
  for (const auto& m : models) {
    std::cerr << fmt::format("[eval] {} ({} of {} layers converted)\n", m.label, m.converted,
                             m.num_layers);
    model::LlamaForCausalLM model = m.load();
    std::unique_ptr<Tokenizer> tokenizer =
        load_tokenizer(m.tokenizer_dir, model->config().vocab_size);
    ChatTemplate chat = ChatTemplate::load(m.tokenizer_dir);
    EvalSettings with_chat = settings;
    with_chat.chat = &chat;
    fs::path model_dir = out_dir / file_safe(m.label);
    fs::create_directories(model_dir);
    run_tasks(*model, *tokenizer, tasks, examples, with_chat, model_dir, [&](TaskResult r) {
      rows.push_back({m.label, m.converted, m.num_layers, std::move(r)});
      nlohmann::json line = eval_row_json(rows.back());
      log << line.dump() << std::endl;
      std::cerr << fmt::format("[eval] {} {}: {}\n", m.label, line["task"].get<std::string>(),
                               line["metrics"].dump());
    });
  }
  return rows;
}

}  // namespace dsla::eval
