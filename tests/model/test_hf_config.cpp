// Tests for config.json parsing: the shared model, Llama-3/Qwen2/Mistral fields, and malformed
// configs.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/atomic_file.h"
#include "core/error.h"
#include "model/hf_config.h"
#include "support/test_paths.h"

using dsla::model::parse_llama_config;
using json = nlohmann::json;

namespace {

json minimal() {
  return {{"model_type", "llama"},  {"hidden_size", 64},        {"intermediate_size", 128},
          {"num_hidden_layers", 2}, {"num_attention_heads", 4}, {"num_key_value_heads", 2},
          {"vocab_size", 100}};
}

std::string error_of(const json& j) {
  try {
    parse_llama_config(j, "cfg.json");
  } catch (const dsla::Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(HfConfig, LoadsStories260k) {
  auto c = dsla::model::load_llama_config(dsla::testing::stories260k_dir());
  EXPECT_EQ(c.hidden_size, 64);
  EXPECT_EQ(c.num_hidden_layers, 5);
  EXPECT_EQ(c.num_attention_heads, 8);
  EXPECT_EQ(c.num_key_value_heads, 4);
  EXPECT_EQ(c.head_dim, 8);
  EXPECT_EQ(c.vocab_size, 512);
  EXPECT_TRUE(c.tie_word_embeddings);
  EXPECT_DOUBLE_EQ(c.rms_norm_eps, 1e-5);
  // 260,032 parameters per the asset's SOURCE.md (excluding RoPE tables).
  EXPECT_EQ(c.parameter_count(), 260032);
}

TEST(HfConfig, DefaultsAndFamilies) {
  auto c = parse_llama_config(minimal(), "cfg.json");
  EXPECT_EQ(c.head_dim, 16);
  EXPECT_EQ(c.kv_groups(), 2);
  json q = minimal();
  q["model_type"] = "qwen2";
  EXPECT_TRUE(parse_llama_config(q, "cfg.json").qkv_bias);
  json m = minimal();
  m["model_type"] = "mistral";
  m["max_position_embeddings"] = 32768;
  m["sliding_window"] = 4096;
  EXPECT_EQ(parse_llama_config(m, "cfg.json").sliding_window.value_or(0), 4096);
  json l3 = minimal();
  l3["rope_scaling"] = {{"rope_type", "llama3"},
                        {"factor", 32.0},
                        {"low_freq_factor", 1.0},
                        {"high_freq_factor", 4.0},
                        {"original_max_position_embeddings", 8192}};
  l3["eos_token_id"] = {128001, 128008, 128009};
  auto c3 = parse_llama_config(l3, "cfg.json");
  EXPECT_EQ(c3.rope_scaling.type, "llama3");
  EXPECT_DOUBLE_EQ(c3.rope_scaling.factor, 32.0);
  EXPECT_EQ(c3.eos_token_ids.size(), 3u);
  // Round trip through the export form.
  auto back = parse_llama_config(dsla::model::llama_config_to_json(c3), "cfg.json");
  EXPECT_EQ(back.rope_scaling.factor, c3.rope_scaling.factor);
  EXPECT_EQ(back.eos_token_ids, c3.eos_token_ids);
}

TEST(HfConfig, RejectsUnsupportedOrInconsistentConfigs) {
  json j = minimal();
  j["model_type"] = "gpt2";
  EXPECT_NE(error_of(j).find("model_type 'gpt2' is not supported"), std::string::npos);
  j = minimal();
  j.erase("hidden_size");
  EXPECT_NE(error_of(j).find("missing integer field 'hidden_size'"), std::string::npos);
  j = minimal();
  j["num_key_value_heads"] = 3;
  EXPECT_NE(error_of(j).find("multiple of num_key_value_heads"), std::string::npos);
  j = minimal();
  j["hidden_act"] = "gelu";
  EXPECT_NE(error_of(j).find("hidden_act 'gelu'"), std::string::npos);
  j = minimal();
  j["rope_scaling"] = {{"type", "yarn"}, {"factor", 4.0}};
  EXPECT_NE(error_of(j).find("rope_scaling type 'yarn'"), std::string::npos);
  for (auto [key, value] : {std::pair{"rms_norm_eps", -1.0}, {"rope_theta", 0.0}}) {
    j = minimal();
    j[key] = value;
    EXPECT_NE(error_of(j).find(std::string(key) + " must be positive"), std::string::npos) << key;
  }
  j = minimal();
  j["max_position_embeddings"] = -1;
  EXPECT_NE(error_of(j).find("max_position_embeddings must be positive"), std::string::npos);
  j = minimal();
  j["eos_token_id"] = "two";
  EXPECT_NE(error_of(j).find("cfg.json: field 'eos_token_id' has the wrong type"),
            std::string::npos);
  j = minimal();
  j["vocab_size"] = "many";
  EXPECT_NE(error_of(j).find("vocab_size"), std::string::npos);
  EXPECT_NE(error_of(j).find("cfg.json"), std::string::npos);
}

TEST(HfConfig, MalformedOrMissingFileNamesTheFile) {
  auto dir = dsla::testing::make_temp_dir("cfg");
  try {
    dsla::model::load_llama_config(dir);
    FAIL();
  } catch (const dsla::Error& e) {
    EXPECT_NE(std::string(e.what()).find("config.json"), std::string::npos);
  }
  dsla::write_text_atomically(dir / "config.json", "{\"model_type\": \"llama\",");
  try {
    dsla::model::load_llama_config(dir);
    FAIL();
  } catch (const dsla::Error& e) {
    EXPECT_NE(std::string(e.what()).find("not valid JSON"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find((dir / "config.json").string()), std::string::npos);
  }
  std::filesystem::remove_all(dir);
}
