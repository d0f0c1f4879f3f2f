#include "planner/registry.h"

#include <cmath>

#include "planner/delayed.h"

namespace apprentice {

PlannerRegistry& Planners() {
  static PlannerRegistry* registry = new PlannerRegistry("planner");  // never destroyed
  return *registry;
}

std::vector<std::string> PlannerNames() { return Planners().Names(); }

Result<std::unique_ptr<Planner>> MakePlanner(const std::string& name, const OptionValues& options,
                                             double delay_ms) {
  if (!(std::isfinite(delay_ms) && delay_ms >= 0.0 && delay_ms <= 3.6e6)) {
    return Status::InvalidArgument("the planner delay must be in [0, 3600000] ms");
  }
  Result<std::unique_ptr<Planner>> planner = Planners().Make(name, options);
  if (!planner.ok() || delay_ms == 0.0) return planner;
  return std::unique_ptr<Planner>(std::make_unique<DelayedPlanner>(
      std::move(planner).value(), static_cast<int64_t>(delay_ms * 1e6)));
}

}  // namespace apprentice
