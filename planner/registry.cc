#include "planner/registry.h"

#include <cmath>

#include "planner/delayed.h"

namespace apprentice {

std::vector<std::string> PlannerNames() { return {"mcts", "lqr"}; }

Status PlannerConfig::Validate() const {
  if (!(std::isfinite(delay_ms) && delay_ms >= 0.0 && delay_ms <= 3.6e6)) {
    return Status::InvalidArgument("planner delay must be in [0, 3600000] ms");
  }
  if (Status s = mcts.Validate(); !s.ok()) return s;
  return lqr.Validate();
}

Result<std::unique_ptr<Planner>> MakePlanner(const std::string& name,
                                             const PlannerConfig& config) {
  if (Status s = config.Validate(); !s.ok()) return s;
  std::unique_ptr<Planner> planner;
  if (name == "mcts") planner = std::make_unique<MctsPlanner>(config.mcts);
  if (name == "lqr") planner = std::make_unique<LqrPlanner>(config.lqr);
  if (planner != nullptr) {
    if (config.delay_ms > 0.0) {
      planner = std::make_unique<DelayedPlanner>(std::move(planner),
                                                 static_cast<int64_t>(config.delay_ms * 1e6));
    }
    return planner;
  }
  std::string known;
  for (const auto& n : PlannerNames()) known += (known.empty() ? "" : ", ") + n;
  return Status::NotFound("unknown planner '" + name + "' (known: " + known + ")");
}

}  // namespace apprentice
