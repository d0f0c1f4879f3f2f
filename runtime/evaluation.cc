#include "runtime/evaluation.h"

#include <cmath>

namespace apprentice {

Action UniformRandomAction(const Space& space, Rng& rng, std::span<const uint8_t> legal) {
  if (space.is_discrete() && !legal.empty()) {
    int64_t count = 0;
    for (const uint8_t b : legal) count += b != 0;
    Require(count > 0, "UniformRandomAction: the legal-move mask allows no action");
    auto k = static_cast<int64_t>(rng.Below(static_cast<uint64_t>(count)));
    for (size_t a = 0; a < legal.size(); ++a) {
      if (legal[a] != 0 && k-- == 0) return Action::Discrete(static_cast<int64_t>(a));
    }
  }
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
                                 const StopFlag* stop,
                                 const std::function<void(const StepResult&)>& after_step) {
  std::span<const float> observation = env.Reset(seed);
  double total = 0.0;
  std::vector<uint8_t> legal;
  for (;;) {
    if (stop != nullptr && stop->requested()) return std::nullopt;
    Action action = policy(observation, LegalMask(env, legal));
    env.action_space().Clip(action);
    const StepResult r = env.Step(action);
    total += r.reward;
    if (after_step) after_step(r);
    if (r.done()) return total;
    observation = r.observation;
  }
}

}  // namespace apprentice
