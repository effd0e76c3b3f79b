// Implementation of the run directory: stage checkpoints, progress, recipe and metrics files.
#include "run/run_directory.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <torch/autograd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "core/atomic_file.h"
#include "core/error.h"
#include "io/json_file.h"
#include "io/safetensors.h"
#include "model/export.h"
#include "model/weight_loader.h"

namespace dsla::run {
namespace fs = std::filesystem;

namespace {

nlohmann::json checks_to_json(const HeldOutChecks& c) {
  return {{"heldout_kl_first", c.first},
          {"heldout_kl_best", c.best},
          {"best_step", c.best_step},
          {"rollbacks", c.rollbacks}};
}

HeldOutChecks checks_from_json(const nlohmann::json& c) {
  return HeldOutChecks{c.at("heldout_kl_first").get<double>(),
                       c.at("heldout_kl_best").get<double>(), c.at("best_step").get<int64_t>(),
                       c.at("rollbacks").get<int64_t>()};
}

}  // namespace

nlohmann::json to_json(const StageRecord& r) {
  nlohmann::json j = {{"stage", r.stage},
                      {"layer", r.layer},
                      {"transfer_first_loss", r.transfer_first_loss},
                      {"transfer_final_loss", r.transfer_final_loss},
                      {"e2e_final_loss", r.e2e_final_loss},
                      {"perplexity", r.perplexity},
                      {"seconds", r.seconds},
                      {"seconds_by_part", r.seconds_by_part},
                      {"tokens_per_s", r.tokens_per_s}};
  if (const auto& c = r.e2e_checks) j["e2e_checks"] = checks_to_json(*c);
  return j;
}

StageRecord stage_from_json(const nlohmann::json& j, const std::string& source) {
  StageRecord r;
  try {
    r.stage = j.at("stage").get<int64_t>();
    r.layer = j.at("layer").get<int64_t>();
    r.transfer_first_loss = j.at("transfer_first_loss").get<double>();
    r.transfer_final_loss = j.at("transfer_final_loss").get<double>();
    r.e2e_final_loss = j.at("e2e_final_loss").get<double>();
    r.perplexity = j.at("perplexity").get<std::map<std::string, double>>();
    r.seconds = j.at("seconds").get<double>();
    r.tokens_per_s = j.at("tokens_per_s").get<double>();
    if (j.contains("seconds_by_part")) {  // absent in runs from before it was recorded
      r.seconds_by_part = j.at("seconds_by_part").get<std::map<std::string, double>>();
    }
    if (j.contains("e2e_checks")) r.e2e_checks = checks_from_json(j.at("e2e_checks"));
  } catch (const nlohmann::json::exception& e) {
    DSLA_FAIL("{}: malformed stage record: {}", source, e.what());
  }
  return r;
}

nlohmann::json to_json(const RepairRecord& r) {
  nlohmann::json j = {{"depth", r.depth},           {"steps", r.steps},
                      {"first_loss", r.first_loss}, {"final_loss", r.final_loss},
                      {"perplexity", r.perplexity}, {"tokens", r.tokens},
                      {"seconds", r.seconds}};
  if (r.checks) j["checks"] = checks_to_json(*r.checks);
  return j;
}

RepairRecord repair_from_json(const nlohmann::json& j, const std::string& source) {
  RepairRecord r;
  try {
    r.depth = j.at("depth").get<int64_t>();
    r.steps = j.at("steps").get<int64_t>();
    r.first_loss = j.at("first_loss").get<double>();
    r.final_loss = j.at("final_loss").get<double>();
    r.perplexity = j.at("perplexity").get<std::map<std::string, double>>();
    r.tokens = j.at("tokens").get<int64_t>();
    r.seconds = j.at("seconds").get<double>();
    if (j.contains("checks")) r.checks = checks_from_json(j.at("checks"));
  } catch (const nlohmann::json::exception& e) {
    DSLA_FAIL("{}: malformed repair record: {}", source, e.what());
  }
  DSLA_CHECK(r.depth >= 1, "{}: the repair record's depth {} is not a stage", source, r.depth);
  return r;
}

RunDirectory::RunDirectory(fs::path root, bool create) : root_(std::move(root)) {
  if (create) {
    fs::create_directories(root_ / "stages");
  } else {
    DSLA_CHECK(fs::is_directory(root_), "{}: no such run directory", root_.string());
  }
}

fs::path RunDirectory::stage_file(int64_t stage) const {
  return root_ / "stages" / fmt::format("stage_{:03d}.safetensors", stage);
}

RunProgress progress_from_json(const nlohmann::json& j, int64_t num_layers,
                               const std::string& source) {
  RunProgress p;
  DSLA_CHECK(j.is_object() && j.contains("plan") && j.contains("stages"),
             "{}: not a dsla progress file", source);
  p.plan = model::plan_from_json(j["plan"], num_layers, source);
  try {
    p.target_stages = j.at("target_stages").get<int64_t>();
    p.teacher = j.at("teacher").get<std::string>();
    p.seq_len = j.at("seq_len").get<int64_t>();
  } catch (const nlohmann::json::exception& e) {
    DSLA_FAIL("{}: malformed progress file: {}", source, e.what());
  }
  DSLA_CHECK(j["stages"].is_array(), "{}: 'stages' must be an array", source);
  p.num_layers = num_layers;
  for (const auto& s : j["stages"]) p.stages.push_back(stage_from_json(s, source));
  if (j.contains("repair")) {
    p.repair = repair_from_json(j["repair"], source);
    DSLA_CHECK(p.repair->depth <= p.plan.converted,
               "{}: the repair record's depth {} is beyond the {} completed stage(s)", source,
               p.repair->depth, p.plan.converted);
  }
  return p;
}

nlohmann::json progress_to_json(const RunProgress& p) {
  nlohmann::json stages = nlohmann::json::array();
  for (const auto& s : p.stages) stages.push_back(to_json(s));
  nlohmann::json j = {{"plan", model::plan_to_json(p.plan)},
                      {"target_stages", p.target_stages},
                      {"teacher", p.teacher},
                      {"seq_len", p.seq_len},
                      {"stages", stages}};
  if (p.repair) j["repair"] = to_json(*p.repair);
  return j;
}

std::optional<RunProgress> RunDirectory::load_progress(int64_t num_layers) const {
  if (!fs::exists(progress_file())) return std::nullopt;
  std::string source = progress_file().string();
  RunProgress p = progress_from_json(io::read_json_file(progress_file()), num_layers, source);
  for (int64_t k = 1; k <= p.plan.converted; ++k) {
    DSLA_CHECK(fs::exists(stage_file(k)), "{}: records stage {} but {} is missing", source, k,
               stage_file(k).string());
  }
  for (int64_t k = 1; p.repair && k <= p.repair->depth; ++k) {
    DSLA_CHECK(fs::exists(repaired_stage_file(k)),
               "{}: records a repair at depth {} but {} is missing", source, p.repair->depth,
               repaired_stage_file(k).string());
  }
  return p;
}

void RunDirectory::save_recipe(const config::Recipe& recipe) const {
  write_text_atomically(recipe_file(), config::recipe_to_yaml(recipe));
}

void RunDirectory::save_progress(const RunProgress& p) const {
  write_text_atomically(progress_file(), progress_to_json(p).dump(2) + "\n");
}

namespace {

void save_layer_file(const fs::path& file, const std::map<std::string, at::Tensor>& tensors,
                     std::map<std::string, std::string> metadata) {
  std::map<std::string, at::Tensor> cpu;
  for (const auto& [name, t] : tensors) cpu.emplace(name, t.detach().cpu().contiguous());
  io::save_safetensors(file, cpu, std::move(metadata));
}

}  // namespace

void RunDirectory::save_stage(int64_t stage,
                              const std::map<std::string, at::Tensor>& tensors) const {
  save_layer_file(stage_file(stage), tensors, {{"stage", std::to_string(stage)}});
}

fs::path RunDirectory::repaired_stage_file(int64_t stage) const {
  return root_ / "stages" / fmt::format("repaired_{:03d}.safetensors", stage);
}

void RunDirectory::save_repaired_stage(int64_t stage,
                                       const std::map<std::string, at::Tensor>& tensors) const {
  save_layer_file(repaired_stage_file(stage), tensors,
                  {{"stage", std::to_string(stage)}, {"phase", "repair"}});
}

void RunDirectory::load_stages(model::LlamaForCausalLMImpl& model, const RunProgress& p,
                               bool repaired) const {
  torch::NoGradGuard no_grad;
  bool use_repair = repaired && p.repaired_at_depth();
  for (int64_t k = 1; k <= p.plan.converted; ++k) {
    int64_t layer = p.plan.order[static_cast<size_t>(k - 1)];
    model::load_parameters(
        *model.layer(layer).attention(),
        io::SafetensorsCollection(use_repair ? repaired_stage_file(k) : stage_file(k)), nullptr,
        model::layer_attention_prefix(layer));
  }
}

void RunDirectory::save_transfer(const std::map<std::string, at::Tensor>& tensors,
                                 const nlohmann::json& summary) const {
  std::map<std::string, at::Tensor> cpu;
  for (const auto& [name, t] : tensors) cpu.emplace(name, t.detach().cpu().contiguous());
  io::save_safetensors(transfer_file(), cpu, {{"phase", "parallel_transfer"}});
  write_text_atomically(transfer_summary_file(), summary.dump(2) + "\n");
}

std::optional<nlohmann::json> RunDirectory::load_transfer_summary() const {
  if (!fs::exists(transfer_file()) || !fs::exists(transfer_summary_file())) return std::nullopt;
  return io::read_json_file(transfer_summary_file());
}

void RunDirectory::log_metrics(const nlohmann::json& line) {
  if (!metrics_.is_open()) {
    metrics_.open(metrics_file(), std::ios::app);
    DSLA_CHECK(metrics_.good(), "{}: cannot open for appending", metrics_file().string());
  }
  nlohmann::json out = line;
  if (attempt_ > 0 && out.is_object()) out["attempt"] = attempt_;
  metrics_ << out.dump() << "\n";
  metrics_.flush();
}

RunDirectory::~RunDirectory() {
  if (lock_fd_ >= 0) ::close(lock_fd_);  // releases the flock
}

void RunDirectory::lock_for_writing() {
  if (lock_fd_ >= 0) return;
  fs::path file = root_ / ".lock";
  int fd = ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  DSLA_CHECK(fd >= 0, "{}: cannot open the run directory's lock: {}", file.string(),
             std::strerror(errno));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    std::string holder(64, '\0');
    ssize_t n = ::pread(fd, holder.data(), holder.size(), 0);
    holder.resize(n > 0 ? static_cast<size_t>(n) : 0);
    ::close(fd);
    DSLA_FAIL(
        "{} is being written by another dsla job ({}); wait for it to end or choose another "
        "run.dir",
        root_.string(), holder.empty() ? "pid unknown" : "pid " + holder);
  }
  std::string pid = std::to_string(::getpid());
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, pid.data(), pid.size(), 0) < 0) {
    // The lock holds without the pid; only the message to a second job loses it.
  }
  lock_fd_ = fd;
}

int64_t RunDirectory::start_attempt(nlohmann::json details) {
  int64_t previous = 0;
  std::ifstream in(metrics_file());
  for (std::string line; std::getline(in, line);) {
    if (line.find("\"event\":\"attempt\"") != std::string::npos) ++previous;
  }
  attempt_ = 0;  // the attempt line itself carries its number in "number"
  details["event"] = "attempt";
  details["number"] = previous + 1;
  log_metrics(details);
  attempt_ = previous + 1;
  return attempt_;
}

void RunDirectory::keep_recipe_in_history(int64_t attempt) const {
  if (!fs::exists(recipe_file())) return;
  fs::path dir = root_ / "recipe_history";
  fs::create_directories(dir);
  fs::copy_file(recipe_file(), dir / fmt::format("recipe.attempt-{}.yaml", attempt),
                fs::copy_options::overwrite_existing);
}

}  // namespace dsla::run
