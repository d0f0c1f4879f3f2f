// Off-policy estimators (runtime/ope.h): exact on enumerated trajectories, clipping, intervals
// and diagnostics, a noisy bandit whose true value is known, logs that lack the behaviour
// probability; the model-based estimators (dm, dr) with known and fitted Q-functions (FitQ on
// problems with known values); candidate policies and their logged rollouts; and
// `apprentice eval --ope` ranking three CartPole controllers as their true returns rank them.
#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "bench/ope_controllers.h"
#include "core/json.h"
#include "core/policy.h"
#include "core/rng.h"
#include "distiller/fitted_q.h"
#include "executor/snapshot_file.h"
#include "fraud/payment_env.h"
#include "replay/episode_log.h"
#include "runtime/offline.h"
#include "runtime/ope.h"

namespace apprentice {
namespace {

// Two steps, actions 0/1 drawn uniformly by the behaviour policy (μ = 0.5 each); the candidate
// plays 0 with 0.8; reward 1 for action 0. Every one of the four trajectories once: the logged
// data in exact proportion to μ.
std::vector<OpeEpisode> EnumeratedTwoSteps() {
  std::vector<OpeEpisode> out;
  for (int a0 = 0; a0 < 2; ++a0) {
    for (int a1 = 0; a1 < 2; ++a1) {
      OpeEpisode e;
      for (const int a : {a0, a1}) {
        const double pi = a == 0 ? 0.8 : 0.2;
        e.push_back({a == 0 ? 1.0 : 0.0, std::log(pi) - std::log(0.5)});
      }
      out.push_back(e);
    }
  }
  return out;
}

const OpeEstimate& Find(const OpeReport& r, const std::string& name) {
  for (const OpeEstimate& e : r.estimates) {
    if (e.estimator == name) return e;
  }
  throw std::runtime_error("no estimator " + name);
}

TEST(Ope, EveryEstimatorIsExactOnDataInProportionToTheBehaviourPolicy) {
  const auto episodes = EnumeratedTwoSteps();
  for (const double discount : {1.0, 0.5}) {
    OpeOptions o;
    o.discount = discount;
    o.bootstrap = 0;
    const OpeReport r = EstimateOffPolicy(episodes, o).ValueOrThrow();
    const double truth = 0.8 + discount * 0.8;
    for (const char* name : {"is", "wis", "pdis", "wpdis"}) {
      EXPECT_NEAR(Find(r, name).value, truth, 1e-12) << name << ", discount " << discount;
    }
    EXPECT_NEAR(r.logged_return, 0.5 + discount * 0.5, 1e-12);
    EXPECT_EQ(r.episodes, 4);
    EXPECT_EQ(r.decisions, 8);
  }
}

TEST(Ope, ClippingCapsEachRatio) {
  OpeOptions o;
  o.clip = 1.0;
  o.bootstrap = 0;
  const OpeReport r = EstimateOffPolicy(EnumeratedTwoSteps(), o).ValueOrThrow();
  // Ratios 1.6 -> 1 and 0.4: weights 1, 0.4, 0.4, 0.16 on returns 2, 1, 1, 0.
  EXPECT_NEAR(Find(r, "is").value, (2.0 + 0.4 + 0.4) / 4.0, 1e-12);
  EXPECT_NEAR(r.effective_sample_size, std::pow(1.96, 2) / (1 + 0.16 + 0.16 + 0.0256), 1e-9);
}

// One-step episodes: behaviour uniform over two arms, candidate 0.9 / 0.1; arm 0 pays
// N(1, 0.5²), arm 1 N(0, 0.5²): the candidate's value is 0.9.
std::vector<OpeEpisode> NoisyBandit(uint64_t seed, int n) {
  Rng rng(seed);
  std::vector<OpeEpisode> episodes;
  for (int i = 0; i < n; ++i) {
    const int a = static_cast<int>(rng.Below(2));
    const double reward = (a == 0 ? 1.0 : 0.0) + 0.5 * rng.Normal();
    episodes.push_back({{reward, std::log(a == 0 ? 0.9 : 0.1) - std::log(0.5)}});
  }
  return episodes;
}

// Over 50 logs (fixed seeds), each 95 % interval covers the true value in most of them, and the
// estimates average out near it.
TEST(Ope, TheIntervalsCoverANoisyBanditsTrueValue) {
  constexpr int kLogs = 50;
  std::map<std::string, int> covered;
  std::map<std::string, double> mean;
  for (int seed = 1; seed <= kLogs; ++seed) {
    OpeOptions o;
    o.bootstrap = 200;
    o.seed = static_cast<uint64_t>(seed);
    const OpeReport r = EstimateOffPolicy(NoisyBandit(static_cast<uint64_t>(seed), 1000), o)
                            .ValueOrThrow();
    for (const OpeEstimate& e : r.estimates) {
      ASSERT_LE(e.low, e.value) << e.estimator;
      ASSERT_GE(e.high, e.value) << e.estimator;
      covered[e.estimator] += e.low <= 0.9 && 0.9 <= e.high;
      mean[e.estimator] += e.value / kLogs;
    }
  }
  for (const char* name : {"is", "wis", "pdis", "wpdis"}) {
    EXPECT_GE(covered[name], 42) << name;  // 95 % nominal; at least 84 % of 50
    EXPECT_NEAR(mean[name], 0.9, 0.02) << name;
  }
}

TEST(Ope, DiagnosticsAndTheSameSeedGiveTheSameIntervals) {
  const auto episodes = NoisyBandit(7, 4000);
  OpeOptions o;
  o.bootstrap = 100;
  const OpeReport r = EstimateOffPolicy(episodes, o).ValueOrThrow();
  EXPECT_NEAR(r.logged_return, 0.5, 0.05);
  // Weights 1.8 and 0.2, half each: ESS = n (Σw)² / (n Σw²) = 4000 / 1.64.
  EXPECT_NEAR(r.effective_sample_size, 4000.0 / 1.64, 60.0);
  EXPECT_EQ(r.zero_weight_share, 0.0);
  const OpeReport again = EstimateOffPolicy(episodes, o).ValueOrThrow();
  EXPECT_EQ(Find(again, "wis").low, Find(r, "wis").low);
  // A candidate that never takes arm 1: those episodes weigh 0.
  std::vector<OpeEpisode> never = episodes;
  for (OpeEpisode& e : never) {
    if (e[0].log_ratio < 0) e[0].log_ratio = -std::numeric_limits<double>::infinity();
  }
  EXPECT_NEAR(EstimateOffPolicy(never, o).ValueOrThrow().zero_weight_share, 0.5, 0.05);
}

TEST(Ope, LogsWithoutBehaviourProbabilitiesAreRefusedClearly) {
  std::vector<DecisionRecord> records(3);
  for (int i = 0; i < 3; ++i) {
    records[i].episode = 0;
    records[i].step = 2 - i;  // out of order: grouped and sorted by step
    records[i].reward = static_cast<float>(i);
    records[i].behaviour = Behaviour::kStochastic;
    records[i].behaviour_log_prob = std::log(0.5f);
  }
  const auto half = [](const DecisionRecord&) { return std::log(0.25); };
  const auto episodes = OpeEpisodes(records, half).ValueOrThrow();
  ASSERT_EQ(episodes.size(), 1u);
  ASSERT_EQ(episodes[0].size(), 3u);
  EXPECT_EQ(episodes[0][0].reward, 2.0);  // step 0 first
  EXPECT_NEAR(episodes[0][0].log_ratio, std::log(0.5), 1e-6);
  records[1].behaviour = Behaviour::kDeterministic;  // log μ = 0
  EXPECT_NEAR(OpeEpisodes(records, half).ValueOrThrow()[0][1].log_ratio, std::log(0.25), 1e-9);
  records[2].behaviour = Behaviour::kUnknown;
  const auto refused = OpeEpisodes(records, half);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("1 of 3 logged decisions carry no behaviour "
                                            "probability"),
            std::string::npos)
      << refused.status().message();
}

TEST(Ope, BadOptionsAndNoEpisodesAreErrors) {
  OpeOptions o;
  o.discount = 0.0;
  EXPECT_FALSE(EstimateOffPolicy(EnumeratedTwoSteps(), o).ok());
  o = OpeOptions();
  o.confidence = 1.0;
  EXPECT_FALSE(EstimateOffPolicy(EnumeratedTwoSteps(), o).ok());
  o = OpeOptions();
  o.clip = -1.0;
  EXPECT_FALSE(EstimateOffPolicy(EnumeratedTwoSteps(), o).ok());
  EXPECT_FALSE(EstimateOffPolicy({}, OpeOptions()).ok());
}

TEST(Ope, DirectMethodAndDoublyRobustWithAKnownModel) {
  // The enumerated two-step data with the true Q of the candidate: Q(s_t, a) = [a = 0] +
  // γ V(s_{t+1}), V = 0.8 per step left.
  const auto base = EnumeratedTwoSteps();
  for (const double discount : {1.0, 0.5}) {
    std::vector<OpeEpisode> exact = base;
    for (OpeEpisode& e : exact) {
      for (size_t t = 0; t < e.size(); ++t) {
        const double rest = t == 0 ? discount * 0.8 : 0.0;
        e[t].q = e[t].reward + rest;
        e[t].v = 0.8 + rest;
      }
    }
    OpeOptions o;
    o.discount = discount;
    o.bootstrap = 50;
    const OpeReport r = EstimateOffPolicy(exact, o).ValueOrThrow();
    const double truth = 0.8 + discount * 0.8;
    EXPECT_NEAR(Find(r, "dm").value, truth, 1e-12);
    EXPECT_NEAR(Find(r, "dr").value, truth, 1e-12);
    // With the true Q every episode's dr term is the truth: no spread at all.
    EXPECT_NEAR(Find(r, "dr").low, truth, 1e-12);
    EXPECT_NEAR(Find(r, "dr").high, truth, 1e-12);
    // With Q = 0, dr is pdis; dm is 0.
    std::vector<OpeEpisode> zero = base;
    for (OpeEpisode& e : zero) {
      for (OpeStep& step : e) step.q = step.v = 0.0;
    }
    const OpeReport z = EstimateOffPolicy(zero, o).ValueOrThrow();
    EXPECT_NEAR(Find(z, "dr").value, Find(z, "pdis").value, 1e-12);
    EXPECT_EQ(Find(z, "dm").value, 0.0);
  }
  // Without a model: no dm, no dr.
  EXPECT_EQ(EstimateOffPolicy(base, OpeOptions()).ValueOrThrow().Find("dr"), nullptr);
}

TEST(Ope, ActionsADeterministicLoggerNeverTookAreCountedAndWarnedAbout) {
  std::vector<DecisionRecord> records(4);
  for (int i = 0; i < 4; ++i) {
    records[i].episode = -1;  // single decisions (a fraud stream): one episode each
    records[i].executor_action = Action::Discrete(0);
    records[i].behaviour = Behaviour::kDeterministic;
    records[i].reward = 1.0f;
  }
  const auto episodes =
      OpeEpisodes(records, [](const DecisionRecord&) { return std::log(0.6); }).ValueOrThrow();
  ASSERT_EQ(episodes.size(), 4u);
  EXPECT_NEAR(episodes[0][0].unsupported, 0.4, 1e-12);
  OpeOptions o;
  o.bootstrap = 0;
  const OpeReport r = EstimateOffPolicy(episodes, o).ValueOrThrow();
  EXPECT_NEAR(r.unsupported_share, 0.4, 1e-12);
  EXPECT_NEAR(r.logged_action_probability, 0.6, 1e-12);
  ASSERT_EQ(r.warnings.size(), 2u);  // support, and a candidate that often acts otherwise
  EXPECT_NE(r.warnings[1].find("logged action with probability 0.60"), std::string::npos);
  EXPECT_NE(r.warnings[0].find("40.0 % of its probability"), std::string::npos) << r.warnings[0];
  // A candidate that agrees with the logger: fully supported, no warning.
  const OpeReport agree =
      EstimateOffPolicy(OpeEpisodes(records, [](const DecisionRecord&) { return 0.0; })
                            .ValueOrThrow(),
                        o)
          .ValueOrThrow();
  EXPECT_EQ(agree.unsupported_share, 0.0);
  EXPECT_TRUE(agree.warnings.empty());
  EXPECT_EQ(Find(agree, "is").value, 1.0);
}

// FqeData for a chain of episodes with one-float states, `actions` one-hot actions and a time
// feature; the candidate's actions given per state by `candidate`.
struct Chain {
  FqeData data;
  void Add(float state, int64_t action, int64_t actions, float reward, int64_t next, int64_t step,
           const std::vector<std::pair<int64_t, float>>& candidate) {
    auto encode = [&](int64_t a, std::vector<float>& out) {
      out.push_back(state);
      for (int64_t k = 0; k < actions; ++k) out.push_back(k == a ? 1.0f : 0.0f);
    };
    data.width = 1 + actions;
    if (data.candidate_begin.empty()) data.candidate_begin.push_back(0);
    encode(action, data.inputs);
    data.rewards.push_back(reward);
    data.next.push_back(next);
    data.episode_steps.push_back(step);
    for (const auto& [a, w] : candidate) {
      encode(a, data.candidate_inputs);
      data.candidate_weights.push_back(w);
    }
    data.candidate_begin.push_back(static_cast<int64_t>(data.candidate_weights.size()));
  }
};

TEST(FittedQ, LearnsTheValuesOfABanditAndOfAChain) {
  // A two-armed bandit (single steps): arm 1 pays 1, arm 0 pays 0; the logger pulled both; the
  // candidate pulls arm 1 with 0.9.
  Chain bandit;
  for (int i = 0; i < 200; ++i) {
    const int64_t arm = i % 2;
    bandit.Add(0.0f, arm, 2, static_cast<float>(arm), -1, 0, {{0, 0.1f}, {1, 0.9f}});
  }
  FqeOptions o;
  o.hidden = {32};
  o.iterations = 5;
  o.updates_per_iteration = 50;
  const FqeResult b = FitQ(bandit.data, o).ValueOrThrow();
  EXPECT_NEAR(b.q[0], 0.0, 0.05);
  EXPECT_NEAR(b.q[1], 1.0, 0.05);
  EXPECT_NEAR(b.v[0], 0.9, 0.05);
  // A chain of 5 steps paying 1 each, state = step: Q(s_t) = 5 - t undiscounted, and the
  // discounted sum with γ = 0.5.
  for (const double discount : {1.0, 0.5}) {
    Chain chain;
    for (int e = 0; e < 20; ++e) {
      for (int t = 0; t < 5; ++t) {
        const int64_t row = e * 5 + t;
        chain.Add(static_cast<float>(t) / 4.0f, 0, 1, 1.0f, t < 4 ? row + 1 : -1, t, {{0, 1.0f}});
      }
    }
    FqeOptions c;
    c.hidden = {32};
    c.discount = discount;
    c.updates_per_iteration = 100;
    const FqeResult r = FitQ(chain.data, c).ValueOrThrow();
    for (int t = 0; t < 5; ++t) {
      const double truth = discount == 1.0 ? 5.0 - t : (1.0 - std::pow(0.5, 5 - t)) / 0.5;
      EXPECT_NEAR(r.q[static_cast<size_t>(t)], truth, 0.1) << "step " << t << ", γ " << discount;
      EXPECT_NEAR(r.v[static_cast<size_t>(t)], truth, 0.1) << "step " << t << ", γ " << discount;
    }
  }
}

TEST(FittedQ, BadDataIsRefusedWithItsReason) {
  Chain chain;
  chain.Add(0.0f, 0, 1, 1.0f, -1, 0, {{0, 1.0f}});
  chain.Add(0.0f, 0, 1, 1.0f, 0, 1, {{0, 1.0f}});  // points back in time
  const auto backwards = FitQ(chain.data, FqeOptions());
  ASSERT_FALSE(backwards.ok());
  EXPECT_NE(backwards.status().message().find("next row 0"), std::string::npos);
  Chain nan;
  nan.Add(0.0f, 0, 1, std::nanf(""), -1, 0, {{0, 1.0f}});
  EXPECT_FALSE(FitQ(nan.data, FqeOptions()).ok());
  FqeOptions o;
  o.discount = 0.0;
  EXPECT_FALSE(FitQ(Chain().data, o).ok());
}

TEST(CandidatePolicy, ProbabilitiesDrawsAndLogProbabilitiesAgree) {
  const auto snapshot = bench::CartPoleController({0.0f, 0.2f, 3.0f, 0.6f}, 1.0f);
  const float obs[] = {0.0f, 0.1f, 0.05f, 0.0f};
  Rng rng(3);
  for (const bool sample : {false, true}) {
    for (const double epsilon : {0.0, 0.2}) {
      CandidatePolicy policy(snapshot, Space::Discrete(2), {sample, epsilon, 16});
      std::vector<Action> actions;
      std::vector<double> weights;
      policy.Actions(obs, {}, rng, actions, weights);
      double total = 0.0;
      for (size_t k = 0; k < actions.size(); ++k) {
        total += weights[k];
        EXPECT_NEAR(std::exp(policy.LogProb(obs, {}, actions[k])), weights[k], 1e-9);
      }
      EXPECT_NEAR(total, 1.0, 1e-9);
      // Draws follow the probabilities, and say their own log-probability.
      int right = 0;
      for (int i = 0; i < 4000; ++i) {
        double log_prob = 0.0;
        const Action a = policy.Choose(obs, {}, rng, log_prob);
        right += a.index() == 1;
        if (policy.stochastic()) {
          EXPECT_NEAR(log_prob, policy.LogProb(obs, {}, a), 1e-9);
        }
      }
      EXPECT_NEAR(right / 4000.0, std::exp(policy.LogProb(obs, {}, Action::Discrete(1))), 0.03)
          << "sample " << sample << ", epsilon " << epsilon;
    }
  }
  // A legal-move mask: the illegal action has probability 0, even with epsilon.
  CandidatePolicy masked(snapshot, Space::Discrete(2), {true, 0.3, 16});
  const uint8_t legal[] = {1, 0};
  EXPECT_EQ(masked.LogProb(obs, legal, Action::Discrete(1)), -std::numeric_limits<double>::infinity());
  EXPECT_NEAR(masked.LogProb(obs, legal, Action::Discrete(0)), 0.0, 1e-12);
  // Gaussian: the density of the head.
  const auto gaussian = bench::PendulumController({0.0f, -2.0f, -0.6f}, 1.5f, std::log(0.4f));
  CandidatePolicy pendulum(gaussian, Space::Box(-2.0f, 2.0f, {1}), {true, 0.0, 16});
  const float o3[] = {1.0f, 0.0f, 0.0f};
  const float mean[] = {0.0f}, log_std[] = {std::log(0.4f)}, x[] = {0.3f};
  EXPECT_NEAR(pendulum.LogProb(o3, {}, Action::Continuous(x)), GaussianLogDensity(x, mean, log_std),
              1e-6);
}

std::string TempDir(const std::string& name) {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("apprentice_ope_" + name + "_" + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  return dir.string();
}

TEST(OffPolicyOnLog, ARolloutLogCarriesItsBehaviourAndEstimatesTheLoggerItself) {
  const std::string dir = TempDir("self");
  const auto controller = bench::CartPoleController({0.0f, 0.0f, 1.0f, 0.0f}, 2.0f);
  RolloutOptions r;
  r.policy.epsilon = 0.3;
  r.log_dir = dir;
  const RolloutResult rollout = Rollout(controller, "cartpole", 10, 5, {}, r).ValueOrThrow();
  const std::vector<DecisionRecord> records = ReadEpisodeLog(dir).ValueOrThrow().records;
  size_t steps = 0;
  for (double g : rollout.returns) steps += static_cast<size_t>(g);  // reward 1 per step
  ASSERT_EQ(records.size(), steps);
  for (const DecisionRecord& rec : records) {
    ASSERT_EQ(rec.behaviour, Behaviour::kStochastic);
    const double p = std::exp(rec.behaviour_log_prob);
    EXPECT_TRUE(std::abs(p - 0.85) < 1e-6 || std::abs(p - 0.15) < 1e-6) << p;
  }
  // A second rollout into the same directory is refused: it would mix two logs.
  EXPECT_FALSE(Rollout(controller, "cartpole", 1, 5, {}, r).ok());
  // The logger as its own candidate: every ratio is 1, so is = the logged return exactly.
  OffPolicyOptions o;
  o.policy.epsilon = 0.3;
  o.fit_q = false;
  const OffPolicyCandidate self{"self", controller};
  const OffPolicyEvaluation ev = EvaluateOffPolicyOnLog(dir, {&self, 1}, o).ValueOrThrow();
  ASSERT_EQ(ev.candidates.size(), 1u);
  // (Up to the float the log stores each log-probability in.)
  EXPECT_NEAR(ev.candidates[0].report.Find("is")->value, rollout.mean(), 1e-3);
  EXPECT_NEAR(ev.logged_return, rollout.mean(), 1e-6);
  EXPECT_NEAR(ev.candidates[0].report.effective_sample_size, 10.0, 1e-9);
  // A candidate whose observations do not fit is refused, naming it.
  const auto pendulum = bench::PendulumController({0.0f, -2.0f, -0.6f}, 1.5f, 0.0f);
  o.policy = CandidateOptions{true, 0.0, 4};
  const OffPolicyCandidate wrong{"pendulum", pendulum};
  const auto refused = EvaluateOffPolicyOnLog(dir, {&wrong, 1}, o);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("candidate pendulum"), std::string::npos);
  std::filesystem::remove_all(dir);
}

TEST(OffPolicyOnLog, RefitsOnResamplesWidenTheModelIntervals) {
  const std::string dir = TempDir("refits");
  const auto controller = bench::CartPoleController({0.0f, 0.0f, 1.0f, 0.0f}, 2.0f);
  RolloutOptions r;
  r.policy.epsilon = 0.3;
  r.log_dir = dir;
  ASSERT_TRUE(Rollout(controller, "cartpole", 8, 9, {}, r).ok());
  OffPolicyOptions o;
  o.estimate.discount = 0.9;
  o.estimate.bootstrap = 20;
  o.fqe.hidden = {16};
  o.fqe.iterations = 10;
  o.fqe.updates_per_iteration = 10;
  const OffPolicyCandidate c{"greedy", controller};
  const OffPolicyEvaluation plain = EvaluateOffPolicyOnLog(dir, {&c, 1}, o).ValueOrThrow();
  EXPECT_TRUE(std::isnan(plain.candidates[0].refit_sd_dr));
  o.fqe_refits = 3;
  const OffPolicyEvaluation refitted = EvaluateOffPolicyOnLog(dir, {&c, 1}, o).ValueOrThrow();
  const CandidateEstimate& e = refitted.candidates[0];
  ASSERT_TRUE(std::isfinite(e.refit_sd_dr));
  EXPECT_GT(e.refit_sd_dm, 0.0);
  // Same point estimates (the fit on all episodes is the same); intervals at least value ± z s.
  for (const char* name : {"dm", "dr"}) {
    const OpeEstimate& a = *plain.candidates[0].report.Find(name);
    const OpeEstimate& b = *e.report.Find(name);
    EXPECT_EQ(a.value, b.value) << name;
    const double sd = std::string(name) == "dm" ? e.refit_sd_dm : e.refit_sd_dr;
    EXPECT_LE(b.low, std::min(a.low, b.value - 1.959 * sd)) << name;
    EXPECT_GE(b.high, std::max(a.high, b.value + 1.959 * sd)) << name;
  }
  // The importance-sampling estimates are untouched.
  EXPECT_EQ(e.report.Find("wpdis")->low, plain.candidates[0].report.Find("wpdis")->low);
  o.fqe_refits = 1;
  EXPECT_FALSE(EvaluateOffPolicyOnLog(dir, {&c, 1}, o).ok());
  std::filesystem::remove_all(dir);
}

// The fraud stream's single-step logs: a laxer rule, epsilon-noised, logs 3000 payments; the
// estimates of a stricter rule's value hold its exact value (its mean reward over every payment
// the env draws from) within their intervals.
TEST(OffPolicyOnLog, OnTheFraudStreamTheEstimatesHoldTheCandidatesExactValue) {
  const std::string dir = TempDir("fraud");
  std::array<float, 15> rule{};
  rule[0] = 2.0f;
  rule[13] = 20.0f;
  const auto candidate = bench::FraudController(rule, -10.6f, 4.0f);
  rule[13] = 8.0f;
  const auto behaviour = bench::FraudController(rule, -10.9f, 4.0f);
  RolloutOptions r;
  r.policy.epsilon = 0.2;
  r.log_dir = dir;
  ASSERT_TRUE(Rollout(behaviour, "fraud", 3000, 7, {}, r).ok());
  // Each payment is a one-decision episode.
  EXPECT_EQ(ReadEpisodeLog(dir).ValueOrThrow().records.size(), 3000u);
  const PaymentEnv env{PaymentEnv::Options()};
  CandidatePolicy greedy(candidate, env.action_space(), CandidateOptions{});
  Rng rng(1);
  double log_prob = 0.0;
  const double truth = env.MeanReward([&](std::span<const float> features) {
    return greedy.Choose(features, {}, rng, log_prob).index();
  });
  OffPolicyOptions o;
  o.fqe.hidden = {32};
  o.fqe.updates_per_iteration = 10;
  const OffPolicyCandidate c{"strict", candidate};
  const OffPolicyEvaluation ev = EvaluateOffPolicyOnLog(dir, {&c, 1}, o).ValueOrThrow();
  for (const char* name : {"is", "wis", "dr"}) {
    const OpeEstimate& e = *ev.candidates[0].report.Find(name);
    EXPECT_LE(e.low, truth) << name << " " << e.value;
    EXPECT_GE(e.high, truth) << name << " " << e.value;
  }
  // The stricter rule declines frauds the logged one let through: it is worth more.
  EXPECT_GT(truth, ev.logged_return);
  std::filesystem::remove_all(dir);
}

// Runs the apprentice command line; its stdout (and stderr with `merge_stderr`).
std::string RunCli(const std::string& args, int& exit_code, bool merge_stderr = false) {
  const std::string command =
      std::string(APPRENTICE_CLI) + " " + args + (merge_stderr ? " 2>&1" : " 2>/dev/null");
  FILE* pipe = popen(command.c_str(), "r");
  std::string out;
  char buffer[4096];
  size_t n = 0;
  while ((n = fread(buffer, 1, sizeof buffer, pipe)) > 0) out.append(buffer, n);
  const int status = pclose(pipe);
  exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return out;
}

TEST(EvalOpe, RanksThreeCandidatesAsTheirTrueReturnsDo) {
  const std::string dir = TempDir("rank");
  std::filesystem::create_directories(dir);
  // Three controllers of CartPole: angle and angular velocity (balances), angle alone (wobbles
  // and falls), and the wrong sign (falls at once).
  const std::vector<std::pair<std::string, std::shared_ptr<const Snapshot>>> candidates = {
      {"weak", bench::CartPoleController({0.0f, 0.0f, 1.0f, 0.0f}, 4.0f)},
      {"good", bench::CartPoleController({0.0f, 0.2f, 3.0f, 0.6f}, 4.0f)},
      {"bad", bench::CartPoleController({0.0f, 0.0f, -1.0f, 0.0f}, 4.0f)}};
  std::string policies;
  for (const auto& [name, snapshot] : candidates) {
    const std::string file = dir + "/" + name + ".snap";
    ASSERT_TRUE(SaveSnapshot(*snapshot, {"cartpole", "", "", name}, file).ok());
    policies += " --policy " + file;
  }
  // Logs of the weak controller with epsilon 0.3, written by eval itself.
  int code = 0;
  RunCli("eval --policy " + dir + "/weak.snap --env cartpole --episodes 40 --epsilon 0.3 "
         "--seed 11 --log-rollouts " + dir + "/logs",
         code);
  ASSERT_EQ(code, 0);
  const std::string out = RunCli("eval --ope --logs " + dir + "/logs" + policies +
                                     " --discount 0.95 --bootstrap 50 --fqe-refits 0 --env cartpole "
                                     "--episodes 40 --seed 3 --json",
                                 code);
  ASSERT_EQ(code, 0) << out;
  const Json json = Json::Parse(out).ValueOrThrow();
  std::map<std::string, double> truth;
  for (const Json& c : json.Find("candidates")->AsArray()) {
    truth[c.Find("policy")->AsString()] =
        c.Find("rollout")->Find("mean_discounted_return")->AsNumber();
  }
  std::vector<std::string> by_truth;
  for (const auto& [name, value] : truth) by_truth.push_back(name);
  std::sort(by_truth.begin(), by_truth.end(),
            [&](const std::string& a, const std::string& b) { return truth[a] > truth[b]; });
  std::vector<std::string> ranking;
  for (const Json& name : json.Find("ranking")->AsArray()) ranking.push_back(name.AsString());
  EXPECT_EQ(ranking, by_truth) << out;
  EXPECT_EQ(json.Find("rank_by")->AsString(), "dr");
  // The truth itself is well separated: good > weak > bad.
  EXPECT_GT(truth[dir + "/good.snap"], truth[dir + "/weak.snap"] + 1.0);
  EXPECT_GT(truth[dir + "/weak.snap"], truth[dir + "/bad.snap"] + 1.0);
  // A log without behaviour probabilities (as written before they were recorded): a clear
  // message, exit 1.
  {
    EpisodeLogWriter::Options w;
    w.directory = dir + "/old";
    EpisodeLogWriter writer = EpisodeLogWriter::Open(w, {}).ValueOrThrow();
    DecisionRecord r;
    r.observation = {0.0f, 0.0f, 0.0f, 0.0f};
    ASSERT_TRUE(writer.Append(r).ok());
    ASSERT_TRUE(writer.Close().ok());
  }
  const std::string refused =
      RunCli("eval --ope --logs " + dir + "/old --policy " + dir + "/good.snap", code, true);
  EXPECT_EQ(code, 1);
  EXPECT_NE(refused.find("1 of 1 logged decisions carry no behaviour probability"),
            std::string::npos)
      << refused;
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace apprentice
