#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <future>
#include <limits>
#include <map>
#include <set>
#include <thread>

#include "replay/rate_limiter.h"
#include "replay/replay_buffer.h"
#include "replay/samplers/prioritized.h"
#include "replay/samplers/recent.h"
#include "replay/samplers/registry.h"

namespace apprentice {
namespace {

// Options for a uniform buffer of `capacity` records.
ReplayBuffer::Options Capacity(int64_t capacity) {
  ReplayBuffer::Options options;
  options.capacity = capacity;
  return options;
}

DecisionRecord RecordWithStep(int64_t step) {
  DecisionRecord r;
  r.step = step;
  r.observation = {static_cast<float>(step)};
  return r;
}

TEST(ReplayBuffer, RejectsNonPositiveCapacity) {
  EXPECT_THROW(ReplayBuffer(Capacity(0)), InvalidArgument);
}

TEST(ReplayBuffer, SampleFromEmptyReturnsFalse) {
  ReplayBuffer buffer(Capacity(4));
  Rng rng(1);
  std::vector<ReplayBuffer::RecordPtr> out = {nullptr};
  EXPECT_FALSE(buffer.SampleUniform(/*n=*/3, rng, out));
  EXPECT_TRUE(out.empty());
}

TEST(ReplayBuffer, EvictsOldestFirstAtCapacity) {
  ReplayBuffer buffer(Capacity(3));
  for (int64_t i = 0; i < 5; ++i) buffer.Insert(RecordWithStep(i));
  EXPECT_EQ(buffer.size(), 3);
  EXPECT_EQ(buffer.inserted(), 5);
  EXPECT_EQ(buffer.evicted(), 2);
  Rng rng(3);
  std::vector<ReplayBuffer::RecordPtr> out;
  ASSERT_TRUE(buffer.SampleUniform(/*n=*/300, rng, out));
  std::set<int64_t> seen;
  for (const auto& r : out) seen.insert(r->step);
  EXPECT_EQ(seen, (std::set<int64_t>{2, 3, 4}));
}

TEST(ReplayBuffer, SamplesUniformly) {
  ReplayBuffer buffer(Capacity(4));
  for (int64_t i = 0; i < 4; ++i) buffer.Insert(RecordWithStep(i));
  Rng rng(5);
  std::vector<ReplayBuffer::RecordPtr> out;
  ASSERT_TRUE(buffer.SampleUniform(/*n=*/40000, rng, out));
  int counts[4] = {};
  for (const auto& r : out) ++counts[r->step];
  for (int c : counts) EXPECT_NEAR(c, 10000, 500);
}

TEST(ReplayBuffer, SampledRecordOutlivesEviction) {
  ReplayBuffer buffer(Capacity(1));
  buffer.Insert(RecordWithStep(7));
  Rng rng(1);
  std::vector<ReplayBuffer::RecordPtr> out;
  ASSERT_TRUE(buffer.SampleUniform(/*n=*/1, rng, out));
  buffer.Insert(RecordWithStep(8));
  EXPECT_EQ(out[0]->step, 7);
  EXPECT_EQ(out[0]->observation[0], 7.0f);
}

TEST(ReplayBuffer, ConcurrentInsertAndSampleKeepCounts) {
  ReplayBuffer buffer(Capacity(1000));
  constexpr int kWriters = 2, kPerWriter = 5000;
  std::atomic<int> writers_done{0};
  std::vector<std::thread> threads;
  for (int w = 0; w < kWriters; ++w) {
    threads.emplace_back([&, w] {
      for (int i = 0; i < kPerWriter; ++i) buffer.Insert(RecordWithStep(w * kPerWriter + i));
      writers_done.fetch_add(1);
    });
  }
  threads.emplace_back([&] {
    Rng rng(9);
    std::vector<ReplayBuffer::RecordPtr> out;
    while (writers_done.load() < kWriters) {
      if (buffer.SampleUniform(/*n=*/16, rng, out)) {
        for (const auto& r : out) ASSERT_LT(r->step, kWriters * kPerWriter);
      }
    }
  });
  for (auto& t : threads) t.join();
  EXPECT_EQ(buffer.inserted(), kWriters * kPerWriter);
  EXPECT_EQ(buffer.size(), 1000);
}

// ---- Keys, the sampler interface, options ----

using Batch = ReplayBuffer::SampleBatch;

ReplayBuffer::Options WithSampler(int64_t capacity, const std::string& sampler,
                                  OptionValues sampler_options = {}) {
  ReplayBuffer::Options options = Capacity(capacity);
  options.sampler = sampler;
  options.sampler_options = std::move(sampler_options);
  return options;
}

ReplayBuffer::Options Prioritized(int64_t capacity, double alpha, double beta) {
  return WithSampler(capacity, "prioritized",
                     {{"alpha", FormatNumber(alpha)}, {"beta", FormatNumber(beta)}});
}

const char* const kSamplers[] = {"uniform", "prioritized", "recent"};

// Draws `n` records and counts them by step.
std::map<int64_t, int> CountSteps(const ReplayBuffer& buffer, int n, uint64_t seed) {
  Rng rng(seed);
  Batch batch;
  EXPECT_TRUE(buffer.Sample(n, rng, batch));
  std::map<int64_t, int> counts;
  for (const auto& r : batch.records) ++counts[r->step];
  return counts;
}

// Pearson's chi-square statistic of observed counts against expected probabilities.
double ChiSquare(const std::map<int64_t, int>& counts, const std::map<int64_t, double>& expected,
                 int n) {
  double chi2 = 0.0;
  for (const auto& [step, p] : expected) {
    const auto it = counts.find(step);
    const double observed = it == counts.end() ? 0.0 : it->second;
    const double e = p * n;
    chi2 += (observed - e) * (observed - e) / e;
  }
  return chi2;
}

void ExpectInvalid(const Status& status, const std::string& mentions) {
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find(mentions), std::string::npos) << status.message();
}

TEST(ReplayBuffer, BadSamplerOptionsAreInvalidArgumentsNamingTheField) {
  ReplayBuffer::Options options = Prioritized(8, /*alpha=*/-1.0, /*beta=*/0.5);
  ExpectInvalid(options.Validate(), "replay sampler prioritized: alpha: -1 is out of range");
  EXPECT_THROW(ReplayBuffer{options}, InvalidArgument);
  options = Prioritized(8, /*alpha=*/0.6, /*beta=*/1.5);
  ExpectInvalid(options.Validate(), "beta: 1.5 is out of range [0, 1]");
  options = WithSampler(8, "prioritized", {{"min_priority", "0"}});
  ExpectInvalid(options.Validate(), "min_priority");
  options = WithSampler(8, "recent", {{"window", "0"}});
  ExpectInvalid(options.Validate(), "window: 0 is out of range");
  options = WithSampler(8, "recent", {{"fraction", "nan"}});
  ExpectInvalid(options.Validate(), "fraction: 'nan' is not a finite number");
  options = WithSampler(8, "recent", {{"windw", "3"}});
  ExpectInvalid(options.Validate(), "replay sampler recent has no option 'windw'");
  ExpectInvalid(Capacity(-3).Validate(), "capacity must be >= 1, got -3");
}

TEST(ReplayBuffer, SamplersAreRegisteredByName) {
  EXPECT_EQ(SamplerNames(), (std::vector<std::string>{"prioritized", "recent", "uniform"}));
  for (const char* name : kSamplers) {
    ReplayBuffer buffer(WithSampler(4, name));
    EXPECT_EQ(buffer.sampler_name(), name);
    EXPECT_EQ(buffer.uses_priorities(), std::string(name) == "prioritized");
  }
  EXPECT_EQ(WithSampler(4, "fifo").Validate().code(), StatusCode::kNotFound);
  EXPECT_NE(WithSampler(4, "fifo").Validate().message().find("unknown replay sampler 'fifo'"),
            std::string::npos);
}

TEST(ReplayBuffer, SampleReportsKeysOfTheDrawnRecords) {
  for (const char* kind : kSamplers) {
    ReplayBuffer buffer(WithSampler(/*capacity=*/10, kind));
    for (int64_t i = 0; i < 25; ++i) buffer.Insert(RecordWithStep(i));  // keys 0..24, 15..24 kept
    Rng rng(11);
    Batch batch;
    ASSERT_TRUE(buffer.Sample(/*n=*/500, rng, batch));
    ASSERT_EQ(batch.size(), 500u);
    ASSERT_EQ(batch.keys.size(), 500u);
    ASSERT_EQ(batch.probabilities.size(), 500u);
    ASSERT_EQ(batch.weights.size(), 500u);
    for (size_t i = 0; i < batch.size(); ++i) {
      EXPECT_EQ(batch.keys[i], batch.records[i]->step) << kind;
      EXPECT_GE(batch.keys[i], 15);
      EXPECT_GT(batch.probabilities[i], 0.0);
      EXPECT_LE(batch.probabilities[i], 1.0);
      EXPECT_GT(batch.weights[i], 0.0f);
      EXPECT_LE(batch.weights[i], 1.0f);
    }
  }
}

TEST(ReplayBuffer, SampleFromEmptyReturnsFalseAndEmptyBatch) {
  ReplayBuffer buffer(WithSampler(4, "prioritized"));
  Rng rng(1);
  Batch batch;
  batch.records = {nullptr};
  batch.keys = {3};
  EXPECT_FALSE(buffer.Sample(/*n=*/3, rng, batch));
  EXPECT_TRUE(batch.empty());
  EXPECT_TRUE(batch.keys.empty());
}

TEST(ReplayBuffer, UniformSamplerMatchesSampleUniformDrawForDraw) {
  ReplayBuffer buffer(Capacity(7));
  for (int64_t i = 0; i < 12; ++i) buffer.Insert(RecordWithStep(i));
  Rng a(21), b(21);
  Batch batch;
  std::vector<ReplayBuffer::RecordPtr> plain;
  ASSERT_TRUE(buffer.Sample(/*n=*/100, a, batch));
  ASSERT_TRUE(buffer.SampleUniform(/*n=*/100, b, plain));
  for (size_t i = 0; i < plain.size(); ++i) {
    EXPECT_EQ(batch.records[i], plain[i]);
    EXPECT_DOUBLE_EQ(batch.probabilities[i], 1.0 / 7.0);
    EXPECT_EQ(batch.weights[i], 1.0f);
  }
}

TEST(ReplayBuffer, NullRecordIsInvalidArgument) {
  ReplayBuffer buffer(Capacity(2));
  EXPECT_THROW(buffer.Insert(ReplayBuffer::RecordPtr()), InvalidArgument);
}

// ---- Sum-tree ----

TEST(SumTree, FindsTheLeafWhosePrefixIntervalHoldsTheMass) {
  SumTree tree(/*capacity=*/5);  // 8 leaves, 3 of them padding
  const double values[] = {1.0, 0.0, 2.0, 3.0, 0.5};
  for (int64_t i = 0; i < 5; ++i) tree.Set(i, values[i]);
  EXPECT_DOUBLE_EQ(tree.total(), 6.5);
  EXPECT_DOUBLE_EQ(tree.min(), 0.5);
  EXPECT_EQ(tree.Find(0.0), 0);
  EXPECT_EQ(tree.Find(0.999), 0);
  EXPECT_EQ(tree.Find(1.0), 2);  // leaf 1 is empty: never found
  EXPECT_EQ(tree.Find(2.999), 2);
  EXPECT_EQ(tree.Find(3.0), 3);
  EXPECT_EQ(tree.Find(6.0), 4);
  EXPECT_EQ(tree.Find(6.5), 4);  // rounding past the end stays on a non-empty leaf
  tree.Set(4, 0.0);
  EXPECT_DOUBLE_EQ(tree.total(), 6.0);
  EXPECT_DOUBLE_EQ(tree.min(), 1.0);
  EXPECT_EQ(tree.Find(5.9999), 3);
}

TEST(SumTree, SumsStayExactUnderManyUpdates) {
  SumTree tree(/*capacity=*/100);
  Rng rng(4);
  for (int i = 0; i < 100'000; ++i) tree.Set(static_cast<int64_t>(rng.Below(100)), rng.Uniform());
  for (int64_t i = 0; i < 100; ++i) tree.Set(i, 0.25);
  EXPECT_EQ(tree.total(), 25.0);
  EXPECT_EQ(tree.min(), 0.25);
}

// ---- Prioritised sampling ----

TEST(PrioritizedReplay, SamplingFrequenciesMatchPriorities) {
  ReplayBuffer buffer(Prioritized(/*capacity=*/8, /*alpha=*/1.0, /*beta=*/0.0));
  std::map<int64_t, double> expected;
  for (int64_t i = 0; i < 8; ++i) {
    buffer.Insert(RecordWithStep(i), /*priority=*/static_cast<double>(i + 1));
    expected[i] = static_cast<double>(i + 1) / 36.0;
  }
  constexpr int kDraws = 200'000;
  // 7 degrees of freedom: P(chi2 > 24.3) = 0.001 for a correct sampler.
  EXPECT_LT(ChiSquare(CountSteps(buffer, kDraws, /*seed=*/17), expected, kDraws), 24.3);
}

TEST(PrioritizedReplay, AlphaFlattensPriorities) {
  ReplayBuffer buffer(Prioritized(/*capacity=*/4, /*alpha=*/0.5, /*beta=*/0.0));
  const double priorities[] = {1.0, 4.0, 9.0, 16.0};  // sqrt: 1, 2, 3, 4
  for (int64_t i = 0; i < 4; ++i) buffer.Insert(RecordWithStep(i), priorities[i]);
  Rng rng(2);
  Batch batch;
  ASSERT_TRUE(buffer.Sample(/*n=*/200, rng, batch));
  for (size_t i = 0; i < batch.size(); ++i) {
    EXPECT_NEAR(batch.probabilities[i], (batch.keys[i] + 1) / 10.0, 1e-12);
  }
  std::map<int64_t, double> expected = {{0, 0.1}, {1, 0.2}, {2, 0.3}, {3, 0.4}};
  // 3 degrees of freedom: P(chi2 > 16.27) = 0.001.
  EXPECT_LT(ChiSquare(CountSteps(buffer, 100'000, /*seed=*/3), expected, 100'000), 16.27);
}

TEST(PrioritizedReplay, ImportanceWeightsMatchHandExample) {
  // Priorities 1, 2, 4 with alpha = 1: P = 1/7, 2/7, 4/7 and N = 3, so
  // (N P)^-1 = 7/3, 7/6, 7/12; divided by the largest (7/3): 1, 1/2, 1/4.
  ReplayBuffer buffer(Prioritized(/*capacity=*/3, /*alpha=*/1.0, /*beta=*/1.0));
  buffer.Insert(RecordWithStep(0), 1.0);
  buffer.Insert(RecordWithStep(1), 2.0);
  buffer.Insert(RecordWithStep(2), 4.0);
  const double p[] = {1.0 / 7, 2.0 / 7, 4.0 / 7};
  const double w_beta1[] = {1.0, 0.5, 0.25};
  Rng rng(8);
  Batch batch;
  ASSERT_TRUE(buffer.Sample(/*n=*/300, rng, batch));
  std::set<int64_t> seen;
  for (size_t i = 0; i < batch.size(); ++i) {
    const auto k = static_cast<size_t>(batch.keys[i]);
    seen.insert(batch.keys[i]);
    EXPECT_NEAR(batch.probabilities[i], p[k], 1e-12);
    EXPECT_NEAR(batch.weights[i], w_beta1[k], 1e-6);
  }
  EXPECT_EQ(seen.size(), 3u);
  // beta = 0.5: the square roots, 1, 1/sqrt(2), 1/2.
  buffer.SetBeta(0.5);
  EXPECT_EQ(buffer.beta(), 0.5);
  ASSERT_TRUE(buffer.Sample(/*n=*/300, rng, batch));
  for (size_t i = 0; i < batch.size(); ++i) {
    EXPECT_NEAR(batch.weights[i], std::sqrt(w_beta1[batch.keys[i]]), 1e-6);
  }
  EXPECT_THROW(buffer.SetBeta(1.01), InvalidArgument);
}

TEST(PrioritizedReplay, UpdatedPrioritiesTakeEffect) {
  ReplayBuffer buffer(Prioritized(/*capacity=*/4, /*alpha=*/1.0, /*beta=*/0.0));
  for (int64_t i = 0; i < 4; ++i) buffer.Insert(RecordWithStep(i), /*priority=*/1.0);
  const std::vector<int64_t> keys = {2, 0};
  const std::vector<double> priorities = {97.0, 0.0};  // 0 is floored at min_priority
  EXPECT_EQ(buffer.UpdatePriorities(keys, priorities), 2);
  // P(2) = 97 / (97 + 1e-6 + 1 + 1); P(0) ~ 1e-8.
  auto counts = CountSteps(buffer, 100'000, /*seed=*/6);
  EXPECT_NEAR(counts[2], 100'000 * 97.0 / 99.0, 300);
  EXPECT_EQ(counts[0], 0);
}

TEST(PrioritizedReplay, UpdatesOfEvictedKeysAreSkipped) {
  ReplayBuffer buffer(Prioritized(/*capacity=*/2, /*alpha=*/1.0, /*beta=*/0.0));
  for (int64_t i = 0; i < 3; ++i) buffer.Insert(RecordWithStep(i), /*priority=*/1.0);  // 0 gone
  const std::vector<int64_t> keys = {0, 1, 7, -1};
  const std::vector<double> priorities = {50.0, 3.0, 50.0, 50.0};
  EXPECT_EQ(buffer.UpdatePriorities(keys, priorities), 1);
  Rng rng(1);
  Batch batch;
  ASSERT_TRUE(buffer.Sample(/*n=*/50, rng, batch));
  for (size_t i = 0; i < batch.size(); ++i) {
    EXPECT_NEAR(batch.probabilities[i], batch.keys[i] == 1 ? 0.75 : 0.25, 1e-12);
  }
}

TEST(PrioritizedReplay, EvictionRemovesPriorityMass) {
  ReplayBuffer buffer(Prioritized(/*capacity=*/3, /*alpha=*/1.0, /*beta=*/1.0));
  buffer.Insert(RecordWithStep(0), /*priority=*/1000.0);
  buffer.Insert(RecordWithStep(1), /*priority=*/1.0);
  buffer.Insert(RecordWithStep(2), /*priority=*/1.0);
  buffer.Insert(RecordWithStep(3), /*priority=*/2.0);  // evicts step 0 and its mass
  Rng rng(12);
  Batch batch;
  ASSERT_TRUE(buffer.Sample(/*n=*/1000, rng, batch));
  for (size_t i = 0; i < batch.size(); ++i) {
    EXPECT_NE(batch.records[i]->step, 0);
    EXPECT_NEAR(batch.probabilities[i], batch.keys[i] == 3 ? 0.5 : 0.25, 1e-12);
    // The evicted record no longer sets the normalising minimum either.
    EXPECT_NEAR(batch.weights[i], batch.keys[i] == 3 ? 0.5 : 1.0, 1e-6);
  }
}

TEST(PrioritizedReplay, NewRecordsGetTheLargestPrioritySeen) {
  ReplayBuffer buffer(Prioritized(/*capacity=*/4, /*alpha=*/1.0, /*beta=*/0.0));
  buffer.Insert(RecordWithStep(0));  // nothing seen yet: 1
  buffer.Insert(RecordWithStep(1), /*priority=*/5.0);
  buffer.Insert(RecordWithStep(2));  // 5
  const std::vector<int64_t> keys = {1};
  const std::vector<double> priorities = {8.0};
  ASSERT_EQ(buffer.UpdatePriorities(keys, priorities), 1);
  buffer.Insert(RecordWithStep(3));  // 8
  Rng rng(5);
  Batch batch;
  ASSERT_TRUE(buffer.Sample(/*n=*/200, rng, batch));
  const double expected[] = {1.0 / 22, 8.0 / 22, 5.0 / 22, 8.0 / 22};
  for (size_t i = 0; i < batch.size(); ++i) {
    EXPECT_NEAR(batch.probabilities[i], expected[batch.keys[i]], 1e-12);
  }
}

TEST(PrioritizedReplay, InitialPriorityCanComeFromTheRecord) {
  ReplayBuffer::Options options = Prioritized(/*capacity=*/4, /*alpha=*/1.0, /*beta=*/0.0);
  options.initial_priority = [](const DecisionRecord& r) {
    return 1.0 + static_cast<double>(r.step);
  };
  ReplayBuffer buffer(options);
  for (int64_t i = 0; i < 4; ++i) buffer.Insert(RecordWithStep(i));
  Rng rng(5);
  Batch batch;
  ASSERT_TRUE(buffer.Sample(/*n=*/100, rng, batch));
  for (size_t i = 0; i < batch.size(); ++i) {
    EXPECT_NEAR(batch.probabilities[i], (batch.keys[i] + 1) / 10.0, 1e-12);
  }
}

TEST(PrioritizedReplay, NegativeOrNonFinitePrioritiesAreInvalidArgument) {
  ReplayBuffer buffer(Prioritized(/*capacity=*/4, /*alpha=*/1.0, /*beta=*/0.0));
  EXPECT_THROW(buffer.Insert(RecordWithStep(0), -1.0), InvalidArgument);
  EXPECT_EQ(buffer.size(), 0);
  buffer.Insert(RecordWithStep(0), 1.0);
  buffer.Insert(RecordWithStep(1), 1.0);
  const std::vector<int64_t> keys = {0, 1};
  const std::vector<double> bad = {100.0, std::numeric_limits<double>::quiet_NaN()};
  EXPECT_THROW(buffer.UpdatePriorities(keys, bad), InvalidArgument);  // nothing changes
  EXPECT_THROW(buffer.UpdatePriorities(keys, std::vector<double>{1.0}), InvalidArgument);
  Rng rng(1);
  Batch batch;
  ASSERT_TRUE(buffer.Sample(/*n=*/10, rng, batch));
  for (double p : batch.probabilities) EXPECT_DOUBLE_EQ(p, 0.5);
}

TEST(PrioritizedReplay, DisagreementIsPlannerMassOffTheExecutorsAction) {
  DecisionRecord r;
  EXPECT_EQ(PlannerExecutorDisagreement(r), 0.0);  // no label yet
  r.has_label = true;
  const float probs[] = {0.75f, 0.25f};
  r.planner = PolicyOutput::FromProbabilities(probs);
  r.planner_action = Action::Discrete(0);
  r.executor_action = Action::Discrete(0);
  EXPECT_NEAR(PlannerExecutorDisagreement(r), 0.25, 1e-6);
  r.executor_action = Action::Discrete(1);
  EXPECT_NEAR(PlannerExecutorDisagreement(r), 0.75, 1e-6);
  const float a[] = {1.0f, 2.0f};
  const float b[] = {4.0f, -2.0f};
  r.planner = PolicyOutput::Gaussian(a, a);
  r.planner_action = Action::Continuous(a);
  r.executor_action = Action::Continuous(b);
  EXPECT_NEAR(PlannerExecutorDisagreement(r), 5.0, 1e-6);
}

// ---- Recent-first sampling ----

TEST(RecentReplay, PrefersNewRecords) {
  ReplayBuffer::Options options =
      WithSampler(/*capacity=*/100, "recent", {{"window", "10"}, {"fraction", "0.5"}});
  ReplayBuffer buffer(options);
  for (int64_t i = 0; i < 150; ++i) buffer.Insert(RecordWithStep(i));  // keeps 50..149
  constexpr int kDraws = 100'000;
  const auto counts = CountSteps(buffer, kDraws, /*seed=*/9);
  // Newest 10: 0.5/10 + 0.5/100 each; the other 90: 0.5/100 each.
  std::map<int64_t, double> expected;
  for (int64_t step = 50; step < 150; ++step) expected[step] = step >= 140 ? 0.055 : 0.005;
  // 99 degrees of freedom: P(chi2 > 148.2) = 0.001.
  EXPECT_LT(ChiSquare(counts, expected, kDraws), 148.2);
  Rng rng(1);
  Batch batch;
  ASSERT_TRUE(buffer.Sample(/*n=*/100, rng, batch));
  for (size_t i = 0; i < batch.size(); ++i) {
    EXPECT_NEAR(batch.probabilities[i], batch.keys[i] >= 140 ? 0.055 : 0.005, 1e-12);
    EXPECT_EQ(batch.weights[i], 1.0f);
  }
}

TEST(RecentReplay, FullFractionIsASlidingWindowAcrossTheWrap) {
  ReplayBuffer::Options options =
      WithSampler(/*capacity=*/8, "recent", {{"window", "5"}, {"fraction", "1"}});
  ReplayBuffer buffer(options);
  for (int64_t i = 0; i < 11; ++i) buffer.Insert(RecordWithStep(i));  // newest slots wrap 0..2
  const auto counts = CountSteps(buffer, 10'000, /*seed=*/4);
  std::set<int64_t> seen;
  for (const auto& [step, n] : counts) seen.insert(step);
  EXPECT_EQ(seen, (std::set<int64_t>{6, 7, 8, 9, 10}));
}

TEST(RecentReplay, WindowLargerThanContentsIsUniform) {
  ReplayBuffer::Options options =
      WithSampler(/*capacity=*/8, "recent", {{"window", "100"}, {"fraction", "0.7"}});
  ReplayBuffer buffer(options);
  for (int64_t i = 0; i < 4; ++i) buffer.Insert(RecordWithStep(i));
  Rng rng(3);
  Batch batch;
  ASSERT_TRUE(buffer.Sample(/*n=*/100, rng, batch));
  for (double p : batch.probabilities) EXPECT_NEAR(p, 0.25, 1e-12);
}

// ---- Memory ----

TEST(ReplayBuffer, ReportsBytesPerRecord) {
  DecisionRecord r = RecordWithStep(0);
  r.observation.assign(64, 0.5f);
  r.observation.shrink_to_fit();
  r.planner = PolicyOutput::FromLogits(std::vector<float>{0.0f, 1.0f});
  const int64_t record_bytes = ReplayBuffer::RecordBytes(r);
  EXPECT_EQ(record_bytes, static_cast<int64_t>(16 + sizeof(DecisionRecord) + 64 * 4 + 2 * 4));

  ReplayBuffer uniform(Capacity(1024));
  ReplayBuffer prioritized(WithSampler(/*capacity=*/1024, "prioritized"));
  EXPECT_EQ(uniform.bytes_per_record(), uniform.slot_bytes());  // empty
  for (int i = 0; i < 2000; ++i) {
    uniform.Insert(r);
    prioritized.Insert(r);
  }
  // Ring slot: a pointer, a key and a byte count; the sum- and min-trees add 2 * 2 doubles.
  EXPECT_EQ(uniform.slot_bytes(), 32);
  EXPECT_EQ(prioritized.slot_bytes(), 32 + 32);
  EXPECT_EQ(uniform.bytes_per_record(), record_bytes + 32);
  EXPECT_EQ(prioritized.bytes_per_record(), record_bytes + 64);
  EXPECT_GE(uniform.approximate_bytes(), 1024 * (record_bytes + 32));
}

// ---- Rate limiter ----

RateLimiter::Options Limits(int64_t min_size, double samples_per_insert, double tolerance) {
  return {.min_size_to_sample = min_size,
          .samples_per_insert = samples_per_insert,
          .tolerance = tolerance};
}

TEST(RateLimiter, BadOptionsAreInvalidArgumentsNamingTheField) {
  ExpectInvalid(Limits(0, 1.0, 1.0).Validate(), "min_size_to_sample must be >= 1, got 0");
  ExpectInvalid(Limits(1, -1.0, 1.0).Validate(), "samples_per_insert");
  ExpectInvalid(Limits(1, std::numeric_limits<double>::infinity(), 1.0).Validate(),
                "samples_per_insert");
  ExpectInvalid(Limits(1, 1.0, -0.5).Validate(), "tolerance");
  EXPECT_THROW(RateLimiter(Limits(0, 1.0, 1.0)), InvalidArgument);
}

TEST(RateLimiter, BlocksSamplingBelowMinSize) {
  RateLimiter limiter(Limits(/*min_size=*/3, /*samples_per_insert=*/0, /*tolerance=*/0));
  limiter.OnInsert();
  limiter.OnInsert();
  EXPECT_FALSE(limiter.CanSample(1));
  EXPECT_FALSE(limiter.TrySample(1));
  limiter.OnInsert();
  EXPECT_TRUE(limiter.CanSample(1'000'000));  // no ratio: only the minimum size
  EXPECT_TRUE(limiter.TrySample(64));
  EXPECT_EQ(limiter.samples(), 64);
}

TEST(RateLimiter, EnforcesTheRatioWithTolerance) {
  // samples + n <= (inserts - 10) * 4 + 8
  RateLimiter limiter(Limits(/*min_size=*/10, /*samples_per_insert=*/4, /*tolerance=*/8));
  limiter.OnInsert(10);
  EXPECT_TRUE(limiter.CanSample(8));
  EXPECT_FALSE(limiter.CanSample(9));
  EXPECT_TRUE(limiter.TrySample(8));
  EXPECT_FALSE(limiter.TrySample(1));
  limiter.OnInsert();  // + 4
  EXPECT_TRUE(limiter.CanSample(4));
  EXPECT_FALSE(limiter.CanSample(5));
  limiter.OnSample(4);
  EXPECT_FALSE(limiter.CanSample(1));
  limiter.OnInsert(25);  // + 100
  EXPECT_TRUE(limiter.TrySample(100));
  EXPECT_FALSE(limiter.TrySample(1));
  EXPECT_EQ(limiter.inserts(), 36);
  EXPECT_EQ(limiter.samples(), 112);
  // Inserts are never refused: the producer side has no limit at all.
  limiter.OnInsert(1'000);
  EXPECT_EQ(limiter.inserts(), 1'036);
}

TEST(RateLimiter, WaitToSampleTimesOutAsAValue) {
  RateLimiter limiter(Limits(/*min_size=*/2, 1.0, 0.0));
  limiter.OnInsert();
  const Status s = limiter.WaitToSample(1, std::chrono::milliseconds(5));
  EXPECT_EQ(s.code(), StatusCode::kDeadlineExceeded);
  EXPECT_EQ(limiter.samples(), 0);
  EXPECT_EQ(limiter.WaitToSample(1, std::chrono::nanoseconds(0)).code(),
            StatusCode::kDeadlineExceeded);  // polls
  EXPECT_EQ(limiter.waiters(), 0);
}

// Blocks until `limiter` has `n` waiters (or fails the test after 10 s). Spins with yield: the
// waiter's arrival is what is being waited for, and there is no notification for it.
void AwaitWaiters(const RateLimiter& limiter, int64_t n) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (limiter.waiters() < n) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "no thread reached WaitToSample";
    std::this_thread::yield();
  }
}

TEST(RateLimiter, WaitToSampleWakesOnInsert) {
  RateLimiter limiter(Limits(/*min_size=*/1, /*samples_per_insert=*/2, /*tolerance=*/2));
  auto waited = std::async(std::launch::async,
                           [&] { return limiter.WaitToSample(2, std::chrono::seconds(30)); });
  AwaitWaiters(limiter, 1);
  limiter.OnInsert();
  ASSERT_EQ(waited.wait_for(std::chrono::seconds(30)), std::future_status::ready);
  EXPECT_TRUE(waited.get().ok());
  EXPECT_EQ(limiter.samples(), 2);  // counted by WaitToSample itself
}

TEST(RateLimiter, CancelWakesEveryWaiter) {
  RateLimiter limiter(Limits(/*min_size=*/5, 1.0, 1.0));
  auto a = std::async(std::launch::async,
                      [&] { return limiter.WaitToSample(1, std::chrono::hours(1)); });
  auto b = std::async(std::launch::async,
                      [&] { return limiter.WaitToSample(1, std::chrono::nanoseconds::max()); });
  AwaitWaiters(limiter, 2);
  limiter.Cancel();
  ASSERT_EQ(a.wait_for(std::chrono::seconds(30)), std::future_status::ready);
  ASSERT_EQ(b.wait_for(std::chrono::seconds(30)), std::future_status::ready);
  EXPECT_EQ(a.get().code(), StatusCode::kUnavailable);
  EXPECT_EQ(b.get().code(), StatusCode::kUnavailable);
  EXPECT_TRUE(limiter.cancelled());
  limiter.OnInsert(10);  // inserts still count after cancel; waits do not succeed
  EXPECT_EQ(limiter.WaitToSample(1, std::chrono::seconds(1)).code(), StatusCode::kUnavailable);
  EXPECT_EQ(limiter.samples(), 0);
}

// ---- Concurrency ----

// Two planner-like writers insert (with priorities) while a distiller-like reader waits on the
// rate limiter, samples prioritised batches and updates their priorities. Runs clean under TSan.
TEST(ReplayBuffer, ConcurrentWritersAndPrioritizedReaderStayConsistent) {
  ReplayBuffer buffer(Prioritized(/*capacity=*/512, /*alpha=*/0.6, /*beta=*/0.4));
  RateLimiter limiter(Limits(/*min_size=*/64, /*samples_per_insert=*/2, /*tolerance=*/128));
  constexpr int kWriters = 2, kPerWriter = 20'000, kBatch = 32;
  std::atomic<int64_t> batches{0}, bad{0};
  std::promise<void> reader_started;
  std::thread reader([&] {
    Rng rng(9);
    Batch batch;
    std::vector<double> losses;
    reader_started.set_value();
    while (limiter.WaitToSample(kBatch, std::chrono::seconds(30)).ok()) {
      if (!buffer.Sample(kBatch, rng, batch)) {
        ++bad;
        continue;
      }
      losses.clear();
      for (size_t i = 0; i < batch.size(); ++i) {
        const bool ok = batch.records[i] != nullptr &&
                        batch.records[i]->step < kWriters * kPerWriter && batch.keys[i] >= 0 &&
                        batch.probabilities[i] > 0.0 && batch.weights[i] > 0.0f &&
                        batch.weights[i] <= 1.0f;
        if (!ok) ++bad;
        losses.push_back(0.5 * static_cast<double>(i % 5));
      }
      buffer.UpdatePriorities(batch.keys, losses);
      buffer.SetBeta(std::min(1.0, buffer.beta() + 1e-4));
      ++batches;
    }
  });
  std::shared_future<void> go = reader_started.get_future().share();
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&, w] {
      go.wait();
      for (int i = 0; i < kPerWriter; ++i) {
        buffer.Insert(RecordWithStep(w * kPerWriter + i), /*priority=*/1.0 + (i % 7));
        limiter.OnInsert();
      }
    });
  }
  for (auto& t : writers) t.join();
  // Let the reader take what the ratio still allows, then shut it down.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (limiter.waiters() == 0 || limiter.CanSample(kBatch)) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "the reader never caught up";
    std::this_thread::yield();
  }
  limiter.Cancel();  // the reader's wait returns Unavailable
  reader.join();
  EXPECT_EQ(bad.load(), 0);
  // (40000 - 64) * 2 + 128 samples allowed, in batches of 32, all taken.
  EXPECT_EQ(batches.load(), ((kWriters * kPerWriter - 64) * 2 + 128) / kBatch);
  EXPECT_EQ(limiter.samples(), batches.load() * kBatch);
  EXPECT_EQ(buffer.inserted(), kWriters * kPerWriter);
  EXPECT_EQ(buffer.size(), 512);
  EXPECT_EQ(buffer.evicted(), kWriters * kPerWriter - 512);
}

}  // namespace
}  // namespace apprentice
