// SamplingPlanner: the common part of the sampling-based trajectory optimisers (MPPI, CEM) for
// Box action spaces, after MuJoCo MPC's sampling planners.
//
// A plan is a nominal sequence of `horizon` actions and a per-step, per-component noise scale.
// Plan() runs `iterations` rounds of:
//
//   sample      K = `samples` action sequences: sequence 0 is the nominal itself, sequence k > 0
//               is clip(nominal + scale ⊙ ε_k), ε_k ~ N(0, I), drawn from a generator seeded by
//               (request seed, iteration, k), so the result does not depend on which thread
//               drew it;
//   roll out    each sequence on a copy of the request's env (Env::CopyStateFrom into one clone
//               per worker thread: no allocation after the first plan), for `horizon` steps or
//               until the episode ends, scoring its discounted return;
//   refit       the subclass updates the nominal (and, for CEM, the scale) from the returns.
//
// The decision is the nominal's first action (clipped into the box: the hard label), a Gaussian
// soft target whose mean is that action and whose std is the subclass's spread of the first
// action (floored at 1 % of each component's half-range), and the subclass's value estimate.
//
// Noise: `noise` is a fraction of each component's half-range ((high - low) / 2; 1 for an
// unbounded component): on Pendulum's [-2, 2] torque, noise 0.5 draws with std 1 N·m.
//
// Warm start: the planner keeps its last nominal. A request of the same episode whose step follows
// the step planned last by k (1 <= k < horizon) starts from that nominal shifted by k steps (the
// last action repeated at the end); anything else (another episode, the same or an earlier step,
// an unknown step: -1) starts from the centre of the box. The scale starts from `noise` at every
// plan.
//
// Deadline: the nominal's rollout always runs; after it, no new rollout starts once the deadline
// has passed, and the iterations stop. The plan refits from the rollouts that ran ("the best plan
// so far"): an iteration cut short still counts.
//
// Threads: `threads` rollout workers (the calling thread is one of them; the others are started
// with the planner and sleep between plans). Not thread-safe (one caller at a time, as every
// Planner). Deterministic for a given request seed and warm-start state, whatever `threads`, when
// no deadline cuts it.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/options.h"
#include "planner/planner.h"

namespace apprentice {

// Runs fn(worker, k) for k in [0, n) over `threads` workers: the caller is worker 0, the others
// are threads started here. Run() returns when every k is done. One caller at a time.
class RolloutWorkers {
 public:
  explicit RolloutWorkers(int threads);
  ~RolloutWorkers();
  RolloutWorkers(const RolloutWorkers&) = delete;
  RolloutWorkers& operator=(const RolloutWorkers&) = delete;

  int threads() const { return static_cast<int>(threads_.size()) + 1; }
  void Run(int64_t n, const std::function<void(int worker, int64_t k)>& fn);

 private:
  void Work(int worker, uint64_t generation);
  void Loop(int worker);

  std::mutex mu_;
  std::condition_variable wake_, done_;
  uint64_t generation_ = 0;  // bumped by each Run()
  bool stopping_ = false;
  int busy_ = 0;  // workers (besides the caller) still in the current Run()
  const std::function<void(int, int64_t)>* fn_ = nullptr;
  int64_t n_ = 0;
  std::atomic<int64_t> next_{0};
  std::vector<std::thread> threads_;
};

// The options every sampling planner declares (each adds its own).
struct SamplingOptions {
  int64_t horizon = 30;       // steps per rollout
  int64_t samples = 64;       // action sequences per iteration (the nominal included)
  int64_t iterations = 3;     // sample-and-refit rounds per plan
  double noise = 0.5;         // std of the sampling noise, as a fraction of the half-range
  double discount = 1.0;      // of rewards along a rollout
  int64_t threads = 1;        // rollout workers (the caller included)
  void Declare(OptionBinder& b);
  Status Validate(const std::string& planner) const;
};

class SamplingPlanner : public Planner {
 public:
  bool needs_env() const override { return true; }
  // Box action spaces with at most kMaxActionDims components.
  Status Supports(const Space& action_space) const override;
  // Errors: no env in the request, an env whose action space is not a Box.
  Result<PlanDecision> Plan(const PlanRequest& request) final;

  // Rollouts the last Plan() ran, and its iterations (fewer if its deadline passed).
  int64_t last_rollouts() const { return last_rollouts_; }
  int64_t last_iterations() const { return last_iterations_; }
  // Whether the last Plan() started from its previous plan (warm start).
  bool last_warm() const { return last_warm_; }

 protected:
  SamplingPlanner(const SamplingOptions& options, std::string name);
  ~SamplingPlanner() override;

  // Refits the plan from this iteration's rollouts: samples(k) holds sequence k (horizon rows of
  // d actions), returns_[k] its return (NaN: not run, the deadline passed). Sets nominal_ (and
  // may set scale_), spread_ (the first action's std for the soft target) and value_.
  virtual void Refit() = 0;

  std::span<const float> sample(int64_t k) const {
    return {samples_.data() + k * horizon_ * dims_, static_cast<size_t>(horizon_ * dims_)};
  }

  const SamplingOptions sampling_;
  int64_t horizon_ = 0, dims_ = 0;
  std::vector<float> nominal_;   // horizon x dims
  std::vector<float> scale_;     // horizon x dims: the noise's std per step and component
  std::vector<float> samples_;   // samples x horizon x dims
  std::vector<double> returns_;  // samples
  std::vector<float> spread_;    // dims
  std::vector<float> half_range_;  // dims: (high - low) / 2, or 1 for an unbounded component
  double value_ = 0.0;

 private:
  void Prepare(const Env& root, const PlanRequest& request);
  void Rollout(int worker, int64_t k, const Env& root, uint64_t seed, int64_t deadline_ns);

  const std::string name_;
  Space space_ = Space::Discrete(1);  // the action space planned over (none yet: Discrete)
  std::vector<float> center_;                // dims: the box's centre (0 when unbounded)
  std::vector<std::unique_ptr<Env>> sims_;  // one per worker
  std::vector<Action> actions_;             // one per worker
  RolloutWorkers workers_;
  int64_t last_episode_ = -1, last_step_ = -1;
  int64_t last_rollouts_ = 0, last_iterations_ = 0;
  bool last_warm_ = false;
};

}  // namespace apprentice
