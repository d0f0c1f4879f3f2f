#include "env/cartpole.h"

#include <cfloat>
#include <cmath>
#include <typeinfo>
#include <vector>

#include "core/rng.h"
#include "core/status.h"
#include "env/registry.h"

namespace apprentice {
// The spaces are never destroyed: a planner thread left inside a hung Plan() at exit may still
// read them after static destructors have run.
const Space& CartPole::observation_space() const {
  static const Space& space = *new Space([] {
    const float high_x = static_cast<float>(kXThreshold * 2);
    const float high_theta = static_cast<float>(kThetaThresholdRadians * 2);
    std::vector<float> high = {high_x, FLT_MAX, high_theta, FLT_MAX};
    std::vector<float> low = {-high_x, -FLT_MAX, -high_theta, -FLT_MAX};
    return Space::Box(std::move(low), std::move(high), {4});
  }());
  return space;
}

const Space& CartPole::action_space() const {
  static const Space& space = *new Space(Space::Discrete(2));
  return space;
}

std::span<const float> CartPole::Reset(uint64_t seed) {
  Rng rng(seed);
  for (double& v : state_) v = rng.Uniform(-0.05, 0.05);
  episode_.Begin();
  WriteObservation();
  return observation_;
}

StepResult CartPole::Step(const Action& action) {
  episode_.CheckStep(action_space(), action);

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

  StepResult result;
  result.terminated = x < -kXThreshold || x > kXThreshold || theta < -kThetaThresholdRadians ||
                      theta > kThetaThresholdRadians;
  result.reward = 1.0;
  episode_.EndStep(result);
  WriteObservation();
  result.observation = observation_;
  return result;
}

std::unique_ptr<Env> CartPole::Clone() const { return std::make_unique<CartPole>(*this); }

Status CartPole::CopyStateFrom(const Env& other) {
  // A type check instead of a dynamic_cast: this runs in every Act() of a model-based planner's
  // agent, and CartPole is final.
  if (typeid(other) != typeid(CartPole)) {
    return Status::InvalidArgument("cartpole: cannot copy the state of a " + other.name() + " env");
  }
  *this = static_cast<const CartPole&>(other);
  return Status::Ok();
}

void CartPole::set_state(const State& state) {
  for (double v : state) Require(std::isfinite(v), "cartpole: set_state() needs finite values");
  state_ = state;
  episode_.Resume();
  WriteObservation();
}

void CartPole::WriteObservation() {
  for (size_t i = 0; i < state_.size(); ++i) observation_[i] = static_cast<float>(state_[i]);
}

APPRENTICE_REGISTER_ENV(CartPole, "cartpole",
                        "Gymnasium's CartPole-v1: balance a pole on a cart by pushing it sideways");

Result<std::string> CartPole::SaveState() const {
  return SaveDoublesState("cartpole", state_, episode_);
}

Status CartPole::LoadState(std::string_view bytes) {
  if (Status s = LoadDoublesState(bytes, "cartpole", state_, episode_); !s.ok()) return s;
  WriteObservation();
  return Status::Ok();
}

}  // namespace apprentice
