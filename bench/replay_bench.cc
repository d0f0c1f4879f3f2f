// Replay buffer throughput, one thread unless named otherwise. Records carry an observation of
// 4 or 64 floats and a 2-logit planner distribution; the buffer holds 100 000 of them (the
// default capacity) and is full before timing starts, so every insert also evicts.
//
//   BM_Insert/<floats>/<sampler>         Insert of a prebuilt shared_ptr record: the realistic
//                                        path, where the producer builds the record off the
//                                        buffer's lock. Prioritized inserts carry a priority.
//   BM_BuildAndInsert/<floats>/<sampler> building the DecisionRecord (observation copy, logits),
//                                        make_shared, Insert, and freeing the evicted record.
//   BM_Sample/<sampler>                  Sample(64): records, keys, probabilities, weights; items
//                                        are sampled records.
//   BM_SampleUniformLegacy               SampleUniform(64), the record-only path.
//   BM_UpdatePriorities                  UpdatePriorities of a 64-record batch.
//   BM_SampleWithWriter/<sampler>        Sample(64) while another thread inserts prebuilt records
//                                        as fast as it can (real time; writer_inserts_per_s is
//                                        the writer's rate over the same interval).
//   BM_RateLimiterOnInsert               RateLimiter::OnInsert, no waiter.
//
// sampler: 0 uniform, 1 prioritized (alpha 0.6, beta 0.4), 2 recent (window 1000, fraction 0.5).
#include <benchmark/benchmark.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "core/rng.h"
#include "replay/rate_limiter.h"
#include "replay/replay_buffer.h"

namespace apprentice {
namespace {

constexpr int64_t kCapacity = 100'000;
constexpr size_t kPool = 1 << 17;  // distinct prebuilt records (more than the capacity), cycled
constexpr int64_t kBatch = 64;

// The benchmark argument as a registered sampler's name.
const char* KindArg(int64_t arg) {
  static const char* const kNames[] = {"uniform", "prioritized", "recent"};
  return kNames[arg];
}
bool Prioritised(const std::string& kind) { return kind == "prioritized"; }

DecisionRecord MakeRecord(int64_t step, int64_t floats, Rng& rng) {
  DecisionRecord r;
  r.step = step;
  r.observation.resize(static_cast<size_t>(floats));
  for (float& v : r.observation) v = static_cast<float>(rng.Uniform(-1.0, 1.0));
  r.has_label = true;
  r.planner = PolicyOutput::FromLogits(std::vector<float>{0.3f, -0.2f});
  r.planner_action = Action::Discrete(0);
  r.executor_action = Action::Discrete(static_cast<int64_t>(rng.Below(2)));
  return r;
}

struct Fixture {
  std::vector<ReplayBuffer::RecordPtr> pool;
  std::vector<double> priorities;
};

Fixture MakePool(int64_t floats) {
  Rng rng(42);
  Fixture f;
  for (size_t i = 0; i < kPool; ++i) {
    f.pool.push_back(
        std::make_shared<const DecisionRecord>(MakeRecord(static_cast<int64_t>(i), floats, rng)));
    f.priorities.push_back(rng.Uniform(0.01, 10.0));
  }
  return f;
}

std::unique_ptr<ReplayBuffer> FullBuffer(const std::string& kind, const Fixture& f) {
  ReplayBuffer::Options options;
  options.capacity = kCapacity;
  options.sampler = kind;
  auto buffer = std::make_unique<ReplayBuffer>(options);
  for (int64_t i = 0; i < kCapacity; ++i) {
    const size_t k = static_cast<size_t>(i) % kPool;
    buffer->Insert(f.pool[k], f.priorities[k]);
  }
  return buffer;
}

void BM_Insert(benchmark::State& state) {
  const Fixture f = MakePool(state.range(0));
  const std::string kind = KindArg(state.range(1));
  auto buffer = FullBuffer(kind, f);
  size_t i = 0;
  if (Prioritised(kind)) {
    for (auto _ : state) {
      const size_t k = i++ & (kPool - 1);
      buffer->Insert(f.pool[k], f.priorities[k]);
    }
  } else {
    for (auto _ : state) buffer->Insert(f.pool[i++ & (kPool - 1)]);
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["bytes_per_record"] = static_cast<double>(buffer->bytes_per_record());
}

void BM_BuildAndInsert(benchmark::State& state) {
  const int64_t floats = state.range(0);
  const std::string kind = KindArg(state.range(1));
  const Fixture f = MakePool(floats);
  auto buffer = FullBuffer(kind, f);
  std::vector<float> obs(static_cast<size_t>(floats), 0.5f);
  const std::vector<float> logits = {0.3f, -0.2f};
  int64_t step = 0;
  for (auto _ : state) {
    DecisionRecord r;
    r.step = step++;
    r.observation.assign(obs.begin(), obs.end());
    r.has_label = true;
    r.planner = PolicyOutput::FromLogits(logits);
    r.planner_action = Action::Discrete(0);
    r.executor_action = Action::Discrete(1);
    if (Prioritised(kind)) {
      buffer->Insert(std::move(r), f.priorities[static_cast<size_t>(step) & (kPool - 1)]);
    } else {
      buffer->Insert(std::move(r));
    }
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_Sample(benchmark::State& state) {
  const Fixture f = MakePool(64);
  auto buffer = FullBuffer(KindArg(state.range(0)), f);
  Rng rng(7);
  ReplayBuffer::SampleBatch batch;
  for (auto _ : state) {
    buffer->Sample(kBatch, rng, batch);
    benchmark::DoNotOptimize(batch.records.data());
  }
  state.SetItemsProcessed(state.iterations() * kBatch);
}

void BM_SampleUniformLegacy(benchmark::State& state) {
  const Fixture f = MakePool(64);
  auto buffer = FullBuffer("uniform", f);
  Rng rng(7);
  std::vector<ReplayBuffer::RecordPtr> out;
  for (auto _ : state) {
    buffer->SampleUniform(kBatch, rng, out);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations() * kBatch);
}

void BM_UpdatePriorities(benchmark::State& state) {
  const Fixture f = MakePool(64);
  auto buffer = FullBuffer("prioritized", f);
  Rng rng(7);
  ReplayBuffer::SampleBatch batch;
  buffer->Sample(kBatch, rng, batch);
  std::vector<double> losses(static_cast<size_t>(kBatch));
  for (double& l : losses) l = rng.Uniform(0.0, 5.0);
  for (auto _ : state) {
    benchmark::DoNotOptimize(buffer->UpdatePriorities(batch.keys, losses));
  }
  state.SetItemsProcessed(state.iterations() * kBatch);
}

void BM_SampleWithWriter(benchmark::State& state) {
  const std::string kind = KindArg(state.range(0));
  const Fixture f = MakePool(64);
  auto buffer = FullBuffer(kind, f);
  std::atomic<bool> stop{false};
  std::atomic<int64_t> writes{0};
  std::thread writer([&] {
    int64_t n = 0;
    while (!stop.load(std::memory_order_relaxed)) {
      const size_t k = static_cast<size_t>(n) & (kPool - 1);
      buffer->Insert(f.pool[k], f.priorities[k]);
      ++n;
    }
    writes.store(n);
  });
  Rng rng(7);
  ReplayBuffer::SampleBatch batch;
  const int64_t inserted_before = buffer->inserted();
  const auto t0 = std::chrono::steady_clock::now();
  for (auto _ : state) {
    buffer->Sample(kBatch, rng, batch);
    benchmark::DoNotOptimize(batch.records.data());
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const int64_t inserted_during = buffer->inserted() - inserted_before;
  stop.store(true);
  writer.join();
  state.SetItemsProcessed(state.iterations() * kBatch);
  state.counters["writer_inserts_per_s"] = static_cast<double>(inserted_during) / seconds;
}

void BM_RateLimiterOnInsert(benchmark::State& state) {
  RateLimiter limiter({.min_size_to_sample = 1, .samples_per_insert = 4, .tolerance = 64});
  for (auto _ : state) limiter.OnInsert();
  state.SetItemsProcessed(state.iterations());
}

BENCHMARK(BM_Insert)->ArgNames({"floats", "sampler"})->ArgsProduct({{4, 64}, {0, 1, 2}});
BENCHMARK(BM_BuildAndInsert)->ArgNames({"floats", "sampler"})->ArgsProduct({{4, 64}, {0, 1}});
BENCHMARK(BM_Sample)->ArgNames({"sampler"})->DenseRange(0, 2);
BENCHMARK(BM_SampleUniformLegacy);
BENCHMARK(BM_UpdatePriorities);
BENCHMARK(BM_SampleWithWriter)->ArgNames({"sampler"})->DenseRange(0, 2)->UseRealTime();
BENCHMARK(BM_RateLimiterOnInsert);

}  // namespace
}  // namespace apprentice

BENCHMARK_MAIN();
