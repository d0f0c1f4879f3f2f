// The planners this process knows, by name. Each planner declares its options next to its code (a
// nested Options struct, core/options.h) and registers itself with one line in its .cc:
//
//   APPRENTICE_REGISTER_PLANNER(MctsPlanner, "mcts", "UCT tree search on env clones",
//                               /*heavy=*/"simulations=100000000");
//
// `heavy` names options that make one Plan() take seconds, so that the conformance suite
// (tests/conformance_test.cc) can check that the planner stops at its deadline; "" for a planner
// that always answers at once. The command line builds --planner, --planner-opt key=value and one
// --<planner>-<option> flag per declared option from this registry. "mcts" is the default.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/options.h"
#include "core/registry.h"
#include "planner/planner.h"

namespace apprentice {

using PlannerRegistry = Registry<Planner>;

// The process's registry of planners (thread-safe; see core/registry.h).
PlannerRegistry& Planners();

// A new planner called `name` with `options` applied to its declared defaults. NotFound for an
// unknown name, InvalidArgument for an unknown option or a bad value. With delay_ms > 0 it comes
// wrapped in a DelayedPlanner (planner/delayed.h): every decision takes at least that long.
//
// A name that lists planners, "mcts,lqr", makes an ensemble of them (planner/ensemble.h): each
// member's options come with its name before the key ("mcts.simulations"), and the option
// "weights" gives the members' weights ("0.7,0.3"; default equal).
Result<std::unique_ptr<Planner>> MakePlanner(const std::string& name,
                                             const OptionValues& options = {},
                                             double delay_ms = 0.0);

// Every declared option of the planner called `name` (or of each member of an ensemble, named as
// above, with the weights), resolved: what a run records. The errors of MakePlanner().
Result<OptionValues> ResolvePlannerOptions(const std::string& name, const OptionValues& options);

// The members of an ensemble name ("mcts,lqr" -> {"mcts", "lqr"}); one name for a single planner.
std::vector<std::string> PlannerMembers(const std::string& name);

// The names MakePlanner() accepts, sorted.
std::vector<std::string> PlannerNames();

}  // namespace apprentice

// Registers class `Class` as planner `name` (a string literal) with one line of `help` and its
// heavy options ("" for none).
#define APPRENTICE_REGISTER_PLANNER(Class, name, help, heavy)                   \
  [[maybe_unused]] static const bool apprentice_registered_planner_##Class = \
      ::apprentice::Planners().RegisterClass<Class>(name, help, heavy)
