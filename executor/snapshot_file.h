// Snapshot files: an executor Snapshot on disk, written by the learner and loaded by anything
// that runs the executor (a robot, a game) without LibTorch or FlatBuffers headers.
//
//   Distiller::MakeSnapshot ── SaveSnapshot ──▶ file.apsnap ── LoadSnapshot ──▶ SnapshotSlot ──▶
//   Executor
//
// Format (docs/checkpoints.md, schema in executor/snapshot.fbs): a 16-byte header — magic
// "APSN", format version, length, CRC-32C — then a FlatBuffer holding the MlpSpec, the snapshot
// version, the parameters in torch order and metadata strings.
//
// Loading trusts nothing in the file: the header, the checksum, the FlatBuffer (verified before
// any field is read), the spec, the parameter count and every weight's finiteness are checked,
// and damaged input of any kind yields an error Status, never a crash or a half-built snapshot.
//
// All functions may be called from any thread; Save/Load block on the disk. Saving the same path
// from two threads at once is not supported.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/status.h"
#include "executor/snapshot.h"

namespace apprentice {

// The version of the file layout this build writes and the only one it reads.
inline constexpr uint32_t kSnapshotFileFormatVersion = 1;
// Header size in bytes; the FlatBuffer follows it.
inline constexpr size_t kSnapshotFileHeaderSize = 16;
// Largest file LoadSnapshot reads (a FlatBuffer is at most 2 GiB).
inline constexpr uint64_t kMaxSnapshotFileBytes = (uint64_t{1} << 31) - 1;

// Free-form description stored next to the weights; all fields may be empty.
struct SnapshotFileInfo {
  std::string env;                // environment name, e.g. "CartPole-v1"
  std::string observation_space;  // e.g. Space::ToString(): "Box(4)"
  std::string action_space;       // e.g. "Discrete(2)"
  std::string note;               // anything: run id, commit, training summary

  friend bool operator==(const SnapshotFileInfo&, const SnapshotFileInfo&) = default;
};

struct LoadedSnapshot {
  std::shared_ptr<const Snapshot> snapshot;  // never null
  SnapshotFileInfo info;
};

// The complete file contents for `snapshot` (header + FlatBuffer). Throws InvalidArgument if
// they would exceed kMaxSnapshotFileBytes.
std::vector<uint8_t> EncodeSnapshotFile(const Snapshot& snapshot, const SnapshotFileInfo& info);

// Parses file contents produced by EncodeSnapshotFile. Errors:
//   InvalidArgument: not a snapshot file (wrong magic) or a format version this build does not
//                    read;
//   DataLoss:        a truncated or oversized file, a checksum mismatch, a FlatBuffer that fails
//                    verification, an invalid spec, a wrong parameter count or a non-finite
//                    weight.
Result<LoadedSnapshot> DecodeSnapshotFile(std::span<const uint8_t> bytes);

// Writes the file atomically (path.tmp, fsync, rename; see core/atomic_file.h).
// Unavailable when the file cannot be written; InvalidArgument when the snapshot is too large
// for the format.
Status SaveSnapshot(const Snapshot& snapshot, const SnapshotFileInfo& info,
                    const std::string& path);

// Reads and decodes `path`. NotFound when it does not exist; otherwise DecodeSnapshotFile's
// errors, or ReadFileBytes's. Every message names the path.
Result<LoadedSnapshot> LoadSnapshot(const std::string& path);

}  // namespace apprentice
