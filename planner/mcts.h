// MctsPlanner: Monte-Carlo tree search for discrete action spaces (UCT), simulating on clones.
//
// Each simulation clones the root env, descends the tree by UCB over min-max-normalised action
// values (open loop: actions are replayed, so stochastic envs are sampled afresh), expands one
// node, estimates its value by a uniformly random rollout of up to `rollout_horizon` steps, and
// backs up the discounted return. The decision is the root's visit-count distribution (the soft
// target), the most visited action (ties: higher value), and the root's mean return.
//
// Board games: only legal moves are expanded, rolled out and given probability (an env with
// legal-move masks, Env::LegalActions), and with alternating turns (Env::alternating_turns) every
// node's value is for the player who moved into it, so a move's value counts negated one level up
// (negamax) and the root's value is the mover's.
//
// Not thread-safe (one instance per thread, as every Planner). Deterministic for a given
// request seed when no deadline is set.
#pragma once

#include <vector>

#include "core/options.h"
#include "core/rng.h"
#include "planner/planner.h"

namespace apprentice {

class MctsPlanner : public Planner {
 public:
  struct Options {
    int64_t simulations = 512;     // simulations per decision
    double exploration = 1.0;      // UCB constant c: Q_norm + c * sqrt(ln N / n)
    int64_t rollout_horizon = 200; // random-rollout steps after the expanded node
    double discount = 0.99;
    void Declare(OptionBinder& b) {
      b.Int("simulations", &simulations, "simulations per decision", 1, 100'000'000);
      b.Double("exploration", &exploration, "UCB constant c", 0, 100);
      b.Int("rollout", &rollout_horizon, "random-rollout horizon after the expanded node (steps)",
            0, 1'000'000);
      b.Double("discount", &discount, "discount of rewards along a simulation", 1e-6, 1);
    }
    Status Validate() const;
  };

  // Throws InvalidArgument if `options` do not validate.
  explicit MctsPlanner(Options options);

  std::string name() const override { return "mcts"; }
  bool needs_env() const override { return true; }
  Status Supports(const Space& action_space) const override;
  // Errors: no env in the request, or an env whose action space is not Discrete.
  Result<PlanDecision> Plan(const PlanRequest& request) override;

  const Options& options() const { return options_; }
  // Simulations the last Plan() ran (fewer than options().simulations if its deadline passed).
  int64_t last_simulations() const { return last_simulations_; }

 private:
  struct Node {
    int32_t first_child = -1;  // children are contiguous: first_child + action
    int64_t visits = 0;
    double return_sum = 0.0;   // sum of (reward into this node + discounted value after it)
    double reward = 0.0;       // reward of the transition into this node (last seen)
    bool legal = true;         // whether the move into this node is legal in its parent
  };

  int32_t SelectChild(const Node& node, int64_t n_actions);
  // A uniformly random action, among the legal ones when the env masks its moves.
  int64_t RandomAction(const Env& env, int64_t n_actions);
  double Rollout(Env& env, int64_t n_actions, bool turns);
  void UpdateBounds(double q);

  Options options_;
  Rng rng_;
  std::vector<Node> nodes_;    // reused between calls
  std::vector<int32_t> path_;  // reused between calls
  std::vector<uint8_t> legal_;  // reused between calls
  std::unique_ptr<Env> sim_;    // the simulation env, reused while requests are of one kind
  double q_min_ = 0.0, q_max_ = 0.0;
  int64_t last_simulations_ = 0;
};

}  // namespace apprentice
