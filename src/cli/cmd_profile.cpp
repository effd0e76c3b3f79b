// dsla profile: per-layer sensitivity of the recipe's teacher; writes sensitivity.{json,csv,png}.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <iostream>

#include "cli/commands.h"
#include "cli/model_loading.h"
#include "cli/recipe_options.h"
#include "core/threads.h"
#include "distill/driver.h"
#include "model/device.h"
#include "model/weight_loader.h"

namespace dsla::cli {

int run_profile(int argc, char** argv) {
  cxxopts::Options options("dsla profile",
                           "Rank the teacher's layers by sensitivity; the order distill uses.");
  add_recipe_options(options);
  options.add_options()("h,help", "show this help");
  auto parsed = parse_or_help(options, argc, argv);
  if (!parsed) return 0;
  config::Recipe r = load_recipe_from_options(*parsed);
  init_threads(r.run.threads);
  model::LlamaForCausalLM model = model::load_llama(r.model.path, r.model.dtype);
  model->to(model::resolve_device(r.run.device, "run.device"));
  for (auto& p : model->parameters(true)) p.set_requires_grad(false);
  auto tokenizer = load_tokenizer(r.model.path, model->config().vocab_size);
  distill::Corpus corpus = distill::load_corpus(r, *tokenizer);
  distill::SensitivityReport report = distill::profile_layers(*model, r, corpus, r.run.dir);
  std::cout << fmt::format("{:>5}", "layer");
  for (const auto& m : report.metrics) std::cout << fmt::format(" {:>12}", m);
  std::cout << "\n";
  for (size_t i = 0; i < report.order.size(); ++i) {
    std::cout << fmt::format("{:>5}", i);
    for (const auto& m : report.metrics)
      std::cout << fmt::format(" {:>12.5f}", report.scores[m][i]);
    std::cout << "\n";
  }
  std::cout << fmt::format("order (convert first -> last): {}\nwritten to {}/sensitivity.*\n",
                           fmt::join(report.order, " "), r.run.dir);
  return 0;
}

}  // namespace dsla::cli
