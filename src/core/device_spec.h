// Device names as flags and settings spell them (cpu, cuda, cuda:N): the format check,
// LibTorch-free.
#pragma once

#include <cctype>
#include <optional>
#include <string>

namespace dsla {

/// nullopt when `spec` is "cpu", "cuda" or "cuda:N" (N a device index); else what is wrong.
inline std::optional<std::string> device_spec_error(const std::string& spec) {
  if (spec == "cpu" || spec == "cuda") return std::nullopt;
  const std::string prefix = "cuda:";
  if (spec.rfind(prefix, 0) == 0 && spec.size() > prefix.size() &&
      spec.size() <= prefix.size() + 3) {
    bool digits = true;
    for (size_t i = prefix.size(); i < spec.size(); ++i) {
      digits = digits && std::isdigit(static_cast<unsigned char>(spec[i])) != 0;
    }
    if (digits) return std::nullopt;
  }
  return "'" + spec + "' is not a device: expected cpu, cuda or cuda:N (N = 0, 1, ...)";
}

}  // namespace dsla
