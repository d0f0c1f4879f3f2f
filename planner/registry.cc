#include "planner/registry.h"

namespace apprentice {

std::vector<std::string> PlannerNames() { return {"mcts", "lqr"}; }

Result<std::unique_ptr<Planner>> MakePlanner(const std::string& name,
                                             const PlannerConfig& config) {
  if (name == "mcts") {
    if (Status s = config.mcts.Validate(); !s.ok()) return s;
    return std::unique_ptr<Planner>(std::make_unique<MctsPlanner>(config.mcts));
  }
  if (name == "lqr") {
    if (Status s = config.lqr.Validate(); !s.ok()) return s;
    return std::unique_ptr<Planner>(std::make_unique<LqrPlanner>(config.lqr));
  }
  std::string known;
  for (const auto& n : PlannerNames()) known += (known.empty() ? "" : ", ") + n;
  return Status::NotFound("unknown planner '" + name + "' (known: " + known + ")");
}

}  // namespace apprentice
