// Evaluation rollouts: one episode of an environment with every action chosen by a policy, the
// only episode loop of the evaluations (after training, during training for the learning curve,
// and `apprentice eval`/`distill --env` rollouts).
//
//   Reset(seed) ── obs, legal moves ──▶ policy(obs, legal) ── action, clipped into the action
//   space ──▶ Step ── ...
//
// Single-threaded; allocation-free apart from what the policy and env do.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <vector>

#include "core/action.h"
#include "core/rng.h"
#include "core/stop_flag.h"
#include "env/env.h"

namespace apprentice {

// A policy sees the observation and the legal-move mask of the state (empty: every action is
// legal; Env::LegalActions).
using Policy =
    std::function<Action(std::span<const float> observation, std::span<const uint8_t> legal)>;

// A uniformly random action of `space`: an index of a Discrete space (among the legal ones when
// `legal` is not empty); each component of a Box uniform in its bounds (N(0, 1) for an unbounded
// side, shifted to the finite bound if any).
Action UniformRandomAction(const Space& space, Rng& rng, std::span<const uint8_t> legal = {});

// The return of one episode of `env` from Reset(seed), or nullopt when `stop` (if given) is
// requested before the episode ends (checked every step). `after_step` (if set) sees every step's
// result, right after the policy's action was taken.
std::optional<double> RunEpisode(Env& env, uint64_t seed, const Policy& policy,
                                 const StopFlag* stop = nullptr,
                                 const std::function<void(const StepResult&)>& after_step = nullptr);

}  // namespace apprentice
