// Implementation of a fitting loop's checkpointed state.
#include "distill/loop_state.h"

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/autograd.h>
#include <torch/optim/adamw.h>

#include "core/error.h"
#include "dist/group.h"
#include "io/safetensors.h"

namespace dsla::distill {

LoopState capture_loop_state(int64_t steps_done, const std::vector<at::Tensor>& params,
                             torch::optim::Optimizer& optimizer, const LossTally& tally) {
  LoopState s;
  s.steps_done = steps_done;
  s.tally = tally;
  for (const auto& p : params) {
    s.params.push_back(p.detach().clone());
    auto it = optimizer.state().find(p.unsafeGetTensorImpl());
    if (it == optimizer.state().end()) {
      s.exp_avg.push_back(at::zeros_like(p));
      s.exp_avg_sq.push_back(at::zeros_like(p));
      s.adam_steps.push_back(0);
      continue;
    }
    auto& adam = static_cast<torch::optim::AdamWParamState&>(*it->second);
    s.exp_avg.push_back(adam.exp_avg().clone());
    s.exp_avg_sq.push_back(adam.exp_avg_sq().clone());
    s.adam_steps.push_back(adam.step());
  }
  return s;
}

int64_t restore_loop_state(const std::optional<LoopState>& resume, dist::Group* group,
                           const std::vector<at::Tensor>& params,
                           torch::optim::Optimizer& optimizer, LossTally& tally) {
  bool main = !group || group->is_main();
  const LoopState* s = main && resume ? &*resume : nullptr;
  if (s) {
    DSLA_CHECK(s->params.size() == params.size(),
               "loop checkpoint: {} parameters saved, the loop trains {}", s->params.size(),
               params.size());
  }
  // Rank 0's steps done and per-parameter AdamW steps, on every rank.
  std::vector<int64_t> head{s ? s->steps_done : 0};
  for (size_t i = 0; i < params.size(); ++i) head.push_back(s ? s->adam_steps[i] : 0);
  at::Tensor head_t = at::tensor(head, at::kLong);
  std::vector<at::Tensor> shared{head_t};
  if (group) group->broadcast(shared, 0, "the loop checkpoint's step");
  int64_t steps_done = head_t[0].item<int64_t>();
  if (steps_done == 0) return 0;
  torch::NoGradGuard no_grad;
  std::vector<at::Tensor> tensors;  // every rank's values, then rank 0's broadcast into them
  for (size_t i = 0; i < params.size(); ++i) {
    const at::Tensor& p = params[i];
    DSLA_CHECK(!s || s->params[i].sizes() == p.sizes(),
               "loop checkpoint: parameter {} has shape {}, the loop's {}", i,
               fmt::join(s->params[i].sizes(), "x"), fmt::join(p.sizes(), "x"));
    if (s) p.copy_(s->params[i]);
    tensors.push_back(p);
    int64_t adam_step = head_t[static_cast<int64_t>(i) + 1].item<int64_t>();
    if (adam_step == 0) continue;
    auto state = std::make_unique<torch::optim::AdamWParamState>();
    state->step(adam_step);
    state->exp_avg(s ? s->exp_avg[i].to(p.options()).clone() : at::zeros_like(p));
    state->exp_avg_sq(s ? s->exp_avg_sq[i].to(p.options()).clone() : at::zeros_like(p));
    tensors.push_back(state->exp_avg());
    tensors.push_back(state->exp_avg_sq());
    optimizer.state()[p.unsafeGetTensorImpl()] = std::move(state);
  }
  if (group) group->broadcast(tensors, 0, "the loop checkpoint");
  if (s) tally = s->tally;
  return steps_done;
}

bool main_rank_says(dist::Group* group, bool value) {
  if (!group || group->size() == 1) return value;
  at::Tensor flag = at::full({1}, value ? 1 : 0, at::kLong);
  std::vector<at::Tensor> t{flag};
  group->broadcast(t, 0, "the main rank's decision");
  return flag.item<int64_t>() != 0;
}

void save_loop_state(const std::filesystem::path& path, const LoopState& s,
                     const std::map<std::string, std::string>& metadata) {
  std::map<std::string, at::Tensor> tensors;
  for (size_t i = 0; i < s.params.size(); ++i) {
    tensors[fmt::format("param.{}", i)] = s.params[i];
    tensors[fmt::format("exp_avg.{}", i)] = s.exp_avg[i];
    tensors[fmt::format("exp_avg_sq.{}", i)] = s.exp_avg_sq[i];
  }
  // "loop": steps done, parameters, AdamW steps [P], first loss, tail sum, tail count, the
  // lengths of first_parts and tail_parts, then both (one tensor: never empty).
  std::vector<double> loop{static_cast<double>(s.steps_done), static_cast<double>(s.params.size())};
  for (int64_t step : s.adam_steps) loop.push_back(static_cast<double>(step));
  loop.insert(loop.end(),
              {s.tally.first_loss, s.tally.tail_sum, static_cast<double>(s.tally.tail_count),
               static_cast<double>(s.tally.first_parts.size()),
               static_cast<double>(s.tally.tail_parts.size())});
  loop.insert(loop.end(), s.tally.first_parts.begin(), s.tally.first_parts.end());
  loop.insert(loop.end(), s.tally.tail_parts.begin(), s.tally.tail_parts.end());
  tensors["loop"] = at::tensor(loop, at::kDouble);
  io::save_safetensors(path, tensors, metadata);
}

std::pair<LoopState, std::map<std::string, std::string>> load_loop_state(
    const std::filesystem::path& path) {
  io::SafetensorsFile file(path);
  auto get = [&](const std::string& name) {
    DSLA_CHECK(file.contains(name), "{}: no tensor '{}' (not a loop checkpoint?)", path.string(),
               name);
    return file.tensor(name).clone();
  };
  at::Tensor loop_t = get("loop").to(at::kDouble).contiguous();
  std::vector<double> loop(loop_t.data_ptr<double>(), loop_t.data_ptr<double>() + loop_t.numel());
  size_t at = 0;
  auto next = [&] {
    DSLA_CHECK(at < loop.size(), "{}: the 'loop' tensor is too short", path.string());
    return loop[at++];
  };
  LoopState s;
  s.steps_done = static_cast<int64_t>(next());
  auto count = static_cast<size_t>(next());
  for (size_t i = 0; i < count; ++i) s.adam_steps.push_back(static_cast<int64_t>(next()));
  s.tally.first_loss = next();
  s.tally.tail_sum = next();
  s.tally.tail_count = static_cast<int64_t>(next());
  auto first_parts = static_cast<size_t>(next()), tail_parts = static_cast<size_t>(next());
  for (size_t i = 0; i < first_parts; ++i) s.tally.first_parts.push_back(next());
  for (size_t i = 0; i < tail_parts; ++i) s.tally.tail_parts.push_back(next());
  DSLA_CHECK(at == loop.size(), "{}: the 'loop' tensor has {} values, expected {}", path.string(),
             loop.size(), at);
  for (size_t i = 0; i < count; ++i) {
    s.params.push_back(get(fmt::format("param.{}", i)));
    s.exp_avg.push_back(get(fmt::format("exp_avg.{}", i)));
    s.exp_avg_sq.push_back(get(fmt::format("exp_avg_sq.{}", i)));
  }
  return {std::move(s), file.metadata()};
}

}  // namespace dsla::distill
