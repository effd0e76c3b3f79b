// Implementation of hybrid-model export and the converted-parameter view.
#include "model/export.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <fstream>

#include "core/atomic_file.h"
#include "core/error.h"
#include "io/json_file.h"
#include "io/safetensors.h"
#include "model/hf_remote_files.h"

namespace dsla::model {
namespace fs = std::filesystem;

std::optional<ConversionPlan> read_conversion_plan(const fs::path& model_dir) {
  fs::path file = model_dir / "config.json";
  nlohmann::json j = io::read_json_file(file);
  if (!j.contains("dsla")) return std::nullopt;
  DSLA_CHECK(j.contains("num_hidden_layers") && j["num_hidden_layers"].is_number_integer(),
             "{}: num_hidden_layers missing", file.string());
  return plan_from_json(j["dsla"], j["num_hidden_layers"].get<int64_t>(), file.string());
}

std::string layer_attention_prefix(int64_t layer) {
  return fmt::format("model.layers.{}.self_attn.", layer);
}

std::map<std::string, at::Tensor> layer_attention_parameters(LlamaForCausalLMImpl& model,
                                                             int64_t layer) {
  std::map<std::string, at::Tensor> out;
  std::string prefix = layer_attention_prefix(layer);
  for (const auto& item : model.layer(layer).attention()->named_parameters(true)) {
    out.emplace(prefix + item.key(), item.value());
  }
  return out;
}

namespace {

constexpr const char* kTokenizerFiles[] = {"tokenizer.json", "tokenizer.model",
                                           "tokenizer_config.json", "special_tokens_map.json",
                                           "generation_config.json"};

/// Copies a file through write_file_atomically (so the copy is fsynced like everything else).
void copy_file_synced(const fs::path& from, const fs::path& to) {
  std::ifstream in(from, std::ios::binary);
  DSLA_CHECK(in.good(), "{}: cannot open for copying", from.string());
  bool empty = fs::file_size(from) == 0;  // streaming an empty rdbuf sets failbit
  write_file_atomically(to, [&](std::ostream& out) {
    if (!empty) out << in.rdbuf();
  });
}

void write_export_files(LlamaForCausalLMImpl& model, const ConversionPlan& plan,
                        const fs::path& source_dir, const fs::path& dir,
                        const nlohmann::json& extra) {
  std::map<std::string, at::Tensor> tensors;
  for (const auto& item : model.named_parameters(true)) {
    tensors.emplace(item.key(), item.value().detach().cpu().contiguous());
  }
  io::save_safetensors(dir / "model.safetensors", tensors, {{"format", "pt"}});
  nlohmann::json config = io::read_json_file(source_dir / "config.json");
  nlohmann::json section = plan_to_json(plan);
  for (const auto& [key, value] : extra.items()) section[key] = value;
  config["dsla"] = section;
  // transformers loads the export with trust_remote_code through these two files.
  config["auto_map"] = {{"AutoConfig", "configuration_dsla.DslaConfig"},
                        {"AutoModelForCausalLM", "modeling_dsla.DslaForCausalLM"}};
  write_text_atomically(dir / "config.json", config.dump(2) + "\n");
  write_text_atomically(dir / hf_remote::kModelingFile, hf_remote::kModelingPy);
  write_text_atomically(dir / hf_remote::kConfigurationFile, hf_remote::kConfigurationPy);
  for (const char* name : kTokenizerFiles) {
    if (fs::exists(source_dir / name)) copy_file_synced(source_dir / name, dir / name);
  }
}

}  // namespace

void export_model(LlamaForCausalLMImpl& model, const ConversionPlan& plan,
                  const fs::path& source_dir, const fs::path& out_dir,
                  const nlohmann::json& extra) {
  fs::path target = fs::absolute(out_dir).lexically_normal();
  if (target.filename().empty()) target = target.parent_path();
  fs::path parent = target.parent_path();
  DSLA_CHECK(fs::is_directory(parent), "export: parent directory {} does not exist",
             parent.string());
  // Only an earlier export (or an empty directory) is ever replaced; never the source model.
  if (fs::exists(target)) {
    DSLA_CHECK(!fs::equivalent(target, source_dir), "export: {} is the source model directory",
               target.string());
    fs::path config = target / "config.json";
    DSLA_CHECK(fs::is_directory(target) &&
                   (fs::is_empty(target) ||
                    (fs::exists(config) && io::read_json_file(config).contains("dsla"))),
               "export: {} exists and is not a dsla export; refusing to replace it",
               target.string());
  }
  fs::path staging = parent / (target.filename().string() + ".partial");
  fs::path previous = parent / (target.filename().string() + ".old");
  std::error_code ec;
  fs::remove_all(staging, ec);
  fs::remove_all(previous, ec);
  fs::create_directory(staging);
  write_export_files(model, plan, source_dir, staging, extra);
  if (fs::exists(target)) fs::rename(target, previous);
  fs::rename(staging, target);
  fs::remove_all(previous, ec);
  int fd = ::open(parent.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

}  // namespace dsla::model
