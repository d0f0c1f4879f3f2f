// Internal to replay/: DecisionRecord and EpisodeLogMetadata to and from the FlatBuffers of
// replay/episode_log.fbs. The generated header stays inside episode_log_codec.cc, so nothing
// else in the project sees FlatBuffers types.
//
// Not thread-safe: a RecordEncoder belongs to one thread (the writer's). The decode functions
// are pure.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "core/decision.h"
#include "core/status.h"
#include "replay/episode_log.h"

namespace apprentice {
namespace episode_log_internal {

// FlatBuffers with these identifiers (bytes 4..7 of the buffer).
inline constexpr char kRecordIdentifier[5] = "ALOG";
inline constexpr char kMetadataIdentifier[5] = "ALMD";
// The smallest buffer that can be a Record: root offset and identifier.
inline constexpr int64_t kMinRecordBytes = 8;

// Encodes records into one reused builder: no allocation once the builder has grown to the
// largest record seen.
class RecordEncoder {
 public:
  RecordEncoder();
  ~RecordEncoder();
  RecordEncoder(const RecordEncoder&) = delete;
  RecordEncoder& operator=(const RecordEncoder&) = delete;

  // The encoded record; valid until the next Encode() or the encoder's destruction.
  std::span<const uint8_t> Encode(const DecisionRecord& record);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// True if `bytes` is long enough and carries the Record identifier (a cheap pre-check).
bool HasRecordIdentifier(std::span<const uint8_t> bytes);

// Verifies `bytes` as a Record buffer and decodes it into `out` (vectors reused). `bytes` must
// start at an 8-byte-aligned address. DataLoss naming the problem if it does not verify or holds
// values a DecisionRecord cannot (an unknown enum value, a continuous action that is too long).
Status DecodeRecord(std::span<const uint8_t> bytes, DecisionRecord& out);

std::vector<uint8_t> EncodeMetadata(const EpisodeLogMetadata& metadata);
// As DecodeRecord, for a SegmentMetadata buffer.
Status DecodeMetadata(std::span<const uint8_t> bytes, EpisodeLogMetadata& out);

}  // namespace episode_log_internal
}  // namespace apprentice
