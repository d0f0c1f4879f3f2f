// The conformance suite: the contracts of env/env.h and planner/planner.h, checked on every
// registered environment and on every registered planner with every env it can teach on. A new
// env or planner gets these checks by registering itself; nothing here names the built-in ones.
//
// This file also shows that extensions need no other file: a test-only environment
// ("test-corridor") and planner ("test-lookahead") are written and registered below through the
// public API, run through the suite like the built-in ones, and through the runtime's library
// (RunSync) at the end.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "core/agreement.h"
#include "core/clock.h"
#include "core/rng.h"
#include "env/episode.h"
#include "env/registry.h"
#include "planner/registry.h"
#include "runtime/evaluation.h"
#include "runtime/run.h"
#include "tests/env_server.h"

namespace apprentice {
namespace {

// ---------------------------------------------------------------------------------------------
// A test-only environment: walk a corridor to its right end.
// ---------------------------------------------------------------------------------------------

// Positions 0 .. length-1; the walker starts in the left half (drawn from the seed). Action 0
// steps left (not below 0), action 1 steps right. Reward -1 per step and +10 on reaching the
// right end, which terminates the episode. Observation: [position / (length - 1), 1].
class CorridorEnv : public Env {
 public:
  struct Options {
    int64_t length = 8;
    int64_t max_episode_steps = 50;
    void Declare(OptionBinder& b) {
      b.Int("length", &length, "cells in the corridor", 3, 1000);
      b.Int("max_episode_steps", &max_episode_steps, "steps after which an episode is truncated",
            1, 1'000'000);
    }
    Status Validate() const { return Status::Ok(); }
  };
  explicit CorridorEnv(const Options& o) : length_(o.length), episode_("test-corridor", o.max_episode_steps) {}

  std::string name() const override { return "test-corridor"; }
  const Space& observation_space() const override {
    static const Space space = Space::Box(0.0f, 1.0f, {2});
    return space;
  }
  const Space& action_space() const override {
    static const Space space = Space::Discrete(2);
    return space;
  }
  int64_t max_episode_steps() const override { return episode_.max_steps(); }
  std::span<const float> Reset(uint64_t seed) override {
    Rng rng(seed);
    position_ = static_cast<int64_t>(rng.Below(static_cast<uint64_t>(length_ / 2)));
    episode_.Begin();
    Write();
    return observation_;
  }
  StepResult Step(const Action& action) override {
    episode_.CheckStep(action_space(), action);
    position_ = std::clamp<int64_t>(position_ + (action.index() == 1 ? 1 : -1), 0, length_ - 1);
    StepResult r;
    r.terminated = position_ == length_ - 1;
    r.reward = r.terminated ? 9.0 : -1.0;
    episode_.EndStep(r);
    Write();
    r.observation = observation_;
    return r;
  }
  std::unique_ptr<Env> Clone() const override { return std::make_unique<CorridorEnv>(*this); }
  Status CopyStateFrom(const Env& other) override {
    const auto* same = dynamic_cast<const CorridorEnv*>(&other);
    if (same == nullptr) {
      return Status::InvalidArgument("test-corridor: cannot copy the state of " + other.name());
    }
    *this = *same;
    return Status::Ok();
  }
  int64_t elapsed_steps() const override { return episode_.elapsed(); }

 private:
  void Write() {
    observation_ = {static_cast<float>(position_) / static_cast<float>(length_ - 1), 1.0f};
  }
  int64_t length_;
  int64_t position_ = 0;
  std::array<float, 2> observation_{};
  Episode episode_;
};
APPRENTICE_REGISTER_ENV(CorridorEnv, "test-corridor", "test only: walk a corridor to its end");

// ---------------------------------------------------------------------------------------------
// A test-only planner: one step of lookahead, then a fixed rollout policy.
// ---------------------------------------------------------------------------------------------

// For each action: step a clone with it, then follow "always the last action" for `depth`
// steps; the soft target is softmax(returns / temperature), the action the best return.
class LookaheadPlanner : public Planner {
 public:
  struct Options {
    int64_t depth = 20;
    double temperature = 1.0;
    void Declare(OptionBinder& b) {
      b.Int("depth", &depth, "rollout steps after the first", 0, 100'000);
      b.Double("temperature", &temperature, "softmax temperature of the soft target", 1e-6, 1e6);
    }
    Status Validate() const { return Status::Ok(); }
  };
  explicit LookaheadPlanner(const Options& o) : options_(o) {}

  std::string name() const override { return "test-lookahead"; }
  bool needs_env() const override { return true; }
  Status Supports(const Space& space) const override {
    return space.is_discrete() ? Status::Ok()
                               : Status::InvalidArgument("test-lookahead: discrete actions only");
  }
  // Repeating one action is no plan in a board game (a column fills up).
  Status CanTeach(const Env& env) const override {
    if (env.alternating_turns()) {
      return Status::InvalidArgument("test-lookahead: one-agent envs only");
    }
    return Planner::CanTeach(env);
  }
  Result<PlanDecision> Plan(const PlanRequest& request) override {
    const int64_t t0 = NowNs();
    if (request.env == nullptr) return Status::InvalidArgument("test-lookahead needs the env");
    if (Status s = CanTeach(*request.env); !s.ok()) return s;
    const int64_t n = request.env->action_space().n();
    std::vector<float> returns(static_cast<size_t>(n));
    for (int64_t a = 0; a < n; ++a) {
      std::unique_ptr<Env> sim = request.env->Clone();
      double total = 0.0;
      for (int64_t t = 0; t <= options_.depth; ++t) {
        const StepResult r = sim->Step(Action::Discrete(a));
        total += r.reward;
        if (r.done()) break;
      }
      returns[static_cast<size_t>(a)] = static_cast<float>(total / options_.temperature);
    }
    PlanDecision d;
    d.distribution = PolicyOutput::FromLogits(returns);
    d.action = d.distribution.Mode();
    d.value = *std::max_element(returns.begin(), returns.end()) * options_.temperature;
    d.latency_ns = NowNs() - t0;
    return d;
  }

 private:
  Options options_;
};
APPRENTICE_REGISTER_PLANNER(LookaheadPlanner, "test-lookahead",
                            "test only: one step of lookahead, then repeat the action", "");

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

// The `remote` env needs a server: the Python Catch game (examples/python/catch_game.py), started
// once for the whole suite on a free loopback port.
const std::string& CatchServerAddress() {
  static PythonEnvServer* server = new PythonEnvServer(  // lives until the process exits
      APPRENTICE_PYTHON, APPRENTICE_SOURCE_DIR "/examples/python/catch_game.py");
  return server->endpoint();
}

// The `mujoco` env runs any model file and has none by default: it gets a shipped one here.
std::unique_ptr<Env> Make(const std::string& name, const OptionValues& options = {}) {
  OptionValues with_model = options;
  if (name == "remote" && with_model.Find("address") == nullptr) {
    with_model.Set("address", CatchServerAddress());
  }
  if (name == "mujoco" && with_model.Find("model") == nullptr) {
    with_model.Set("model", APPRENTICE_SOURCE_DIR "/env/mujoco/models/pusher.xml");
  }
  // Connect Four starts from the empty board unless it plays a random opening.
  if (name == "connect-four" && with_model.Find("opening") == nullptr) {
    with_model.Set("opening", "2");
  }
  return MakeEnv(name, with_model).ValueOrThrow();
}

// A uniformly random action of `space` (a Box's infinite bounds are replaced by ±1).
Action RandomAction(const Space& space, Rng& rng) {
  if (space.is_discrete()) return Action::Discrete(static_cast<int64_t>(rng.Below(space.n())));
  std::vector<float> v(static_cast<size_t>(space.flat_size()));
  for (size_t i = 0; i < v.size(); ++i) {
    const double lo = std::isfinite(space.low()[i]) ? space.low()[i] : -1.0;
    const double hi = std::isfinite(space.high()[i]) ? space.high()[i] : 1.0;
    v[i] = static_cast<float>(rng.Uniform(lo, hi));
  }
  return Action::Continuous(v);
}

// A uniformly random action legal in `env`'s current state.
Action RandomAction(const Env& env, Rng& rng) {
  std::vector<uint8_t> buffer;
  const std::span<const uint8_t> legal = LegalMask(env, buffer);
  if (legal.empty()) return RandomAction(env.action_space(), rng);
  return UniformRandomAction(env.action_space(), rng, legal);
}

std::vector<float> Copy(std::span<const float> v) { return {v.begin(), v.end()}; }

// Steps `a` and `b` with the same random actions until either ends (or `steps`), expecting the
// same observations, rewards and flags.
void ExpectSameFuture(Env& a, Env& b, uint64_t seed, int steps = 40) {
  Rng rng(seed);
  for (int t = 0; t < steps; ++t) {
    const Action action = RandomAction(a, rng);
    const StepResult ra = a.Step(action);
    const std::vector<float> oa = Copy(ra.observation);
    const StepResult rb = b.Step(action);
    ASSERT_EQ(oa, Copy(rb.observation)) << "step " << t;
    ASSERT_EQ(ra.reward, rb.reward) << "step " << t;
    ASSERT_EQ(ra.terminated, rb.terminated);
    ASSERT_EQ(ra.truncated, rb.truncated);
    if (ra.done()) return;
  }
}

// Invalid actions for `space`: of the wrong kind, out of range, not finite, of the wrong size.
std::vector<Action> BadActions(const Space& space) {
  std::vector<Action> bad;
  if (space.is_discrete()) {
    bad.push_back(Action::Discrete(space.n()));
    bad.push_back(Action::Discrete(-1));
    const float one = 0.0f;
    bad.push_back(Action::Continuous({&one, 1}));
    return bad;
  }
  const auto d = static_cast<size_t>(space.flat_size());
  bad.push_back(Action::Discrete(0));
  std::vector<float> v(d, 0.0f);
  v[0] = std::numeric_limits<float>::quiet_NaN();
  bad.push_back(Action::Continuous(v));
  if (d + 1 <= static_cast<size_t>(kMaxActionDims)) {
    bad.push_back(Action::Continuous(std::vector<float>(d + 1, 0.0f)));
  }
  if (std::isfinite(space.high()[0])) {
    std::vector<float> over(d, 0.0f);
    over[0] = std::nextafter(space.high()[0], INFINITY);
    bad.push_back(Action::Continuous(over));
  }
  return bad;
}

// ---------------------------------------------------------------------------------------------
// Every registered environment
// ---------------------------------------------------------------------------------------------

class EnvConformance : public ::testing::TestWithParam<std::string> {};

TEST_P(EnvConformance, DeclaresItsSpacesAndName) {
  const auto env = Make(GetParam());
  EXPECT_EQ(env->name(), GetParam());
  EXPECT_FALSE(env->observation_space().is_discrete());
  EXPECT_GE(env->observation_space().flat_size(), 1);
  EXPECT_GE(env->action_space().is_discrete() ? env->action_space().n()
                                              : env->action_space().flat_size(),
            1);
  EXPECT_GE(env->max_episode_steps(), 1);
  const auto entry = Envs().Find(GetParam());
  ASSERT_TRUE(entry.ok());
  EXPECT_FALSE((*entry)->help.empty());
  for (const OptionSpec& spec : (*entry)->options) EXPECT_FALSE(spec.help.empty()) << spec.name;
}

TEST_P(EnvConformance, StepBeforeResetIsRefused) {
  const auto env = Make(GetParam());
  Rng rng(1);
  EXPECT_THROW(env->Step(RandomAction(env->action_space(), rng)), InvalidArgument);
}

TEST_P(EnvConformance, ResetIsDeterministicBySeedAndObservationsStayInTheirSpace) {
  const auto a = Make(GetParam());
  const auto b = Make(GetParam());
  for (uint64_t seed : {1u, 2u, 99u}) {
    const std::vector<float> first = Copy(a->Reset(seed));
    EXPECT_EQ(first, Copy(b->Reset(seed))) << "seed " << seed;
    EXPECT_TRUE(a->observation_space().CheckObservation(first).ok());
    ExpectSameFuture(*a, *b, seed);
  }
  // Different seeds start somewhere else (at least once in ten tries).
  const std::vector<float> zero = Copy(a->Reset(0));
  bool differs = false;
  for (uint64_t seed = 1; seed <= 10 && !differs; ++seed) differs = Copy(a->Reset(seed)) != zero;
  EXPECT_TRUE(differs);
  // Along a random episode every observation lies in the observation space.
  Rng rng(5);
  a->Reset(5);
  for (int t = 0; t < a->max_episode_steps(); ++t) {
    const StepResult r = a->Step(RandomAction(*a, rng));
    ASSERT_TRUE(a->observation_space().CheckObservation(r.observation).ok()) << "step " << t;
    ASSERT_TRUE(std::isfinite(r.reward));
    if (r.done()) break;
  }
}

TEST_P(EnvConformance, AClonesFutureIsTheOriginalsFuture) {
  const auto env = Make(GetParam());
  env->Reset(3);
  Rng rng(3);
  for (int t = 0; t < 3; ++t) {
    if (env->Step(RandomAction(*env, rng)).done()) env->Reset(4);
  }
  const auto clone = env->Clone();
  EXPECT_EQ(clone->elapsed_steps(), env->elapsed_steps());
  ExpectSameFuture(*env, *clone, 11);
}

TEST_P(EnvConformance, CopyStateFromMakesTheSameFutureAndRefusesOtherKinds) {
  const auto a = Make(GetParam());
  const auto b = Make(GetParam());
  a->Reset(7);
  b->Reset(8);
  ASSERT_TRUE(b->CopyStateFrom(*a).ok());
  ExpectSameFuture(*a, *b, 13);
  // Another kind of env: a Status, and the state is untouched.
  for (const std::string& other : EnvNames()) {
    if (other == GetParam()) continue;
    const auto foreign = Make(other);
    foreign->Reset(1);
    const auto c = Make(GetParam());
    c->Reset(9);
    const auto untouched = c->Clone();
    const Status s = c->CopyStateFrom(*foreign);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << other;
    ExpectSameFuture(*c, *untouched, 17);
  }
}

TEST_P(EnvConformance, BadActionsAreRejectedAndChangeNothing) {
  const auto env = Make(GetParam());
  env->Reset(21);
  const auto untouched = env->Clone();
  for (const Action& bad : BadActions(env->action_space())) {
    EXPECT_THROW(env->Step(bad), InvalidArgument) << bad.ToString();
  }
  EXPECT_EQ(env->elapsed_steps(), 0);
  ExpectSameFuture(*env, *untouched, 23);
}

TEST_P(EnvConformance, EpisodesEndAtTheTimeLimitAndStepsAfterTheEndAreRefused) {
  // With a short limit when the env lets one be set, else its own.
  const auto entry = Envs().Find(GetParam());
  ASSERT_TRUE(entry.ok());
  const bool settable = std::any_of((*entry)->options.begin(), (*entry)->options.end(),
                                    [](const OptionSpec& s) { return s.name == "max_episode_steps"; });
  const auto env = settable ? Make(GetParam(), {{"max_episode_steps", "3"}}) : Make(GetParam());
  if (settable) {
    EXPECT_EQ(env->max_episode_steps(), 3);
  }
  Rng rng(31);
  for (int episode = 0; episode < 5; ++episode) {
    env->Reset(100 + static_cast<uint64_t>(episode));
    StepResult r;
    int64_t steps = 0;
    do {
      r = env->Step(RandomAction(*env, rng));
      ++steps;
      ASSERT_LE(steps, env->max_episode_steps());
    } while (!r.done());
    EXPECT_EQ(r.truncated, steps == env->max_episode_steps()) << "episode " << episode;
    EXPECT_EQ(env->elapsed_steps(), steps);
    EXPECT_THROW(env->Step(RandomAction(env->action_space(), rng)), InvalidArgument);
  }
}

TEST_P(EnvConformance, StateBytesRestoreTheSameFutureOrAreUnavailable) {
  const auto env = Make(GetParam());
  env->Reset(12);
  Rng rng(12);
  for (int t = 0; t < 3; ++t) {
    if (env->Step(RandomAction(*env, rng)).done()) env->Reset(13);
  }
  const Result<std::string> state = env->SaveState();
  if (!state.ok()) {  // an env whose state cannot travel says so, both ways
    EXPECT_EQ(state.status().code(), StatusCode::kUnavailable);
    EXPECT_EQ(env->LoadState("anything").code(), StatusCode::kUnavailable);
    return;
  }
  const auto other = Make(GetParam());
  ASSERT_TRUE(other->LoadState(*state).ok());
  EXPECT_EQ(other->elapsed_steps(), env->elapsed_steps());
  const auto copy = other->Clone();
  ExpectSameFuture(*env, *other, 19);
  // Damaged, foreign or empty bytes: refused, the state untouched.
  const auto untouched = copy->Clone();
  for (const std::string& bad : {state->substr(0, state->size() - 1), *state + "x",
                                 std::string("garbage"), std::string()}) {
    EXPECT_EQ(copy->LoadState(bad).code(), StatusCode::kInvalidArgument);
  }
  ExpectSameFuture(*copy, *untouched, 23);
}

TEST_P(EnvConformance, UnknownOptionsAreRefusedByName) {
  const auto made = MakeEnv(GetParam(), {{"no_such_option", "1"}});
  ASSERT_FALSE(made.ok());
  EXPECT_NE(made.status().message().find("has no option 'no_such_option'"), std::string::npos);
}

std::string EnvTestName(const ::testing::TestParamInfo<std::string>& p) {
  std::string n = p.param;
  std::replace(n.begin(), n.end(), '-', '_');
  return n;
}
INSTANTIATE_TEST_SUITE_P(Registered, EnvConformance, ::testing::ValuesIn(EnvNames()), EnvTestName);

// ---------------------------------------------------------------------------------------------
// Every registered planner, on every env it can teach on
// ---------------------------------------------------------------------------------------------

struct Pairing {
  std::string planner, env;
};

std::vector<Pairing> Pairings() {
  std::vector<Pairing> out;
  for (const std::string& p : PlannerNames()) {
    const auto planner = MakePlanner(p).ValueOrThrow();
    for (const std::string& e : EnvNames()) {
      if (planner->CanTeach(*Make(e)).ok()) out.push_back({p, e});
    }
  }
  return out;
}

class PlannerConformance : public ::testing::TestWithParam<Pairing> {
 protected:
  struct State {
    std::unique_ptr<Env> env;  // mid-episode
    std::vector<float> observation;
  };
  // A few states of the env along random episodes.
  std::vector<State> States(int n) const {
    const auto env = Make(GetParam().env);
    std::vector<State> states;
    Rng rng(41);
    std::vector<float> obs = Copy(env->Reset(41));
    while (static_cast<int>(states.size()) < n) {
      states.push_back({env->Clone(), obs});
      const StepResult r = env->Step(RandomAction(*env, rng));
      obs = r.done() ? Copy(env->Reset(rng.Next())) : Copy(r.observation);
    }
    return states;
  }
  static PlanRequest RequestFor(const State& state, uint64_t seed) {
    PlanRequest r;
    r.observation = state.observation;
    r.env = state.env.get();
    r.seed = seed;
    return r;
  }
};

TEST_P(PlannerConformance, DecisionsAreValidNormalisedAndInsideTheSpace) {
  const auto planner = MakePlanner(GetParam().planner).ValueOrThrow();
  for (const State& state : States(6)) {
    const auto before = state.env->Clone();
    const Result<PlanDecision> d = planner->Plan(RequestFor(state, 5));
    ASSERT_TRUE(d.ok()) << d.status().message();
    ExpectSameFuture(*state.env, *before, 3);  // planning never changes the request's env
    const Space& space = state.env->action_space();
    ASSERT_TRUE(d->distribution.CheckFits(space).ok()) << d->distribution.CheckFits(space).message();
    EXPECT_TRUE(space.Check(d->action).ok()) << d->action.ToString();
    EXPECT_TRUE(std::isfinite(d->value));
    EXPECT_GE(d->latency_ns, 0);
    if (space.is_discrete()) {
      for (float l : d->distribution.logits) EXPECT_TRUE(std::isfinite(l));
      const std::vector<float> p = d->distribution.Probabilities();
      double sum = 0;
      for (float x : p) sum += x;
      EXPECT_NEAR(sum, 1.0, 1e-5);
    } else {
      for (float m : d->distribution.mean) EXPECT_TRUE(std::isfinite(m));
      for (float s : d->distribution.log_std) EXPECT_TRUE(std::isfinite(s));
    }
  }
}

TEST_P(PlannerConformance, TheSameSeedGivesTheSameDecision) {
  const auto a = MakePlanner(GetParam().planner).ValueOrThrow();
  const auto b = MakePlanner(GetParam().planner).ValueOrThrow();
  for (const State& state : States(3)) {
    const PlanDecision x = a->Plan(RequestFor(state, 77)).ValueOrThrow();
    const PlanDecision y = b->Plan(RequestFor(state, 77)).ValueOrThrow();
    const PlanDecision z = a->Plan(RequestFor(state, 77)).ValueOrThrow();  // reused instance
    for (const PlanDecision* other : {&y, &z}) {
      EXPECT_EQ(x.distribution.logits, other->distribution.logits);
      EXPECT_EQ(x.distribution.mean, other->distribution.mean);
      EXPECT_EQ(x.distribution.log_std, other->distribution.log_std);
      EXPECT_EQ(x.action, other->action);
      EXPECT_EQ(x.value, other->value);
    }
  }
}

TEST_P(PlannerConformance, ItAnswersByItsDeadline) {
  const auto entry = Planners().Find(GetParam().planner);
  ASSERT_TRUE(entry.ok());
  // Heavy options make one plan take far longer than the deadline (seconds to minutes).
  const auto planner = MakePlanner(GetParam().planner, (*entry)->heavy).ValueOrThrow();
  const State state = std::move(States(1).front());
  PlanRequest request = RequestFor(state, 3);
  const auto t0 = std::chrono::steady_clock::now();
  request.deadline_ns = NowNs() + 20'000'000;  // 20 ms
  const Result<PlanDecision> d = planner->Plan(request);
  const auto took = std::chrono::steady_clock::now() - t0;
  // Generous (a loaded machine must not flake): an answer within seconds, not minutes.
  EXPECT_LT(took, std::chrono::seconds(5)) << "heavy options: " << (*entry)->heavy.ToString();
  if (d.ok()) {
    EXPECT_TRUE(state.env->action_space().Check(d->action).ok());
  } else {
    EXPECT_EQ(d.status().code(), StatusCode::kDeadlineExceeded) << d.status().message();
  }
}

TEST_P(PlannerConformance, BadRequestsAreAnsweredWithAStatus) {
  const auto planner = MakePlanner(GetParam().planner).ValueOrThrow();
  const State state = std::move(States(1).front());
  if (planner->needs_env()) {
    PlanRequest no_env = RequestFor(state, 1);
    no_env.env = nullptr;
    EXPECT_FALSE(planner->Plan(no_env).ok());
  }
  // Every env it cannot teach on: refused with a Status, never an exception.
  for (const std::string& other : EnvNames()) {
    State foreign{Make(other), {}};
    if (planner->CanTeach(*foreign.env).ok()) continue;
    foreign.observation = Copy(foreign.env->Reset(1));
    Result<PlanDecision> d = Status::Internal("not run");
    EXPECT_NO_THROW(d = planner->Plan(RequestFor(foreign, 1))) << other;
    EXPECT_FALSE(d.ok()) << other;
  }
}

TEST_P(PlannerConformance, UnknownOptionsAreRefusedByName) {
  const auto made = MakePlanner(GetParam().planner, {{"no_such_option", "1"}});
  ASSERT_FALSE(made.ok());
  EXPECT_NE(made.status().message().find("has no option 'no_such_option'"), std::string::npos);
}

std::string PairingTestName(const ::testing::TestParamInfo<Pairing>& p) {
  std::string n = p.param.planner + "_on_" + p.param.env;
  std::replace(n.begin(), n.end(), '-', '_');
  return n;
}
INSTANTIATE_TEST_SUITE_P(Registered, PlannerConformance, ::testing::ValuesIn(Pairings()),
                         PairingTestName);

// ---------------------------------------------------------------------------------------------
// The test-only extensions through the runtime's library
// ---------------------------------------------------------------------------------------------

TEST(Extensions, ATestOnlyEnvAndPlannerRunThroughTheRuntime) {
  RunOptions o;
  o.env = "test-corridor";
  o.env_options = {{"length", "10"}};
  o.planner = "test-lookahead";
  o.planner_options = {{"depth", "12"}};
  o.seed = 3;
  o.steps = 1500;
  o.min_replay = 64;
  o.eval_episodes = 10;
  o.planner_eval_episodes = 5;
  o.distiller.hidden = {16};
  ASSERT_TRUE(CheckRunnable(o).ok()) << CheckRunnable(o).message();
  const RunSummary s = RunSync(o);
  EXPECT_TRUE(s.error.empty()) << s.error;
  // Starts differ by seed, so the executor is judged by its policy: it agrees with the planner
  // (walk right) and reaches the end in every evaluation episode (a return of at least 1; an
  // episode cut at the time limit returns -50).
  EXPECT_GT(s.planner_return, 0.0);
  EXPECT_GE(s.executor_return_min, 1.0);
  EXPECT_GE(s.agreement, 0.95);
  EXPECT_EQ(s.env_options.ToString(), "length=10 max_episode_steps=50");
  EXPECT_EQ(s.planner_options.ToString(), "depth=12 temperature=1");
}

}  // namespace
}  // namespace apprentice
