// BetaMixture: who acts under DAgger's β-mixture, the one rule of the sync loop and the agent's
// dagger mode. In an episode the planner acts with probability β (one draw per decision); after
// every episode β is multiplied by the decay. β = 0 draws nothing, so a run that never mixes keeps
// its random stream. Owned by one thread.
#pragma once

#include <cstdint>

#include "core/rng.h"

namespace apprentice {

class BetaMixture {
 public:
  BetaMixture(double beta, double decay, uint64_t seed) : beta_(beta), decay_(decay), rng_(seed) {}

  // Whether the planner acts in this decision.
  bool PlannerActs() { return beta_ > 0.0 && rng_.Uniform() < beta_; }
  // An episode ended: β decays.
  void EndEpisode() { beta_ *= decay_; }
  double beta() const { return beta_; }

 private:
  double beta_;
  double decay_;
  Rng rng_;
};

}  // namespace apprentice
