// Episode log throughput: writing (encode, CRC32C, buffered write(2)) and reading (read, CRC32C,
// flatbuffers::Verifier, decode into a DecisionRecord), for CartPole-sized records (4-float
// observation, 2 logits) and 64-float observations. Logs go to a fresh directory under
// $TMPDIR (or /tmp), so the numbers are page-cache numbers: no fsync.
//
//   build-h/bench/log_bench --benchmark_min_time=1
//
// Bytes are file bytes (frames and headers), so MB/s compares with disk bandwidth. Rates are
// per wall-clock second (the write(2) and pread(2) time included).
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "core/rng.h"
#include "core/crc32c.h"
#include "replay/episode_log.h"

namespace apprentice {
namespace {

namespace fs = std::filesystem;

constexpr int64_t kRecordsPerLog = 20'000;

fs::path BenchDirectory(const std::string& name) {
  return fs::temp_directory_path() /
         ("apprentice-log-bench-" + std::to_string(::getpid()) + "-" + name);
}

DecisionRecord MakeRecord(int64_t i, int observation_floats, Rng& rng) {
  DecisionRecord r;
  r.episode = i / 200;
  r.step = i % 200;
  r.observation.resize(static_cast<size_t>(observation_floats));
  for (float& x : r.observation) x = static_cast<float>(rng.Normal());
  r.has_label = i % 2 == 0;
  const std::vector<float> logits = {static_cast<float>(rng.Normal()),
                                     static_cast<float>(rng.Normal())};
  r.planner = PolicyOutput::FromLogits(logits);
  r.planner_action = Action::Discrete(i % 2);
  r.planner_value = 12.5f;
  r.planner_latency_ns = 150'000;
  r.executor_action = Action::Discrete((i + 1) % 2);
  r.executor_version = i / 1000;
  r.executor_latency_ns = 800;
  r.reward = 1.0f;
  r.terminated = r.step == 199;
  return r;
}

std::vector<DecisionRecord> MakeRecords(int observation_floats) {
  Rng rng(7);
  std::vector<DecisionRecord> records;
  for (int64_t i = 0; i < 1000; ++i) records.push_back(MakeRecord(i, observation_floats, rng));
  return records;
}

int64_t DirectoryBytes(const fs::path& dir) {
  int64_t bytes = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    bytes += static_cast<int64_t>(entry.file_size());
  }
  return bytes;
}

// Arguments: observation floats, flush_every_records.
void BM_Write(benchmark::State& state) {
  const std::vector<DecisionRecord> records = MakeRecords(static_cast<int>(state.range(0)));
  const fs::path dir = BenchDirectory("write");
  int64_t bytes = 0;
  for (auto _ : state) {
    state.PauseTiming();
    fs::remove_all(dir);
    state.ResumeTiming();
    EpisodeLogWriter::Options options;
    options.directory = dir.string();
    options.flush_every_records = state.range(1);
    EpisodeLogWriter writer =
        EpisodeLogWriter::Open(options, {"CartPole-v1", "Box(4)", "Discrete(2)", ""})
            .ValueOrThrow();
    for (int64_t i = 0; i < kRecordsPerLog; ++i) {
      if (!writer.Append(records[static_cast<size_t>(i) % records.size()]).ok()) {
        state.SkipWithError("append failed");
        break;
      }
    }
    if (!writer.Close().ok()) state.SkipWithError("close failed");
    state.PauseTiming();
    bytes += DirectoryBytes(dir);
    state.ResumeTiming();
  }
  fs::remove_all(dir);
  state.SetBytesProcessed(bytes);
  state.SetItemsProcessed(state.iterations() * kRecordsPerLog);
  state.counters["bytes_per_record"] =
      static_cast<double>(bytes) / static_cast<double>(state.iterations() * kRecordsPerLog);
}
BENCHMARK(BM_Write)
    ->ArgNames({"obs_floats", "flush_every"})
    ->Args({4, 256})
    ->Args({64, 256})
    ->Args({4, 1})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

// Argument: observation floats.
void BM_ReadVerify(benchmark::State& state) {
  const std::vector<DecisionRecord> records = MakeRecords(static_cast<int>(state.range(0)));
  const fs::path dir = BenchDirectory("read");
  fs::remove_all(dir);
  {
    EpisodeLogWriter::Options options;
    options.directory = dir.string();
    EpisodeLogWriter writer =
        EpisodeLogWriter::Open(options, {"CartPole-v1", "Box(4)", "Discrete(2)", ""})
            .ValueOrThrow();
    for (int64_t i = 0; i < kRecordsPerLog; ++i) {
      RequireOk(writer.Append(records[static_cast<size_t>(i) % records.size()]));
    }
    RequireOk(writer.Close());
  }
  const int64_t file_bytes = DirectoryBytes(dir);
  DecisionRecord record;
  for (auto _ : state) {
    EpisodeLogReader reader = EpisodeLogReader::Open(dir.string()).ValueOrThrow();
    int64_t n = 0;
    while (reader.Next(record).value()) ++n;
    if (n != kRecordsPerLog || !reader.damage().empty()) state.SkipWithError("log read back wrong");
    benchmark::DoNotOptimize(record);
  }
  fs::remove_all(dir);
  state.SetBytesProcessed(state.iterations() * file_bytes);
  state.SetItemsProcessed(state.iterations() * kRecordsPerLog);
}
BENCHMARK(BM_ReadVerify)
    ->ArgName("obs_floats")
    ->Arg(4)
    ->Arg(64)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

// Argument: 0 portable slicing-by-8, 1 SSE4.2 (skipped where the CPU lacks it).
void BM_Crc32c(benchmark::State& state) {
  const bool hardware = state.range(0) == 1;
  if (hardware && !crc32c_internal::HardwareAvailable()) {
    state.SkipWithError("no SSE4.2");
    return;
  }
  std::vector<uint8_t> data(64 * 1024);
  Rng rng(3);
  for (uint8_t& b : data) b = static_cast<uint8_t>(rng.Next());
  for (auto _ : state) {
    const uint32_t crc = hardware ? crc32c_internal::ExtendHardware(0, data.data(), data.size())
                                  : crc32c_internal::ExtendPortable(0, data.data(), data.size());
    benchmark::DoNotOptimize(crc);
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(data.size()));
}
BENCHMARK(BM_Crc32c)->ArgName("sse42")->Arg(0)->Arg(1);

}  // namespace
}  // namespace apprentice

BENCHMARK_MAIN();
