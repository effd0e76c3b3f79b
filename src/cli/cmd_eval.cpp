// dsla eval: evaluation tasks (QA, summarization, multiple choice, perplexity) on a model, the
// stages of a distillation run or a list of exports, with a table and plots against depth.
#include <fmt/format.h>

#include <cmath>
#include <iostream>
#include <sstream>

#include "cli/commands.h"
#include "cli/model_loading.h"
#include "core/error.h"
#include "core/paths.h"
#include "core/threads.h"
#include "eval/sweep.h"
#include "model/device.h"
#include "model/export.h"
#include "model/hf_config.h"
#include "model/weight_loader.h"
#include "run/open_run.h"

namespace dsla::cli {
namespace fs = std::filesystem;

namespace {

/// Stage numbers from "all" or a comma list of stages and percentages ("0,25%,50%,100%").
std::vector<int64_t> parse_stages(const std::string& spec, int64_t completed, int64_t layers) {
  std::vector<int64_t> out;
  if (spec == "all") {
    for (int64_t s = 0; s <= completed; ++s) out.push_back(s);
    return out;
  }
  std::stringstream ss(spec);
  std::string item;
  while (std::getline(ss, item, ',')) {
    int64_t stage = 0;
    try {
      stage = !item.empty() && item.back() == '%'
                  ? std::llround(std::stod(item.substr(0, item.size() - 1)) / 100.0 *
                                 static_cast<double>(layers))
                  : std::stoll(item);
    } catch (const std::exception&) {
      DSLA_FAIL("--stages '{}': '{}' is neither a stage number nor a percentage", spec, item);
    }
    DSLA_CHECK(stage >= 0 && stage <= completed,
               "--stages '{}': stage {} is outside the run's completed stages 0..{}", spec, stage,
               completed);
    if (std::find(out.begin(), out.end(), stage) == out.end()) out.push_back(stage);
  }
  return out;
}

std::vector<eval::ModelSpec> run_models(const fs::path& run_dir, const std::string& stages,
                                        const c10::Device& device) {
  run::Run run = run::open_run(run_dir);
  const run::RunProgress& progress = run.progress;
  std::vector<eval::ModelSpec> out;
  for (int64_t s : parse_stages(stages, progress.plan.converted, progress.num_layers)) {
    eval::ModelSpec m;
    m.label = s == 0 ? "teacher" : fmt::format("stage_{:03d}", s);
    m.converted = s;
    m.num_layers = progress.num_layers;
    m.tokenizer_dir = run.recipe.model.path;
    m.load = [run, s, device] {
      model::LlamaForCausalLM loaded = run::load_run_model(run, s).model;
      loaded->to(device);
      return loaded;
    };
    out.push_back(std::move(m));
  }
  return out;
}

eval::ModelSpec dir_model(const fs::path& dir, const c10::Device& device) {
  DSLA_CHECK(fs::is_directory(dir), "--model {}: not a directory", dir.string());
  eval::ModelSpec m;
  m.label =
      dir.filename().empty() ? dir.parent_path().filename().string() : dir.filename().string();
  auto plan = model::read_conversion_plan(dir);
  m.converted = plan ? plan->converted : 0;
  m.num_layers = model::load_llama_config(dir).num_hidden_layers;
  m.tokenizer_dir = dir;
  m.load = [dir, device] {
    model::LlamaForCausalLM loaded = model::load_llama(dir);
    loaded->to(device);
    return loaded;
  };
  return m;
}

}  // namespace

int run_eval(int argc, char** argv) {
  cxxopts::Options options("dsla eval",
                           "Evaluate tasks (YAML files under recipes/eval/) on a model, on stages "
                           "of a distillation run, or on several exports.");
  // clang-format off
  options.add_options()
      ("t,task", "task file (repeat for several)", cxxopts::value<std::vector<std::string>>())
      ("model", "model or export directory (repeat for several; default: the bundled model)",
       cxxopts::value<std::vector<std::string>>())
      ("run", "distillation run directory: evaluate its stages", cxxopts::value<std::string>())
      ("stages", "with --run: 'all' or stages and percentages, e.g. 0,25%,50%,75%,100%",
       cxxopts::value<std::string>()->default_value("all"))
      ("o,out", "output directory", cxxopts::value<std::string>())
      ("limit", "evaluate only the first N examples of each task (0 = the task's own limit)",
       cxxopts::value<int64_t>()->default_value("0"))
      ("seed", "few-shot exemplars and distractor placement", cxxopts::value<uint64_t>()->default_value("0"))
      ("batch-size", "prompts generated together", cxxopts::value<int64_t>()->default_value("8"))
      ("threads", "intra-op threads (0 = number of cores)", cxxopts::value<int>()->default_value("0"))
      ("device", "cpu, cuda or cuda:N", cxxopts::value<std::string>()->default_value("cpu"))
      ("h,help", "show this help");
  // clang-format on
  auto parsed = parse_or_help(options, argc, argv);
  if (!parsed) return 0;
  const auto& args = *parsed;
  DSLA_CHECK(args.count("task") != 0, "--task is required (e.g. recipes/eval/squad.yaml)");
  DSLA_CHECK(args.count("out") != 0, "--out is required");
  DSLA_CHECK(args["batch-size"].as<int64_t>() >= 1, "--batch-size must be >= 1");
  DSLA_CHECK(args["limit"].as<int64_t>() >= 0, "--limit must be >= 0");
  std::vector<eval::TaskConfig> tasks;
  for (const auto& f : args["task"].as<std::vector<std::string>>()) {
    tasks.push_back(eval::load_task(f));
  }
  init_threads(args["threads"].as<int>());
  c10::Device device = model::resolve_device(args["device"].as<std::string>(), "--device");
  std::vector<eval::ModelSpec> models;
  if (args.count("run") != 0) {
    models = run_models(args["run"].as<std::string>(), args["stages"].as<std::string>(), device);
  }
  if (args.count("model") != 0) {
    for (const auto& d : args["model"].as<std::vector<std::string>>())
      models.push_back(dir_model(d, device));
  }
  if (models.empty()) models.push_back(dir_model(default_model_dir(), device));
  eval::EvalSettings settings;
  settings.limit = args["limit"].as<int64_t>();
  settings.seed = args["seed"].as<uint64_t>();
  settings.batch_size = args["batch-size"].as<int64_t>();
  fs::path out = args["out"].as<std::string>();
  auto rows = eval::run_sweep(models, tasks, settings, out);
  eval::write_sweep_outputs(rows, out);
  std::cout << fmt::format("evaluated {} model(s) on {} task(s): {}\n", models.size(), tasks.size(),
                           (out / "eval.md").string());
  return 0;
}

}  // namespace dsla::cli
