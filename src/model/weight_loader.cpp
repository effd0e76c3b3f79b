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

/// The shapes config.json implies for a few tensors every Llama checkpoint has, checked before the
/// model is built: a config whose sizes disagree with its weights (a typo, or 1e12) is refused
/// naming both, instead of allocating what it says.
void check_config_against_weights(const LlamaConfig& c, const io::SafetensorsCollection& files) {
  const std::string last = fmt::format("model.layers.{}.", c.num_hidden_layers - 1);
  const std::vector<std::pair<std::string, std::vector<int64_t>>> expected = {
      {"model.embed_tokens.weight", {c.vocab_size, c.hidden_size}},
      {last + "self_attn.q_proj.weight", {c.num_attention_heads * c.head_dim, c.hidden_size}},
      {last + "self_attn.k_proj.weight", {c.num_key_value_heads * c.head_dim, c.hidden_size}},
      {last + "mlp.gate_proj.weight", {c.intermediate_size, c.hidden_size}}};
  for (const auto& [name, shape] : expected) {
    if (!files.contains(name)) continue;  // the strict load below names what is missing
    const io::TensorEntry& e = files.entry(name);
    DSLA_CHECK(e.shape == shape,
               "{}: config.json implies [{}] for '{}' but {} has [{}]; config.json does not "
               "describe these weights",
               files.origin().string(), fmt::join(shape, ", "), name, files.file_of(name).string(),
               fmt::join(e.shape, ", "));
  }
  auto beyond = fmt::format("model.layers.{}.input_layernorm.weight", c.num_hidden_layers);
  DSLA_CHECK(!files.contains(beyond),
             "{}: config.json says {} layers but the weights have more (found '{}')",
             files.origin().string(), c.num_hidden_layers, beyond);
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
    // Only float types convert to the model's dtype without loss of meaning (an I32 tensor cast
    // to float is a different model).
    DSLA_CHECK(e.dtype == at::kFloat || e.dtype == at::kHalf || e.dtype == at::kBFloat16,
               "{}: tensor '{}' is {}; model weights must be F32, F16 or BF16",
               files.file_of(name).string(), name, io::safetensors_dtype_name(e.dtype));
    param.copy_(files.tensor(name));
    auto bad = at::logical_not(at::isfinite(param)).sum().item<int64_t>();
    DSLA_CHECK(bad == 0, "{}: tensor '{}' has {} non-finite value(s) (NaN or Inf)",
               files.file_of(name).string(), name, bad);
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
  check_config_against_weights(config, files);
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
