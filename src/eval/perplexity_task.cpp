// Perplexity tasks: each text file tokenized whole and scored with the sliding-window protocol.
#include <fmt/format.h>

#include <chrono>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "core/seconds.h"
#include "eval/task_runner.h"
#include "model/perplexity.h"

namespace dsla::eval {

TaskResult run_perplexity_task(model::LlamaForCausalLMImpl& model, const Tokenizer& tokenizer,
                               const TaskConfig& task, const EvalSettings& settings) {
  TaskResult result;
  result.task = task.name;
  model::PerplexityOptions o;
  o.context = task.context;
  o.stride = task.stride;
  if (task.add_bos) o.bos_id = tokenizer.bos_id();
  // --limit N scores at most N windows' worth of tokens per file.
  int64_t limit = settings.limit > 0 ? settings.limit : task.limit;
  o.max_tokens = limit > 0 ? limit * task.stride : task.max_tokens;
  if (task.max_tokens > 0 && o.max_tokens > 0)
    o.max_tokens = std::min(o.max_tokens, task.max_tokens);
  o.progress = settings.progress;
  int64_t max_ctx = model.config().max_position_embeddings - (o.bos_id ? 1 : 0);
  DSLA_CHECK(o.context <= max_ctx, "{}: context {} exceeds the model's {} positions",
             task.file.string(), o.context, max_ctx);
  for (const auto& file : task.files) {
    std::ifstream in(file, std::ios::binary);
    DSLA_CHECK(in.good(), "{}: cannot open the text file {}", task.file.string(), file.string());
    std::ostringstream text;
    text << in.rdbuf();
    std::vector<int64_t> tokens = tokenizer.encode(text.str(), /*add_bos=*/false);
    auto t0 = std::chrono::steady_clock::now();
    model::PerplexityResult r = model::compute_perplexity(model, tokens, o);
    result.seconds += seconds_since(t0);
    result.metrics["ppl:" + file.stem().string()] = r.perplexity();
    result.examples += r.windows;
  }
  result.mean_prompt_tokens = static_cast<double>(o.context);
  result.protocol = model::describe_protocol(o) +
                    (o.max_tokens > 0 ? fmt::format("; first {} tokens per file", o.max_tokens)
                                      : std::string("; whole files"));
  return result;
}

}  // namespace dsla::eval
