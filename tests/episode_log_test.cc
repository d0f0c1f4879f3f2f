#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <new>
#include <string>
#include <vector>

#include "core/rng.h"
#include "core/crc32c.h"
#include "replay/episode_log.h"
#include "tests/allocation_counter.h"
#include "tests/temp_files.h"


namespace apprentice {
namespace {

namespace fs = std::filesystem;
using Bytes = std::vector<uint8_t>;


uint32_t Le32(const Bytes& b, size_t at) {
  return static_cast<uint32_t>(b[at]) | static_cast<uint32_t>(b[at + 1]) << 8 |
         static_cast<uint32_t>(b[at + 2]) << 16 | static_cast<uint32_t>(b[at + 3]) << 24;
}
void PutLe32(Bytes& b, size_t at, uint32_t v) {
  for (int i = 0; i < 4; ++i) b[at + i] = static_cast<uint8_t>(v >> (8 * i));
}

// Parses a segment as docs/log-format.md describes it: the header's size, then frame offsets.
struct Layout {
  size_t header_bytes = 0;
  std::vector<size_t> frames;  // offset of each frame
};
Layout ParseLayout(const Bytes& segment) {
  Layout layout;
  layout.header_bytes = 24 + Le32(segment, 12) + 4;
  for (size_t at = layout.header_bytes; at < segment.size(); at += 8 + Le32(segment, at)) {
    layout.frames.push_back(at);
  }
  return layout;
}

// Records whose every field depends on `i`, so a record read back identifies itself by step.
DecisionRecord DiscreteRecord(int64_t i) {
  DecisionRecord r;
  r.episode = i / 7;
  r.step = i;
  const float x = static_cast<float>(i);
  r.observation = {0.1f * x, -0.2f * x, 1e-3f * x, x};
  r.has_label = i % 3 != 0;
  if (r.has_label) {
    r.planner = PolicyOutput::FromLogits(std::vector<float>{0.5f * x, -0.25f * x});
    r.planner_action = Action::Discrete(i % 2);
    r.planner_value = 10.0f - x;
    r.planner_latency_ns = 100'000 + i;
  }
  r.executor_action = Action::Discrete((i + 1) % 2);
  r.executor_version = i / 5;
  r.executor_latency_ns = 700 + i;
  r.acted_by = i % 4 == 0 ? Actor::kPlanner : Actor::kExecutor;
  r.reward = 1.0f;
  r.terminated = i % 7 == 6;
  if (i % 5 == 2) {
    r.has_truth = true;
    r.truth = Action::Discrete((i + 1) % 2);
  }
  if (i % 4 == 1) r.legal = {1, static_cast<uint8_t>(i % 8 == 1 ? 0 : 1)};  // a board game's mask
  r.behaviour = static_cast<Behaviour>(i % 3);
  if (r.behaviour == Behaviour::kStochastic) r.behaviour_log_prob = -0.125f * x;
  return r;
}

DecisionRecord ContinuousRecord(int64_t i) {
  DecisionRecord r;
  r.episode = i / 5;
  r.step = i;
  const float x = static_cast<float>(i);
  r.observation = {std::cos(x), std::sin(x), 8.0f - x};
  r.has_label = i % 2 == 0;
  if (r.has_label) {
    r.planner = PolicyOutput::Gaussian(std::vector<float>{0.3f * x, -1.5f},
                                       std::vector<float>{-0.5f, -2.0f + 0.01f * x});
    r.planner_action = Action::Continuous(std::vector<float>{0.3f * x, -1.5f});
    r.planner_value = -100.0f + x;
    r.planner_latency_ns = 2'000'000 + i;
  }
  r.executor_action = Action::Continuous(std::vector<float>{-0.1f * x, 2.0f});
  r.executor_version = 3;
  r.executor_latency_ns = 900 + i;
  r.acted_by = i % 3 == 0 ? Actor::kPlanner : Actor::kExecutor;
  r.reward = -0.5f * x;
  r.truncated = i % 5 == 4;
  if (i % 4 == 1) {
    r.has_truth = true;
    r.truth = Action::Continuous(std::vector<float>{0.25f * x, -x});
  }
  return r;
}

void ExpectSameRecord(const DecisionRecord& want, const DecisionRecord& got) {
  EXPECT_EQ(got.episode, want.episode);
  EXPECT_EQ(got.step, want.step);
  EXPECT_EQ(got.observation, want.observation);
  EXPECT_EQ(got.legal, want.legal);
  EXPECT_EQ(got.behaviour, want.behaviour);
  EXPECT_EQ(got.behaviour_log_prob, want.behaviour_log_prob);
  EXPECT_EQ(got.has_label, want.has_label);
  EXPECT_EQ(got.planner.kind, want.planner.kind);
  EXPECT_EQ(got.planner.logits, want.planner.logits);
  EXPECT_EQ(got.planner.mean, want.planner.mean);
  EXPECT_EQ(got.planner.log_std, want.planner.log_std);
  EXPECT_EQ(got.planner_action, want.planner_action);
  EXPECT_EQ(got.planner_action.is_discrete(), want.planner_action.is_discrete());
  EXPECT_EQ(got.planner_value, want.planner_value);
  EXPECT_EQ(got.planner_latency_ns, want.planner_latency_ns);
  EXPECT_EQ(got.executor_action, want.executor_action);
  EXPECT_EQ(got.executor_version, want.executor_version);
  EXPECT_EQ(got.executor_latency_ns, want.executor_latency_ns);
  EXPECT_EQ(got.acted_by, want.acted_by);
  EXPECT_EQ(got.reward, want.reward);
  EXPECT_EQ(got.terminated, want.terminated);
  EXPECT_EQ(got.truncated, want.truncated);
  EXPECT_EQ(got.has_truth, want.has_truth);
  EXPECT_EQ(got.truth, want.truth);
  EXPECT_EQ(got.truth.is_discrete(), want.truth.is_discrete());
}

bool SameRecord(const DecisionRecord& a, const DecisionRecord& b) {
  return a.episode == b.episode && a.step == b.step && a.observation == b.observation &&
         a.has_label == b.has_label && a.planner.kind == b.planner.kind &&
         a.planner.logits == b.planner.logits && a.planner.mean == b.planner.mean &&
         a.planner.log_std == b.planner.log_std && a.planner_action == b.planner_action &&
         a.planner_value == b.planner_value && a.planner_latency_ns == b.planner_latency_ns &&
         a.executor_action == b.executor_action && a.executor_version == b.executor_version &&
         a.executor_latency_ns == b.executor_latency_ns && a.acted_by == b.acted_by &&
         a.reward == b.reward && a.terminated == b.terminated && a.truncated == b.truncated;
}

EpisodeLogMetadata CartPoleMetadata() {
  return {"CartPole-v1", "Box(-inf, inf, (4,))", "Discrete(2)", "seed=7"};
}

EpisodeLogWriter::Options WriterOptions(const std::string& directory) {
  EpisodeLogWriter::Options options;
  options.directory = directory;
  return options;
}

// Writes DiscreteRecord(0..n-1) into one segment and returns that segment's path.
std::string WriteDiscreteSegment(const std::string& directory, int64_t n) {
  EpisodeLogWriter writer =
      EpisodeLogWriter::Open(WriterOptions(directory), CartPoleMetadata()).ValueOrThrow();
  for (int64_t i = 0; i < n; ++i) RequireOk(writer.Append(DiscreteRecord(i)));
  RequireOk(writer.Close());
  return writer.segment_path();
}

EpisodeLogContents ReadOrDie(const std::string& path, EpisodeLogReader::Options options = {}) {
  Result<EpisodeLogContents> contents = ReadEpisodeLog(path, options);
  EXPECT_TRUE(contents.ok()) << contents.status().message();
  return contents.ok() ? std::move(contents).value() : EpisodeLogContents{};
}

// ---------------------------------------------------------------------------------------------

TEST(Crc32c, MatchesStandardCheckValues) {
  const std::string check = "123456789";
  EXPECT_EQ(Crc32c(check.data(), check.size()), 0xE3069283u);
  EXPECT_EQ(Crc32c(nullptr, 0), 0u);
  // RFC 3720 (iSCSI) B.4 test vectors.
  Bytes zeros(32, 0x00), ones(32, 0xFF), up(32), down(32);
  for (int i = 0; i < 32; ++i) {
    up[i] = static_cast<uint8_t>(i);
    down[i] = static_cast<uint8_t>(31 - i);
  }
  EXPECT_EQ(Crc32c(zeros), 0x8A9136AAu);
  EXPECT_EQ(Crc32c(ones), 0x62A8AB43u);
  EXPECT_EQ(Crc32c(up), 0x46DD794Eu);
  EXPECT_EQ(Crc32c(down), 0x113FDB5Cu);
}

TEST(Crc32c, PortableAndHardwareAgreeAtEveryLengthAndAlignment) {
  Rng rng(11);
  Bytes data(1200);
  for (uint8_t& b : data) b = static_cast<uint8_t>(rng.Next());
  for (size_t start = 0; start < 9; ++start) {
    for (size_t n = 0; start + n <= data.size(); n += (n < 40 ? 1 : 97)) {
      const uint32_t portable = crc32c_internal::ExtendPortable(0, data.data() + start, n);
      EXPECT_EQ(Crc32c(data.data() + start, n), portable) << start << " " << n;
      if (crc32c_internal::HardwareAvailable()) {
        EXPECT_EQ(crc32c_internal::ExtendHardware(0, data.data() + start, n), portable);
      }
    }
  }
}

TEST(Crc32c, ExtendEqualsTheWhole) {
  const std::string text = "the quick brown fox jumps over the lazy dog, twice over";
  for (size_t split = 0; split <= text.size(); ++split) {
    EXPECT_EQ(Crc32cExtend(Crc32c(text.data(), split), text.data() + split, text.size() - split),
              Crc32c(text.data(), text.size()));
  }
}

TEST(EpisodeLog, SegmentNamesAreZeroPadded) {
  EXPECT_EQ(EpisodeLogSegmentName(0), "segment-000000.alog");
  EXPECT_EQ(EpisodeLogSegmentName(42), "segment-000042.alog");
  EXPECT_EQ(EpisodeLogSegmentName(1234567), "segment-1234567.alog");
}

TEST(EpisodeLog, RoundTripsDiscreteRecordsAndMetadata) {
  TempDir dir;
  std::vector<DecisionRecord> written;
  for (int64_t i = 0; i < 20; ++i) written.push_back(DiscreteRecord(i));
  written.push_back(DecisionRecord{});  // every field at its default
  {
    EpisodeLogWriter writer =
        EpisodeLogWriter::Open(WriterOptions(dir.str()), CartPoleMetadata()).ValueOrThrow();
    for (const DecisionRecord& r : written) ASSERT_TRUE(writer.Append(r).ok());
    EXPECT_EQ(writer.records(), 21);
    ASSERT_TRUE(writer.Close().ok());
  }
  const EpisodeLogContents log = ReadOrDie(dir.str());
  ASSERT_EQ(log.records.size(), written.size());
  for (size_t i = 0; i < written.size(); ++i) {
    SCOPED_TRACE("record " + std::to_string(i));
    ExpectSameRecord(written[i], log.records[i]);
  }
  EXPECT_TRUE(log.damage.empty());
  ASSERT_EQ(log.segments.size(), 1u);
  EXPECT_TRUE(log.segments[0].header_ok);
  EXPECT_EQ(log.segments[0].format_version, kEpisodeLogFormatVersion);
  EXPECT_EQ(log.segments[0].index, 0u);
  EXPECT_EQ(log.segments[0].metadata, CartPoleMetadata());
  EXPECT_EQ(log.segments[0].records, 21);
  EXPECT_EQ(fs::path(log.segments[0].file).filename(), "segment-000000.alog");
}

// A header written before the record revision existed (the field absent) reads as revision 1,
// whose records say nothing of the behaviour policy; today's headers carry revision 2.
TEST(EpisodeLog, AHeaderWithoutARecordRevisionReadsAsRevisionOne) {
  TempDir dir;
  EpisodeLogMetadata old = CartPoleMetadata();
  old.record_revision = 0;  // not written: what an older writer wrote
  DecisionRecord r = DiscreteRecord(1);
  r.behaviour = Behaviour::kUnknown;
  {
    EpisodeLogWriter writer = EpisodeLogWriter::Open(WriterOptions(dir.str()), old).ValueOrThrow();
    ASSERT_TRUE(writer.Append(r).ok());
    ASSERT_TRUE(writer.Close().ok());
  }
  const EpisodeLogContents log = ReadOrDie(dir.str());
  ASSERT_EQ(log.segments.size(), 1u);
  EXPECT_EQ(log.segments[0].metadata.record_revision, 1u);
  ASSERT_EQ(log.records.size(), 1u);
  EXPECT_EQ(log.records[0].behaviour, Behaviour::kUnknown);
  EXPECT_EQ(CartPoleMetadata().record_revision, 2u);
}

TEST(EpisodeLog, RoundTripsContinuousRecords) {
  TempDir dir;
  std::vector<DecisionRecord> written;
  for (int64_t i = 0; i < 20; ++i) written.push_back(ContinuousRecord(i));
  DecisionRecord widest = ContinuousRecord(20);
  std::vector<float> wide(kMaxActionDims);
  for (int i = 0; i < kMaxActionDims; ++i) wide[i] = 0.125f * static_cast<float>(i) - 1.0f;
  widest.planner = PolicyOutput::Gaussian(wide, wide);
  widest.planner_action = Action::Continuous(wide);
  widest.executor_action = Action::Continuous(std::vector<float>{});
  written.push_back(widest);
  {
    EpisodeLogWriter writer =
        EpisodeLogWriter::Open(WriterOptions(dir.str()),
                               {"Pendulum-v1", "Box(-8, 8, (3,))", "Box(-2, 2, (2,))", ""})
            .ValueOrThrow();
    for (const DecisionRecord& r : written) ASSERT_TRUE(writer.Append(r).ok());
  }  // the destructor closes
  const EpisodeLogContents log = ReadOrDie(dir.str());
  ASSERT_EQ(log.records.size(), written.size());
  for (size_t i = 0; i < written.size(); ++i) {
    SCOPED_TRACE("record " + std::to_string(i));
    ExpectSameRecord(written[i], log.records[i]);
  }
  EXPECT_TRUE(log.damage.empty());
  EXPECT_EQ(log.segments.at(0).metadata.env, "Pendulum-v1");
  EXPECT_EQ(log.segments.at(0).metadata.action_space, "Box(-2, 2, (2,))");
}

TEST(EpisodeLog, RotationWritesSegmentsThatReadBackInOrder) {
  TempDir dir;
  EpisodeLogWriter::Options options = WriterOptions(dir.str());
  options.segment_bytes = 2048;
  constexpr int64_t kRecords = 200;
  {
    EpisodeLogWriter writer = EpisodeLogWriter::Open(options, CartPoleMetadata()).ValueOrThrow();
    for (int64_t i = 0; i < kRecords; ++i) ASSERT_TRUE(writer.Append(DiscreteRecord(i)).ok());
    EXPECT_GE(writer.segments_created(), 5);
    EXPECT_EQ(writer.segment_index(), static_cast<uint64_t>(writer.segments_created() - 1));
    ASSERT_TRUE(writer.Close().ok());
  }
  int64_t files = 0;
  for (const auto& entry : fs::directory_iterator(dir.str())) {
    ++files;
    EXPECT_LE(fs::file_size(entry.path()), 2048u) << entry.path();
  }
  const EpisodeLogContents log = ReadOrDie(dir.str());
  EXPECT_EQ(static_cast<int64_t>(log.segments.size()), files);
  ASSERT_EQ(log.records.size(), static_cast<size_t>(kRecords));
  for (int64_t i = 0; i < kRecords; ++i) EXPECT_TRUE(SameRecord(log.records[i], DiscreteRecord(i)));
  for (size_t s = 0; s < log.segments.size(); ++s) {
    EXPECT_EQ(log.segments[s].index, s);
    EXPECT_EQ(fs::path(log.segments[s].file).filename(), EpisodeLogSegmentName(s));
    EXPECT_EQ(log.segments[s].metadata, CartPoleMetadata());
    EXPECT_GT(log.segments[s].records, 0);
  }
  EXPECT_TRUE(log.damage.empty());
}

TEST(EpisodeLog, ASegmentHoldsAtLeastOneRecord) {
  TempDir dir;
  EpisodeLogWriter::Options options = WriterOptions(dir.str());
  options.segment_bytes = 1;
  {
    EpisodeLogWriter writer = EpisodeLogWriter::Open(options, CartPoleMetadata()).ValueOrThrow();
    for (int64_t i = 0; i < 3; ++i) ASSERT_TRUE(writer.Append(DiscreteRecord(i)).ok());
    EXPECT_EQ(writer.segments_created(), 3);
  }
  EXPECT_EQ(ReadOrDie(dir.str()).records.size(), 3u);
}

TEST(EpisodeLog, ReopenedWriterStartsANewSegmentAfterTheLast) {
  TempDir dir;
  WriteDiscreteSegment(dir.str(), 5);
  {
    EpisodeLogWriter writer =
        EpisodeLogWriter::Open(WriterOptions(dir.str()), CartPoleMetadata()).ValueOrThrow();
    EXPECT_EQ(writer.segment_index(), 1u);
    for (int64_t i = 5; i < 8; ++i) ASSERT_TRUE(writer.Append(DiscreteRecord(i)).ok());
  }
  const EpisodeLogContents log = ReadOrDie(dir.str());
  ASSERT_EQ(log.records.size(), 8u);
  for (int64_t i = 0; i < 8; ++i) EXPECT_EQ(log.records[i].step, i);
  EXPECT_EQ(log.segments.size(), 2u);
}

TEST(EpisodeLog, CutAtEveryOffsetOfTheLastRecordKeepsAllEarlierRecords) {
  TempDir dir;
  constexpr int64_t kRecords = 10;
  const Bytes segment = ReadBytes(WriteDiscreteSegment(dir / "log", kRecords));
  const Layout layout = ParseLayout(segment);
  ASSERT_EQ(layout.frames.size(), static_cast<size_t>(kRecords));
  const size_t last = layout.frames.back();
  const std::string cut = dir / "cut.alog";
  for (size_t size = last; size <= segment.size(); ++size) {
    SCOPED_TRACE("cut at " + std::to_string(size));
    WriteBytes(cut, std::span<const uint8_t>(segment).first(size));
    const EpisodeLogContents log = ReadOrDie(cut);
    const size_t expected = size == segment.size() ? kRecords : kRecords - 1;
    ASSERT_EQ(log.records.size(), expected);
    for (size_t i = 0; i < expected; ++i) {
      EXPECT_TRUE(SameRecord(log.records[i], DiscreteRecord(i)));
    }
    if (size == last || size == segment.size()) {
      EXPECT_TRUE(log.damage.empty());
    } else {
      ASSERT_EQ(log.damage.size(), 1u);
      EXPECT_EQ(log.damage[0].file, cut);
      EXPECT_EQ(log.damage[0].offset, static_cast<int64_t>(last));
      EXPECT_EQ(log.damage[0].bytes, static_cast<int64_t>(size - last));
      EXPECT_NE(log.damage[0].reason.find("truncated"), std::string::npos) << log.damage[0].reason;
    }
  }
}

TEST(EpisodeLog, CutInsideTheHeaderReportsTheSegmentDamaged) {
  TempDir dir;
  const Bytes segment = ReadBytes(WriteDiscreteSegment(dir / "log", 3));
  const Layout layout = ParseLayout(segment);
  const std::string cut = dir / "cut.alog";
  for (size_t size = 0; size < layout.header_bytes; ++size) {
    SCOPED_TRACE("cut at " + std::to_string(size));
    WriteBytes(cut, std::span<const uint8_t>(segment).first(size));
    const EpisodeLogContents log = ReadOrDie(cut);
    EXPECT_TRUE(log.records.empty());
    ASSERT_EQ(log.damage.size(), 1u);
    EXPECT_EQ(log.damage[0].offset, 0);
    EXPECT_EQ(log.damage[0].bytes, static_cast<int64_t>(size));
    ASSERT_EQ(log.segments.size(), 1u);
    EXPECT_FALSE(log.segments[0].header_ok);
  }
  // A header and no records yet.
  WriteBytes(cut, std::span<const uint8_t>(segment).first(layout.header_bytes));
  const EpisodeLogContents log = ReadOrDie(cut);
  EXPECT_TRUE(log.records.empty());
  EXPECT_TRUE(log.damage.empty());
  EXPECT_TRUE(log.segments.at(0).header_ok);
}

TEST(EpisodeLog, FlippedByteLosesOnlyItsRecord) {
  TempDir dir;
  constexpr int64_t kRecords = 12, kDamaged = 6;
  const Bytes segment = ReadBytes(WriteDiscreteSegment(dir / "log", kRecords));
  const Layout layout = ParseLayout(segment);
  const size_t begin = layout.frames[kDamaged], end = layout.frames[kDamaged + 1];
  const std::string flipped = dir / "flipped.alog";
  for (size_t at = begin; at < end; ++at) {
    for (uint8_t mask : {uint8_t{0x01}, uint8_t{0xFF}}) {
      SCOPED_TRACE("byte " + std::to_string(at - begin) + " of the frame, mask " +
                   std::to_string(mask));
      Bytes copy = segment;
      copy[at] ^= mask;
      WriteBytes(flipped, copy);
      const EpisodeLogContents log = ReadOrDie(flipped);
      ASSERT_EQ(log.records.size(), static_cast<size_t>(kRecords - 1));
      for (int64_t i = 0, r = 0; i < kRecords; ++i) {
        if (i == kDamaged) continue;
        EXPECT_TRUE(SameRecord(log.records[r++], DiscreteRecord(i))) << "record " << i;
      }
      ASSERT_EQ(log.damage.size(), 1u);
      EXPECT_EQ(log.damage[0].offset, static_cast<int64_t>(begin));
      EXPECT_EQ(log.damage[0].bytes, static_cast<int64_t>(end - begin));
    }
  }
}

TEST(EpisodeLog, DamagedHeaderKeepsTheRecordsAfterIt) {
  TempDir dir;
  const Bytes segment = ReadBytes(WriteDiscreteSegment(dir / "log", 4));
  const Layout layout = ParseLayout(segment);
  Bytes copy = segment;
  copy[30] ^= 0x40;  // inside the metadata: the header's CRC fails
  WriteBytes(dir / "bad-header.alog", copy);
  const EpisodeLogContents log = ReadOrDie(dir / "bad-header.alog");
  EXPECT_EQ(log.records.size(), 4u);
  ASSERT_EQ(log.damage.size(), 1u);
  EXPECT_EQ(log.damage[0].offset, 0);
  EXPECT_EQ(log.damage[0].bytes, static_cast<int64_t>(layout.header_bytes));
  EXPECT_FALSE(log.segments.at(0).header_ok);
}

TEST(EpisodeLog, IntactFrameThatFailsVerificationIsSkippedByItsLength) {
  TempDir dir;
  const Bytes segment = ReadBytes(WriteDiscreteSegment(dir / "log", 3));
  const Layout layout = ParseLayout(segment);
  // Frame 1 becomes a buffer with the right identifier, a root offset past its end and a
  // correct CRC: the frame is intact but its FlatBuffer is not.
  Bytes copy = segment;
  const size_t at = layout.frames[1], length = Le32(copy, at);
  PutLe32(copy, at + 8, 0x7FFFFFF0u);
  PutLe32(copy, at + 4, Crc32c(copy.data() + at + 8, length));
  WriteBytes(dir / "unverifiable.alog", copy);
  const EpisodeLogContents log = ReadOrDie(dir / "unverifiable.alog");
  ASSERT_EQ(log.records.size(), 2u);
  EXPECT_EQ(log.records[0].step, 0);
  EXPECT_EQ(log.records[1].step, 2);
  ASSERT_EQ(log.damage.size(), 1u);
  EXPECT_EQ(log.damage[0].offset, static_cast<int64_t>(at));
  EXPECT_EQ(log.damage[0].bytes, static_cast<int64_t>(8 + length));
  EXPECT_NE(log.damage[0].reason.find("verification"), std::string::npos) << log.damage[0].reason;
}

TEST(EpisodeLog, GarbageNeverCrashesTheReader) {
  TempDir dir;
  const Bytes segment = ReadBytes(WriteDiscreteSegment(dir / "log", 8));
  const Layout layout = ParseLayout(segment);
  const std::string path = dir / "garbage.alog";
  Rng rng(2024);
  auto random_bytes = [&](size_t n) {
    Bytes b(n);
    for (uint8_t& x : b) x = static_cast<uint8_t>(rng.Next());
    return b;
  };
  EpisodeLogReader::Options small;
  small.max_record_bytes = 64;  // every real record is longer: all damage, never a record
  for (int trial = 0; trial < 600; ++trial) {
    Bytes file;
    switch (trial % 4) {
      case 0:  // pure noise
        file = random_bytes(rng.Below(3000));
        break;
      case 1: {  // a valid header, then noise (with huge and tiny lengths)
        file.assign(segment.begin(), segment.begin() + layout.header_bytes);
        const Bytes noise = random_bytes(rng.Below(3000));
        file.insert(file.end(), noise.begin(), noise.end());
        for (size_t at = layout.header_bytes; at + 4 <= file.size(); at += 1 + rng.Below(64)) {
          PutLe32(file, at, rng.Below(2) ? 0xFFFFFFFFu - rng.Below(16) : rng.Below(256));
        }
        break;
      }
      default: {  // a valid segment with a few random edits
        file = segment;
        for (int edits = 1 + static_cast<int>(rng.Below(6)); edits > 0; --edits) {
          const size_t at = rng.Below(file.size());
          switch (rng.Below(5)) {
            case 0:
              file[at] = static_cast<uint8_t>(rng.Next());
              break;
            case 1:
              file.resize(at);
              break;
            case 2: {  // duplicate a stretch
              const size_t n = std::min<size_t>(rng.Below(300), file.size() - at);
              const Bytes chunk(file.begin() + at, file.begin() + at + n);
              file.insert(file.begin() + rng.Below(file.size()), chunk.begin(), chunk.end());
              break;
            }
            case 3: {  // insert noise
              const Bytes noise = random_bytes(rng.Below(40));
              file.insert(file.begin() + at, noise.begin(), noise.end());
              break;
            }
            default:  // erase a stretch
              file.erase(file.begin() + at,
                         file.begin() + at + std::min<size_t>(rng.Below(100), file.size() - at));
          }
          if (file.empty()) break;
        }
      }
    }
    WriteBytes(path, file);
    SCOPED_TRACE("trial " + std::to_string(trial));
    const EpisodeLogContents log = ReadOrDie(path);
    for (const DecisionRecord& r : log.records) {
      // Whatever survives is a record that was written, intact.
      ASSERT_TRUE(r.step >= 0 && r.step < 8);
      EXPECT_TRUE(SameRecord(r, DiscreteRecord(r.step)));
    }
    if (trial % 4 < 2) {
      EXPECT_TRUE(log.records.empty());
    }
    EXPECT_TRUE(ReadOrDie(path, small).records.empty());
  }
}

TEST(EpisodeLog, KilledWriterKeepsEveryFlushedRecord) {
  TempDir dir;
  EpisodeLogWriter::Options options = WriterOptions(dir.str());
  options.flush_every_records = 0;  // only explicit flushes
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    EpisodeLogWriter writer = EpisodeLogWriter::Open(options, CartPoleMetadata()).ValueOrThrow();
    for (int64_t i = 0; i < 10; ++i) RequireOk(writer.Append(DiscreteRecord(i)));
    RequireOk(writer.Flush());
    for (int64_t i = 10; i < 15; ++i) RequireOk(writer.Append(DiscreteRecord(i)));
    ::raise(SIGKILL);  // no destructor, no Close: the five buffered records are lost
    ::_exit(1);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(status));
  const EpisodeLogContents log = ReadOrDie(dir.str());
  ASSERT_EQ(log.records.size(), 10u);
  for (int64_t i = 0; i < 10; ++i) EXPECT_TRUE(SameRecord(log.records[i], DiscreteRecord(i)));
  EXPECT_TRUE(log.damage.empty());
}

TEST(EpisodeLog, ReadingWhileWritingSeesFlushedRecordsAndATornTail) {
  TempDir dir;
  EpisodeLogWriter::Options options = WriterOptions(dir.str());
  options.flush_every_records = 4;
  EpisodeLogWriter writer = EpisodeLogWriter::Open(options, CartPoleMetadata()).ValueOrThrow();
  for (int64_t i = 0; i < 10; ++i) ASSERT_TRUE(writer.Append(DiscreteRecord(i)).ok());
  EXPECT_EQ(ReadOrDie(dir.str()).records.size(), 8u);  // flushed after 4 and 8
  ASSERT_TRUE(writer.Flush().ok());
  // A copy taken in the middle of a write: the file ends inside record 10.
  for (int64_t i = 10; i < 12; ++i) ASSERT_TRUE(writer.Append(DiscreteRecord(i)).ok());
  ASSERT_TRUE(writer.Flush().ok());
  const Bytes segment = ReadBytes(writer.segment_path());
  const Layout layout = ParseLayout(segment);
  WriteBytes(dir / "copy.alog", std::span<const uint8_t>(segment).first(layout.frames[10] + 5));
  const EpisodeLogContents log = ReadOrDie(dir / "copy.alog");
  EXPECT_EQ(log.records.size(), 10u);
  ASSERT_EQ(log.damage.size(), 1u);
  EXPECT_EQ(log.damage[0].offset, static_cast<int64_t>(layout.frames[10]));
  ASSERT_TRUE(writer.Close().ok());
  EXPECT_EQ(ReadOrDie(dir.str()).records.size(), 12u);
}

TEST(EpisodeLog, AppendDoesNotAllocateOnceWarm) {
  TempDir dir;
  EpisodeLogWriter writer =
      EpisodeLogWriter::Open(WriterOptions(dir.str()), CartPoleMetadata()).ValueOrThrow();
  const DecisionRecord discrete = DiscreteRecord(4), continuous = ContinuousRecord(4);
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(writer.Append(discrete).ok());
    ASSERT_TRUE(writer.Append(continuous).ok());
  }
  const int64_t before = AllocationsOnThisThread();
  for (int i = 0; i < 1000; ++i) {  // crosses several flushes (every 256 records)
    if (!writer.Append(discrete).ok() || !writer.Append(continuous).ok()) FAIL();
  }
  EXPECT_EQ(AllocationsOnThisThread() - before, 0);
  ASSERT_TRUE(writer.Close().ok());

  EpisodeLogReader reader = EpisodeLogReader::Open(dir.str()).ValueOrThrow();
  DecisionRecord record;
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(reader.Next(record).value());
  const int64_t before_read = AllocationsOnThisThread();
  int64_t read = 0;
  while (reader.Next(record).value()) ++read;
  EXPECT_EQ(read, 2000);
  EXPECT_EQ(AllocationsOnThisThread() - before_read, 0);
}

TEST(EpisodeLog, OversizedRecordIsRefusedAndTheWriterGoesOn) {
  TempDir dir;
  EpisodeLogWriter::Options options = WriterOptions(dir.str());
  options.max_record_bytes = 256;
  EpisodeLogWriter writer = EpisodeLogWriter::Open(options, CartPoleMetadata()).ValueOrThrow();
  DecisionRecord big = DiscreteRecord(1);
  big.observation.assign(100, 1.0f);
  EXPECT_EQ(writer.Append(big).code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(writer.Append(DiscreteRecord(2)).ok());
  ASSERT_TRUE(writer.Close().ok());
  EXPECT_THROW(static_cast<void>(writer.Append(DiscreteRecord(3))), InvalidArgument);
  EXPECT_TRUE(writer.Close().ok());
  const EpisodeLogContents log = ReadOrDie(dir.str());
  ASSERT_EQ(log.records.size(), 1u);
  EXPECT_EQ(log.records[0].step, 2);
}

TEST(EpisodeLog, OptionsValidate) {
  EXPECT_FALSE(EpisodeLogWriter::Options{}.Validate().ok());  // no directory
  EpisodeLogWriter::Options writer = WriterOptions("/tmp/x");
  EXPECT_TRUE(writer.Validate().ok());
  writer.segment_bytes = 0;
  EXPECT_FALSE(writer.Validate().ok());
  writer = WriterOptions("/tmp/x");
  writer.flush_every_records = -1;
  EXPECT_FALSE(writer.Validate().ok());
  writer = WriterOptions("/tmp/x");
  writer.max_record_bytes = 4;
  EXPECT_EQ(EpisodeLogWriter::Open(writer, {}).status().code(), StatusCode::kInvalidArgument);

  EpisodeLogReader::Options reader;
  EXPECT_TRUE(reader.Validate().ok());
  reader.max_record_bytes = int64_t{1} << 40;
  EXPECT_FALSE(reader.Validate().ok());
  EXPECT_EQ(EpisodeLogReader::Open("/tmp", reader).status().code(), StatusCode::kInvalidArgument);
}

TEST(EpisodeLog, MissingPathIsNotFoundAndEmptyDirectoryIsAnEmptyLog) {
  TempDir dir;
  EXPECT_EQ(EpisodeLogReader::Open(dir / "nope").status().code(), StatusCode::kNotFound);
  const EpisodeLogContents log = ReadOrDie(dir.str());
  EXPECT_TRUE(log.records.empty());
  EXPECT_TRUE(log.segments.empty());
  EXPECT_TRUE(log.damage.empty());
}

TEST(EpisodeLog, NewerFormatVersionIsAnError) {
  TempDir dir;
  Bytes segment = ReadBytes(WriteDiscreteSegment(dir / "log", 2));
  const Layout layout = ParseLayout(segment);
  PutLe32(segment, 8, kEpisodeLogFormatVersion + 1);
  const size_t covered = layout.header_bytes - 4;
  PutLe32(segment, covered, Crc32c(segment.data(), covered));
  WriteBytes(dir / "newer.alog", segment);
  const Result<EpisodeLogContents> log = ReadEpisodeLog(dir / "newer.alog");
  ASSERT_FALSE(log.ok());
  EXPECT_EQ(log.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(log.status().message().find("format version 2"), std::string::npos);
}

// Writes records 0 .. n-1, one per segment; the options for reopening the directory.
EpisodeLogWriter::Options OneRecordPerSegment(const std::string& dir, int64_t n) {
  EpisodeLogWriter::Options options = WriterOptions(dir);
  options.segment_bytes = 1;
  EpisodeLogWriter writer = EpisodeLogWriter::Open(options, CartPoleMetadata()).ValueOrThrow();
  for (int64_t i = 0; i < n; ++i) EXPECT_TRUE(writer.Append(DiscreteRecord(i)).ok());
  EXPECT_TRUE(writer.Close().ok());
  return options;
}

TEST(EpisodeLog, MissingSegmentIsReported) {
  TempDir dir;
  const EpisodeLogWriter::Options options = OneRecordPerSegment(dir.str(), 5);
  fs::remove(dir / EpisodeLogSegmentName(2));
  fs::remove(dir / EpisodeLogSegmentName(3));
  const EpisodeLogContents log = ReadOrDie(dir.str());
  ASSERT_EQ(log.records.size(), 3u);
  EXPECT_EQ(log.records[2].step, 4);
  ASSERT_EQ(log.damage.size(), 1u);
  EXPECT_EQ(fs::path(log.damage[0].file).filename(), EpisodeLogSegmentName(2));
  EXPECT_EQ(log.damage[0].reason, "segments 2 to 3 missing");
}

TEST(EpisodeLog, MissingFirstSegmentIsReportedByName) {
  TempDir dir;
  const EpisodeLogWriter::Options options = OneRecordPerSegment(dir.str(), 3);
  fs::remove(dir / EpisodeLogSegmentName(0));
  const EpisodeLogContents log = ReadOrDie(dir.str());
  ASSERT_EQ(log.records.size(), 2u);
  ASSERT_EQ(log.damage.size(), 1u);
  EXPECT_EQ(fs::path(log.damage[0].file).filename(), EpisodeLogSegmentName(0));
  EXPECT_EQ(log.damage[0].reason, "segment 0 missing");
}

TEST(EpisodeLog, SegmentUnderASecondNameIsReadOnceAndReported) {
  TempDir dir;
  const EpisodeLogWriter::Options options = OneRecordPerSegment(dir.str(), 3);
  fs::copy_file(dir / EpisodeLogSegmentName(2), dir / "segment-2.alog");
  const EpisodeLogContents log = ReadOrDie(dir.str());
  ASSERT_EQ(log.records.size(), 3u);  // not 4: the copy is not read
  ASSERT_EQ(log.damage.size(), 1u);
  EXPECT_EQ(fs::path(log.damage[0].file).filename(), "segment-2.alog");
  EXPECT_NE(log.damage[0].reason.find("segment-000002.alog"), std::string::npos);
  // A writer reopened on the directory continues after the highest index.
  EpisodeLogWriter writer = EpisodeLogWriter::Open(options, CartPoleMetadata()).ValueOrThrow();
  EXPECT_EQ(writer.segment_index(), 3u);
}

TEST(EpisodeLog, HeaderIndexThatDiffersFromTheFileNameIsReported) {
  TempDir dir;
  const EpisodeLogWriter::Options options = OneRecordPerSegment(dir.str(), 2);
  // Segment 1 renamed to 2: a gap at 1, and a header that says 1 in a file named 2.
  fs::rename(dir / EpisodeLogSegmentName(1), dir / EpisodeLogSegmentName(2));
  const EpisodeLogContents log = ReadOrDie(dir.str());
  ASSERT_EQ(log.records.size(), 2u);  // every intact record is kept
  ASSERT_EQ(log.damage.size(), 2u);
  EXPECT_EQ(log.damage[0].reason, "segment 1 missing");
  EXPECT_EQ(fs::path(log.damage[1].file).filename(), EpisodeLogSegmentName(2));
  EXPECT_EQ(log.damage[1].reason, "the header says segment 1, the file name says segment 2");
}

TEST(EpisodeLog, SummaryCountsEpisodesReturnsActorsAndDamage) {
  TempDir dir;
  {
    EpisodeLogWriter writer =
        EpisodeLogWriter::Open(WriterOptions(dir.str()), CartPoleMetadata()).ValueOrThrow();
    // DiscreteRecord: episodes of 7 steps (terminated at step 6), reward 1 each; 17 records
    // make episodes 0 and 1 complete and episode 2 partial (3 steps).
    for (int64_t i = 0; i < 17; ++i) ASSERT_TRUE(writer.Append(DiscreteRecord(i)).ok());
  }
  // Damage one record of episode 2 (record 15), so it keeps 2 steps.
  const std::string segment = dir / EpisodeLogSegmentName(0);
  Bytes bytes = ReadBytes(segment);
  bytes[ParseLayout(bytes).frames[15] + 20] ^= 0x10;
  WriteBytes(segment, bytes);

  const EpisodeLogSummary summary = SummarizeEpisodeLog(dir.str()).ValueOrThrow();
  EXPECT_EQ(summary.records, 16);
  int64_t labelled = 0, by_planner = 0;
  for (int64_t i = 0; i < 17; ++i) {
    if (i == 15) continue;
    labelled += DiscreteRecord(i).has_label;
    by_planner += DiscreteRecord(i).acted_by == Actor::kPlanner;
  }
  EXPECT_EQ(summary.labelled, labelled);
  EXPECT_EQ(summary.acted_by_planner, by_planner);
  EXPECT_EQ(summary.acted_by_executor, 16 - by_planner);
  ASSERT_EQ(summary.episodes.size(), 3u);
  EXPECT_EQ(summary.episodes[0].id, 0);
  EXPECT_EQ(summary.episodes[0].steps, 7);
  EXPECT_EQ(summary.episodes[0].return_sum, 7.0);
  EXPECT_TRUE(summary.episodes[1].complete);
  EXPECT_EQ(summary.episodes[2].steps, 2);
  EXPECT_FALSE(summary.episodes[2].complete);
  EXPECT_EQ(summary.complete_episodes(), 2);
  EXPECT_EQ(summary.mean_complete_return(), 7.0);
  ASSERT_EQ(summary.damage.size(), 1u);
  ASSERT_EQ(summary.segments.size(), 1u);

  const std::string json = summary.ToJson().Dump(-1);
  EXPECT_NE(json.find("\"records\":16"), std::string::npos) << json;
  EXPECT_NE(json.find("\"complete_episodes\":2"), std::string::npos) << json;
  EXPECT_NE(json.find("CartPole-v1"), std::string::npos) << json;
  const std::string text = summary.ToString();
  EXPECT_NE(text.find("records: 16"), std::string::npos) << text;
  EXPECT_NE(text.find("crc32c mismatch"), std::string::npos) << text;
}

}  // namespace
}  // namespace apprentice
