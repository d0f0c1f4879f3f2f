// The distiller's second LibTorch translation unit: fitted Q evaluation (fitted_q.h).
#include "distiller/fitted_q.h"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>

#include "core/rng.h"

namespace apprentice {

Status FqeOptions::Validate() const {
  if (hidden.empty()) return Status::InvalidArgument("fqe needs at least one hidden layer");
  for (int64_t h : hidden) {
    if (h < 1 || h > 4096) return Status::InvalidArgument("fqe hidden widths must be in [1, 4096]");
  }
  if (iterations < 0) return Status::InvalidArgument("fqe iterations must be >= 0 (0: automatic)");
  if (updates_per_iteration < 1) {
    return Status::InvalidArgument("fqe updates per iteration must be >= 1");
  }
  if (batch_size < 1) return Status::InvalidArgument("fqe batch size must be >= 1");
  if (!(learning_rate > 0.0) || !std::isfinite(learning_rate)) {
    return Status::InvalidArgument("fqe learning rate must be a finite number > 0");
  }
  if (!(discount > 0.0 && discount <= 1.0)) {
    return Status::InvalidArgument("fqe discount must be in (0, 1]");
  }
  if (torch_threads < 1) return Status::InvalidArgument("fqe torch threads must be >= 1");
  return Status::Ok();
}

Status FqeData::Validate() const {
  const int64_t n = rows();
  if (n == 0) return Status::InvalidArgument("fqe: no transitions");
  if (width < 1) return Status::InvalidArgument("fqe: input width must be >= 1");
  auto sized = [](const auto& v, int64_t want, const char* what) {
    return static_cast<int64_t>(v.size()) == want
               ? Status::Ok()
               : Status::InvalidArgument(std::string("fqe: ") + what + " holds " +
                                         std::to_string(v.size()) + " values, not " +
                                         std::to_string(want));
  };
  for (const Status& s :
       {sized(inputs, n * width, "inputs"), sized(next, n, "next"),
        sized(episode_steps, n, "episode_steps"), sized(candidate_begin, n + 1, "candidate_begin")}) {
    if (!s.ok()) return s;
  }
  if (candidate_begin.front() != 0) {
    return Status::InvalidArgument("fqe: candidate_begin must start at 0");
  }
  for (int64_t i = 0; i < n; ++i) {
    if (candidate_begin[i + 1] <= candidate_begin[i]) {
      return Status::InvalidArgument("fqe: row " + std::to_string(i) +
                                     " has no candidate action");
    }
    if (next[i] != -1 && (next[i] <= i || next[i] >= n)) {
      return Status::InvalidArgument("fqe: row " + std::to_string(i) + "'s next row " +
                                     std::to_string(next[i]) +
                                     " is out of range (rows come in time order: after it)");
    }
  }
  const int64_t k = candidate_begin.back();
  if (Status s = sized(candidate_weights, k, "candidate_weights"); !s.ok()) return s;
  if (Status s = sized(candidate_inputs, k * width, "candidate_inputs"); !s.ok()) return s;
  auto finite = [](const std::vector<float>& v) {
    return std::all_of(v.begin(), v.end(), [](float x) { return std::isfinite(x); });
  };
  if (!finite(inputs) || !finite(rewards) || !finite(candidate_inputs) ||
      !finite(candidate_weights)) {
    return Status::InvalidArgument("fqe: inputs, rewards and candidate weights must be finite");
  }
  return Status::Ok();
}

namespace {

// Updates of the warm start, in units of updates_per_iteration.
constexpr int64_t kWarmUpdates = 20;

struct QNet : torch::nn::Module {
  torch::nn::Sequential layers;
  QNet(int64_t width, const std::vector<int64_t>& hidden) {
    int64_t in = width;
    for (int64_t h : hidden) {
      layers->push_back(torch::nn::Linear(in, h));
      layers->push_back(torch::nn::Functional(torch::tanh));
      in = h;
    }
    layers->push_back(torch::nn::Linear(in, 1));
    register_module("layers", layers);
  }
  torch::Tensor forward(const torch::Tensor& x) { return layers->forward(x).squeeze(1); }
};

// A blob of `rows` × `width` floats as a tensor (no copy: `data` outlives the tensor).
torch::Tensor Rows(const std::vector<float>& data, int64_t width) {
  return torch::from_blob(const_cast<float*>(data.data()),
                          {static_cast<int64_t>(data.size()) / width, width}, torch::kFloat32);
}

}  // namespace

Result<FqeResult> FitQ(const FqeData& data, const FqeOptions& options, const FqeProgress& progress,
                       const StopFlag* stop) {
  if (Status s = options.Validate(); !s.ok()) return s;
  if (Status s = data.Validate(); !s.ok()) return s;
  const auto start = std::chrono::steady_clock::now();
  torch::set_num_threads(static_cast<int>(options.torch_threads));
  torch::manual_seed(options.seed);
  const int64_t n = data.rows();

  // Scale: values of order one.
  const int64_t longest = *std::max_element(data.episode_steps.begin(), data.episode_steps.end()) + 1;
  double horizon = static_cast<double>(longest);
  if (options.discount < 1.0) horizon = std::min(horizon, 1.0 / (1.0 - options.discount));
  double max_reward = 0.0;
  for (float r : data.rewards) max_reward = std::max(max_reward, std::abs(static_cast<double>(r)));
  const double scale = 1.0 / (std::max(max_reward, 1e-12) * std::max(horizon, 1.0));
  // Enough target refreshes to carry a reward back over the horizon that matters.
  const int64_t iterations =
      options.iterations > 0
          ? options.iterations
          : std::min<int64_t>(static_cast<int64_t>(std::ceil(std::min<double>(
                                  static_cast<double>(longest),
                                  options.discount < 1.0 ? 7.0 / (1.0 - options.discount)
                                                         : static_cast<double>(longest)))) +
                                  20,
                              1000);

  torch::NoGradGuard outer_no_grad;  // re-enabled for the updates only
  QNet net(data.width, options.hidden);
  torch::optim::Adam optimizer(net.parameters(), torch::optim::AdamOptions(options.learning_rate));
  const torch::Tensor inputs = Rows(data.inputs, data.width);
  const torch::Tensor candidates = Rows(data.candidate_inputs, data.width);
  const torch::Tensor weights =
      torch::from_blob(const_cast<float*>(data.candidate_weights.data()),
                       {static_cast<int64_t>(data.candidate_weights.size())}, torch::kFloat32);
  // Row of each candidate action, to sum its weighted Q̂ into V̂ of its state.
  std::vector<int64_t> owner(data.candidate_weights.size());
  for (int64_t i = 0; i < n; ++i) {
    std::fill(owner.begin() + data.candidate_begin[i], owner.begin() + data.candidate_begin[i + 1], i);
  }
  const torch::Tensor owner_index = torch::tensor(owner, torch::kInt64);
  const torch::Tensor rewards =
      torch::from_blob(const_cast<float*>(data.rewards.data()), {n}, torch::kFloat32) *
      static_cast<float>(scale);
  std::vector<int64_t> next_rows(n);
  std::vector<float> continues(n);
  for (int64_t i = 0; i < n; ++i) {
    next_rows[i] = std::max<int64_t>(data.next[i], 0);
    continues[i] = data.next[i] >= 0 ? static_cast<float>(options.discount) : 0.0f;
  }
  const torch::Tensor next_index = torch::tensor(next_rows, torch::kInt64);
  const torch::Tensor next_discount = torch::tensor(continues, torch::kFloat32);

  auto state_values = [&] {  // V̂ of every row's state (scaled)
    const torch::Tensor q = net.forward(candidates) * weights;
    return torch::zeros({n}, torch::kFloat32).index_add_(0, owner_index, q);
  };

  // Warm start: the logged returns-to-go (the behaviour's own values), so that the iterations
  // only have to carry the candidate's difference from it.
  std::vector<float> returns_to_go(n);
  for (int64_t i = n - 1; i >= 0; --i) {
    returns_to_go[i] = static_cast<float>(
        data.rewards[i] * scale + (data.next[i] >= 0 ? continues[i] * returns_to_go[data.next[i]] : 0.0));
  }
  const torch::Tensor warm_targets = torch::tensor(returns_to_go, torch::kFloat32);

  FqeResult out;
  Rng rng(options.seed);
  const int64_t batch = std::min(options.batch_size, n);
  std::vector<int64_t> pick(batch);
  for (int64_t it = -1; it < iterations; ++it) {
    const torch::Tensor targets =
        it < 0 ? warm_targets
               : rewards + next_discount * state_values().index_select(0, next_index);
    const int64_t updates = options.updates_per_iteration * (it < 0 ? kWarmUpdates : 1);
    // The learning rate falls linearly to 1/20 over the iterations: each regression's SGD noise,
    // carried on by the bootstraps (about 1 / (1 − γ) iterations), shrinks as the values settle.
    const double done = it < 0 ? 0.0 : static_cast<double>(it) / static_cast<double>(iterations);
    for (auto& group : optimizer.param_groups()) {
      static_cast<torch::optim::AdamOptions&>(group.options())
          .lr(options.learning_rate * (1.0 - 0.95 * done));
    }
    double loss_value = 0.0;
    for (int64_t u = 0; u < updates; ++u) {
      for (int64_t& p : pick) p = static_cast<int64_t>(rng.Below(static_cast<uint64_t>(n)));
      const torch::Tensor index = torch::tensor(pick, torch::kInt64);
      torch::AutoGradMode grad(true);
      const torch::Tensor loss = torch::mse_loss(net.forward(inputs.index_select(0, index)),
                                                 targets.index_select(0, index));
      optimizer.zero_grad();
      loss.backward();
      optimizer.step();
      loss_value = loss.item<double>();
    }
    if (it < 0) continue;
    out.iterations = it + 1;
    out.final_loss = loss_value;
    if (progress) progress(it + 1, iterations, loss_value);
    if (stop != nullptr && stop->requested()) {
      out.interrupted = true;
      break;
    }
  }
  const torch::Tensor q = net.forward(inputs).contiguous();
  const torch::Tensor v = state_values().contiguous();
  const float* q_values = q.data_ptr<float>();
  const float* v_values = v.data_ptr<float>();
  out.q.resize(n);
  out.v.resize(n);
  for (int64_t i = 0; i < n; ++i) {
    out.q[i] = q_values[i] / scale;
    out.v[i] = v_values[i] / scale;
  }
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return out;
}

}  // namespace apprentice
