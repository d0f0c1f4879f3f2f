// Tests for the env layer. Expected trajectories are literals computed independently from
// Gymnasium's published equations with a separate pure-Python (math module) implementation, not by
// re-running this C++ code.
#include <gtest/gtest.h>

#include <cfloat>
#include <cmath>
#include <memory>
#include <numbers>
#include <string>
#include <vector>

#include "core/action.h"
#include "core/space.h"
#include "core/status.h"
#include "env/cartpole.h"
#include "env/env.h"
#include "env/pendulum.h"
#include "env/registry.h"
#include "env/vector_env.h"
#include "core/rng.h"
#include "core/seeds.h"

namespace apprentice {
namespace {

constexpr double kTol = 1e-12;

Action Torque(float u) {
  const float v[] = {u};
  return Action::Continuous(v);
}

// Runs `fn` and returns the InvalidArgument message it throws ("" if it does not throw).
template <typename Fn>
std::string ThrownMessage(Fn&& fn) {
  try {
    fn();
  } catch (const InvalidArgument& e) {
    return e.what();
  }
  return "";
}

bool StartsWith(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

// A linear balancing policy on the exact state; from Reset(0) it keeps the pole up for over
// 1000 steps (|x| < 0.26, |theta| < 0.023 throughout, checked with the Python reference).
int64_t Balance(const CartPole::State& s) {
  return s[2] + 0.5 * s[3] + 0.01 * s[0] + 0.1 * s[1] > 0 ? 1 : 0;
}

// ---------------------------------------------------------------------------------------------
// CartPole
// ---------------------------------------------------------------------------------------------

TEST(CartPole, DescribesItsSpacesLikeGymnasium) {
  CartPole env;
  EXPECT_EQ(env.name(), "cartpole");
  EXPECT_EQ(env.max_episode_steps(), 500);
  EXPECT_EQ(env.action_space(), Space::Discrete(2));
  const Space& obs = env.observation_space();
  ASSERT_FALSE(obs.is_discrete());
  EXPECT_EQ(obs.shape(), std::vector<int64_t>({4}));
  EXPECT_EQ(obs.high(), std::vector<float>({4.8f, FLT_MAX, 0.41887903f, FLT_MAX}));
  EXPECT_EQ(obs.low(), std::vector<float>({-4.8f, -FLT_MAX, -0.41887903f, -FLT_MAX}));
}

TEST(CartPole, ResetIsDeterministicPerSeedAndDrawsFromPlusMinus005) {
  CartPole a, b;
  const auto oa = a.Reset(42);
  const auto ob = b.Reset(42);
  ASSERT_EQ(oa.size(), 4u);
  EXPECT_TRUE(std::equal(oa.begin(), oa.end(), ob.begin(), ob.end()));
  // Rng(42).Uniform(-0.05, 0.05) four times, in the order x, x_dot, theta, theta_dot.
  const CartPole::State expected = {0.031430514512290994, -0.018117895993833892,
                                    0.04838941681774887, 0.020113559813475554};
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(a.state()[i], expected[i]) << i;
    EXPECT_EQ(oa[i], static_cast<float>(expected[i])) << i;
  }
  EXPECT_EQ(a.elapsed_steps(), 0);

  CartPole c;
  c.Reset(43);
  EXPECT_NE(c.state(), a.state());

  for (uint64_t seed = 0; seed < 200; ++seed) {
    c.Reset(seed);
    for (double v : c.state()) {
      EXPECT_GE(v, -0.05);
      EXPECT_LT(v, 0.05);
    }
    EXPECT_TRUE(c.observation_space().CheckObservation(c.Reset(seed)).ok());
  }
}

TEST(CartPole, ResetStartsAFreshEpisode) {
  CartPole env;
  env.Reset(1);
  env.Step(Action::Discrete(1));
  env.Step(Action::Discrete(0));
  EXPECT_EQ(env.elapsed_steps(), 2);
  env.Reset(1);
  EXPECT_EQ(env.elapsed_steps(), 0);
  CartPole fresh;
  fresh.Reset(1);
  EXPECT_EQ(env.state(), fresh.state());
}

TEST(CartPole, OneStepFromRestMatchesTheEquations) {
  CartPole env;
  env.set_state({0.0, 0.0, 0.0, 0.0});
  const StepResult r = env.Step(Action::Discrete(1));
  // temp = 10/1.1; thetaacc = -temp / (0.5 * (4/3 - 0.1/1.1)); xacc = temp - 0.05*thetaacc/1.1.
  EXPECT_NEAR(env.state()[0], 0.0, kTol);
  EXPECT_NEAR(env.state()[1], 0.1951219512195122, kTol);
  EXPECT_NEAR(env.state()[2], 0.0, kTol);
  EXPECT_NEAR(env.state()[3], -0.2926829268292683, kTol);
  EXPECT_EQ(r.reward, 1.0);
  EXPECT_FALSE(r.terminated);
  EXPECT_FALSE(r.truncated);
  ASSERT_EQ(r.observation.size(), 4u);
  EXPECT_EQ(r.observation[1], static_cast<float>(env.state()[1]));
  EXPECT_EQ(r.observation[3], static_cast<float>(env.state()[3]));

  // Action 0 pushes the other way: the mirror image.
  env.set_state({0.0, 0.0, 0.0, 0.0});
  env.Step(Action::Discrete(0));
  EXPECT_NEAR(env.state()[1], -0.1951219512195122, kTol);
  EXPECT_NEAR(env.state()[3], 0.2926829268292683, kTol);
}

TEST(CartPole, TenStepTrajectoryMatchesTheEquations) {
  CartPole env;
  env.set_state({0.01, -0.02, 0.03, 0.04});
  const int64_t actions[] = {1, 0, 0, 1, 1, 1, 0, 1, 0, 0};
  env.Step(Action::Discrete(actions[0]));
  // After step 1 (Euler: positions use the old velocities).
  EXPECT_NEAR(env.state()[0], 0.009600000000000001, kTol);
  EXPECT_NEAR(env.state()[1], 0.17467919574755525, kTol);
  EXPECT_NEAR(env.state()[2], 0.030799999999999998, kTol);
  EXPECT_NEAR(env.state()[3], -0.2430687179600081, kTol);
  for (int i = 1; i < 10; ++i) {
    const StepResult r = env.Step(Action::Discrete(actions[i]));
    EXPECT_FALSE(r.done());
    EXPECT_EQ(r.reward, 1.0);
  }
  EXPECT_NEAR(env.state()[0], 0.03293383706570074, kTol);
  EXPECT_NEAR(env.state()[1], -0.02379962460232901, kTol);
  EXPECT_NEAR(env.state()[2], 0.0054623041616948635, kTol);
  EXPECT_NEAR(env.state()[3], 0.12379799946559022, kTol);
  EXPECT_EQ(env.elapsed_steps(), 10);
}

TEST(CartPole, TerminatesWhenPoleFallsPast12Degrees) {
  EXPECT_NEAR(CartPole::kThetaThresholdRadians, 0.20943951023931953, 1e-16);
  CartPole env;
  // theta 0.209 + 0.02 * 0.1 = 0.211 > 0.2094: terminal, and still rewarded 1.
  env.set_state({0.0, 0.0, 0.2090, 0.1});
  StepResult r = env.Step(Action::Discrete(1));
  EXPECT_NEAR(env.state()[2], 0.211, kTol);
  EXPECT_NEAR(env.state()[1], 0.19160958377211582, kTol);
  EXPECT_NEAR(env.state()[3], -0.12016027967160611, kTol);
  EXPECT_TRUE(r.terminated);
  EXPECT_FALSE(r.truncated);
  EXPECT_EQ(r.reward, 1.0);

  // The same on the other side.
  env.set_state({0.0, 0.0, -0.2090, -0.1});
  r = env.Step(Action::Discrete(0));
  EXPECT_TRUE(r.terminated);
  EXPECT_EQ(r.reward, 1.0);

  // Landing exactly on the threshold is not past it.
  env.set_state({0.0, 0.0, CartPole::kThetaThresholdRadians, 0.0});
  r = env.Step(Action::Discrete(0));
  EXPECT_EQ(env.state()[2], CartPole::kThetaThresholdRadians);
  EXPECT_FALSE(r.terminated);

  // theta 0.2 + 0.002 = 0.202 stays inside.
  env.set_state({0.0, 0.0, 0.2, 0.1});
  r = env.Step(Action::Discrete(1));
  EXPECT_NEAR(env.state()[2], 0.202, kTol);
  EXPECT_NEAR(env.state()[1], 0.19177761885819108, kTol);
  EXPECT_NEAR(env.state()[3], -0.12352346867758598, kTol);
  EXPECT_FALSE(r.terminated);
}

TEST(CartPole, TerminatesWhenCartLeavesPlusMinus2Point4) {
  CartPole env;
  env.set_state({2.399, 0.1, 0.0, 0.0});
  StepResult r = env.Step(Action::Discrete(1));
  EXPECT_NEAR(env.state()[0], 2.401, kTol);
  EXPECT_NEAR(env.state()[1], 0.29512195121951224, kTol);
  EXPECT_TRUE(r.terminated);
  EXPECT_EQ(r.reward, 1.0);

  env.set_state({-2.399, -0.1, 0.0, 0.0});
  r = env.Step(Action::Discrete(0));
  EXPECT_TRUE(r.terminated);

  // Landing exactly on the threshold is not past it (x' = x + tau * 0 = 2.4).
  env.set_state({2.4, 0.0, 0.0, 0.0});
  r = env.Step(Action::Discrete(1));
  EXPECT_EQ(env.state()[0], 2.4);
  EXPECT_FALSE(r.terminated);
}

TEST(CartPole, TruncatesExactlyAtStep500) {
  CartPole env;
  env.Reset(0);
  for (int i = 1; i < 500; ++i) {
    const StepResult r = env.Step(Action::Discrete(Balance(env.state())));
    ASSERT_FALSE(r.terminated) << "step " << i;
    ASSERT_FALSE(r.truncated) << "step " << i;
  }
  EXPECT_EQ(env.elapsed_steps(), 499);
  const StepResult r = env.Step(Action::Discrete(Balance(env.state())));
  EXPECT_FALSE(r.terminated);
  EXPECT_TRUE(r.truncated);
  EXPECT_EQ(r.reward, 1.0);
  EXPECT_EQ(env.elapsed_steps(), 500);
  EXPECT_THROW(env.Step(Action::Discrete(0)), InvalidArgument);
}

TEST(CartPole, ReportsTerminatedAndTruncatedTogetherOnStep500) {
  CartPole env;
  env.Reset(3);
  for (int i = 1; i < 500; ++i) {
    env.set_state({0.0, 0.0, 0.0, 0.0});  // keeps the step count, holds the pole up
    ASSERT_FALSE(env.Step(Action::Discrete(i % 2)).done()) << "step " << i;
  }
  env.set_state({0.0, 0.0, 0.2090, 0.1});
  const StepResult r = env.Step(Action::Discrete(1));
  EXPECT_TRUE(r.terminated);
  EXPECT_TRUE(r.truncated);
  EXPECT_TRUE(r.done());
}

TEST(CartPole, StepAfterTheEpisodeEndedThrows) {
  CartPole env;
  env.set_state({0.0, 0.0, 0.2090, 0.1});
  ASSERT_TRUE(env.Step(Action::Discrete(1)).terminated);
  const CartPole::State after = env.state();
  EXPECT_EQ(ThrownMessage([&] { env.Step(Action::Discrete(1)); }),
            "cartpole: step() called after the episode ended; call reset() first");
  EXPECT_EQ(env.state(), after);
  EXPECT_EQ(env.elapsed_steps(), 1);
  env.Reset(5);
  EXPECT_NO_THROW(env.Step(Action::Discrete(1)));
}

TEST(CartPole, StepBeforeResetThrows) {
  CartPole env;
  const std::string message = ThrownMessage([&] { env.Step(Action::Discrete(0)); });
  EXPECT_TRUE(StartsWith(message, "cartpole: ")) << message;
  EXPECT_NE(message.find("reset"), std::string::npos) << message;
}

TEST(CartPole, InvalidActionsThrowAndLeaveTheStateUnchanged) {
  CartPole env;
  env.Reset(9);
  const CartPole::State before = env.state();

  EXPECT_EQ(ThrownMessage([&] { env.Step(Action::Discrete(2)); }),
            "cartpole: action 2 is out of range for Discrete(2)");
  EXPECT_EQ(ThrownMessage([&] { env.Step(Action::Discrete(-1)); }),
            "cartpole: action -1 is out of range for Discrete(2)");
  const std::string wrong_kind = ThrownMessage([&] { env.Step(Torque(1.0f)); });
  EXPECT_TRUE(StartsWith(wrong_kind, "cartpole: expected a discrete action")) << wrong_kind;

  EXPECT_EQ(env.state(), before);
  EXPECT_EQ(env.elapsed_steps(), 0);
  // A valid step still works and starts from the untouched state.
  const StepResult r = env.Step(Action::Discrete(1));
  EXPECT_EQ(env.elapsed_steps(), 1);
  EXPECT_NEAR(env.state()[0], before[0] + 0.02 * before[1], kTol);
  EXPECT_NEAR(env.state()[2], before[2] + 0.02 * before[3], kTol);
  EXPECT_EQ(r.observation[0], static_cast<float>(env.state()[0]));
}

TEST(CartPole, CloneIsIndependentAndContinuesIdentically) {
  CartPole env;
  env.Reset(11);
  env.Step(Action::Discrete(1));
  const std::unique_ptr<Env> clone = env.Clone();
  ASSERT_NE(clone, nullptr);
  EXPECT_EQ(clone->name(), "cartpole");
  EXPECT_EQ(clone->elapsed_steps(), 1);
  const CartPole::State before = env.state();

  const int64_t actions[] = {0, 0, 1, 0, 1};
  std::vector<float> clone_obs;
  for (int64_t a : actions) {
    const StepResult r = clone->Step(Action::Discrete(a));
    clone_obs.assign(r.observation.begin(), r.observation.end());
  }
  EXPECT_EQ(env.state(), before);  // stepping the clone left the original alone
  EXPECT_EQ(env.elapsed_steps(), 1);
  EXPECT_EQ(clone->elapsed_steps(), 6);

  std::vector<float> env_obs;
  for (int64_t a : actions) {
    const StepResult r = env.Step(Action::Discrete(a));
    env_obs.assign(r.observation.begin(), r.observation.end());
  }
  EXPECT_EQ(env_obs, clone_obs);
  EXPECT_EQ(env.state(), dynamic_cast<const CartPole&>(*clone).state());
}

TEST(CartPole, CloneOfAnEndedEpisodeIsEndedToo) {
  CartPole env;
  env.set_state({0.0, 0.0, 0.2090, 0.1});
  ASSERT_TRUE(env.Step(Action::Discrete(1)).done());
  const std::unique_ptr<Env> clone = env.Clone();
  EXPECT_THROW(clone->Step(Action::Discrete(1)), InvalidArgument);
}

TEST(CartPole, CopyStateFromMakesAnExistingCloneContinueIdentically) {
  CartPole env;
  env.Reset(5);
  env.Step(Action::Discrete(0));
  CartPole copy;  // never reset: the copy brings the episode bookkeeping with it
  ASSERT_TRUE(copy.CopyStateFrom(env).ok());
  EXPECT_EQ(copy.state(), env.state());
  EXPECT_EQ(copy.elapsed_steps(), 1);
  const StepResult a = env.Step(Action::Discrete(1));
  const std::vector<float> env_obs(a.observation.begin(), a.observation.end());
  const StepResult b = copy.Step(Action::Discrete(1));
  EXPECT_EQ(std::vector<float>(b.observation.begin(), b.observation.end()), env_obs);
}

TEST(CartPole, CopyStateFromAnotherKindOfEnvFailsAndChangesNothing) {
  CartPole env;
  env.Reset(5);
  const CartPole::State before = env.state();
  Pendulum other;
  other.Reset(1);
  const Status s = env.CopyStateFrom(other);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("pendulum"), std::string::npos) << s.message();
  EXPECT_EQ(env.state(), before);
}

TEST(CartPole, SetStateRejectsNonFiniteValues) {
  CartPole env;
  env.Reset(0);
  const CartPole::State before = env.state();
  EXPECT_THROW(env.set_state({0.0, NAN, 0.0, 0.0}), InvalidArgument);
  EXPECT_THROW(env.set_state({INFINITY, 0.0, 0.0, 0.0}), InvalidArgument);
  EXPECT_EQ(env.state(), before);
}

// ---------------------------------------------------------------------------------------------
// Pendulum
// ---------------------------------------------------------------------------------------------

TEST(Pendulum, DescribesItsSpacesLikeGymnasium) {
  Pendulum env;
  EXPECT_EQ(env.name(), "pendulum");
  EXPECT_EQ(env.max_episode_steps(), 200);
  EXPECT_EQ(env.action_space(), Space::Box(-2.0f, 2.0f, {1}));
  EXPECT_EQ(env.action_space().ToString(), "Box(-2, 2, (1,))");
  EXPECT_EQ(env.observation_space(), Space::Box({-1.0f, -1.0f, -8.0f}, {1.0f, 1.0f, 8.0f}, {3}));
}

TEST(Pendulum, ResetIsDeterministicPerSeedAndDrawsThetaThenThetaDot) {
  Pendulum a, b;
  const auto oa = a.Reset(7);
  const auto ob = b.Reset(7);
  ASSERT_EQ(oa.size(), 3u);
  EXPECT_TRUE(std::equal(oa.begin(), oa.end(), ob.begin(), ob.end()));
  // Rng(7): theta = Uniform(-pi, pi), then theta_dot = Uniform(-1, 1).
  EXPECT_EQ(a.state()[0], -2.7937527725100817);
  EXPECT_EQ(a.state()[1], -0.6557682911037646);
  EXPECT_EQ(oa[0], static_cast<float>(std::cos(-2.7937527725100817)));
  EXPECT_EQ(oa[1], static_cast<float>(std::sin(-2.7937527725100817)));
  EXPECT_EQ(oa[2], static_cast<float>(-0.6557682911037646));

  Pendulum c;
  c.Reset(8);
  EXPECT_NE(c.state(), a.state());
  for (uint64_t seed = 0; seed < 200; ++seed) {
    const auto obs = c.Reset(seed);
    EXPECT_GE(c.state()[0], -std::numbers::pi);
    EXPECT_LT(c.state()[0], std::numbers::pi);
    EXPECT_GE(c.state()[1], -1.0);
    EXPECT_LT(c.state()[1], 1.0);
    EXPECT_TRUE(c.observation_space().CheckObservation(obs).ok());
  }
}

TEST(Pendulum, TrajectoryAndRewardsMatchTheEquations) {
  Pendulum env;
  env.set_state({1.0, 0.5});
  const float torques[] = {2.0f, -1.5f, 0.25f, 0.0f, -2.0f, 1.0f};
  // (theta, theta_dot, reward) after each step.
  const double expected[][3] = {
      {1.071555161930296, 1.4311032386059224, -1.029},
      {1.1647833031404466, 1.864562824203012, -1.3552861130142986},
      {1.294337798424734, 2.5910899056857475, -1.7044420958147615},
      {1.4599683480279522, 3.312610992064365, -2.3466850263656447},
      {1.6478688299997535, 3.758009639436025, -3.2328467357180335},
      {1.8806579888928663, 4.655783177862255, -4.128735325894165},
  };
  for (int i = 0; i < 6; ++i) {
    const StepResult r = env.Step(Torque(torques[i]));
    EXPECT_NEAR(env.state()[0], expected[i][0], kTol) << "step " << i + 1;
    EXPECT_NEAR(env.state()[1], expected[i][1], kTol) << "step " << i + 1;
    EXPECT_NEAR(r.reward, expected[i][2], kTol) << "step " << i + 1;
    EXPECT_FALSE(r.terminated);
    EXPECT_FALSE(r.truncated);
    ASSERT_EQ(r.observation.size(), 3u);
    EXPECT_EQ(r.observation[0], static_cast<float>(std::cos(env.state()[0])));
    EXPECT_EQ(r.observation[1], static_cast<float>(std::sin(env.state()[0])));
    EXPECT_EQ(r.observation[2], static_cast<float>(env.state()[1]));
  }
}

TEST(Pendulum, AngleNormalizeUsesPythonsFlooredModulo) {
  const double pi = std::numbers::pi;
  EXPECT_NEAR(Pendulum::AngleNormalize(3 * pi / 2), -1.5707963267948966, kTol);
  EXPECT_NEAR(Pendulum::AngleNormalize(-3 * pi / 2), 1.5707963267948966, kTol);
  EXPECT_EQ(Pendulum::AngleNormalize(pi), -pi);  // the upper end wraps to -pi
  EXPECT_EQ(Pendulum::AngleNormalize(-pi), -pi);
  EXPECT_EQ(Pendulum::AngleNormalize(0.0), 0.0);
  EXPECT_NEAR(Pendulum::AngleNormalize(7.0), 0.7168146928204138, kTol);
  EXPECT_NEAR(Pendulum::AngleNormalize(-7.0), -0.7168146928204138, kTol);
  EXPECT_NEAR(Pendulum::AngleNormalize(100.0), -0.5309649148733762, kTol);
}

TEST(Pendulum, CostUsesTheNormalisedAngleOfTheStateBeforeTheStep) {
  Pendulum env;
  env.set_state({4.0, 1.0});
  // -( (4 - 2 pi)^2 + 0.1 * 1^2 + 0.001 * 0.5^2 )
  const StepResult r = env.Step(Torque(0.5f));
  EXPECT_NEAR(r.reward, -5.313185146920741, kTol);
  EXPECT_NEAR(env.state()[0], 4.0253699064259525, kTol);  // theta is not wrapped
  EXPECT_NEAR(env.state()[1], 0.5073981285190539, kTol);

  // Upright and still with no torque costs nothing.
  env.set_state({0.0, 0.0});
  EXPECT_EQ(env.Step(Torque(0.0f)).reward, 0.0);
  // One full turn away is the same angle.
  env.set_state({2 * std::numbers::pi, 0.0});
  EXPECT_NEAR(env.Step(Torque(0.0f)).reward, 0.0, 1e-24);
}

TEST(Pendulum, ClipsAngularVelocityAtPlusMinus8) {
  Pendulum env;
  env.set_state({0.0, 7.9});  // 7.9 + 3 * 2 * 0.05 = 8.2 -> 8
  StepResult r = env.Step(Torque(2.0f));
  EXPECT_EQ(env.state()[1], 8.0);
  EXPECT_NEAR(env.state()[0], 0.4, kTol);  // the clipped velocity moves theta
  EXPECT_NEAR(r.reward, -6.245, kTol);     // cost uses the velocity before the step
  EXPECT_EQ(r.observation[2], 8.0f);

  env.set_state({0.0, -7.9});
  r = env.Step(Torque(-2.0f));
  EXPECT_EQ(env.state()[1], -8.0);
  EXPECT_NEAR(env.state()[0], -0.4, kTol);

  env.set_state({std::numbers::pi / 2, 7.0});  // gravity and torque together
  r = env.Step(Torque(2.0f));
  EXPECT_EQ(env.state()[1], 8.0);
  EXPECT_NEAR(env.state()[0], 1.9707963267948965, kTol);
  EXPECT_NEAR(r.reward, -7.371401100272339, kTol);
}

TEST(Pendulum, NeverTerminatesAndTruncatesExactlyAtStep200) {
  Pendulum env;
  env.Reset(3);
  for (int i = 1; i < 200; ++i) {
    const StepResult r = env.Step(Torque(i % 3 == 0 ? -2.0f : 1.0f));
    ASSERT_FALSE(r.terminated) << "step " << i;
    ASSERT_FALSE(r.truncated) << "step " << i;
  }
  EXPECT_EQ(env.elapsed_steps(), 199);
  const StepResult r = env.Step(Torque(0.0f));
  EXPECT_FALSE(r.terminated);
  EXPECT_TRUE(r.truncated);
  EXPECT_EQ(env.elapsed_steps(), 200);
  EXPECT_EQ(ThrownMessage([&] { env.Step(Torque(0.0f)); }),
            "pendulum: step() called after the episode ended; call reset() first");
  env.Reset(3);
  EXPECT_EQ(env.elapsed_steps(), 0);
  EXPECT_NO_THROW(env.Step(Torque(0.0f)));
}

TEST(Pendulum, InvalidActionsThrowAndLeaveTheStateUnchanged) {
  Pendulum env;
  env.Reset(4);
  const Pendulum::State before = env.state();

  const std::string too_big = ThrownMessage([&] { env.Step(Torque(2.5f)); });
  EXPECT_TRUE(StartsWith(too_big, "pendulum: action component 0 = 2.5 is outside [-2, 2]"))
      << too_big;
  const std::string nan = ThrownMessage([&] { env.Step(Torque(NAN)); });
  EXPECT_TRUE(StartsWith(nan, "pendulum: action component 0 = nan")) << nan;
  const std::string inf = ThrownMessage([&] { env.Step(Torque(-INFINITY)); });
  EXPECT_TRUE(StartsWith(inf, "pendulum: action component 0 = -inf")) << inf;
  const float two[] = {0.0f, 0.0f};
  EXPECT_EQ(ThrownMessage([&] { env.Step(Action::Continuous(two)); }),
            "pendulum: action has 2 components; Box(-2, 2, (1,)) needs 1");
  EXPECT_EQ(ThrownMessage([&] { env.Step(Action::Continuous(std::span<const float>())); }),
            "pendulum: action has 0 components; Box(-2, 2, (1,)) needs 1");
  const std::string discrete = ThrownMessage([&] { env.Step(Action::Discrete(1)); });
  EXPECT_TRUE(StartsWith(discrete, "pendulum: expected a continuous action")) << discrete;

  EXPECT_EQ(env.state(), before);
  EXPECT_EQ(env.elapsed_steps(), 0);
  // The bounds themselves are valid.
  EXPECT_NO_THROW(env.Step(Torque(2.0f)));
  EXPECT_NO_THROW(env.Step(Torque(-2.0f)));
}

TEST(Pendulum, StepBeforeResetThrows) {
  Pendulum env;
  const std::string message = ThrownMessage([&] { env.Step(Torque(0.0f)); });
  EXPECT_TRUE(StartsWith(message, "pendulum: ")) << message;
  EXPECT_NE(message.find("reset"), std::string::npos) << message;
}

TEST(Pendulum, CloneIsIndependentAndContinuesIdentically) {
  Pendulum env;
  env.Reset(12);
  env.Step(Torque(1.0f));
  const std::unique_ptr<Env> clone = env.Clone();
  const Pendulum::State before = env.state();
  const float torques[] = {-2.0f, 0.5f, 1.75f};
  for (float u : torques) clone->Step(Torque(u));
  EXPECT_EQ(env.state(), before);
  EXPECT_EQ(env.elapsed_steps(), 1);
  for (float u : torques) env.Step(Torque(u));
  EXPECT_EQ(env.state(), dynamic_cast<const Pendulum&>(*clone).state());
  EXPECT_EQ(clone->elapsed_steps(), 4);
}

// ---------------------------------------------------------------------------------------------
// Registry
// ---------------------------------------------------------------------------------------------

TEST(Registry, ListsTheKnownEnvironments) {
  EXPECT_EQ(EnvNames(), std::vector<std::string>({"cartpole", "connect-four", "gridworld",
                                                  "mujoco", "mujoco-cartpole", "mujoco-pusher",
                                                  "mujoco-reacher", "pendulum", "remote"}));
}

TEST(Registry, MakesEveryListedEnvironmentByName) {
  for (const std::string& name : EnvNames()) {
    Result<std::unique_ptr<Env>> env = MakeEnv(name);
    if (name == "mujoco") {  // any model file, and none by default: says so
      ASSERT_FALSE(env.ok());
      EXPECT_NE(env.status().message().find("needs a model file"), std::string::npos);
      continue;
    }
    if (name == "remote") {  // served by another process: with none there, says so in time
      env = MakeEnv(name, {{"address", "tcp://127.0.0.1:1"}, {"timeout_ms", "200"}});
      ASSERT_FALSE(env.ok());
      EXPECT_NE(env.status().message().find("hello: no reply within 200 ms"), std::string::npos)
          << env.status().message();
      continue;
    }
    ASSERT_TRUE(env.ok()) << name;
    ASSERT_NE(*env, nullptr);
    EXPECT_EQ((*env)->name(), name);
    const auto obs = (*env)->Reset(1);
    EXPECT_TRUE((*env)->observation_space().CheckObservation(obs).ok()) << name;
  }
  EXPECT_NE(dynamic_cast<CartPole*>(MakeEnv("cartpole")->get()), nullptr);
  EXPECT_NE(dynamic_cast<Pendulum*>(MakeEnv("pendulum")->get()), nullptr);
}

TEST(Registry, UnknownNameIsNotFoundAndListsTheKnownOnes) {
  const Result<std::unique_ptr<Env>> env = MakeEnv("mountaincar");
  ASSERT_FALSE(env.ok());
  EXPECT_EQ(env.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(env.status().message(),
            "unknown environment 'mountaincar' (known: cartpole, connect-four, gridworld, mujoco, "
            "mujoco-cartpole, mujoco-pusher, mujoco-reacher, pendulum, remote)");
  EXPECT_EQ(MakeEnv("CartPole").status().code(), StatusCode::kNotFound);
}

// ---------------------------------------------------------------------------------------------
// VectorEnv
// ---------------------------------------------------------------------------------------------

// N CartPoles stepped together equal N CartPoles stepped one by one, with Gymnasium's next-step
// autoreset: the step after an episode ends resets that sub-env (its action ignored) and reports
// reward 0 and no flags.
TEST(VectorEnv, StepsLikeSeparateEnvsWithNextStepAutoreset) {
  constexpr int64_t kN = 3;
  VectorEnv vec(CartPole(), kN);
  std::vector<CartPole> ref(kN);
  std::vector<Rng> reset_seeds;
  const std::span<const float> first = vec.Reset(40);
  for (int64_t i = 0; i < kN; ++i) {
    const std::span<const float> obs = ref[i].Reset(40 + static_cast<uint64_t>(i));
    reset_seeds.emplace_back(MixSeed(40, static_cast<uint64_t>(i)));
    for (int64_t k = 0; k < 4; ++k) EXPECT_EQ(first[i * 4 + k], obs[k]);
  }
  std::vector<bool> ended(kN, false);
  Rng rng(2);
  int resets = 0;
  for (int t = 0; t < 400; ++t) {
    std::vector<Action> actions;
    for (int64_t i = 0; i < kN; ++i) actions.push_back(Action::Discrete(rng.Below(2)));
    const VectorEnv::Batch b = vec.Step(actions);
    for (int64_t i = 0; i < kN; ++i) {
      std::vector<float> want;
      double reward = 0;
      bool terminated = false, truncated = false;
      if (ended[i]) {
        const std::span<const float> obs = ref[i].Reset(reset_seeds[i].Next());
        want.assign(obs.begin(), obs.end());
        ended[i] = false;
        ++resets;
      } else {
        const StepResult r = ref[i].Step(actions[i]);
        want.assign(r.observation.begin(), r.observation.end());
        reward = r.reward;
        terminated = r.terminated;
        truncated = r.truncated;
        ended[i] = r.done();
      }
      for (int64_t k = 0; k < 4; ++k) ASSERT_EQ(b.observations[i * 4 + k], want[k]) << t << " " << i;
      ASSERT_EQ(b.rewards[i], reward);
      ASSERT_EQ(b.terminated[i] != 0, terminated);
      ASSERT_EQ(b.truncated[i] != 0, truncated);
    }
  }
  EXPECT_GT(resets, 5);  // random play ends CartPole episodes in tens of steps
}

TEST(VectorEnv, RefusesAStepBeforeResetTheWrongNumberOfActionsAndBadActions) {
  VectorEnv vec(CartPole(), 2);
  const std::vector<Action> two = {Action::Discrete(0), Action::Discrete(1)};
  EXPECT_THROW(vec.Step(two), InvalidArgument);
  vec.Reset(1);
  EXPECT_THROW(vec.Step(std::vector<Action>{Action::Discrete(0)}), InvalidArgument);
  try {
    vec.Step(std::vector<Action>{Action::Discrete(0), Action::Discrete(7)});
    ADD_FAILURE() << "a bad action was accepted";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("sub-env 1"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace apprentice
