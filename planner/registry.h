// Planners by name, for the command line and configuration files. "mcts" comes first and is the
// default; "lqr" teaches on CartPole only.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "planner/lqr.h"
#include "planner/mcts.h"
#include "planner/planner.h"

namespace apprentice {

struct PlannerConfig {
  MctsPlanner::Options mcts;
  LqrPlanner::Options lqr;
  // > 0: every decision takes at least this long (planner/delayed.h); the decisions themselves
  // are unchanged.
  double delay_ms = 0.0;
  Status Validate() const;
};

// A new planner called `name`; NotFound for an unknown name, InvalidArgument for bad options.
// With config.delay_ms > 0 it comes wrapped in a DelayedPlanner.
Result<std::unique_ptr<Planner>> MakePlanner(const std::string& name, const PlannerConfig& config);
std::vector<std::string> PlannerNames();

}  // namespace apprentice
