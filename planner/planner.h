// Planner: the slow teacher. Given a state, it returns its full decision: a distribution over
// actions (the soft target), the action it would take (the hard label), a value and its latency.
//
// Input: a model-based planner (MCTS, trajectory optimisation) simulates on clones of
// `request.env`, which must be the environment in the state that produced `observation`; a
// model-free teacher (a large network, a remote service) uses the observation alone and
// ignores `env` (needs_env() tells which).
//
// Contract: a Planner instance is used by one thread at a time (a pool gives each worker its
// own instance). Plan() blocks until it has decided; it never modifies `request.env`. A planner
// that honours deadlines stops searching at `deadline_ns` and answers with what it has.
// Recoverable failures (no env given to a model-based planner, a deadline too close to search at
// all) are returned as a Status.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/action.h"
#include "core/policy.h"
#include "core/status.h"
#include "env/env.h"

namespace apprentice {

struct PlanRequest {
  std::span<const float> observation;
  const Env* env = nullptr;  // the environment at this state; model-based planners clone it
  uint64_t seed = 0;         // seeds the planner's randomness for this request
  int64_t deadline_ns = 0;   // absolute NowNs() time to answer by; 0 = no deadline
  // Where the state sits: a planner that warm-starts (MPPI, CEM) continues its previous plan of
  // the same episode when `step` follows the step it planned last. -1 = unknown (no warm start).
  int64_t episode = -1;
  int64_t step = -1;
  uint64_t decision_id = 0;  // the runtime's decision this request labels (0: none)
};

struct PlanDecision {
  PolicyOutput distribution;  // the soft target
  Action action;              // the hard label
  double value = 0.0;         // estimated return from this state
  int64_t latency_ns = 0;     // time spent in Plan()
  // A network teacher's hidden features at this state, for feature distillation; empty for
  // teachers that expose none (DecisionRecord::teacher_features).
  std::vector<float> features;
};

class Planner {
 public:
  virtual ~Planner() = default;
  virtual std::string name() const = 0;
  virtual bool needs_env() const = 0;
  // Ok if this planner can plan over `action_space`; else why not.
  virtual Status Supports(const Space& action_space) const = 0;
  // Ok if this planner can teach on `env` (its kind, spaces and dynamics); else why not. The
  // default asks CanTeachSpaces() of the env's spaces; a planner for one env overrides it.
  virtual Status CanTeach(const Env& env) const {
    return CanTeachSpaces(env.observation_space(), env.action_space());
  }
  // Ok if this planner can teach from observations of `observation_space` alone, answering in
  // `action_space` (a model-free teacher; a network checks its input and output sizes here, so
  // that a model that does not fit is refused at start). Default: Supports(action_space).
  virtual Status CanTeachSpaces(const Space& observation_space, const Space& action_space) const {
    (void)observation_space;
    return Supports(action_space);
  }

  // How many queued requests PlanBatch() takes at once; 1 (the default): one Plan() per request.
  virtual int64_t max_batch() const { return 1; }
  // Several requests in one call (a network evaluates them in one forward pass): one result per
  // request, in order. Default: Plan() for each.
  virtual std::vector<Result<PlanDecision>> PlanBatch(std::span<const PlanRequest> requests) {
    std::vector<Result<PlanDecision>> out;
    out.reserve(requests.size());
    for (const PlanRequest& r : requests) out.push_back(Plan(r));
    return out;
  }
  virtual Result<PlanDecision> Plan(const PlanRequest& request) = 0;
};

}  // namespace apprentice
