#include "env/vector_env.h"

#include <algorithm>
#include <string>

#include "core/seeds.h"

namespace apprentice {

VectorEnv::VectorEnv(const Env& prototype, int64_t n) {
  Require(n >= 1, "VectorEnv needs at least one sub-env");
  observation_size_ = prototype.observation_space().flat_size();
  for (int64_t i = 0; i < n; ++i) envs_.push_back(prototype.Clone());
  reset_seeds_.resize(static_cast<size_t>(n));
  observations_.assign(static_cast<size_t>(n * observation_size_), 0.0f);
  rewards_.assign(static_cast<size_t>(n), 0.0);
  terminated_.assign(static_cast<size_t>(n), 0);
  truncated_.assign(static_cast<size_t>(n), 0);
  needs_reset_.assign(static_cast<size_t>(n), 0);
}

void VectorEnv::Keep(int64_t i, std::span<const float> observation) {
  std::copy(observation.begin(), observation.end(),
            observations_.begin() + static_cast<std::ptrdiff_t>(i * observation_size_));
}

std::span<const float> VectorEnv::Reset(uint64_t seed) {
  for (int64_t i = 0; i < size(); ++i) {
    reset_seeds_[static_cast<size_t>(i)].Seed(MixSeed(seed, static_cast<uint64_t>(i)));
    Keep(i, envs_[static_cast<size_t>(i)]->Reset(seed + static_cast<uint64_t>(i)));
  }
  std::fill(rewards_.begin(), rewards_.end(), 0.0);
  std::fill(terminated_.begin(), terminated_.end(), 0);
  std::fill(truncated_.begin(), truncated_.end(), 0);
  std::fill(needs_reset_.begin(), needs_reset_.end(), 0);
  started_ = true;
  return observations_;
}

VectorEnv::Batch VectorEnv::Step(std::span<const Action> actions) {
  if (!started_) throw InvalidArgument("VectorEnv: Step() called before Reset()");
  if (static_cast<int64_t>(actions.size()) != size()) {
    throw InvalidArgument("VectorEnv: " + std::to_string(actions.size()) + " actions for " +
                          std::to_string(size()) + " sub-envs");
  }
  for (int64_t i = 0; i < size(); ++i) {
    const auto k = static_cast<size_t>(i);
    Env& env = *envs_[k];
    if (needs_reset_[k] != 0) {  // ended at the previous step: this step starts the next episode
      Keep(i, env.Reset(reset_seeds_[k].Next()));
      rewards_[k] = 0.0;
      terminated_[k] = truncated_[k] = needs_reset_[k] = 0;
      continue;
    }
    StepResult r;
    try {
      r = env.Step(actions[k]);
    } catch (const InvalidArgument& e) {
      throw InvalidArgument("VectorEnv: sub-env " + std::to_string(i) + ": " + e.what());
    }
    Keep(i, r.observation);
    rewards_[k] = r.reward;
    terminated_[k] = r.terminated ? 1 : 0;
    truncated_[k] = r.truncated ? 1 : 0;
    needs_reset_[k] = r.done() ? 1 : 0;
  }
  return Batch{observations_, rewards_, terminated_, truncated_};
}

}  // namespace apprentice
