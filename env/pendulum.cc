#include "env/pendulum.h"

#include <algorithm>
#include <cmath>
#include <typeinfo>
#include <numbers>
#include <vector>

#include "core/rng.h"
#include "core/status.h"
#include "env/registry.h"

namespace apprentice {

// Never destroyed (see CartPole::observation_space).
const Space& Pendulum::observation_space() const {
  static const Space& space =
      *new Space(Space::Box({-1.0f, -1.0f, -static_cast<float>(kMaxSpeed)},
                            {1.0f, 1.0f, static_cast<float>(kMaxSpeed)}, {3}));
  return space;
}

const Space& Pendulum::action_space() const {
  static const Space& space = *new Space(
      Space::Box(-static_cast<float>(kMaxTorque), static_cast<float>(kMaxTorque), {1}));
  return space;
}

double Pendulum::AngleNormalize(double x) {
  constexpr double kTwoPi = 2 * std::numbers::pi;
  // Python's float %: fmod, then shift a remainder whose sign differs from the divisor's.
  double mod = std::fmod(x + std::numbers::pi, kTwoPi);
  if (mod != 0.0) {
    if (mod < 0.0) mod += kTwoPi;
  } else {
    mod = 0.0;  // Python gives +0.0 for a positive divisor
  }
  return mod - std::numbers::pi;
}

std::span<const float> Pendulum::Reset(uint64_t seed) {
  Rng rng(seed);
  const double theta = rng.Uniform(-std::numbers::pi, std::numbers::pi);
  const double theta_dot = rng.Uniform(-1.0, 1.0);
  state_ = {theta, theta_dot};
  episode_.Begin();
  WriteObservation();
  return observation_;
}

StepResult Pendulum::Step(const Action& action) {
  episode_.CheckStep(action_space(), action);

  const auto [th, thdot] = state_;
  const double u = action.values()[0];
  // Written in Gymnasium's order of operations.
  const double norm_th = AngleNormalize(th);
  const double costs = norm_th * norm_th + 0.1 * (thdot * thdot) + 0.001 * (u * u);
  double newthdot = thdot + (3 * g_ / (2 * kL) * std::sin(th) + 3.0 / (kM * (kL * kL)) * u) * kDt;
  newthdot = std::clamp(newthdot, -kMaxSpeed, kMaxSpeed);
  const double newth = th + newthdot * kDt;
  state_ = {newth, newthdot};

  StepResult result;
  result.reward = -costs;
  result.terminated = false;
  episode_.EndStep(result);
  WriteObservation();
  result.observation = observation_;
  return result;
}

std::unique_ptr<Env> Pendulum::Clone() const { return std::make_unique<Pendulum>(*this); }

Status Pendulum::CopyStateFrom(const Env& other) {
  // A type check instead of a dynamic_cast: this runs in every Act() of a model-based planner's
  // agent, and Pendulum is final.
  if (typeid(other) != typeid(Pendulum)) {
    return Status::InvalidArgument("pendulum: cannot copy the state of a " + other.name() + " env");
  }
  *this = static_cast<const Pendulum&>(other);
  return Status::Ok();
}

void Pendulum::set_state(const State& state) {
  for (double v : state) Require(std::isfinite(v), "pendulum: set_state() needs finite values");
  state_ = state;
  episode_.Resume();
  WriteObservation();
}

void Pendulum::WriteObservation() {
  observation_ = {static_cast<float>(std::cos(state_[0])), static_cast<float>(std::sin(state_[0])),
                  static_cast<float>(state_[1])};
}

APPRENTICE_REGISTER_ENV(Pendulum, "pendulum",
                        "Gymnasium's Pendulum-v1: swing a pendulum up with a torque in [-2, 2]");

Result<std::string> Pendulum::SaveState() const {
  return SaveDoublesState("pendulum", state_, episode_);
}

Status Pendulum::LoadState(std::string_view bytes) {
  if (Status s = LoadDoublesState(bytes, "pendulum", state_, episode_); !s.ok()) return s;
  WriteObservation();
  return Status::Ok();
}

}  // namespace apprentice
