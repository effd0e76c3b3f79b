// dsla fit-report: how closely each DSLA layer form can fit the teacher's attention, per layer.
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <iostream>
#include <sstream>

#include "cli/commands.h"
#include "cli/model_loading.h"
#include "cli/recipe_options.h"
#include "config/yaml_file.h"
#include "core/error.h"
#include "core/threads.h"
#include "data/packing.h"
#include "distill/builders.h"
#include "distill/fit_report.h"
#include "model/weight_loader.h"

namespace dsla::cli {
namespace {

/// "NAME: key=value key=value" -> a form: the recipe's dsla settings with those keys changed.
distill::FitForm parse_form(const std::string& spec, const model::DslaSettings& base) {
  size_t colon = spec.find(':');
  std::string name = spec.substr(0, colon);
  DSLA_CHECK(!name.empty() && name.find(' ') == std::string::npos,
             "--form '{}': expected 'NAME: key=value ...' (NAME without spaces)", spec);
  nlohmann::json changes = nlohmann::json::object();
  std::istringstream rest(colon == std::string::npos ? "" : spec.substr(colon + 1));
  for (std::string item; rest >> item;) {
    size_t eq = item.find('=');
    DSLA_CHECK(eq != std::string::npos && eq > 0, "--form {}: '{}' is not key=value", name, item);
    changes[item.substr(0, eq)] = config::yaml_to_json(YAML::Load(item.substr(eq + 1)));
  }
  distill::FitForm form{name, base};
  std::vector<std::string> errors;
  read_settings(model::dsla_settings_table(), changes, form.settings, "--form " + name, errors);
  for (auto& e : model::check_dsla_settings(form.settings)) errors.push_back(name + ": " + e);
  DSLA_CHECK(errors.empty(), "{}", fmt::join(errors, "\n"));
  return form;
}

std::vector<int64_t> parse_layers(const std::string& text, int64_t num_layers) {
  std::vector<int64_t> layers;
  if (text.empty()) {
    for (int64_t i = 0; i < num_layers; ++i) layers.push_back(i);
    return layers;
  }
  std::istringstream in(text);
  for (std::string item; std::getline(in, item, ':');) {
    int64_t layer = -1;
    try {
      size_t used = 0;
      layer = std::stoll(item, &used);
      if (used != item.size()) layer = -1;
    } catch (const std::exception&) {
    }
    DSLA_CHECK(layer >= 0 && layer < num_layers,
               "--layers: '{}' is not a layer of this {}-layer model", item, num_layers);
    layers.push_back(layer);
  }
  std::sort(layers.begin(), layers.end());
  return layers;
}

}  // namespace

int run_fit_report(int argc, char** argv) {
  cxxopts::Options options(
      "dsla fit-report",
      "Fit each DSLA layer form briefly to the teacher's attention on its own "
      "layer inputs; report held-out relative MSE per layer beside the floors.");
  add_recipe_options(options);
  options.add_options()(
      "form",
      "a form to compare, 'NAME: key=value ...' over the recipe's dsla section (repeat; "
      "default: the recipe's own form)",
      cxxopts::value<std::vector<std::string>>())("layers",
                                                  "layers to fit, colon-separated (default: all)",
                                                  cxxopts::value<std::string>()->default_value(""))(
      "steps", "fit steps per layer and form (0 = distill.steps_per_layer)",
      cxxopts::value<int64_t>()->default_value("0"))("sequences",
                                                     "training sequences (0 = profile.sequences)",
                                                     cxxopts::value<int64_t>()->default_value("0"))(
      "eval-sequences", "held-out sequences", cxxopts::value<int64_t>()->default_value("8"))(
      "seq-len", "tokens per sequence (0 = data.seq_len)",
      cxxopts::value<int64_t>()->default_value("0"))(
      "out", "output directory (default: RUN_DIR/fit_report)", cxxopts::value<std::string>())(
      "h,help", "show this help");
  auto parsed = parse_or_help(options, argc, argv);
  if (!parsed) return 0;
  config::Recipe r = load_recipe_from_options(*parsed);
  auto int_option = [&](const char* name, int64_t fallback) {
    int64_t v = (*parsed)[name].as<int64_t>();
    DSLA_CHECK(v >= 0, "--{} must be >= 0, got {}", name, v);
    return v == 0 ? fallback : v;
  };
  std::vector<distill::FitForm> forms;
  if (parsed->count("form")) {
    for (const auto& spec : (*parsed)["form"].as<std::vector<std::string>>()) {
      forms.push_back(parse_form(spec, r.dsla));
    }
  } else {
    forms.push_back({"recipe", r.dsla});
  }
  int64_t seq_len = int_option("seq-len", r.data.seq_len);
  int64_t train_n = int_option("sequences", r.profile.sequences);
  int64_t eval_n = int_option("eval-sequences", 8);
  DSLA_CHECK(seq_len > 0 && train_n > 0 && eval_n > 0,
             "--seq-len, --sequences and --eval-sequences must be positive");
  init_threads(r.run.threads);
  model::LlamaForCausalLM model = model::load_llama(r.model.path, r.model.dtype);
  for (auto& p : model->parameters(true)) p.set_requires_grad(false);
  std::vector<int64_t> layers =
      parse_layers((*parsed)["layers"].as<std::string>(), model->config().num_hidden_layers);
  auto tokenizer = load_tokenizer(r.model.path, model->config().vocab_size);
  distill::Corpus corpus = distill::load_corpus(r, *tokenizer);
  data::SequenceStream stream = corpus.training_stream(seq_len, r.run.seed);
  at::Tensor train = distill::next_sequences(stream, train_n);  // [N, T]
  at::Tensor eval = distill::next_sequences(stream, eval_n);    // [M, T], not trained on
  for (const auto& used : stream.usage()) {
    DSLA_CHECK(used.passes <= 1.0,
               "{}: {} sequences of {} tokens drawn from a file that holds {:.0f}; the held-out "
               "sequences would repeat trained ones (add data or lower --sequences)",
               used.name, used.sequences, seq_len, used.sequences / used.passes);
  }
  distill::FitOptions fit;
  fit.steps = int_option("steps", r.distill.steps_per_layer);
  fit.batch_size = r.distill.batch_size;
  fit.lr = r.distill.lr;
  fit.max_grad_norm = r.distill.max_grad_norm;
  fit.gate_separation = r.distill.gate_separation;
  fit.seed = r.run.seed;
  fit.log_every = fit.steps + 1;
  std::cout << fmt::format("{:>5} {:<24} {:>10} {:>10} {:>8}\n", "layer", "form", "before", "after",
                           "seconds");
  auto report = distill::fit_report(*model, train, eval, layers, forms, fit, [](const auto& row) {
    std::cout << fmt::format("{:>5} {:<24} {:>10.4f} {:>10.4f} {:>8.1f}\n", row.layer, row.form,
                             row.before, row.after, row.seconds)
              << std::flush;
  });
  std::filesystem::path out = parsed->count("out")
                                  ? std::filesystem::path((*parsed)["out"].as<std::string>())
                                  : std::filesystem::path(r.run.dir) / "fit_report";
  distill::write_fit_report(out, report);
  std::cout << "\n"
            << distill::fit_report_table(report) << "\nwritten to " << out.string()
            << "/fit_report.*\n";
  return 0;
}

}  // namespace dsla::cli
