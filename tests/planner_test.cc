#include <gtest/gtest.h>

#include <cmath>

#include "core/clock.h"
#include "env/cartpole.h"
#include "env/pendulum.h"
#include "planner/mcts.h"
#include "planner/registry.h"

namespace apprentice {
namespace {

// A one-step episode over Discrete(3): action 2 pays 1, the others 0. The smallest env on which
// a planner must find the better action.
class ThreeArmedBandit : public Env {
 public:
  std::string name() const override { return "bandit"; }
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
    return {obs_, action.index() == 2 ? 1.0 : 0.0, /*terminated=*/true, /*truncated=*/false};
  }
  std::unique_ptr<Env> Clone() const override { return std::make_unique<ThreeArmedBandit>(*this); }
  Status CopyStateFrom(const Env& other) override {
    steps_ = dynamic_cast<const ThreeArmedBandit&>(other).steps_;
    return Status::Ok();
  }
  int64_t elapsed_steps() const override { return steps_; }

 private:
  Space obs_space_ = Space::Box(0.0f, 1.0f, {1});
  Space action_space_ = Space::Discrete(3);
  std::array<float, 1> obs_{0.0f};
  int64_t steps_ = 0;
};

PlanRequest RequestFor(const Env& env, std::span<const float> obs, uint64_t seed) {
  PlanRequest r;
  r.observation = obs;
  r.env = &env;
  r.seed = seed;
  return r;
}

TEST(MctsPlanner, PutsMostVisitsOnTheRewardingAction) {
  ThreeArmedBandit env;
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

TEST(PlannerRegistry, UnknownNameIsNotFound) {
  const auto p = MakePlanner("oracle", {});
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), StatusCode::kNotFound);
  EXPECT_NE(p.status().message().find("unknown planner 'oracle' (known: mcts)"),
            std::string::npos);
  EXPECT_TRUE(MakePlanner("mcts", {}).ok());
}

}  // namespace
}  // namespace apprentice
