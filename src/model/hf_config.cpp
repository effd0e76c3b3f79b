// Implementation of hf_config.h: HF config.json <-> LlamaConfig, with validation.
#include "model/hf_config.h"

#include <cmath>
#include <set>

#include "core/error.h"
#include "io/json_file.h"

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace dsla::model {
namespace {

template <typename T>
T get_or(const json& j, const char* key, T fallback, const std::string& source) {
  if (!j.contains(key) || j[key].is_null()) return fallback;
  try {
    return j[key].get<T>();
  } catch (const json::exception&) {
    DSLA_FAIL("{}: field '{}' has the wrong type ({})", source, key, j[key].dump());
  }
}

int64_t require_positive(const json& j, const char* key, const std::string& source) {
  DSLA_CHECK(j.contains(key) && j[key].is_number_integer(), "{}: missing integer field '{}'",
             source, key);
  int64_t v = j[key].get<int64_t>();
  DSLA_CHECK(v > 0, "{}: field '{}' must be positive, got {}", source, key, v);
  return v;
}

RopeScaling parse_rope_scaling(const json& j, const std::string& source) {
  RopeScaling r;
  if (!j.contains("rope_scaling") || j["rope_scaling"].is_null()) return r;
  const json& s = j["rope_scaling"];
  std::string type =
      get_or<std::string>(s, "rope_type", get_or<std::string>(s, "type", "", source), source);
  if (type == "default" || type.empty()) return r;
  DSLA_CHECK(type == "llama3", "{}: rope_scaling type '{}' is not supported (supported: llama3)",
             source, type);
  r.type = type;
  r.factor = get_or<double>(s, "factor", 8.0, source);
  r.low_freq_factor = get_or<double>(s, "low_freq_factor", 1.0, source);
  r.high_freq_factor = get_or<double>(s, "high_freq_factor", 4.0, source);
  r.original_max_position_embeddings =
      get_or<int64_t>(s, "original_max_position_embeddings", 8192, source);
  return r;
}

std::vector<int64_t> parse_eos(const json& j, const std::string& source) {
  if (!j.contains("eos_token_id") || j["eos_token_id"].is_null()) return {};
  if (j["eos_token_id"].is_array()) {
    return get_or<std::vector<int64_t>>(j, "eos_token_id", {}, source);
  }
  return {get_or<int64_t>(j, "eos_token_id", 0, source)};
}

/// Values that would load and then compute NaN (or allocate absurd sizes) are refused here.
void check_ranges(const LlamaConfig& c, const std::string& source) {
  DSLA_CHECK(std::isfinite(c.rms_norm_eps) && c.rms_norm_eps > 0,
             "{}: rms_norm_eps must be positive, got {}", source, c.rms_norm_eps);
  DSLA_CHECK(std::isfinite(c.rope_theta) && c.rope_theta > 0,
             "{}: rope_theta must be positive, got {}", source, c.rope_theta);
  DSLA_CHECK(c.max_position_embeddings > 0, "{}: max_position_embeddings must be positive, got {}",
             source, c.max_position_embeddings);
}

void check_supported_features(const json& j, const std::string& source) {
  std::string act = get_or<std::string>(j, "hidden_act", "silu", source);
  DSLA_CHECK(act == "silu", "{}: hidden_act '{}' is not supported (supported: silu)", source, act);
  DSLA_CHECK(!j.contains("quantization_config"),
             "{}: quantized checkpoints are not supported; export the model in f32/f16/bf16",
             source);
}

}  // namespace

LlamaConfig parse_llama_config(const json& j, const std::string& source) {
  DSLA_CHECK(j.is_object(), "{}: expected a JSON object", source);
  LlamaConfig c;
  c.model_type = get_or<std::string>(j, "model_type", "", source);
  static const std::set<std::string> kTypes = {"llama", "mistral", "qwen2"};
  DSLA_CHECK(kTypes.count(c.model_type) != 0,
             "{}: model_type '{}' is not supported (supported: llama, mistral, qwen2)", source,
             c.model_type);
  check_supported_features(j, source);
  c.hidden_size = require_positive(j, "hidden_size", source);
  c.intermediate_size = require_positive(j, "intermediate_size", source);
  c.num_hidden_layers = require_positive(j, "num_hidden_layers", source);
  c.num_attention_heads = require_positive(j, "num_attention_heads", source);
  c.num_key_value_heads = get_or<int64_t>(j, "num_key_value_heads", c.num_attention_heads, source);
  c.head_dim = get_or<int64_t>(j, "head_dim", c.hidden_size / c.num_attention_heads, source);
  c.vocab_size = require_positive(j, "vocab_size", source);
  c.max_position_embeddings = get_or<int64_t>(j, "max_position_embeddings", 2048, source);
  c.rms_norm_eps = get_or<double>(j, "rms_norm_eps", 1e-6, source);
  c.rope_theta = get_or<double>(j, "rope_theta", 10000.0, source);
  c.rope_scaling = parse_rope_scaling(j, source);
  c.tie_word_embeddings = get_or<bool>(j, "tie_word_embeddings", false, source);
  c.attention_bias = get_or<bool>(j, "attention_bias", false, source);
  c.qkv_bias = c.model_type == "qwen2";
  c.mlp_bias = get_or<bool>(j, "mlp_bias", false, source);
  bool use_window =
      c.model_type == "mistral" || get_or<bool>(j, "use_sliding_window", false, source);
  auto window = get_or<int64_t>(j, "sliding_window", 0, source);
  if (use_window && window > 0 && window < c.max_position_embeddings) c.sliding_window = window;
  if (j.contains("bos_token_id") && !j["bos_token_id"].is_null()) {
    c.bos_token_id = get_or<int64_t>(j, "bos_token_id", 0, source);
  }
  c.eos_token_ids = parse_eos(j, source);
  c.torch_dtype = get_or<std::string>(j, "torch_dtype",
                                      get_or<std::string>(j, "dtype", "float32", source), source);
  DSLA_CHECK(c.num_key_value_heads > 0 && c.num_attention_heads % c.num_key_value_heads == 0,
             "{}: num_attention_heads ({}) must be a multiple of num_key_value_heads ({})", source,
             c.num_attention_heads, c.num_key_value_heads);
  DSLA_CHECK(c.head_dim > 0 && c.head_dim % 2 == 0,
             "{}: head_dim must be even and positive, got {}", source, c.head_dim);
  check_ranges(c, source);
  return c;
}

LlamaConfig load_llama_config(const fs::path& model_dir) {
  fs::path file = model_dir / "config.json";
  DSLA_CHECK(fs::exists(file), "{}: cannot open (is {} an HF model directory?)", file.string(),
             model_dir.string());
  return parse_llama_config(io::read_json_file(file), file.string());
}

json llama_config_to_json(const LlamaConfig& c) {
  json j = {{"architectures",
             {c.model_type == "qwen2"     ? "Qwen2ForCausalLM"
              : c.model_type == "mistral" ? "MistralForCausalLM"
                                          : "LlamaForCausalLM"}},
            {"model_type", c.model_type},
            {"hidden_size", c.hidden_size},
            {"intermediate_size", c.intermediate_size},
            {"num_hidden_layers", c.num_hidden_layers},
            {"num_attention_heads", c.num_attention_heads},
            {"num_key_value_heads", c.num_key_value_heads},
            {"head_dim", c.head_dim},
            {"vocab_size", c.vocab_size},
            {"max_position_embeddings", c.max_position_embeddings},
            {"rms_norm_eps", c.rms_norm_eps},
            {"rope_theta", c.rope_theta},
            {"hidden_act", "silu"},
            {"tie_word_embeddings", c.tie_word_embeddings},
            {"attention_bias", c.attention_bias},
            {"mlp_bias", c.mlp_bias},
            {"torch_dtype", c.torch_dtype}};
  if (c.rope_scaling.type == "llama3") {
    j["rope_scaling"] = {
        {"rope_type", "llama3"},
        {"factor", c.rope_scaling.factor},
        {"low_freq_factor", c.rope_scaling.low_freq_factor},
        {"high_freq_factor", c.rope_scaling.high_freq_factor},
        {"original_max_position_embeddings", c.rope_scaling.original_max_position_embeddings}};
  }
  if (c.sliding_window) j["sliding_window"] = *c.sliding_window;
  if (c.bos_token_id) j["bos_token_id"] = *c.bos_token_id;
  if (c.eos_token_ids.size() == 1) j["eos_token_id"] = c.eos_token_ids[0];
  if (c.eos_token_ids.size() > 1) j["eos_token_id"] = c.eos_token_ids;
  return j;
}

}  // namespace dsla::model
