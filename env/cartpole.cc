#include "env/cartpole.h"

#include <cfloat>
#include <cmath>
#include <vector>

#include "core/rng.h"
#include "core/status.h"

namespace apprentice {
namespace {

Space MakeObservationSpace() {
  const float high_x = static_cast<float>(CartPole::kXThreshold * 2);
  const float high_theta = static_cast<float>(CartPole::kThetaThresholdRadians * 2);
  std::vector<float> high = {high_x, FLT_MAX, high_theta, FLT_MAX};
  std::vector<float> low = {-high_x, -FLT_MAX, -high_theta, -FLT_MAX};
  return Space::Box(std::move(low), std::move(high), {4});
}

}  // namespace

CartPole::CartPole()
    : observation_space_(MakeObservationSpace()), action_space_(Space::Discrete(2)) {}

std::span<const float> CartPole::Reset(uint64_t seed) {
  Rng rng(seed);
  for (double& v : state_) v = rng.Uniform(-0.05, 0.05);
  elapsed_steps_ = 0;
  started_ = true;
  done_ = false;
  WriteObservation();
  return observation_;
}

StepResult CartPole::Step(const Action& action) {
  Require(started_, "cartpole: step() called before reset()");
  Require(!done_, "cartpole: step() called after the episode ended; call reset() first");
  const Status valid = action_space_.Check(action);
  if (!valid.ok()) throw InvalidArgument("cartpole: " + valid.message());

  auto [x, x_dot, theta, theta_dot] = state_;
  const double force = action.index() == 1 ? kForceMag : -kForceMag;
  const double costheta = std::cos(theta);
  const double sintheta = std::sin(theta);
  // Written in Gymnasium's order of operations so the doubles agree bit for bit where libm does.
  const double temp = (force + kPoleMassLength * (theta_dot * theta_dot) * sintheta) / kTotalMass;
  const double thetaacc = (kGravity * sintheta - costheta * temp) /
                          (kLength * (4.0 / 3.0 - kMassPole * (costheta * costheta) / kTotalMass));
  const double xacc = temp - kPoleMassLength * thetaacc * costheta / kTotalMass;
  // kinematics_integrator == "euler"
  x = x + kTau * x_dot;
  x_dot = x_dot + kTau * xacc;
  theta = theta + kTau * theta_dot;
  theta_dot = theta_dot + kTau * thetaacc;
  state_ = {x, x_dot, theta, theta_dot};
  ++elapsed_steps_;

  StepResult result;
  result.terminated = x < -kXThreshold || x > kXThreshold || theta < -kThetaThresholdRadians ||
                      theta > kThetaThresholdRadians;
  result.truncated = elapsed_steps_ >= kMaxEpisodeSteps;
  result.reward = 1.0;
  done_ = result.done();
  WriteObservation();
  result.observation = observation_;
  return result;
}

std::unique_ptr<Env> CartPole::Clone() const { return std::make_unique<CartPole>(*this); }

void CartPole::set_state(const State& state) {
  for (double v : state) Require(std::isfinite(v), "cartpole: set_state() needs finite values");
  state_ = state;
  started_ = true;
  done_ = false;
  WriteObservation();
}

void CartPole::WriteObservation() {
  for (size_t i = 0; i < state_.size(); ++i) observation_[i] = static_cast<float>(state_[i]);
}

}  // namespace apprentice
