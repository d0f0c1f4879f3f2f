// Pendulum: Gymnasium's Pendulum-v1, step for step.
//
// A frictionless pendulum swings about a fixed pivot; the agent applies a torque in [-2, 2] to
// swing it up and hold it upright (theta = 0 is up). Physics follows Gymnasium's source exactly
// (semi-implicit Euler, dt = 0.05 s) in double precision; the observation is
// [cos theta, sin theta, theta_dot] rounded to float.
//
// - Reset(seed): theta uniform in [-pi, pi), then theta_dot uniform in [-1, 1), from Rng(seed).
// - Reward -(angle_normalize(theta)^2 + 0.1 theta_dot^2 + 0.001 u^2), computed from the state
//   before the step.
// - theta_dot is clipped to [-8, 8] after every step; theta is not wrapped.
// - Never terminated; truncated when the step count reaches max_episode_steps (200, Gymnasium's
//   TimeLimit).
// - Options: g (gravity, Gymnasium's default 10.0) and max_episode_steps.
// - Step() throws InvalidArgument ("pendulum: ...") before the first Reset(), after the episode
//   ended, or for an action outside Box(-2, 2, (1,)) (wrong kind, wrong size, NaN/inf, out of
//   range; Gymnasium clips, this env never does: clip with Space::Clip() first). A rejected step
//   changes nothing.
// - Step() does not allocate. Not thread-safe (see env/env.h).
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "core/action.h"
#include "core/options.h"
#include "core/space.h"
#include "env/env.h"
#include "env/episode.h"

namespace apprentice {

class Pendulum final : public Env {
 public:
  // State layout: theta (radians, 0 = upright, not wrapped), theta_dot.
  using State = std::array<double, 2>;

  static constexpr double kMaxSpeed = 8.0;
  static constexpr double kMaxTorque = 2.0;
  static constexpr double kDt = 0.05;
  static constexpr double kG = 10.0;
  static constexpr double kM = 1.0;
  static constexpr double kL = 1.0;
  static constexpr int64_t kMaxEpisodeSteps = 200;

  struct Options {
    double g = kG;  // gravity, m/s²
    int64_t max_episode_steps = kMaxEpisodeSteps;
    void Declare(OptionBinder& b) {
      b.Double("g", &g, "gravity (m/s^2)", 0, 100);
      b.Int("max_episode_steps", &max_episode_steps, "steps after which an episode is truncated",
            1, 1'000'000'000);
    }
    Status Validate() const { return Status::Ok(); }
  };

  Pendulum() : Pendulum(Options()) {}
  explicit Pendulum(const Options& options)
      : g_(options.g), episode_("pendulum", options.max_episode_steps) {}

  std::string name() const override { return "pendulum"; }
  const Space& observation_space() const override;
  const Space& action_space() const override;
  int64_t max_episode_steps() const override { return episode_.max_steps(); }
  double g() const { return g_; }

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
  // InvalidArgument. theta_dot is taken as given (not clipped). The env then counts as
  // mid-episode: Step() works even before any Reset() and after the episode ended, and the step
  // count is kept (truncation still comes at 200).
  void set_state(const State& state);

  // Gymnasium's angle_normalize: ((x + pi) mod 2 pi) - pi with Python's floored modulo, so the
  // result lies in [-pi, pi) (up to rounding at the upper end, exactly as in Python).
  static double AngleNormalize(double x);

 private:
  void WriteObservation();

  // The spaces are shared immutable statics, so a clone copies only what follows.
  double g_;
  State state_{};
  std::array<float, 3> observation_{};
  Episode episode_;
};

}  // namespace apprentice
