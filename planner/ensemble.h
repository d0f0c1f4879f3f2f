// EnsemblePlanner: several teachers label the same state, and their decisions are combined into
// one (docs/planners.md, "Ensembles"). Made by MakePlanner() for a planner name that lists
// members, "mcts,lqr" (planner/registry.h), with weights from the "weights" option.
//
// With weights w_i (normalised to sum to 1) and member decisions d_i:
// - Categorical: the weighted average of the probabilities, p(a) = sum_i w_i softmax(z_i)(a),
//   stored as logits log p(a) (PolicyOutput::FromProbabilities: an action no member gives any
//   probability gets the floor kMinLogit, never sampled); the hard label is its argmax (lowest
//   index on ties).
// - Gaussian (diagonal): moment matching of the mixture sum_i w_i N(mu_i, s_i^2), per component:
//   mean m = sum_i w_i mu_i, variance v = sum_i w_i (s_i^2 + mu_i^2) - m^2; log-std = log sqrt(v);
//   the hard label is the weighted mean of the members' actions, sum_i w_i a_i (inside the action
//   box, as each a_i is; equal to m when no member clipped its mean).
// - value: sum_i w_i value_i; latency: the whole call (the members plan one after another).
// Every member gets the same request, with the seed mixed with its index (MixSeed) so that members
// of the same kind do not draw the same numbers. A member's error fails the decision (with its name).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/policy.h"
#include "planner/planner.h"

namespace apprentice {

class EnsemblePlanner final : public Planner {
 public:
  struct Member {
    std::unique_ptr<Planner> planner;
    double weight = 1.0;
  };
  // Throws InvalidArgument for fewer than two members, a null planner, or a weight that is not
  // finite and > 0.
  explicit EnsemblePlanner(std::vector<Member> members);

  // "ensemble(mcts:0.7,lqr:0.3)"
  std::string name() const override;
  bool needs_env() const override;
  // Ok when every member supports the space; else the first member's reason, named.
  Status Supports(const Space& action_space) const override;
  Status CanTeach(const Env& env) const override;
  Status CanTeachSpaces(const Space& observation_space, const Space& action_space) const override;
  Result<PlanDecision> Plan(const PlanRequest& request) override;

  // The combination above, of decisions that all fit one action space (InvalidArgument when they
  // are of different kinds or sizes). `weights` must sum to 1.
  static Result<PlanDecision> Combine(const std::vector<PlanDecision>& decisions,
                                      const std::vector<double>& weights);

 private:
  std::vector<Member> members_;  // weights normalised
};

}  // namespace apprentice
