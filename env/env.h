// Env: an environment the agent acts in, with Gymnasium's reset/step semantics.
//
//   reset(seed) -> first observation
//   step(action) -> observation, reward, terminated (a terminal state of the task),
//                   truncated (the time limit or another cut that is not a terminal state)
//
// Contract for callers:
// - Not thread-safe: one thread uses an Env at a time. Clone() copies the full state (including
//   the random generator), so planners simulate on clones while the real env stays untouched.
// - Step() validates the action against action_space() and throws InvalidArgument naming what
//   was wrong (out of range, wrong size, not finite); a rejected action leaves the state unchanged.
//   Continuous actions are never clipped silently: clip with Space::Clip() first.
// - Step() after the episode ended (terminated or truncated) throws InvalidArgument: reset first.
// - The observation span stays valid until the next Reset()/Step() on the same env.
//
// An environment that lives elsewhere (env/remote/remote_env.h) can fail on its own: its server
// stops answering or reports an error that is not the caller's. Every Env method then throws
// EnvFailure, which the runtime's loops turn into a clean stop with the reason in the summary
// (logs closed, nothing lost). In-process envs never throw it.
//
// Board games add legal-move masks and alternating turns (LegalActions, alternating_turns;
// env/connect_four.h).
//
// To write an environment, see env/cartpole.h: it is the smallest complete one. env/episode.h
// holds the bookkeeping and the Step() checks every environment shares.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "core/action.h"
#include "core/space.h"
#include "core/status.h"

namespace apprentice {

struct StepResult {
  std::span<const float> observation;
  double reward = 0.0;
  bool terminated = false;
  bool truncated = false;
  bool done() const { return terminated || truncated; }
};

// The environment itself failed (not the caller): see above.
class EnvFailure : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class Env {
 public:
  virtual ~Env() = default;

  virtual std::string name() const = 0;
  virtual const Space& observation_space() const = 0;
  virtual const Space& action_space() const = 0;
  // Steps after which an episode is truncated (Gymnasium's max_episode_steps).
  virtual int64_t max_episode_steps() const = 0;

  // Starts an episode from the initial-state distribution drawn with `seed`.
  virtual std::span<const float> Reset(uint64_t seed) = 0;
  virtual StepResult Step(const Action& action) = 0;
  // An independent copy of this env in its current state.
  virtual std::unique_ptr<Env> Clone() const = 0;
  // Makes this env's full state (episode bookkeeping and random generator included) a copy of
  // `other`'s, which must be the same kind of env (InvalidArgument otherwise, state unchanged).
  // Does not allocate: the runtime keeps one clone per queued plan request and refreshes it with
  // this on the per-step path.
  virtual Status CopyStateFrom(const Env& other) = 0;

  // Steps taken in the current episode.
  virtual int64_t elapsed_steps() const = 0;

  // The full state as bytes, and this env set from such bytes: what a planner in another process
  // simulates from (a plan request over a network carries it). The bytes name the env; loading
  // refuses (InvalidArgument, state unchanged) bytes of another env, another format or damaged
  // ones. Unavailable (the default) for an env whose state cannot travel.
  virtual Result<std::string> SaveState() const {
    return Status::Unavailable(name() + ": its state cannot be saved as bytes");
  }
  virtual Status LoadState(std::string_view state) {
    (void)state;
    return Status::Unavailable(name() + ": its state cannot be loaded from bytes");
  }

  // Legal-move masks (board games): writes into `legal` (action_space().n() bytes) 1 for each
  // action legal in the current state and 0 for the others, and returns true; Step() refuses an
  // illegal action. Returns false, writing nothing, for an env whose every action is always legal
  // (the default).
  virtual bool LegalActions(std::span<uint8_t> legal) const {
    (void)legal;
    return false;
  }
  // Two players taking turns on one state (board games): a step's reward goes to the player who
  // took it, the other player moves next, and the observation shows the state from the view of
  // the player to move, so one policy plays both sides. Planners back values up with alternating
  // sign (negamax). Default false: one agent.
  virtual bool alternating_turns() const { return false; }
};

// The legal-move mask of `env`'s current state, written into `buffer` (sized to the action
// count), or an empty span when every action is legal: what Executor::Act and Agent::Act take.
// Allocates only the first time `buffer` is sized.
inline std::span<const uint8_t> LegalMask(const Env& env, std::vector<uint8_t>& buffer) {
  if (!env.action_space().is_discrete()) return {};
  buffer.resize(static_cast<size_t>(env.action_space().n()));
  if (!env.LegalActions(buffer)) return {};
  return buffer;
}

}  // namespace apprentice
