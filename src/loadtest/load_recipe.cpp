// Implementation of load recipes: YAML decoding, validation, and the planned arrivals.
#include "loadtest/load_recipe.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "config/yaml_file.h"
#include "config/yaml_reader.h"
#include "core/error.h"

namespace dsla::loadtest {
namespace fs = std::filesystem;

namespace {

constexpr double kMaxRate = 1e4;                // requests per second
constexpr double kMaxPhaseSeconds = 7 * 86400;  // a week
constexpr double kMaxPlannedRequests = 1e7;

void read_range(const YAML::Node& node, const std::string& name, LengthRange& out,
                std::vector<std::string>& errors) {
  config::SectionReader r(node, name, errors);
  r.field("min", out.min);
  r.field("max", out.max);
  r.finish();
  if (out.min < 1 || out.max < out.min) {
    errors.push_back(fmt::format("{}: need 1 <= min <= max (got {}..{})", name, out.min, out.max));
  }
}

}  // namespace

LoadRecipe read_load_recipe(const fs::path& path, const std::vector<std::string>& overrides) {
  YAML::Node root = config::read_yaml_file(path);
  config::expect_schema(root, path, config::FileSchema::load);
  std::vector<std::string> errors;
  config::apply_overrides(root, overrides, 1, errors);
  DSLA_CHECK(errors.empty(), "{}: {}", path.string(), fmt::join(errors, "; "));
  LoadRecipe c;
  config::SectionReader r(root, path.filename().string(), errors);
  r.nested("schema");
  r.field("arrivals", c.arrivals);
  r.field("trace", c.trace);
  r.field("slo_tpot_ms", c.slo_tpot_ms);
  r.field("timeout_s", c.timeout_s);
  r.field("seed", c.seed);
  r.nested("phases");
  r.nested("prompt_tokens");
  r.nested("max_tokens");
  r.finish();
  if (root["phases"]) {
    if (!root["phases"].IsSequence()) errors.push_back("phases: expected a list");
    for (size_t i = 0; root["phases"].IsSequence() && i < root["phases"].size(); ++i) {
      LoadPhase p;
      std::string name = fmt::format("phases[{}]", i);
      config::SectionReader pr(root["phases"][i], name, errors);
      pr.field("rate", p.rate);
      pr.field("seconds", p.seconds);
      pr.finish();
      // Bounded so that planning the arrivals ends (fuzz_yaml: seconds 6e94 planned forever).
      if (!(p.rate > 0 && p.rate <= kMaxRate && p.seconds > 0 && p.seconds <= kMaxPhaseSeconds)) {
        errors.push_back(
            fmt::format("{}: rate must be in (0, {}] per second and seconds in (0, {}]", name,
                        kMaxRate, kMaxPhaseSeconds));
      }
      c.phases.push_back(p);
    }
  }
  double expected = 0;
  for (const auto& p : c.phases) expected += p.rate * p.seconds;
  if (expected > kMaxPlannedRequests) {
    errors.push_back(fmt::format("phases: {:.3g} requests expected; at most {:.0f}", expected,
                                 kMaxPlannedRequests));
  }
  read_range(root["prompt_tokens"], "prompt_tokens", c.prompt_tokens, errors);
  read_range(root["max_tokens"], "max_tokens", c.max_tokens, errors);
  if (c.arrivals == "poisson" && c.phases.empty()) errors.push_back("poisson arrivals need phases");
  if (c.arrivals == "trace" && c.trace.empty()) errors.push_back("trace arrivals need 'trace'");
  if (c.arrivals != "poisson" && c.arrivals != "trace") {
    errors.push_back(fmt::format("arrivals: '{}' is not poisson or trace", c.arrivals));
  }
  if (c.timeout_s <= 0) errors.push_back("timeout_s must be > 0");
  DSLA_CHECK(errors.empty(), "{}: {}", path.string(), fmt::join(errors, "; "));
  return c;
}

std::vector<PlannedRequest> plan_requests(const LoadRecipe& c) {
  std::vector<PlannedRequest> out;
  std::mt19937_64 rng(c.seed);
  auto length = [&](const LengthRange& r) {
    return std::uniform_int_distribution<int64_t>(r.min, r.max)(rng);
  };
  if (c.arrivals == "trace") {
    std::ifstream in(c.trace);
    DSLA_CHECK(in.good(), "{}: cannot open the trace", c.trace);
    std::string line;
    for (int64_t n = 1; std::getline(in, line); ++n) {
      if (line.empty()) continue;
      try {
        auto j = nlohmann::json::parse(line);
        out.push_back({j.at("t").get<double>(), j.at("prompt_tokens").get<int64_t>(),
                       j.at("max_tokens").get<int64_t>()});
      } catch (const nlohmann::json::exception& e) {
        DSLA_FAIL("{}:{}: {}", c.trace, n, e.what());
      }
    }
    std::stable_sort(out.begin(), out.end(),
                     [](const auto& a, const auto& b) { return a.at_s < b.at_s; });
    return out;
  }
  double start = 0;
  for (const auto& phase : c.phases) {
    std::exponential_distribution<double> gap(phase.rate);
    for (double t = start + gap(rng); t < start + phase.seconds; t += gap(rng)) {
      out.push_back({t, length(c.prompt_tokens), length(c.max_tokens)});
    }
    start += phase.seconds;
  }
  return out;
}

}  // namespace dsla::loadtest
