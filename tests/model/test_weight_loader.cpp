// The strict weight loader: missing, unexpected and mis-shaped tensors are refused with names; good
// files load.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "core/atomic_file.h"
#include "core/error.h"
#include "io/json_file.h"
#include "io/safetensors.h"
#include "model/weight_loader.h"
#include "support/test_paths.h"

namespace fs = std::filesystem;
namespace t = dsla::testing;

namespace {

/// A copy of stories260K's directory whose tensors are edited by `edit`.
fs::path edited_copy(const std::string& tag,
                     const std::function<void(std::map<std::string, at::Tensor>&)>& edit) {
  fs::path dir = t::make_temp_dir(tag);
  fs::copy_file(t::stories260k_dir() / "config.json", dir / "config.json");
  dsla::io::SafetensorsFile src(t::stories260k_dir() / "model.safetensors");
  std::map<std::string, at::Tensor> tensors;
  for (const auto& [name, e] : src.entries()) tensors[name] = src.tensor(name).clone();
  edit(tensors);
  dsla::io::save_safetensors(dir / "model.safetensors", tensors);
  return dir;
}

std::string load_error(const fs::path& dir) {
  try {
    dsla::model::load_llama(dir);
  } catch (const dsla::Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(WeightLoader, LoadsEveryTensorOfStories260k) {
  dsla::model::LoadReport report;
  auto model = dsla::model::load_llama(t::stories260k_dir(), at::kFloat, &report);
  dsla::io::SafetensorsFile src(t::stories260k_dir() / "model.safetensors");
  EXPECT_EQ(report.tensors, static_cast<int64_t>(src.entries().size()));
  at::Tensor w = model->layer(3).mlp->down_proj->weight;
  EXPECT_TRUE(at::equal(w, src.tensor("model.layers.3.mlp.down_proj.weight")));
  int64_t params = 0;
  for (const auto& p : model->parameters()) params += p.numel();
  EXPECT_EQ(params, model->config().parameter_count());
}

TEST(WeightLoader, LoadsInBfloat16) {
  auto model = dsla::model::load_llama(t::stories260k_dir(), at::kBFloat16);
  EXPECT_EQ(model->layer(0).mlp->up_proj->weight.scalar_type(), at::kBFloat16);
}

TEST(WeightLoader, RefusesMissingTensor) {
  fs::path dir =
      edited_copy("wl-missing", [](auto& m) { m.erase("model.layers.2.self_attn.k_proj.weight"); });
  std::string err = load_error(dir);
  EXPECT_NE(err.find("lack 1 tensor(s): model.layers.2.self_attn.k_proj.weight"), std::string::npos)
      << err;
  fs::remove_all(dir);
}

TEST(WeightLoader, RefusesUnexpectedTensor) {
  fs::path dir =
      edited_copy("wl-extra", [](auto& m) { m["model.layers.9.extra.weight"] = at::zeros({2}); });
  std::string err = load_error(dir);
  EXPECT_NE(err.find("unexpected tensor(s) the model does not use: model.layers.9.extra.weight"),
            std::string::npos)
      << err;
  EXPECT_NE(err.find("model.safetensors"), std::string::npos) << err;
  fs::remove_all(dir);
}

TEST(WeightLoader, RefusesWrongShape) {
  fs::path dir = edited_copy("wl-shape", [](auto& m) { m["model.norm.weight"] = at::ones({63}); });
  std::string err = load_error(dir);
  EXPECT_NE(err.find("tensor 'model.norm.weight' has wrong shape; expected [64], got [63]"),
            std::string::npos)
      << err;
  EXPECT_NE(err.find((dir / "model.safetensors").string()), std::string::npos) << err;
  fs::remove_all(dir);
}

TEST(WeightLoader, ConvertsStoredDtype) {
  fs::path dir = edited_copy("wl-dtype", [](auto& m) {
    for (auto& [n, tensor] : m) tensor = tensor.to(at::kBFloat16);
  });
  auto model = dsla::model::load_llama(dir);
  EXPECT_EQ(model->model->norm->weight.scalar_type(), at::kFloat);
  fs::remove_all(dir);
}

TEST(WeightLoader, RefusesIntegerTensorsNamingThem) {
  fs::path dir = edited_copy(
      "wl-int", [](auto& m) { m["model.norm.weight"] = m["model.norm.weight"].to(at::kInt); });
  std::string err = load_error(dir);
  EXPECT_NE(err.find("tensor 'model.norm.weight' is I32"), std::string::npos) << err;
  fs::remove_all(dir);
}

TEST(WeightLoader, RefusesNonFiniteWeights) {
  fs::path dir = edited_copy("wl-nan", [](auto& m) {
    auto& w = m["model.layers.2.mlp.up_proj.weight"];
    w[0][3] = std::nan("");
    w[5][1] = INFINITY;
  });
  std::string err = load_error(dir);
  EXPECT_NE(err.find("'model.layers.2.mlp.up_proj.weight' has 2 non-finite value(s)"),
            std::string::npos)
      << err;
  fs::remove_all(dir);
}

TEST(WeightLoader, ConfigSizesThatDisagreeWithTheWeightsAreRefusedBeforeAllocating) {
  for (auto [key, value] : {std::pair{"intermediate_size", int64_t{1000000000000}},
                            {"hidden_size", int64_t{1000000000000}},
                            {"vocab_size", int64_t{1000000000000}},
                            {"num_hidden_layers", int64_t{4}}}) {
    fs::path dir = edited_copy("wl-cfg", [](auto&) {});
    auto config = dsla::io::read_json_file(dir / "config.json");
    config[key] = value;
    if (std::string(key) == "hidden_size") config["head_dim"] = 8;
    dsla::write_text_atomically(dir / "config.json", config.dump());
    std::string err = load_error(dir);  // 1e12 x 64 floats would be 256 TB: no allocation happens
    EXPECT_NE(err.find("config.json"), std::string::npos) << key << ": " << err;
    EXPECT_NE(err.find(std::string(key) == "num_hidden_layers" ? "have more" : "does not describe"),
              std::string::npos)
        << key << ": " << err;
    fs::remove_all(dir);
  }
}
