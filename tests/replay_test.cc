#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <thread>

#include "replay/replay_buffer.h"

namespace apprentice {
namespace {

DecisionRecord RecordWithStep(int64_t step) {
  DecisionRecord r;
  r.step = step;
  r.observation = {static_cast<float>(step)};
  return r;
}

TEST(ReplayBuffer, RejectsNonPositiveCapacity) {
  EXPECT_THROW(ReplayBuffer({/*capacity=*/0}), InvalidArgument);
}

TEST(ReplayBuffer, SampleFromEmptyReturnsFalse) {
  ReplayBuffer buffer({/*capacity=*/4});
  Rng rng(1);
  std::vector<ReplayBuffer::RecordPtr> out = {nullptr};
  EXPECT_FALSE(buffer.SampleUniform(/*n=*/3, rng, out));
  EXPECT_TRUE(out.empty());
}

TEST(ReplayBuffer, EvictsOldestFirstAtCapacity) {
  ReplayBuffer buffer({/*capacity=*/3});
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
  ReplayBuffer buffer({/*capacity=*/4});
  for (int64_t i = 0; i < 4; ++i) buffer.Insert(RecordWithStep(i));
  Rng rng(5);
  std::vector<ReplayBuffer::RecordPtr> out;
  ASSERT_TRUE(buffer.SampleUniform(/*n=*/40000, rng, out));
  int counts[4] = {};
  for (const auto& r : out) ++counts[r->step];
  for (int c : counts) EXPECT_NEAR(c, 10000, 500);
}

TEST(ReplayBuffer, SampledRecordOutlivesEviction) {
  ReplayBuffer buffer({/*capacity=*/1});
  buffer.Insert(RecordWithStep(7));
  Rng rng(1);
  std::vector<ReplayBuffer::RecordPtr> out;
  ASSERT_TRUE(buffer.SampleUniform(/*n=*/1, rng, out));
  buffer.Insert(RecordWithStep(8));
  EXPECT_EQ(out[0]->step, 7);
  EXPECT_EQ(out[0]->observation[0], 7.0f);
}

TEST(ReplayBuffer, ConcurrentInsertAndSampleKeepCounts) {
  ReplayBuffer buffer({/*capacity=*/1000});
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

}  // namespace
}  // namespace apprentice
