// Off-policy estimators (runtime/ope.h): exact on enumerated trajectories, clipping, intervals
// and diagnostics, a noisy bandit whose true value is known, and logs that lack the behaviour
// probability.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "core/rng.h"
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

}  // namespace
}  // namespace apprentice
