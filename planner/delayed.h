// DelayedPlanner: another planner, made slower: each decision takes at least `delay_ns` (the inner
// search, then a sleep for the rest of the delay). The decision
// itself is the inner planner's, unchanged (same request, same seed, same answer); only its
// latency grows. It stands in for an expensive teacher (a large network, a deep search) when a
// demonstration or a test needs a planner far slower than the executor, e.g. 20 ms per decision
// at a 1 kHz control loop, without changing what is learned.
//
// Threading: as the inner planner (one thread at a time). Plan() blocks for max(inner search,
// delay_ns); latency_ns of the decision includes the sleep.
#pragma once

#include <cstdint>
#include <memory>

#include "planner/planner.h"

namespace apprentice {

class DelayedPlanner : public Planner {
 public:
  // Throws InvalidArgument if `inner` is null or `delay_ns` is negative.
  DelayedPlanner(std::unique_ptr<Planner> inner, int64_t delay_ns);

  std::string name() const override { return inner_->name(); }
  bool needs_env() const override { return inner_->needs_env(); }
  Status Supports(const Space& action_space) const override {
    return inner_->Supports(action_space);
  }
  Status CanTeach(const Env& env) const override { return inner_->CanTeach(env); }
  Status CanTeachSpaces(const Space& observation_space, const Space& action_space) const override {
    return inner_->CanTeachSpaces(observation_space, action_space);
  }
  Result<PlanDecision> Plan(const PlanRequest& request) override;

  int64_t delay_ns() const { return delay_ns_; }

 private:
  std::unique_ptr<Planner> inner_;
  int64_t delay_ns_;
};

}  // namespace apprentice
