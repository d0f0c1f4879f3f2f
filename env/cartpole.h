// CartPole: Gymnasium's CartPole-v1, step for step.
//
// A pole is hinged on a cart that moves along a frictionless track; the agent pushes the cart
// left (action 0) or right (action 1) with a force of 10 N. Physics follows Gymnasium's source
// exactly (explicit Euler, tau = 0.02 s) in double precision; the observation is the state
// [x, x_dot, theta, theta_dot] rounded to float.
//
// - Reset(seed): every state variable uniform in [-0.05, 0.05), drawn from Rng(seed) in the
//   order x, x_dot, theta, theta_dot.
// - Reward 1 for every step, the terminating one included.
// - terminated: |x| > 2.4 or |theta| > 12 degrees after the step.
// - truncated: the step count reaches max_episode_steps (500, Gymnasium's TimeLimit), whether or
//   not the same step also terminated; both flags are reported.
// - Step() throws InvalidArgument ("cartpole: ...") before the first Reset(), after the episode
//   ended, or for an action outside Discrete(2); a rejected step changes nothing.
// - Step() does not allocate. Not thread-safe (see env/env.h).
//
// This is the smallest complete Env: copy it to write a new one.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <numbers>
#include <span>
#include <string>

#include "core/action.h"
#include "core/options.h"
#include "core/space.h"
#include "env/env.h"
#include "env/episode.h"

namespace apprentice {

class CartPole final : public Env {
 public:
  // State layout: x, x_dot, theta, theta_dot.
  using State = std::array<double, 4>;

  static constexpr double kGravity = 9.8;
  static constexpr double kMassCart = 1.0;
  static constexpr double kMassPole = 0.1;
  static constexpr double kTotalMass = kMassPole + kMassCart;
  static constexpr double kLength = 0.5;  // half the pole's length
  static constexpr double kPoleMassLength = kMassPole * kLength;
  static constexpr double kForceMag = 10.0;
  static constexpr double kTau = 0.02;  // seconds per step
  static constexpr double kXThreshold = 2.4;
  static constexpr double kThetaThresholdRadians = 12 * 2 * std::numbers::pi / 360;
  static constexpr int64_t kMaxEpisodeSteps = 500;

  struct Options {
    int64_t max_episode_steps = kMaxEpisodeSteps;  // Gymnasium's TimeLimit
    void Declare(OptionBinder& b) {
      b.Int("max_episode_steps", &max_episode_steps, "steps after which an episode is truncated",
            1, 1'000'000'000);
    }
    Status Validate() const { return Status::Ok(); }
  };

  CartPole() : CartPole(Options()) {}
  explicit CartPole(const Options& options)
      : episode_("cartpole", options.max_episode_steps) {}

  std::string name() const override { return "cartpole"; }
  const Space& observation_space() const override;
  const Space& action_space() const override;
  int64_t max_episode_steps() const override { return episode_.max_steps(); }

  std::span<const float> Reset(uint64_t seed) override;
  StepResult Step(const Action& action) override;
  std::unique_ptr<Env> Clone() const override;
  Status CopyStateFrom(const Env& other) override;
  int64_t elapsed_steps() const override { return episode_.elapsed(); }
  Result<std::string> SaveState() const override;
  Status LoadState(std::string_view state) override;

  // The exact (double) state. Before the first Reset() it is all zeros.
  const State& state() const { return state_; }
  // Replaces the physical state (for tests and planners); every value must be finite, else
  // InvalidArgument. The env then counts as mid-episode: Step() works even before any Reset()
  // and after the episode ended, and the step count is kept (truncation still comes at 500).
  void set_state(const State& state);

 private:
  void WriteObservation();

  // The spaces are shared immutable statics, so a clone copies only what follows.
  State state_{};
  std::array<float, 4> observation_{};
  Episode episode_;
};

}  // namespace apprentice
