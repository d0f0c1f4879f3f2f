#include "planner/sampling.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/clock.h"
#include "core/rng.h"
#include "core/seeds.h"

namespace apprentice {

RolloutWorkers::RolloutWorkers(int threads) {
  Require(threads >= 1, "rollout workers: threads must be >= 1");
  for (int w = 1; w < threads; ++w) threads_.emplace_back([this, w] { Loop(w); });
}

RolloutWorkers::~RolloutWorkers() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (std::thread& t : threads_) t.join();
}

void RolloutWorkers::Run(int64_t n, const std::function<void(int, int64_t)>& fn) {
  if (threads_.empty()) {
    for (int64_t k = 0; k < n; ++k) fn(0, k);
    return;
  }
  {
    std::lock_guard lock(mu_);
    fn_ = &fn;
    n_ = n;
    next_.store(0, std::memory_order_relaxed);
    busy_ = static_cast<int>(threads_.size());
    ++generation_;
  }
  wake_.notify_all();
  for (int64_t k; (k = next_.fetch_add(1, std::memory_order_relaxed)) < n;) fn(0, k);
  std::unique_lock lock(mu_);
  done_.wait(lock, [&] { return busy_ == 0; });
  fn_ = nullptr;
}

void RolloutWorkers::Loop(int worker) {
  uint64_t seen = 0;
  for (;;) {
    std::unique_lock lock(mu_);
    wake_.wait(lock, [&] { return stopping_ || generation_ != seen; });
    if (stopping_) return;
    seen = generation_;
    const auto* fn = fn_;
    const int64_t n = n_;
    lock.unlock();
    for (int64_t k; (k = next_.fetch_add(1, std::memory_order_relaxed)) < n;) (*fn)(worker, k);
    lock.lock();
    if (--busy_ == 0) done_.notify_one();
  }
}

void SamplingOptions::Declare(OptionBinder& b) {
  b.Int("horizon", &horizon, "steps per rollout", 1, 10'000);
  b.Int("samples", &samples, "action sequences per iteration, the nominal included", 2, 100'000);
  b.Int("iterations", &iterations, "sample-and-refit rounds per plan", 1, 1'000'000'000);
  b.Double("noise", &noise, "std of the sampling noise, as a fraction of the action half-range",
           1e-6, 10);
  b.Double("discount", &discount, "discount of rewards along a rollout", 1e-6, 1);
  b.Int("threads", &threads, "rollout worker threads (the planner's own thread included)", 1, 256);
}

Status SamplingOptions::Validate(const std::string& planner) const {
  auto bad = [&](const std::string& what) { return Status::InvalidArgument(planner + " " + what); };
  if (horizon < 1) return bad("horizon must be >= 1");
  if (samples < 2) return bad("samples must be >= 2");
  if (iterations < 1) return bad("iterations must be >= 1");
  if (horizon * samples > 1'000'000) {
    return bad("samples x horizon must be <= 1000000 (the sequences of one iteration are kept)");
  }
  if (!(noise > 0.0 && noise <= 10.0)) return bad("noise must be in (0, 10]");
  if (!(discount > 0.0 && discount <= 1.0)) return bad("discount must be in (0, 1]");
  if (threads < 1 || threads > 256) return bad("threads must be in [1, 256]");
  return Status::Ok();
}

SamplingPlanner::SamplingPlanner(const SamplingOptions& options, std::string name)
    : sampling_(options), name_(std::move(name)),
      workers_(static_cast<int>(options.threads)) {
  RequireOk(sampling_.Validate(name_));
  sims_.resize(static_cast<size_t>(workers_.threads()));
  actions_.resize(static_cast<size_t>(workers_.threads()));
}

SamplingPlanner::~SamplingPlanner() = default;

Status SamplingPlanner::Supports(const Space& action_space) const {
  if (!action_space.is_discrete() && action_space.flat_size() <= kMaxActionDims) {
    return Status::Ok();
  }
  return Status::InvalidArgument(name_ + " plans over Box actions (at most " +
                                 std::to_string(kMaxActionDims) + " components), not " +
                                 action_space.ToString());
}

void SamplingPlanner::Prepare(const Env& root, const PlanRequest& request) {
  const Space& space = root.action_space();
  const bool same_space = space.low() == space_.low() && space.high() == space_.high() &&
                          !space_.is_discrete() && dims_ == space.flat_size();
  if (!same_space) {
    space_ = space;
    dims_ = space.flat_size();
    horizon_ = sampling_.horizon;
    center_.assign(static_cast<size_t>(dims_), 0.0f);
    half_range_.assign(static_cast<size_t>(dims_), 1.0f);
    for (int64_t i = 0; i < dims_; ++i) {
      const float lo = space.low()[i], hi = space.high()[i];
      if (std::isfinite(lo) && std::isfinite(hi)) {
        center_[i] = 0.5f * (lo + hi);
        half_range_[i] = 0.5f * (hi - lo);
      } else if (std::isfinite(lo) && lo > 0.0f) {
        center_[i] = lo;
      } else if (std::isfinite(hi) && hi < 0.0f) {
        center_[i] = hi;
      }
    }
    const auto steps = static_cast<size_t>(horizon_ * dims_);
    nominal_.assign(steps, 0.0f);
    scale_.assign(steps, 0.0f);
    samples_.assign(steps * static_cast<size_t>(sampling_.samples), 0.0f);
    returns_.assign(static_cast<size_t>(sampling_.samples), 0.0);
    spread_.assign(static_cast<size_t>(dims_), 0.0f);
    const Action centre = Action::Continuous(center_);
    for (Action& a : actions_) a = centre;
    last_episode_ = last_step_ = -1;  // nothing to continue
  }
  for (std::unique_ptr<Env>& sim : sims_) {
    if (sim == nullptr || !sim->CopyStateFrom(root).ok()) sim = root.Clone();
  }

  // Warm start from the previous plan of this episode, shifted to this step.
  const int64_t shift = request.step - last_step_;
  last_warm_ = request.episode >= 0 && request.step >= 0 && request.episode == last_episode_ &&
               last_step_ >= 0 && shift >= 1 && shift < horizon_;
  if (last_warm_) {
    const auto d = static_cast<size_t>(dims_);
    std::copy(nominal_.begin() + static_cast<std::ptrdiff_t>(shift * dims_), nominal_.end(),
              nominal_.begin());
    const size_t last = static_cast<size_t>(horizon_ - shift - 1) * d;
    for (int64_t t = horizon_ - shift; t < horizon_; ++t) {
      std::copy_n(nominal_.begin() + static_cast<std::ptrdiff_t>(last), d,
                  nominal_.begin() + static_cast<std::ptrdiff_t>(t * dims_));
    }
  } else {
    for (int64_t t = 0; t < horizon_; ++t) {
      std::copy(center_.begin(), center_.end(), nominal_.begin() + t * dims_);
    }
  }
  for (int64_t t = 0; t < horizon_; ++t) {
    for (int64_t i = 0; i < dims_; ++i) {
      scale_[t * dims_ + i] = static_cast<float>(sampling_.noise) * half_range_[i];
    }
  }
}

void SamplingPlanner::Rollout(int worker, int64_t k, const Env& root, uint64_t seed,
                              int64_t deadline_ns) {
  if (k > 0 && deadline_ns != 0 && NowNs() >= deadline_ns) {
    returns_[k] = std::numeric_limits<double>::quiet_NaN();  // not run
    return;
  }
  float* seq = samples_.data() + k * horizon_ * dims_;
  if (k == 0) {
    std::copy(nominal_.begin(), nominal_.end(), seq);
  } else {
    Rng rng(MixSeed(seed, static_cast<uint64_t>(k)));
    const std::vector<float>& lo = space_.low();
    const std::vector<float>& hi = space_.high();
    for (int64_t t = 0; t < horizon_; ++t) {
      for (int64_t i = 0; i < dims_; ++i) {
        const int64_t j = t * dims_ + i;
        const auto v = static_cast<float>(nominal_[j] + scale_[j] * rng.Normal());
        seq[j] = std::clamp(v, lo[i], hi[i]);
      }
    }
  }
  Env& sim = *sims_[static_cast<size_t>(worker)];
  Action& action = actions_[static_cast<size_t>(worker)];
  const Status copied = sim.CopyStateFrom(root);  // same kind as checked in Prepare(): Ok
  (void)copied;
  double ret = 0.0, discount = 1.0;
  for (int64_t t = 0; t < horizon_; ++t) {
    std::copy_n(seq + t * dims_, dims_, action.mutable_values().begin());
    const StepResult r = sim.Step(action);
    ret += discount * r.reward;
    discount *= sampling_.discount;
    if (r.done()) break;
  }
  returns_[k] = std::isfinite(ret) ? ret : -std::numeric_limits<double>::infinity();
}

Result<PlanDecision> SamplingPlanner::Plan(const PlanRequest& request) {
  const int64_t start = NowNs();
  if (request.env == nullptr) {
    return Status::InvalidArgument(name_ + " needs the environment's state (an env clone) to plan");
  }
  const Env& root = *request.env;
  if (Status s = Supports(root.action_space()); !s.ok()) return s;
  Prepare(root, request);

  std::mutex error_mu;
  std::string error;
  int64_t rollouts = 0, iterations = 0;
  uint64_t seed = 0;  // this iteration's
  const std::function<void(int, int64_t)> rollout = [&](int worker, int64_t k) {
    try {
      Rollout(worker, k, root, seed, request.deadline_ns);
    } catch (const std::exception& e) {  // e.g. the request's episode has ended
      returns_[k] = std::numeric_limits<double>::quiet_NaN();
      std::lock_guard lock(error_mu);
      if (error.empty()) error = e.what();
    }
  };
  for (int64_t it = 0; it < sampling_.iterations; ++it) {
    if (it > 0 && request.deadline_ns != 0 && NowNs() >= request.deadline_ns) break;
    seed = MixSeed(request.seed, static_cast<uint64_t>(it));
    workers_.Run(sampling_.samples, rollout);
    if (!error.empty()) {
      last_episode_ = last_step_ = -1;
      return Status::InvalidArgument(name_ + ": a rollout failed: " + error);
    }
    const auto ran = static_cast<int64_t>(
        std::count_if(returns_.begin(), returns_.end(), [](double r) { return !std::isnan(r); }));
    rollouts += ran;
    Refit();
    ++iterations;
    if (ran < sampling_.samples) break;  // the deadline cut this iteration short
  }
  last_rollouts_ = rollouts;
  last_iterations_ = iterations;
  last_episode_ = request.episode;
  last_step_ = request.step;

  PlanDecision decision;
  Action action = actions_[0];
  std::copy_n(nominal_.begin(), dims_, action.mutable_values().begin());
  space_.Clip(action);
  std::vector<float> log_std(static_cast<size_t>(dims_));
  for (int64_t i = 0; i < dims_; ++i) {
    log_std[i] = std::log(std::max(spread_[i], 0.01f * half_range_[i]));
  }
  decision.distribution = PolicyOutput::Gaussian(action.values(), log_std);
  decision.action = action;
  decision.value = value_;
  decision.latency_ns = NowNs() - start;
  return decision;
}

}  // namespace apprentice
