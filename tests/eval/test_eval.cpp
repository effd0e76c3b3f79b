// dsla eval's building blocks: task files, loaders, prompts and long-context padding, and the
// runners against independent computations on stories260K (unbatched generation, per-choice
// fp64 log-likelihoods).
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/paths.h"
#include "eval/prompts.h"
#include "eval/task_runner.h"
#include "model/generator.h"
#include "model/weight_loader.h"
#include "support/test_paths.h"

using namespace dsla::eval;
namespace t = dsla::testing;
namespace fs = std::filesystem;

namespace {

fs::path write(const fs::path& dir, const std::string& name, const std::string& text) {
  std::ofstream(dir / name) << text;
  return dir / name;
}

fs::path squad_file() {
  return dsla::assets_dir() / "datasets/squad_v2_dev_split/dev-v2.0.articles1-12.json";
}

TEST(TaskConfig, ReportsEveryProblemNamingTheFile) {
  fs::path dir = t::make_temp_dir("eval_task");
  fs::path f = write(dir, "bad.yaml",
                     "name: x\nkind: generate\nformat: squad\nmetrik: squad\nmax_new_tokens: 0\n");
  try {
    load_task(f);
    FAIL() << "accepted a bad task file";
  } catch (const dsla::Error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find(f.string()), std::string::npos) << msg;
    EXPECT_NE(msg.find("did you mean 'metric'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("task.data"), std::string::npos) << msg;
    EXPECT_NE(msg.find("task.max_new_tokens"), std::string::npos) << msg;
  }
  EXPECT_THROW(load_task(write(dir, "kind.yaml", "name: x\nkind: essay\n")), dsla::Error);
  EXPECT_THROW(load_task(write(dir, "yaml.yaml", "name: [x\n")), dsla::Error);
  EXPECT_THROW(load_task(dir / "missing.yaml"), dsla::Error);
  for (const char* task : {"squad", "squad_long", "xsum", "tinystories_cloze", "perplexity"}) {
    fs::path p = dsla::repo_root() / "recipes/eval" / (std::string(task) + ".yaml");
    EXPECT_NO_THROW(load_task(p)) << p;
  }
}

TEST(Examples, SquadLoaderKeepsAnswerableQuestionsUnlessAsked) {
  nlohmann::json root = nlohmann::json::parse(t::read_file(squad_file()));
  size_t all = 0, answerable = 0;
  for (const auto& a : root["data"]) {
    for (const auto& p : a["paragraphs"]) {
      for (const auto& q : p["qas"]) {
        ++all;
        answerable += !q["answers"].empty();
      }
    }
  }
  TaskConfig task;
  task.format = "squad";
  task.data = squad_file();
  EXPECT_EQ(load_examples(task).size(), answerable);
  task.include_unanswerable = true;
  auto with = load_examples(task);
  EXPECT_EQ(with.size(), all);
  EXPECT_GT(all, answerable);
}

TEST(Examples, TextClozeIsSeededAndHoldsTheTrueNextSentence) {
  fs::path dir = t::make_temp_dir("eval_cloze");
  std::string text;
  for (int i = 0; i < 12; ++i) {
    text += "Story " + std::to_string(i) + " begins. It goes on. It ends " + std::to_string(i) +
            ". Done.\n\n";
  }
  TaskConfig task;
  task.kind = TaskKind::kMultipleChoice;
  task.format = "text_cloze";
  task.data = write(dir, "t.txt", text);
  auto a = load_examples(task), b = load_examples(task);
  ASSERT_EQ(a.size(), 12u);
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].choices, b[i].choices);
    ASSERT_EQ(a[i].choices.size(), 4u);
    EXPECT_EQ(a[i].fields["query"], "Story " + std::to_string(i) + " begins. It goes on.");
    EXPECT_EQ(a[i].choices[static_cast<size_t>(a[i].gold)], "It ends " + std::to_string(i) + ".");
  }
}

TEST(Prompts, TemplatesFewShotAndLongContextPadding) {
  auto tok = dsla::load_tokenizer(t::stories260k_dir());
  TaskConfig task = load_task(dsla::repo_root() / "recipes/eval/squad_long.yaml");
  auto examples = load_examples(task);
  PromptBuilder builder(task, examples, *tok, 0);
  const Example& e = examples[3];
  std::string plain = builder.prompt(3);
  // One exemplar (with its answer), then this example's context and question.
  EXPECT_NE(plain.find(e.fields.at("context")), std::string::npos);
  EXPECT_EQ(plain.rfind("Question: " + e.fields.at("question") + "\nAnswer:"),
            plain.size() - e.fields.at("question").size() - 18);
  EXPECT_EQ(plain, PromptBuilder(task, examples, *tok, 0).prompt(3));
  auto plain_tokens = static_cast<int64_t>(tok->encode(plain, true).size());
  for (int64_t target : {plain_tokens + 600, plain_tokens + 2000}) {
    std::string long_prompt = builder.prompt(3, target);
    auto n = static_cast<int64_t>(tok->encode(long_prompt, true).size());
    EXPECT_LE(n, target);
    EXPECT_GE(n, target - 200) << "padding fell far short";
    size_t at = long_prompt.find(e.fields.at("context"));
    EXPECT_NE(at, std::string::npos);
    EXPECT_EQ(long_prompt.find(e.fields.at("context"), at + 1), std::string::npos);
  }
  EXPECT_THROW(render_template("{nope}", e, "x.yaml"), dsla::Error);
}

TEST(Runners, BatchedGenerationEqualsUnbatchedCutAtStops) {
  auto model = dsla::model::load_llama(t::stories260k_dir());
  auto tok = dsla::load_tokenizer(t::stories260k_dir());
  fs::path dir = t::make_temp_dir("eval_gen");
  std::string lines;
  const char* starts[] = {"Once upon a time", "Lily saw a big dog", "Tom", "The sun was hot",
                          "A little bird wanted to fly"};
  for (int i = 0; i < 5; ++i) {
    lines +=
        nlohmann::json({{"id", i}, {"text", starts[i]}, {"summary", "a happy dog"}}).dump() + "\n";
  }
  TaskConfig task;
  task.file = dir / "task.yaml";
  task.format = "jsonl";
  task.data = write(dir, "items.jsonl", lines);
  task.reference_field = "summary";
  task.metric = "rouge";
  task.max_new_tokens = 24;
  task.stop = {"."};
  auto examples = load_examples(task);
  EvalSettings settings;
  settings.batch_size = 3;
  settings.progress = false;
  settings.predictions = dir / "pred.jsonl";
  TaskResult r = run_generate_task(*model, *tok, task, examples, 0, settings);
  ASSERT_EQ(r.examples, 5);
  std::ifstream in(settings.predictions);
  std::string line;
  for (int i = 0; std::getline(in, line); ++i) {
    auto j = nlohmann::json::parse(line);
    dsla::model::GenerateOptions o;
    o.max_new_tokens = 24;
    o.stop_ids = {*tok->eos_id()};
    auto alone = dsla::model::generate(*model, tok->encode(starts[i], true), o);
    std::string text = tok->decode(alone.tokens);
    text = text.substr(0, text.find('.'));
    text.erase(0, text.find_first_not_of(' '));
    text.erase(text.find_last_not_of(' ') + 1);
    EXPECT_EQ(j["prediction"].get<std::string>(), text) << "example " << i;
  }
  EXPECT_GE(r.metrics.at("rouge1"), 0.0);
  EXPECT_LE(r.metrics.at("rouge1"), 100.0);
}

TEST(Runners, StopStringsInTheAnswersLeadingWhitespaceDoNotCutIt) {
  // An instruct model often opens its answer with a newline; with stop "\n" it must not be empty.
  const std::vector<std::string> newline{"\n"};
  EXPECT_EQ(finish_text("\n Paris\nThe rest", newline), "Paris");
  EXPECT_EQ(stop_position("\n Paris\nThe rest", newline), 7u);
  EXPECT_EQ(finish_text("Paris\n", newline), "Paris");
  EXPECT_EQ(finish_text("\n\n  \n", newline), "");
  EXPECT_EQ(stop_position("\n\n", newline), std::string::npos);
  // The earliest of several stop strings; an empty one never matches; Unicode spaces stay.
  EXPECT_EQ(finish_text(" A cat. A dog\n", {"\n", ".", ""}), "A cat");
  EXPECT_EQ(finish_text("\xc2\xa0x ", {}), "\xc2\xa0x");
}

TEST(Runners, ChatTemplateTasksSendThePromptAsOneUserTurn) {
  auto model = dsla::model::load_llama(t::stories260k_dir());
  auto tok = dsla::load_tokenizer(t::stories260k_dir());
  fs::path dir = t::make_temp_dir("eval_chat");
  TaskConfig task;
  task.file = dir / "task.yaml";
  task.format = "jsonl";
  task.data = write(dir, "items.jsonl",
                    R"({"id": 1, "text": "Tell a story.", "summary": "a dog"})"
                    "\n");
  task.reference_field = "summary";
  task.metric = "rouge";
  task.max_new_tokens = 4;
  task.chat_template = true;
  EvalSettings settings;
  settings.progress = false;
  settings.predictions = dir / "pred.jsonl";
  // stories260K has no chat template: the task is refused, naming its file.
  dsla::ChatTemplate none = dsla::ChatTemplate::load(t::stories260k_dir());
  settings.chat = &none;
  try {
    run_generate_task(*model, *tok, task, load_examples(task), 0, settings);
    ADD_FAILURE() << "a chat task ran without a chat template";
  } catch (const dsla::Error& e) {
    EXPECT_NE(std::string(e.what()).find(task.file.string()), std::string::npos) << e.what();
  }
  // SmolLM2's ChatML template (the fixture HF transformers rendered): one user turn, then the
  // assistant's opening, as transformers' apply_chat_template(add_generation_prompt=True) writes.
  auto fixture =
      nlohmann::json::parse(t::read_file(t::fixtures_dir() / "chat_template_smollm2.json"));
  dsla::ChatTemplate chatml = dsla::ChatTemplate::from_text(fixture["chat_template"], "fixture");
  settings.chat = &chatml;
  TaskResult r = run_generate_task(*model, *tok, task, load_examples(task), 0, settings);
  std::string prompt = nlohmann::json::parse(t::read_file(settings.predictions))["prompt"];
  EXPECT_EQ(prompt, chatml.render({{"user", "Tell a story."}}));
  EXPECT_NE(prompt.find("<|im_start|>user\nTell a story.<|im_end|>\n"), std::string::npos)
      << prompt;
  EXPECT_EQ(prompt.substr(prompt.size() - 22), "<|im_start|>assistant\n") << prompt;
  EXPECT_NE(r.protocol.find("chat template"), std::string::npos) << r.protocol;
}

TEST(Runners, ChoiceLogLikelihoodsMatchFp64PerChoiceForward) {
  auto model = dsla::model::load_llama(t::stories260k_dir());
  auto tok = dsla::load_tokenizer(t::stories260k_dir());
  fs::path dir = t::make_temp_dir("eval_mc");
  std::string lines =
      R"({"query": "Once upon a time, there was a little", "choices": ["girl", "the car ran"], "gold": 0})"
      "\n"
      R"({"query": "Lily and her mom went to the", "choices": ["park", "blue", "sleep now"], "gold": 0})"
      "\n";
  TaskConfig task;
  task.file = dir / "task.yaml";
  task.kind = TaskKind::kMultipleChoice;
  task.format = "jsonl";
  task.prompt = "{query}";
  task.data = write(dir, "mc.jsonl", lines);
  EvalSettings settings;
  settings.progress = false;
  settings.predictions = dir / "mc_pred.jsonl";
  auto examples = load_examples(task);
  run_choice_task(*model, *tok, task, examples, settings);
  model->to(at::kDouble);
  c10::InferenceMode guard;
  std::ifstream in(settings.predictions);
  std::string line;
  for (size_t i = 0; std::getline(in, line); ++i) {
    auto j = nlohmann::json::parse(line);
    auto ctx = tok->encode(examples[i].fields["query"], true);
    for (size_t c = 0; c < examples[i].choices.size(); ++c) {
      auto whole = tok->encode(examples[i].fields["query"] + " " + examples[i].choices[c], true);
      at::Tensor logp = at::log_softmax(
          model->forward(at::tensor(whole, at::kLong).unsqueeze(0))[0].to(at::kDouble), -1);
      double ll = 0;
      for (size_t p = ctx.size(); p < whole.size(); ++p) {
        ll += logp[static_cast<int64_t>(p - 1)][whole[p]].item<double>();
      }
      EXPECT_NEAR(j["loglikelihoods"][c].get<double>(), ll, 1e-3) << i << "/" << c;
    }
  }
}

}  // namespace
