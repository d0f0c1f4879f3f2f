#include "runtime/evaluation.h"

#include <cmath>

namespace apprentice {

Action UniformRandomAction(const Space& space, Rng& rng) {
  if (space.is_discrete()) return Action::Discrete(static_cast<int64_t>(rng.Below(space.n())));
  Action action = Action::Continuous(space.low());
  std::span<float> v = action.mutable_values();
  for (size_t i = 0; i < v.size(); ++i) {
    const float lo = space.low()[i], hi = space.high()[i];
    if (std::isfinite(lo) && std::isfinite(hi)) {
      v[i] = static_cast<float>(rng.Uniform(lo, hi));
    } else if (std::isfinite(lo)) {
      v[i] = lo + static_cast<float>(std::abs(rng.Normal()));
    } else if (std::isfinite(hi)) {
      v[i] = hi - static_cast<float>(std::abs(rng.Normal()));
    } else {
      v[i] = static_cast<float>(rng.Normal());
    }
  }
  return action;
}

std::optional<double> RunEpisode(Env& env, uint64_t seed, const Policy& policy,
                                 const StopFlag* stop) {
  std::span<const float> observation = env.Reset(seed);
  double total = 0.0;
  for (;;) {
    if (stop != nullptr && stop->requested()) return std::nullopt;
    Action action = policy(observation);
    env.action_space().Clip(action);
    const StepResult r = env.Step(action);
    total += r.reward;
    if (r.done()) return total;
    observation = r.observation;
  }
}

}  // namespace apprentice
