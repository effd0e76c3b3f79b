// Loading HF safetensors weights into a module by parameter name, refusing missing, unexpected or
// mis-shaped tensors.
#pragma once

#include <torch/nn/module.h>

#include <filesystem>

#include "core/dtype.h"
#include "io/safetensors.h"
#include "model/llama.h"

namespace dsla::model {

struct LoadReport {
  int64_t tensors = 0;               ///< tensors copied
  int64_t bytes = 0;                 ///< bytes read from the files
  std::vector<std::string> ignored;  ///< names present in the files and deliberately skipped
};

/// Copies every parameter of `module` (named `prefix` + module.named_parameters()'s name) from
/// `files`, converting to the parameter's dtype. Throws dsla::Error naming file, tensor, expected
/// and actual shape on a mismatch, listing all missing tensors, or listing unexpected ones (except
/// names matched by `ignorable`).
LoadReport load_parameters(torch::nn::Module& module, const io::SafetensorsCollection& files,
                           const std::function<bool(const std::string&)>& ignorable = nullptr,
                           const std::string& prefix = "");

/// The tensor dtype of a weight dtype.
at::ScalarType scalar_type(Dtype dtype);

/// Builds a LlamaForCausalLM from an HF directory (config.json + safetensors) in `dtype`. A
/// config.json with a "dsla" section (an export) gets its converted layers before loading.
LlamaForCausalLM load_llama(const std::filesystem::path& model_dir,
                            at::ScalarType dtype = at::kFloat, LoadReport* report = nullptr);
inline LlamaForCausalLM load_llama(const std::filesystem::path& model_dir, Dtype dtype) {
  return load_llama(model_dir, scalar_type(dtype));
}

}  // namespace dsla::model
