#include "planner/delayed.h"

#include <chrono>
#include <thread>

#include "core/clock.h"

namespace apprentice {

DelayedPlanner::DelayedPlanner(std::unique_ptr<Planner> inner, int64_t delay_ns)
    : inner_(std::move(inner)), delay_ns_(delay_ns) {
  Require(inner_ != nullptr, "DelayedPlanner needs a planner to delay");
  Require(delay_ns_ >= 0, "DelayedPlanner: the delay must be >= 0");
}

Result<PlanDecision> DelayedPlanner::Plan(const PlanRequest& request) {
  const int64_t start = NowNs();
  Result<PlanDecision> decision = inner_->Plan(request);
  // Sleep until start + delay after the search: a steady per-decision cost, whatever the
  // search took.
  std::this_thread::sleep_until(std::chrono::steady_clock::time_point(
      std::chrono::nanoseconds(start + delay_ns_)));
  if (decision.ok()) decision->latency_ns = NowNs() - start;
  return decision;
}

}  // namespace apprentice
