#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <functional>

#include "core/clock.h"
#include "env/cartpole.h"
#include "env/pendulum.h"
#include "planner/cem.h"
#include "planner/ensemble.h"
#include "planner/lqr.h"
#include "planner/mcts.h"
#include "planner/mppi.h"
#include "planner/registry.h"

namespace apprentice {
namespace {

// A one-step episode: one action, its reward, the end. The smallest env on which a planner must
// find the better action.
class OneStepEnv : public Env {
 public:
  OneStepEnv(Space action_space, std::function<double(const Action&)> reward)
      : action_space_(std::move(action_space)), reward_(std::move(reward)) {}
  std::string name() const override { return "one-step"; }
  const Space& observation_space() const override { return obs_space_; }
  const Space& action_space() const override { return action_space_; }
  int64_t max_episode_steps() const override { return 1; }
  std::span<const float> Reset(uint64_t) override {
    steps_ = 0;
    return obs_;
  }
  StepResult Step(const Action& action) override {
    RequireOk(action_space_.Check(action));
    ++steps_;
    return {obs_, reward_(action), /*terminated=*/true, /*truncated=*/false};
  }
  std::unique_ptr<Env> Clone() const override { return std::make_unique<OneStepEnv>(*this); }
  Status CopyStateFrom(const Env& other) override {
    steps_ = dynamic_cast<const OneStepEnv&>(other).steps_;
    return Status::Ok();
  }
  int64_t elapsed_steps() const override { return steps_; }

 private:
  Space obs_space_ = Space::Box(0.0f, 1.0f, {1});
  Space action_space_;
  std::function<double(const Action&)> reward_;
  std::array<float, 1> obs_{0.0f};
  int64_t steps_ = 0;
};

// Discrete(3): action 2 pays 1, the others 0.
OneStepEnv ThreeArmedBandit() {
  return OneStepEnv(Space::Discrete(3), [](const Action& a) { return a.index() == 2 ? 1.0 : 0.0; });
}

// Box(-1, 1, (2,)): the reward is highest at (0.6, -0.3).
OneStepEnv QuadraticBowl() {
  return OneStepEnv(Space::Box(-1.0f, 1.0f, {2}), [](const Action& a) {
    const double dx = a.values()[0] - 0.6, dy = a.values()[1] + 0.3;
    return -(dx * dx + dy * dy);
  });
}

PlanRequest RequestFor(const Env& env, std::span<const float> obs, uint64_t seed) {
  PlanRequest r;
  r.observation = obs;
  r.env = &env;
  r.seed = seed;
  return r;
}

TEST(MctsPlanner, PutsMostVisitsOnTheRewardingAction) {
  OneStepEnv env = ThreeArmedBandit();
  const auto obs = env.Reset(0);
  MctsPlanner planner({/*simulations=*/200});
  const PlanDecision d = planner.Plan(RequestFor(env, obs, 1)).ValueOrThrow();
  EXPECT_EQ(d.action.index(), 2);
  const auto& logits = d.distribution.logits;
  EXPECT_GT(std::exp(logits[2]), 0.6f);
  // The logits are log-probabilities: no renormalisation needed.
  EXPECT_NEAR(std::exp(logits[0]) + std::exp(logits[1]) + std::exp(logits[2]), 1.0f, 1e-5);
  EXPECT_GT(d.value, 0.5);
  EXPECT_GT(d.latency_ns, 0);
}

TEST(MctsPlanner, SameSeedGivesSameDecision) {
  CartPole env;
  const auto obs = env.Reset(3);
  MctsPlanner a({}), b({});
  const PlanDecision x = a.Plan(RequestFor(env, obs, 11)).ValueOrThrow();
  const PlanDecision y = b.Plan(RequestFor(env, obs, 11)).ValueOrThrow();
  EXPECT_EQ(x.action, y.action);
  EXPECT_EQ(x.distribution.logits, y.distribution.logits);
  EXPECT_EQ(x.value, y.value);
}

TEST(MctsPlanner, LeavesTheRequestEnvUntouched) {
  CartPole env;
  const auto obs = env.Reset(5);
  const auto before = env.state();
  MctsPlanner planner({});
  ASSERT_TRUE(planner.Plan(RequestFor(env, obs, 1)).ok());
  EXPECT_EQ(env.state(), before);
  EXPECT_EQ(env.elapsed_steps(), 0);
}

TEST(MctsPlanner, BalancesCartPoleForAWholeEpisode) {
  CartPole env;
  auto obs = env.Reset(7);
  MctsPlanner planner({});
  double ret = 0;
  for (uint64_t t = 0;; ++t) {
    const PlanDecision d = planner.Plan(RequestFor(env, obs, t)).ValueOrThrow();
    const StepResult r = env.Step(d.action);
    ret += r.reward;
    if (r.done()) break;
    obs = r.observation;
  }
  EXPECT_GE(ret, 475.0);
}

TEST(MctsPlanner, WithoutEnvIsAnError) {
  MctsPlanner planner({});
  const float obs[] = {0, 0, 0, 0};
  PlanRequest r;
  r.observation = obs;
  const auto result = planner.Plan(r);
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.status().message().find("needs the environment"), std::string::npos);
}

TEST(MctsPlanner, RejectsContinuousActionSpaces) {
  Pendulum env;
  const auto obs = env.Reset(0);
  MctsPlanner planner({});
  EXPECT_FALSE(planner.Supports(env.action_space()).ok());
  const auto result = planner.Plan(RequestFor(env, obs, 0));
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.status().message().find("discrete"), std::string::npos);
}

TEST(MctsPlanner, StopsAtAPassedDeadlineAfterTryingEveryAction) {
  CartPole env;
  const auto obs = env.Reset(1);
  MctsPlanner planner({/*simulations=*/100000});
  PlanRequest r = RequestFor(env, obs, 1);
  r.deadline_ns = NowNs() - 1;
  const PlanDecision d = planner.Plan(r).ValueOrThrow();
  EXPECT_EQ(planner.last_simulations(), 3);
  EXPECT_FLOAT_EQ(std::exp(d.distribution.logits[0]), 0.5f);
  EXPECT_FLOAT_EQ(std::exp(d.distribution.logits[1]), 0.5f);
}

TEST(MctsPlanner, OptionsAreValidated) {
  EXPECT_THROW(MctsPlanner({/*simulations=*/0}), InvalidArgument);
  MctsPlanner::Options o;
  o.discount = 1.5;
  EXPECT_FALSE(o.Validate().ok());
}

// ---- Sampling planners: MPPI and CEM ----

std::unique_ptr<Planner> Sampling(const std::string& name, OptionValues options = {}) {
  return MakePlanner(name, options).ValueOrThrow();
}

TEST(SamplingPlanners, FindTheBestActionOfABowl) {
  OneStepEnv env = QuadraticBowl();
  const std::span<const float> obs = env.Reset(1);
  // MPPI keeps its noise: the plan is a weighted mean of samples drawn with std 0.5, near the
  // best action, its spread well inside the noise, its value the samples' weighted return.
  const auto mppi = Sampling("mppi", {{"samples", "256"}, {"iterations", "6"}, {"horizon", "1"}});
  const PlanDecision m = mppi->Plan(RequestFor(env, obs, 3)).ValueOrThrow();
  EXPECT_NEAR(m.action.values()[0], 0.6, 0.15);
  EXPECT_NEAR(m.action.values()[1], -0.3, 0.15);
  ASSERT_EQ(m.distribution.kind, PolicyKind::kGaussian);
  EXPECT_EQ(m.distribution.mean[0], m.action.values()[0]);
  EXPECT_LT(m.distribution.log_std[0], std::log(0.5));
  EXPECT_GT(m.value, -0.3);
  // CEM refits its noise to the elites: more iterations concentrate it on the best action.
  const auto wide = Sampling("cem", {{"samples", "256"}, {"iterations", "1"}, {"horizon", "1"}});
  const auto narrow = Sampling("cem", {{"samples", "256"}, {"iterations", "6"}, {"horizon", "1"}});
  const PlanDecision w = wide->Plan(RequestFor(env, obs, 3)).ValueOrThrow();
  const PlanDecision c = narrow->Plan(RequestFor(env, obs, 3)).ValueOrThrow();
  EXPECT_NEAR(c.action.values()[0], 0.6, 0.03);
  EXPECT_NEAR(c.action.values()[1], -0.3, 0.03);
  EXPECT_LT(c.distribution.log_std[0], w.distribution.log_std[0]);
  EXPECT_GT(c.value, -0.01);
}

TEST(SamplingPlanners, SwingUpPendulumFromEverySeed) {
  // Pendulum-v1 is "solved" around -200 (Gymnasium's leaderboard); every start, upright or not.
  for (const std::string name : {"mppi", "cem"}) {
    const auto planner = Sampling(name);
    Pendulum env;
    double total = 0;
    constexpr int kEpisodes = 5;
    for (int e = 0; e < kEpisodes; ++e) {
      std::span<const float> obs = env.Reset(100 + e);
      double ret = 0;
      for (int64_t t = 0;; ++t) {
        PlanRequest r = RequestFor(env, obs, 7 * t + e);
        r.episode = e;
        r.step = t;
        const PlanDecision d = planner->Plan(r).ValueOrThrow();
        const StepResult s = env.Step(d.action);
        ret += s.reward;
        obs = s.observation;
        if (s.done()) break;
      }
      total += ret;
    }
    EXPECT_GT(total / kEpisodes, -200.0) << name;
  }
}

TEST(SamplingPlanners, WarmStartContinuesTheEpisodesPlanShiftedByTheStepsSince) {
  auto planner = MakePlanner("mppi").ValueOrThrow();
  auto& mppi = dynamic_cast<MppiPlanner&>(*planner);
  Pendulum env;
  std::span<const float> obs = env.Reset(5);
  PlanRequest r = RequestFor(env, obs, 1);
  r.episode = 4;
  r.step = 0;
  const PlanDecision first = mppi.Plan(r).ValueOrThrow();
  EXPECT_FALSE(mppi.last_warm());
  obs = env.Step(first.action).observation;
  r = RequestFor(env, obs, 2);
  r.episode = 4;
  r.step = 1;
  ASSERT_TRUE(mppi.Plan(r).ok());
  EXPECT_TRUE(mppi.last_warm());
  r.step = 5;  // steps were skipped (a label budget): still its plan, shifted further
  ASSERT_TRUE(mppi.Plan(r).ok());
  EXPECT_TRUE(mppi.last_warm());
  for (auto [episode, step] : {std::pair<int64_t, int64_t>{5, 6}, {4, -1}, {4, 3}, {4, 200}}) {
    r.episode = episode;
    r.step = step;
    ASSERT_TRUE(mppi.Plan(r).ok());
    EXPECT_FALSE(mppi.last_warm()) << episode << " " << step;
  }
}

TEST(SamplingPlanners, ThreadsChangeTheSpeedNotTheDecision) {
  for (const std::string name : {"mppi", "cem"}) {
    Pendulum env;
    std::span<const float> obs = env.Reset(9);
    const auto one = Sampling(name, {{"threads", "1"}});
    const auto three = Sampling(name, {{"threads", "3"}});
    for (int t = 0; t < 5; ++t) {
      PlanRequest r = RequestFor(env, obs, 11 + t);
      r.episode = 0;
      r.step = t;
      const PlanDecision a = one->Plan(r).ValueOrThrow();
      const PlanDecision b = three->Plan(r).ValueOrThrow();
      EXPECT_EQ(a.distribution.mean, b.distribution.mean) << name;
      EXPECT_EQ(a.distribution.log_std, b.distribution.log_std) << name;
      EXPECT_EQ(a.value, b.value) << name;
      obs = env.Step(a.action).observation;
    }
  }
}

TEST(SamplingPlanners, ADeadlineCutsTheSearchAndItStillAnswers) {
  Pendulum env;
  const std::span<const float> obs = env.Reset(2);
  auto planner = MakePlanner("cem", {{"iterations", "1000000"}}).ValueOrThrow();
  PlanRequest r = RequestFor(env, obs, 1);
  r.deadline_ns = NowNs() - 1;  // already passed: only the nominal's rollout runs
  const PlanDecision d = planner->Plan(r).ValueOrThrow();
  EXPECT_TRUE(env.action_space().Check(d.action).ok());
  EXPECT_EQ(dynamic_cast<CemPlanner&>(*planner).last_rollouts(), 1);
  EXPECT_EQ(dynamic_cast<CemPlanner&>(*planner).last_iterations(), 1);
}

TEST(SamplingPlanners, BadOptionsAndRequestsAreRefusedWithTheReason) {
  for (const auto& [key, value, message] :
       {std::tuple<std::string, std::string, std::string>{"samples", "1", "samples"},
        {"horizon", "0", "horizon"},
        {"noise", "0", "noise"},
        {"threads", "0", "threads"},
        {"discount", "1.5", "discount"}}) {
    for (const std::string name : {"mppi", "cem"}) {
      const auto made = MakePlanner(name, {{key, value}});
      ASSERT_FALSE(made.ok()) << name << " " << key;
      EXPECT_NE(made.status().message().find(message), std::string::npos) << made.status().message();
    }
  }
  EXPECT_FALSE(MakePlanner("mppi", {{"samples", "100000"}, {"horizon", "1000"}}).ok());
  EXPECT_FALSE(MakePlanner("cem", {{"samples", "16"}, {"elites", "17"}}).ok());
  // No env, a Discrete env, an ended episode: a Status each, never an exception.
  auto mppi = Sampling("mppi");
  Pendulum env;
  const std::span<const float> obs = env.Reset(1);
  PlanRequest no_env = RequestFor(env, obs, 1);
  no_env.env = nullptr;
  EXPECT_FALSE(mppi->Plan(no_env).ok());
  CartPole cartpole;
  const std::span<const float> cobs = cartpole.Reset(1);
  EXPECT_FALSE(mppi->Plan(RequestFor(cartpole, cobs, 1)).ok());
  Pendulum ended(Pendulum::Options{10.0, 1});
  const std::span<const float> eobs = ended.Reset(1);
  ended.Step(Action::Continuous(std::vector<float>{0.0f}));
  const Result<PlanDecision> d = mppi->Plan(RequestFor(ended, eobs, 1));
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.status().message().find("rollout failed"), std::string::npos) << d.status().message();
}

// ---- LqrPlanner ----

using Vec4 = LqrPlanner::Vec4;
using Mat4 = LqrPlanner::Mat4;

Vec4 Apply(const Mat4& m, const Vec4& v) {
  Vec4 out{};
  for (int i = 0; i < 4; ++i) {
    for (int j = 0; j < 4; ++j) out[i] += m[i][j] * v[j];
  }
  return out;
}

double Norm(const Vec4& v) {
  return std::sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2] + v[3] * v[3]);
}

TEST(LqrPlanner, LinearisationMatchesTheSimulatorNearUpright) {
  const LqrPlanner::LinearModel model = LqrPlanner::LineariseCartPole();
  CartPole env;
  auto step = [&](const CartPole::State& s, int64_t a) {
    env.set_state(s);
    env.Step(Action::Discrete(a));
    return env.state();
  };
  // B from the two pushes at rest (the step is linear in the force there).
  const CartPole::State rest{};
  const CartPole::State right = step(rest, 1), left = step(rest, 0);
  for (int i = 0; i < 4; ++i) {
    EXPECT_NEAR(model.b[i], (right[i] - left[i]) / (2 * CartPole::kForceMag), 1e-12) << i;
  }
  // A by central differences, averaging the two pushes to cancel the force.
  const double eps = 1e-6;
  for (int j = 0; j < 4; ++j) {
    CartPole::State plus{}, minus{};
    plus[j] = eps;
    minus[j] = -eps;
    for (int i = 0; i < 4; ++i) {
      const double d =
          (step(plus, 0)[i] + step(plus, 1)[i] - step(minus, 0)[i] - step(minus, 1)[i]) / (4 * eps);
      EXPECT_NEAR(model.a[i][j], d, 1e-7) << "A[" << i << "][" << j << "]";
    }
  }
}

TEST(LqrPlanner, RiccatiSolutionIsSymmetricPositiveDefiniteAndStabilising) {
  const LqrPlanner planner({});
  const Mat4& p = planner.riccati().p;
  for (int i = 0; i < 4; ++i) {
    for (int j = 0; j < 4; ++j) EXPECT_DOUBLE_EQ(p[i][j], p[j][i]);
  }
  // Positive definite: every leading principal minor is positive (Sylvester).
  const double m1 = p[0][0];
  const double m2 = p[0][0] * p[1][1] - p[0][1] * p[1][0];
  auto det3 = [](const Mat4& m) {
    return m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) -
           m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0]) +
           m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
  };
  double m4 = 0.0;  // Laplace expansion along the first row
  for (int c = 0; c < 4; ++c) {
    Mat4 minor{};
    for (int i = 1; i < 4; ++i) {
      for (int j = 0, k = 0; j < 4; ++j) {
        if (j != c) minor[i - 1][k++] = p[i][j];
      }
    }
    m4 += (c % 2 ? -1.0 : 1.0) * p[0][c] * det3(minor);
  }
  EXPECT_GT(m1, 0.0);
  EXPECT_GT(m2, 0.0);
  EXPECT_GT(det3(p), 0.0);
  EXPECT_GT(m4, 0.0);

  // The closed loop A - BK is stable: every state decays under it.
  const auto& model = planner.model();
  const Vec4& k = planner.riccati().k;
  Mat4 closed = model.a;
  for (int i = 0; i < 4; ++i) {
    for (int j = 0; j < 4; ++j) closed[i][j] -= model.b[i] * k[j];
  }
  for (int j = 0; j < 4; ++j) {
    Vec4 x{};
    x[j] = 1.0;
    for (int t = 0; t < 5000; ++t) x = Apply(closed, x);
    EXPECT_LT(Norm(x), 1e-3) << "unit state " << j;
  }
  // P satisfies the Riccati equation it was iterated to.
  const Vec4 pb = Apply(p, model.b);
  double bpb = 0.0;
  for (int i = 0; i < 4; ++i) bpb += model.b[i] * pb[i];
  const double s = planner.options().r + bpb;
  for (int i = 0; i < 4; ++i) {
    for (int j = 0; j < 4; ++j) {
      double apa = 0.0;
      for (int u = 0; u < 4; ++u) {
        for (int v = 0; v < 4; ++v) apa += model.a[u][i] * p[u][v] * model.a[v][j];
      }
      double apb_i = 0.0, apb_j = 0.0;
      for (int u = 0; u < 4; ++u) {
        apb_i += model.a[u][i] * pb[u];
        apb_j += model.a[u][j] * pb[u];
      }
      const double rhs = (i == j ? planner.options().q[i] : 0.0) + apa - apb_i * apb_j / s;
      EXPECT_NEAR(p[i][j], rhs, 1e-6 * std::abs(p[i][j]) + 1e-9);
    }
  }
}

TEST(LqrPlanner, BalancesCartPoleFromEverySeed) {
  LqrPlanner planner({});
  for (uint64_t seed : {1, 2, 3, 4, 5}) {
    CartPole env;
    auto obs = env.Reset(seed);
    int64_t steps = 0;
    for (;;) {
      const PlanDecision d = planner.Plan(RequestFor(env, obs, seed)).ValueOrThrow();
      const StepResult r = env.Step(d.action);
      ++steps;
      EXPECT_FALSE(r.terminated) << "seed " << seed << " fell at step " << steps;
      if (r.done()) break;
      obs = r.observation;
    }
    EXPECT_EQ(steps, CartPole::kMaxEpisodeSteps) << "seed " << seed;
  }
}

TEST(LqrPlanner, SameStateGivesIdenticalDecisionsWhateverTheSeed) {
  CartPole env;
  const auto obs = env.Reset(9);
  LqrPlanner a({}), b({});
  const PlanDecision x = a.Plan(RequestFor(env, obs, 1)).ValueOrThrow();
  const PlanDecision y = a.Plan(RequestFor(env, obs, 2)).ValueOrThrow();
  const PlanDecision z = b.Plan(RequestFor(env, obs, 3)).ValueOrThrow();
  for (const PlanDecision* other : {&y, &z}) {
    EXPECT_EQ(x.action, other->action);
    EXPECT_EQ(x.distribution.logits, other->distribution.logits);
    EXPECT_EQ(x.value, other->value);
  }
}

TEST(LqrPlanner, PushesTowardsTheLeanAndLeavesTheEnvUntouched) {
  LqrPlanner planner({});
  CartPole env;
  env.set_state({0.0, 0.0, 0.1, 0.0});  // leaning right by ~6 degrees
  const auto before = env.state();
  const float obs[] = {0.0f, 0.0f, 0.1f, 0.0f};
  const PlanDecision right = planner.Plan(RequestFor(env, obs, 0)).ValueOrThrow();
  EXPECT_EQ(right.action.index(), 1);
  EXPECT_GT(std::exp(right.distribution.logits[1]), 0.99f);
  EXPECT_EQ(env.state(), before);
  EXPECT_EQ(env.elapsed_steps(), 0);

  env.set_state({0.0, 0.0, -0.1, 0.0});
  const PlanDecision left = planner.Plan(RequestFor(env, obs, 0)).ValueOrThrow();
  EXPECT_EQ(left.action.index(), 0);
  EXPECT_LE(left.value, 0.0);
  EXPECT_GT(left.latency_ns, 0);
}

TEST(LqrPlanner, SoftTargetIsALogisticOfTheLqrForceInNewtons) {
  // p(push right) ~= sigmoid(f* / temperature) with f* = -K s: near upright the nonlinear step
  // barely departs from the linear model the identity is exact for.
  LqrPlanner::Options o;
  o.temperature = 0.05;
  LqrPlanner planner(o);
  const Vec4& k = planner.riccati().k;
  CartPole env;
  const float obs[] = {0, 0, 0, 0};
  for (const CartPole::State& s :
       {CartPole::State{0.0, 0.0, 0.002, 0.0}, CartPole::State{0.01, -0.02, -0.001, 0.003},
        CartPole::State{-0.02, 0.0, 0.0, -0.004}}) {
    env.set_state(s);
    const double force = -(k[0] * s[0] + k[1] * s[1] + k[2] * s[2] + k[3] * s[3]);
    const PlanDecision d = planner.Plan(RequestFor(env, obs, 0)).ValueOrThrow();
    const double log_odds = d.distribution.logits[1] - d.distribution.logits[0];
    EXPECT_NEAR(log_odds, force / o.temperature, 1e-3 * std::abs(force / o.temperature) + 1e-4);
    EXPECT_EQ(d.action.index(), force > 0 ? 1 : 0);
  }
}

TEST(LqrPlanner, DistributionIsLogProbabilitiesSummingToOne) {
  LqrPlanner planner({});
  CartPole env;
  auto obs = env.Reset(4);
  for (int t = 0; t < 50; ++t) {
    const PlanDecision d = planner.Plan(RequestFor(env, obs, 0)).ValueOrThrow();
    ASSERT_EQ(d.distribution.logits.size(), 2u);
    EXPECT_NEAR(std::exp(d.distribution.logits[0]) + std::exp(d.distribution.logits[1]), 1.0f,
                1e-5);
    EXPECT_EQ(d.distribution.Mode(), d.action);
    obs = env.Step(d.action).observation;
  }
}

TEST(LqrPlanner, RejectsEnvsThatAreNotCartPole) {
  LqrPlanner planner({});
  OneStepEnv bandit = ThreeArmedBandit();
  const auto obs = bandit.Reset(0);
  const auto result = planner.Plan(RequestFor(bandit, obs, 0));
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(result.status().message().find("cartpole only"), std::string::npos);
  EXPECT_NE(result.status().message().find("'one-step'"), std::string::npos);

  PlanRequest no_env;
  no_env.observation = obs;
  EXPECT_FALSE(planner.Plan(no_env).ok());

  EXPECT_TRUE(planner.Supports(CartPole().action_space()).ok());
  EXPECT_FALSE(planner.Supports(Pendulum().action_space()).ok());
  EXPECT_FALSE(planner.Supports(Space::Discrete(3)).ok());
}

TEST(LqrPlanner, OptionsAreValidated) {
  EXPECT_TRUE(LqrPlanner::Options{}.Validate().ok());
  LqrPlanner::Options o;
  o.q[2] = 0.0;
  EXPECT_EQ(o.Validate().code(), StatusCode::kInvalidArgument);
  EXPECT_THROW(LqrPlanner{o}, InvalidArgument);
  o = {};
  o.r = -1.0;
  EXPECT_FALSE(o.Validate().ok());
  o = {};
  o.temperature = 0.0;
  EXPECT_FALSE(o.Validate().ok());
  o = {};
  o.temperature = std::nan("");
  EXPECT_FALSE(o.Validate().ok());
  o = {};
  o.termination_penalty = -1.0;
  EXPECT_FALSE(o.Validate().ok());

  const auto p = MakePlanner("lqr", {{"r", "0"}});
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(p.status().message(), "planner lqr: r: 0 is out of range [1e-09, 1e+09]");
}

TEST(LqrPlanner, RiccatiReportsNonConvergence) {
  const auto r = LqrPlanner::SolveRiccati(LqrPlanner::LineariseCartPole(), {1, 1, 10, 1}, 0.1,
                                          /*max_iterations=*/2);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("did not converge"), std::string::npos);
}

TEST(PlannerRegistry, UnknownNameIsNotFound) {
  const auto p = MakePlanner("oracle", {});
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), StatusCode::kNotFound);
  EXPECT_NE(p.status().message().find("unknown planner 'oracle' (known: cem, lqr, mcts, mppi)"),
            std::string::npos);
  EXPECT_TRUE(MakePlanner("mcts", {}).ok());
  const auto lqr = MakePlanner("lqr", {});
  ASSERT_TRUE(lqr.ok());
  EXPECT_EQ((*lqr)->name(), "lqr");
}

TEST(PlannerRegistry, PlannersDeclareTheirOptions) {
  const auto entry = Planners().Find("mcts");
  ASSERT_TRUE(entry.ok());
  ASSERT_FALSE((*entry)->options.empty());
  EXPECT_EQ((*entry)->options[0].name, "simulations");
  EXPECT_EQ((*entry)->options[0].default_text, "512");
  // Options reach the planner, and unknown ones are refused by name.
  const auto few = MakePlanner("mcts", {{"simulations", "3"}});
  ASSERT_TRUE(few.ok());
  EXPECT_EQ(static_cast<const MctsPlanner&>(**few).options().simulations, 3);
  const auto bad = MakePlanner("mcts", {{"simulatoins", "3"}});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("planner mcts has no option 'simulatoins'"),
            std::string::npos);
  // Resolved options list every declared option with its value.
  const auto resolved = Planners().Resolve("mcts", {{"exploration", "2"}});
  ASSERT_TRUE(resolved.ok());
  EXPECT_EQ(resolved->ToString(), "simulations=512 exploration=2 rollout=200 discount=0.99");
}

TEST(DelayedPlanner, TakesAtLeastItsDelayAndDecidesAsTheInnerPlanner) {
  CartPole env;
  env.Reset(3);
  const std::vector<float> obs(4, 0.0f);
  PlanRequest request;
  request.observation = obs;
  request.env = &env;
  request.seed = 9;
  const PlanDecision inner = MakePlanner("lqr").ValueOrThrow()->Plan(request).ValueOrThrow();
  const auto delayed = MakePlanner("lqr", {}, /*delay_ms=*/30).ValueOrThrow();
  EXPECT_EQ(delayed->name(), "lqr");
  const auto t0 = std::chrono::steady_clock::now();
  const PlanDecision d = delayed->Plan(request).ValueOrThrow();
  // A lower bound: a sleep never ends early, whatever the machine's load.
  EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(30));
  EXPECT_GE(d.latency_ns, 30'000'000);
  EXPECT_EQ(d.action, inner.action);
  EXPECT_EQ(d.distribution.logits, inner.distribution.logits);
  EXPECT_EQ(d.value, inner.value);
  EXPECT_FALSE(MakePlanner("lqr", {}, /*delay_ms=*/-1).ok());
}

// A teacher that always answers the same decision (or fails), for the ensemble's formulas.
class FixedPlanner : public Planner {
 public:
  FixedPlanner(std::string name, Result<PlanDecision> answer, bool needs_env = false)
      : name_(std::move(name)), answer_(std::move(answer)), needs_env_(needs_env) {}
  std::string name() const override { return name_; }
  bool needs_env() const override { return needs_env_; }
  Status Supports(const Space& space) const override {
    return space.is_discrete() || name_ != "discrete-only"
               ? Status::Ok()
               : Status::InvalidArgument("Discrete actions only");
  }
  Result<PlanDecision> Plan(const PlanRequest& request) override {
    seeds.push_back(request.seed);
    return answer_;
  }
  std::vector<uint64_t> seeds;

 private:
  std::string name_;
  Result<PlanDecision> answer_;
  bool needs_env_;
};

PlanDecision Categorical(std::vector<float> probs, double value) {
  PlanDecision d;
  d.distribution = PolicyOutput::FromProbabilities(probs);
  d.action = d.distribution.Mode();
  d.value = value;
  return d;
}

PlanDecision Gaussian(std::vector<float> mean, std::vector<float> std, std::vector<float> action) {
  PlanDecision d;
  std::vector<float> log_std;
  for (float s : std) log_std.push_back(std::log(s));
  d.distribution = PolicyOutput::Gaussian(mean, log_std);
  d.action = Action::Continuous(action);
  return d;
}

TEST(EnsemblePlanner, AveragesProbabilitiesWithItsWeights) {
  std::vector<EnsemblePlanner::Member> members;
  auto* a = new FixedPlanner("a", Categorical({0.7f, 0.2f, 0.1f}, 1.0));
  auto* b = new FixedPlanner("b", Categorical({0.1f, 0.1f, 0.8f}, 5.0), /*needs_env=*/true);
  members.push_back({std::unique_ptr<Planner>(a), 3.0});
  members.push_back({std::unique_ptr<Planner>(b), 1.0});
  EnsemblePlanner ensemble(std::move(members));
  EXPECT_EQ(ensemble.name(), "ensemble(a:0.75,b:0.25)");
  EXPECT_TRUE(ensemble.needs_env());
  PlanRequest request;
  request.seed = 42;
  const PlanDecision d = ensemble.Plan(request).ValueOrThrow();
  // p = 0.75 (0.7, 0.2, 0.1) + 0.25 (0.1, 0.1, 0.8) = (0.55, 0.175, 0.275).
  const std::vector<float> p = d.distribution.Probabilities();
  ASSERT_EQ(p.size(), 3u);
  EXPECT_NEAR(p[0], 0.55, 1e-6);
  EXPECT_NEAR(p[1], 0.175, 1e-6);
  EXPECT_NEAR(p[2], 0.275, 1e-6);
  EXPECT_EQ(d.action.index(), 0);
  EXPECT_DOUBLE_EQ(d.value, 0.75 * 1.0 + 0.25 * 5.0);
  // Each member drew with its own seed.
  ASSERT_EQ(a->seeds.size(), 1u);
  ASSERT_EQ(b->seeds.size(), 1u);
  EXPECT_NE(a->seeds[0], b->seeds[0]);
}

TEST(EnsemblePlanner, MatchesTheMomentsOfAGaussianMixture) {
  const std::vector<PlanDecision> decisions = {Gaussian({1.0f, 0.0f}, {0.5f, 0.5f}, {1.0f, 0.0f}),
                                               Gaussian({3.0f, 0.0f}, {1.0f, 1.0f}, {2.0f, 0.0f})};
  const PlanDecision d = EnsemblePlanner::Combine(decisions, {0.5, 0.5}).ValueOrThrow();
  // Component 0: mean 2, variance 0.5 (0.25 + 1) + 0.5 (1 + 9) - 4 = 1.625.
  // Component 1: mean 0, variance 0.5 0.25 + 0.5 1 = 0.625.
  ASSERT_EQ(d.distribution.kind, PolicyKind::kGaussian);
  EXPECT_NEAR(d.distribution.mean[0], 2.0, 1e-6);
  EXPECT_NEAR(d.distribution.mean[1], 0.0, 1e-6);
  EXPECT_NEAR(d.distribution.log_std[0], 0.5 * std::log(1.625), 1e-6);
  EXPECT_NEAR(d.distribution.log_std[1], 0.5 * std::log(0.625), 1e-6);
  // The hard label: the weighted mean of the members' actions (the second one clipped its mean).
  EXPECT_NEAR(d.action.values()[0], 1.5, 1e-6);
  EXPECT_NEAR(d.action.values()[1], 0.0, 1e-6);
}

TEST(EnsemblePlanner, RefusesWhatCannotBeCombinedAndNamesTheMember) {
  EXPECT_FALSE(EnsemblePlanner::Combine({Categorical({0.5f, 0.5f}, 0),
                                         Gaussian({0.0f, 0.0f}, {1.0f, 1.0f}, {0.0f, 0.0f})},
                                        {0.5, 0.5})
                   .ok());
  EXPECT_FALSE(EnsemblePlanner::Combine({Categorical({0.5f, 0.5f}, 0),
                                         Categorical({0.2f, 0.3f, 0.5f}, 0)},
                                        {0.5, 0.5})
                   .ok());
  auto single = [] {
    std::vector<EnsemblePlanner::Member> m;
    m.push_back({std::make_unique<FixedPlanner>("a", Categorical({1.0f}, 0)), 1.0});
    return m;
  };
  EXPECT_THROW(EnsemblePlanner{single()}, InvalidArgument);
  std::vector<EnsemblePlanner::Member> zero = single();
  zero.push_back({std::make_unique<FixedPlanner>("b", Categorical({1.0f}, 0)), 0.0});
  EXPECT_THROW(EnsemblePlanner{std::move(zero)}, InvalidArgument);

  std::vector<EnsemblePlanner::Member> failing = single();
  failing.push_back(
      {std::make_unique<FixedPlanner>("broken", Status::Unavailable("no answer")), 1.0});
  EnsemblePlanner with_failure(std::move(failing));
  const Status s = with_failure.Plan(PlanRequest{}).status();
  EXPECT_EQ(s.code(), StatusCode::kUnavailable);
  EXPECT_NE(s.message().find("ensemble member broken: no answer"), std::string::npos) << s.message();

  std::vector<EnsemblePlanner::Member> mixed = single();
  mixed.push_back({std::make_unique<FixedPlanner>("discrete-only", Categorical({1.0f}, 0)), 1.0});
  EnsemblePlanner partial(std::move(mixed));
  EXPECT_TRUE(partial.Supports(Space::Discrete(2)).ok());
  const Status box = partial.Supports(Space::Box(-1.0f, 1.0f, {1}));
  EXPECT_NE(box.message().find("ensemble member discrete-only"), std::string::npos);
}

TEST(PlannerRegistry, ANameListingPlannersMakesAnEnsembleWithItsMembersOptions) {
  CartPole env;
  const std::span<const float> first = env.Reset(3);
  const std::vector<float> obs(first.begin(), first.end());
  auto planner = MakePlanner("lqr,mcts", {{"mcts.simulations", "16"}, {"weights", "3,1"}});
  ASSERT_TRUE(planner.ok()) << planner.status().message();
  EXPECT_EQ((*planner)->name(), "ensemble(lqr:0.75,mcts:0.25)");
  ASSERT_TRUE((*planner)->CanTeach(env).ok());
  PlanRequest request;
  request.observation = obs;
  request.env = &env;
  const PlanDecision d = (*planner)->Plan(request).ValueOrThrow();
  EXPECT_EQ(d.distribution.logits.size(), 2u);
  const OptionValues resolved =
      ResolvePlannerOptions("lqr,mcts", {{"mcts.simulations", "16"}}).ValueOrThrow();
  ASSERT_NE(resolved.Find("mcts.simulations"), nullptr);
  EXPECT_EQ(*resolved.Find("mcts.simulations"), "16");
  EXPECT_NE(resolved.Find("lqr.temperature"), nullptr);
  EXPECT_EQ(*resolved.Find("weights"), "1,1");
  auto message = [](const std::string& name, const OptionValues& o) {
    return MakePlanner(name, o).status().message();
  };
  EXPECT_NE(message("lqr,mcts", {{"weights", "1"}}).find("1 weights for 2 planners"),
            std::string::npos);
  EXPECT_NE(message("lqr,mcts", {{"simulations", "8"}}).find("names no member"), std::string::npos);
  EXPECT_NE(message("lqr,mcts", {{"mcts.simulationz", "8"}}).find("simulationz"),
            std::string::npos);
  EXPECT_EQ(MakePlanner("lqr,oracle").status().code(), StatusCode::kNotFound);
  EXPECT_NE(message("lqr,", {}).find("empty member"), std::string::npos);
  EXPECT_NE(message("lqr,mcts", {{"weights", "1,-1"}}).find("weights"), std::string::npos);
}

}  // namespace
}  // namespace apprentice
