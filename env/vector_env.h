// VectorEnv: N copies of an environment stepped together, with Gymnasium's VectorEnv semantics in
// its default "next step" autoreset mode (gymnasium.vector.AutoresetMode.NEXT_STEP):
//
//   Reset(seed)     resets sub-env i with seed + i; returns the N observations, row after row.
//   Step(actions)   one action per sub-env. A sub-env whose episode ended at the previous Step()
//                   is reset instead of stepped (its action is ignored) and reports its first
//                   observation with reward 0, terminated and truncated false; the others step.
//                   So the observation that ended an episode is the one returned with its
//                   terminated/truncated flag, and the next Step() starts the new episode.
//
// An automatic reset draws the sub-env's next seed from a generator seeded by (Reset's seed, i),
// so a vector run is reproducible from its Reset seed. Observations, rewards and flags live in
// buffers owned by the VectorEnv, valid until the next Reset()/Step(); stepping allocates nothing
// beyond what the sub-envs do.
//
// Errors: Step() before Reset(), or with a number of actions other than size(), throws
// InvalidArgument; an action a sub-env refuses throws its InvalidArgument (naming the sub-env),
// the sub-envs before it having stepped. Not thread-safe (one thread, as every Env).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "core/action.h"
#include "core/rng.h"
#include "env/env.h"

namespace apprentice {

class VectorEnv {
 public:
  // `n` clones of `prototype` (n >= 1), not yet reset.
  VectorEnv(const Env& prototype, int64_t n);

  int64_t size() const { return static_cast<int64_t>(envs_.size()); }
  int64_t observation_size() const { return observation_size_; }
  const Space& observation_space() const { return envs_.front()->observation_space(); }
  const Space& action_space() const { return envs_.front()->action_space(); }

  // The N first observations (size() x observation_size() floats).
  std::span<const float> Reset(uint64_t seed);

  struct Batch {
    std::span<const float> observations;  // size() x observation_size()
    std::span<const double> rewards;
    std::span<const uint8_t> terminated, truncated;
  };
  Batch Step(std::span<const Action> actions);

  // Sub-env i (for a planner that simulates on its state, or to inspect it).
  const Env& env(int64_t i) const { return *envs_[static_cast<size_t>(i)]; }

 private:
  void Keep(int64_t i, std::span<const float> observation);

  std::vector<std::unique_ptr<Env>> envs_;
  std::vector<Rng> reset_seeds_;  // per sub-env: the seeds of its automatic resets
  int64_t observation_size_ = 0;
  bool started_ = false;
  std::vector<float> observations_;
  std::vector<double> rewards_;
  std::vector<uint8_t> terminated_, truncated_, needs_reset_;
};

}  // namespace apprentice
