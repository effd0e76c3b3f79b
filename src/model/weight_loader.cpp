// Implementation of the strict weight loader.
#include "model/weight_loader.h"

#include <ATen/ATen.h>
#include <fmt/ranges.h>
#include <torch/autograd.h>

#include <set>

#include "core/error.h"
#include "model/export.h"
#include "model/hf_config.h"

namespace dsla::model {
namespace {

/// HF checkpoints may carry these; they are derived data, not parameters.
bool always_ignorable(const std::string& name) {
  return name.size() >= 19 && name.compare(name.size() - 19, 19, "rotary_emb.inv_freq") == 0;
}

std::string join_first(const std::vector<std::string>& names, size_t n) {
  std::vector<std::string> head(names.begin(), names.begin() + std::min(n, names.size()));
  std::string s = fmt::format("{}", fmt::join(head, ", "));
  if (names.size() > n) s += fmt::format(" ... ({} in all)", names.size());
  return s;
}

}  // namespace

LoadReport load_parameters(torch::nn::Module& module, const io::SafetensorsCollection& files,
                           const std::function<bool(const std::string&)>& ignorable,
                           const std::string& prefix) {
  LoadReport report;
  std::set<std::string> consumed;
  std::vector<std::string> missing;
  torch::NoGradGuard no_grad;
  for (const auto& item : module.named_parameters(/*recurse=*/true)) {
    const std::string name = prefix + item.key();
    at::Tensor param = item.value();
    if (!files.contains(name)) {
      missing.push_back(name);
      continue;
    }
    const io::TensorEntry& e = files.entry(name);
    DSLA_CHECK(e.shape == param.sizes().vec(),
               "{}: tensor '{}' has wrong shape; expected [{}], got [{}]",
               files.file_of(name).string(), name, fmt::join(param.sizes(), ", "),
               fmt::join(e.shape, ", "));
    param.copy_(files.tensor(name));
    consumed.insert(name);
    report.tensors++;
    report.bytes += static_cast<int64_t>(e.end - e.begin);
  }
  DSLA_CHECK(missing.empty(), "{}: the model files lack {} tensor(s): {}", files.origin().string(),
             missing.size(), join_first(missing, 8));
  std::vector<std::string> unexpected;
  for (const auto& name : files.names()) {
    if (consumed.count(name) != 0) continue;
    if (always_ignorable(name) || (ignorable && ignorable(name))) {
      report.ignored.push_back(name);
    } else {
      unexpected.push_back(name);
    }
  }
  DSLA_CHECK(unexpected.empty(), "{}: {} unexpected tensor(s) the model does not use: {}",
             files.file_of(unexpected.empty() ? "" : unexpected.front()).string(),
             unexpected.size(), join_first(unexpected, 8));
  return report;
}

at::ScalarType scalar_type(Dtype dtype) {
  return dtype == Dtype::bfloat16 ? at::kBFloat16 : at::kFloat;
}

LlamaForCausalLM load_llama(const std::filesystem::path& model_dir, at::ScalarType dtype,
                            LoadReport* report) {
  LlamaConfig config = model::load_llama_config(model_dir);
  io::SafetensorsCollection files(model_dir);
  LlamaForCausalLM model(config);
  model->to(dtype);
  // An exported hybrid: convert its layers first, so their parameters have places to load into.
  if (auto plan = read_conversion_plan(model_dir)) apply_plan(*model, *plan);
  // A tied checkpoint may still carry a copy of the head; the embedding is what the model uses.
  auto ignorable = [&](const std::string& n) {
    return config.tie_word_embeddings && n == "lm_head.weight";
  };
  LoadReport r = load_parameters(*model, files, ignorable);
  if (report != nullptr) *report = r;
  model->eval();
  return model;
}

}  // namespace dsla::model
