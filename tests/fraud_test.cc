// The fraud loop's data side: the generator (deterministic, the scenarios as documented), the
// online features (equal to a brute-force recomputation, and blind to labels not yet known), the
// dataset file (round trip, every kind of damage refused), the measures, and the stream as an
// environment (tests/conformance_test.cc checks its contract).
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>

#include "env/registry.h"
#include "fraud/features.h"
#include "fraud/metrics.h"
#include "fraud/payment_env.h"
#include "tests/temp_files.h"

namespace apprentice {
namespace {

FraudSimOptions Small() {
  FraudSimOptions o;
  o.customers = 500;
  o.terminals = 1'000;
  o.days = 60;
  o.seed = 3;
  return o;
}

TEST(FraudGenerator, IsDeterministicBySeed) {
  const auto a = GenerateTransactions(Small());
  const auto b = GenerateTransactions(Small());
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    ASSERT_EQ(a[i].time_s, b[i].time_s);
    ASSERT_EQ(a[i].amount, b[i].amount);
    ASSERT_EQ(a[i].fraud, b[i].fraud);
  }
  FraudSimOptions other = Small();
  other.seed = 4;
  const auto c = GenerateTransactions(other);
  EXPECT_TRUE(c.size() != a.size() || c[10].amount != a[10].amount);
}

TEST(FraudGenerator, TheScenariosAreWhatTheyAreDocumentedToBe) {
  FraudSimOptions o;  // the defaults: 5 000 customers, 10 000 terminals
  o.days = 60;
  o.new_pattern_day = 40;
  const auto txs = GenerateTransactions(o);
  const FraudSimSummary s = Summarize(txs);
  // About 5 000 customers x 2 payments a day x 60 days; under 1.5 % frauds, every scenario.
  EXPECT_GT(s.transactions, 450'000);
  EXPECT_LT(s.transactions, 750'000);
  EXPECT_GT(s.fraud_rate(), 0.003);
  EXPECT_LT(s.fraud_rate(), 0.015);
  for (int scenario = 1; scenario <= 4; ++scenario) EXPECT_GT(s.by_scenario[scenario], 0) << scenario;
  int64_t previous = -1;
  for (const Transaction& tx : txs) {
    ASSERT_GE(tx.time_s, previous);  // in time order, ids in that order
    previous = tx.time_s;
    ASSERT_EQ(tx.day, tx.time_s / 86'400);
    ASSERT_EQ(tx.fraud != 0, tx.scenario != 0);
    if (tx.scenario == 1) {
      EXPECT_GT(tx.amount, o.large_amount);
    }
    if (tx.scenario == 4) {
      EXPECT_GE(tx.day, o.new_pattern_day);
      EXPECT_LT(tx.time_s % 86'400, 6 * 3'600);
      EXPECT_LE(tx.amount, 10.0f);
    }
  }
  // Without the new pattern there is no scenario 4, and scenarios 1-3 draw the same payments.
  o.new_pattern_day = -1;
  const auto without = GenerateTransactions(o);
  EXPECT_EQ(Summarize(without).by_scenario[4], 0);
  EXPECT_EQ(Summarize(without).transactions, s.transactions - s.by_scenario[4]);
  FraudSimOptions bad = Small();
  bad.new_pattern_day = 60;
  EXPECT_FALSE(bad.Validate().ok());
}

// The features of every payment, recomputed from scratch from the payments before it.
FraudFeatures BruteForce(const std::vector<Transaction>& txs, size_t i, int64_t delay_days) {
  const Transaction& tx = txs[i];
  FraudFeatures f{};
  f[0] = std::log1p(tx.amount);
  f[1] = (tx.day % 7) >= 5 ? 1.0f : 0.0f;
  f[2] = (tx.time_s % 86'400) < 6 * 3'600 ? 1.0f : 0.0f;
  const int64_t windows[3] = {1, 7, 30};
  for (int w = 0; w < 3; ++w) {
    double count = 0, sum = 0, tcount = 0, tfraud = 0;
    const int64_t known = tx.time_s - delay_days * 86'400;
    for (size_t j = 0; j <= i; ++j) {
      const Transaction& p = txs[j];
      if (p.customer == tx.customer && p.time_s > tx.time_s - windows[w] * 86'400) {
        ++count;
        sum += p.amount;
      }
      if (j < i && p.terminal == tx.terminal && p.time_s < known &&
          p.time_s > known - windows[w] * 86'400) {
        ++tcount;
        tfraud += p.fraud;
      }
    }
    f[static_cast<size_t>(3 + w)] = static_cast<float>(std::log1p(count));
    f[static_cast<size_t>(6 + w)] = static_cast<float>(std::log1p(count > 0 ? sum / count : 0));
    f[static_cast<size_t>(9 + w)] = static_cast<float>(std::log1p(tcount));
    f[static_cast<size_t>(12 + w)] = static_cast<float>(tcount > 0 ? tfraud / tcount : 0);
  }
  return f;
}

TEST(FraudFeatures, EqualABruteForceRecomputationAndNeverPeekAtUnknownLabels) {
  FraudSimOptions o = Small();
  o.customers = 60;
  o.terminals = 40;  // busy terminals: their windows hold many payments
  o.radius = 25;     // so that every customer has terminals to pay at
  o.days = 45;
  o.terminals_per_day = 1;
  auto txs = GenerateTransactions(o);
  ASSERT_GT(txs.size(), 3'000u);
  OnlineFraudFeatures online(7);
  std::vector<FraudFeatures> features;
  for (const Transaction& tx : txs) features.push_back(online.Next(tx));
  for (size_t i = 0; i < txs.size(); i += 7) {
    const FraudFeatures want = BruteForce(txs, i, 7);
    for (int k = 0; k < kFraudFeatures; ++k) {
      ASSERT_NEAR(features[i][static_cast<size_t>(k)], want[static_cast<size_t>(k)], 1e-4)
          << "payment " << i << ", feature " << FraudFeatureNames()[static_cast<size_t>(k)];
    }
  }
  // Labels of the last 7 days before a payment cannot change its features: flip them all.
  const size_t probe = txs.size() - 1;
  auto flipped = txs;
  for (Transaction& tx : flipped) {
    if (tx.time_s > flipped[probe].time_s - 7 * 86'400) tx.fraud = tx.fraud ? 0 : 1;
  }
  OnlineFraudFeatures again(7);
  FraudFeatures last{};
  for (const Transaction& tx : flipped) last = again.Next(tx);
  EXPECT_EQ(last, features[probe]);
}

TEST(FraudDataset, RoundTripsAndRefusesEveryKindOfDamage) {
  TempDir dir;
  FraudSimOptions o = Small();
  o.days = 20;
  const FraudDataset d = MakeFraudDataset(o, 7);
  const std::string path = dir.str() + "/data.fraud";
  ASSERT_TRUE(WriteFraudDataset(path, d).ok());
  Result<FraudDataset> read = ReadFraudDataset(path);
  ASSERT_TRUE(read.ok()) << read.status().message();
  ASSERT_EQ(read->transactions.size(), d.transactions.size());
  EXPECT_EQ(read->delay_days, 7);
  EXPECT_EQ(read->generator.Find("customers")->AsInt(), 500);
  for (size_t i = 0; i < d.transactions.size(); i += 101) {
    EXPECT_EQ(read->transactions[i].amount, d.transactions[i].amount);
    EXPECT_EQ(read->features[i], d.features[i]);
  }
  std::ifstream in(path, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto refused = [&](const std::string& name, const std::string& content, const std::string& why) {
    const std::string bad = dir.str() + "/" + name;
    std::ofstream(bad, std::ios::binary) << content;
    const Status s = ReadFraudDataset(bad).status();
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << name;
    EXPECT_NE(s.message().find(why), std::string::npos) << name << ": " << s.message();
  };
  refused("text", "customer,terminal,amount\n1,2,3\n", "no APFRAUD1 magic");
  refused("truncated", bytes.substr(0, bytes.size() - 50), "truncated");
  refused("trailing", bytes + "x", "bytes after");
  std::string flipped = bytes;
  flipped[flipped.size() - 10] ^= 0x40;
  refused("flipped", flipped, "CRC32C");
  std::string header_cut = bytes.substr(0, 20);
  refused("header", header_cut, "ends inside its header");
  EXPECT_EQ(ReadFraudDataset(dir.str() + "/missing").status().code(), StatusCode::kNotFound);
}

TEST(FraudMetrics, AreTheDocumentedMeasuresWorkedOutByHand) {
  // Four payments: frauds at scores 0.9 and 0.4, genuine at 0.8 and 0.1.
  std::vector<Transaction> t(4);
  const float scores[] = {0.9f, 0.8f, 0.4f, 0.1f};
  const uint8_t frauds[] = {1, 0, 1, 0};
  std::vector<ScoredPayment> s(4);
  for (int i = 0; i < 4; ++i) {
    t[i].customer = i;
    t[i].amount = 10.0f * static_cast<float>(i + 1);
    t[i].fraud = frauds[i];
    t[i].scenario = frauds[i];
    s[i].score = scores[i];
    s[i].declined = scores[i] > 0.5f;
  }
  // Thresholds: 0.9 -> P 1, R 0.5; 0.8 -> P 0.5, R 0.5; 0.4 -> P 2/3, R 1.
  EXPECT_NEAR(AveragePrecision(t, s), 0.5 * 1.0 + 0.5 * (2.0 / 3.0), 1e-12);
  // At FPR <= 0: only the first threshold; at 0.5: the second too; at 1: all.
  EXPECT_NEAR(RecallAtFalsePositiveRate(t, s, 0.0), 0.5, 1e-12);
  EXPECT_NEAR(RecallAtFalsePositiveRate(t, s, 0.5), 1.0, 1e-12);
  // One day, four cards: the top 2 hold one fraud.
  EXPECT_NEAR(CardPrecisionAtK(t, s, 2), 0.5, 1e-12);
  const FraudCost c = Cost(t, s);
  EXPECT_EQ(c.caught, 1);
  EXPECT_EQ(c.missed, 1);
  EXPECT_NEAR(c.missed_fraud_amount, 30.0, 1e-6);
  EXPECT_EQ(c.declined_genuine, 1);
  EXPECT_NEAR(c.total(5.0), 35.0, 1e-6);
  // Perfect scores: AP 1.
  for (int i = 0; i < 4; ++i) s[i].score = frauds[i] ? 1.0f : 0.0f;
  EXPECT_NEAR(AveragePrecision(t, s), 1.0, 1e-12);
}

TEST(PaymentEnv, EachEpisodeIsOnePaymentWithTheCostOfTheDecisionAsReward) {
  PaymentEnv::Options o;
  o.customers = 500;
  o.terminals = 1'000;
  o.days = 40;
  o.data_seed = 3;
  o.from_day = 20;
  o.decline_cost = 7.5;
  PaymentEnv env(o);
  const FraudDataset& d = env.dataset();
  ASSERT_GT(env.first_payment(), 0);
  EXPECT_EQ(d.transactions[static_cast<size_t>(env.first_payment())].day, 20);
  EXPECT_EQ(d.transactions[static_cast<size_t>(env.first_payment() - 1)].day, 19);
  int64_t frauds = 0;
  std::set<int64_t> seen;
  for (uint64_t seed = 0; seed < 400; ++seed) {
    const std::span<const float> obs = env.Reset(seed);
    const int64_t i = env.payment();
    ASSERT_GE(i, env.first_payment());
    seen.insert(i);
    const Transaction& t = d.transactions[static_cast<size_t>(i)];
    ASSERT_TRUE(std::equal(obs.begin(), obs.end(), d.features[static_cast<size_t>(i)].begin()));
    PaymentEnv clone = env;
    const StepResult approve = env.Step(Action::Discrete(0));
    const StepResult decline = clone.Step(Action::Discrete(1));
    EXPECT_TRUE(approve.terminated && decline.terminated);
    EXPECT_EQ(approve.reward, t.fraud ? -static_cast<double>(t.amount) : 0.0);
    EXPECT_EQ(decline.reward, t.fraud ? 0.0 : -7.5);
    EXPECT_THROW(env.Step(Action::Discrete(0)), InvalidArgument);  // one step per episode
    frauds += t.fraud;
  }
  EXPECT_GT(seen.size(), 390u);  // payments drawn across the window, not one
  EXPECT_GT(frauds, 0);
  // Exact values: approving everything costs the frauds' amounts, declining everything
  // decline_cost per genuine payment, both per payment of the window.
  double fraud_amount = 0.0, genuine = 0.0;
  const auto payments = static_cast<int64_t>(d.transactions.size());
  for (int64_t i = env.first_payment(); i < payments; ++i) {
    const Transaction& t = d.transactions[static_cast<size_t>(i)];
    fraud_amount += t.fraud ? t.amount : 0.0f;
    genuine += t.fraud ? 0.0 : 1.0;
  }
  const auto n = static_cast<double>(payments - env.first_payment());
  EXPECT_NEAR(env.MeanReward([](std::span<const float>) { return int64_t{0}; }),
              -fraud_amount / n, 1e-9 * fraud_amount);
  EXPECT_NEAR(env.MeanReward([](std::span<const float>) { return int64_t{1}; }),
              -7.5 * genuine / n, 1e-9);
  env.Reset(11);
  const int64_t again = env.payment();
  env.Reset(11);
  EXPECT_EQ(env.payment(), again);
}

TEST(PaymentEnv, ReadsADatasetFileAndRefusesBadOptionsAndFilesByName) {
  TempDir dir;
  FraudSimOptions sim = Small();
  sim.days = 20;
  const std::string path = dir.str() + "/data.fraud";
  ASSERT_TRUE(WriteFraudDataset(path, MakeFraudDataset(sim, 7)).ok());
  auto env = MakeEnv("fraud", {{"data", path}, {"from_day", "10"}});
  ASSERT_TRUE(env.ok()) << env.status().message();
  (*env)->Reset(1);
  EXPECT_EQ((*env)->observation_space().flat_size(), kFraudFeatures);
  auto late = MakeEnv("fraud", {{"data", path}, {"from_day", "25"}});
  ASSERT_FALSE(late.ok());
  EXPECT_NE(late.status().message().find("no payment on day 25"), std::string::npos)
      << late.status().message();
  auto missing = MakeEnv("fraud", {{"data", dir.str() + "/missing.fraud"}});
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("missing.fraud"), std::string::npos)
      << missing.status().message();
  std::ofstream(dir.str() + "/text.fraud") << "not a dataset";
  auto text = MakeEnv("fraud", {{"data", dir.str() + "/text.fraud"}});
  ASSERT_FALSE(text.ok());
  EXPECT_NE(text.status().message().find("APFRAUD1"), std::string::npos)
      << text.status().message();
  auto after_end = MakeEnv("fraud", {{"days", "30"}, {"from_day", "30"}});
  ASSERT_FALSE(after_end.ok());
  EXPECT_NE(after_end.status().message().find("from_day"), std::string::npos);
  auto tiny = MakeEnv("fraud", {{"customers", "2"}});
  ASSERT_FALSE(tiny.ok());
  EXPECT_NE(tiny.status().message().find("compromised cards"), std::string::npos)
      << tiny.status().message();
}

}  // namespace
}  // namespace apprentice
