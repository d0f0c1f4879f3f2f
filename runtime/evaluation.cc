#include "runtime/evaluation.h"

namespace apprentice {

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
