// What dsla serve serves: a switchable-depth model (a run: the teacher and every trained stage; or
// an HF / exported directory at its own depth) with its tokenizer and name.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "model/hybrid_model.h"
#include "tokenizer/tokenizer.h"

namespace dsla::serve {

class ServedModel : public model::HybridModel {
 public:
  /// Loads a `dsla distill` run directory (depths 0..stages) or a plain or exported HF directory
  /// (served at its own depth only: an export keeps no teacher attention for its converted layers).
  /// Throws dsla::Error naming the directory.
  static std::unique_ptr<ServedModel> load(const std::filesystem::path& dir,
                                           const c10::Device& device = c10::kCPU);

  const Tokenizer& tokenizer() const { return *tokenizer_; }
  /// The directory the tokenizer and its config come from.
  const std::filesystem::path& tokenizer_dir() const { return tokenizer_dir_; }
  const std::string& name() const { return name_; }

 private:
  ServedModel(model::HybridModel&& hybrid, std::filesystem::path tokenizer_dir, std::string name);
  std::unique_ptr<Tokenizer> tokenizer_;
  std::filesystem::path tokenizer_dir_;
  std::string name_;
};

}  // namespace dsla::serve
