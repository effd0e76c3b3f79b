// The strict weight loader: missing, unexpected and mis-shaped tensors are refused with names; good
// files load.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "core/error.h"
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
