// Episode logs: every DecisionRecord of a run, written to append-only segment files that survive
// a crash, and read back (verified) for offline evaluation, offline distillation and inspection.
//
//   runtime ── Append ──▶ EpisodeLogWriter ── frames ──▶ dir/segment-000000.alog, -000001, ...
//   dir or file ──▶ EpisodeLogReader ── CRC32C + flatbuffers::Verifier ──▶ DecisionRecord
//                                   └─▶ damage(): torn tails and corrupt records, skipped
//
// A segment is a header (magic, format version, segment index, run metadata) followed by
// records framed as [u32 length LE][u32 crc32c LE][FlatBuffer]; docs/log-format.md has the byte
// layout and replay/episode_log.fbs the schema. A torn tail or a damaged record costs that record
// only: the reader reports it and resynchronises on the next intact frame.
//
// Threads: a writer and a reader each belong to one thread at a time (no internal locking);
// different writers must use different directories. Reading a segment that a writer is still
// appending to is safe and reports the unfinished tail as damage.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/decision.h"
#include "core/json.h"
#include "core/status.h"

namespace apprentice {

// The framing and header version this code writes, and the newest it reads (also
// `FormatVersion.Current` in replay/episode_log.fbs).
inline constexpr uint32_t kEpisodeLogFormatVersion = 1;
// Which record fields a segment carries, within the format version (compatible additions): 1
// before records carried the behaviour policy's probability, 2 with it. Written into every
// segment header; a header without it reads as 1.
inline constexpr uint32_t kEpisodeLogRecordRevision = 2;
// Bounds on what a reader accepts, so a corrupt length never causes a large allocation.
inline constexpr int64_t kEpisodeLogMaxMetadataBytes = int64_t{1} << 20;
inline constexpr int64_t kEpisodeLogMaxRecordBytesLimit = int64_t{1} << 30;

// What the run was: written into every segment header. Free-form strings; the runtime fills in
// the env name and Space::ToString() of its spaces. Keep it deterministic (no wall-clock time) so
// a sync-mode run with the same seed writes the same bytes.
struct EpisodeLogMetadata {
  std::string env;
  std::string observation_space;
  std::string action_space;
  std::string run;
  uint32_t record_revision = kEpisodeLogRecordRevision;  // what a writer writes

  friend bool operator==(const EpisodeLogMetadata&, const EpisodeLogMetadata&) = default;
};

// "segment-000042.alog": the file name of segment `index` in a log directory.
std::string EpisodeLogSegmentName(uint64_t index);

// Where a record's frame starts: segment `segment` of a log directory, `offset` bytes into it.
// What an index of a log keeps, to read one record back (ReadEpisodeLogRecordAt).
struct EpisodeLogLocation {
  uint64_t segment = 0;
  int64_t offset = 0;
};

// Appends records to a log directory.
//
// Owned by one thread: no method may be called concurrently with another. Append() copies the
// record into a user-space buffer (no allocation once warm); the buffer goes to the OS when it
// fills, every `flush_every_records` records, on Flush(), on rotation and on Close(). What has
// reached the OS survives a crash of the process; with `fsync`, Flush() and Close() also wait
// until it is on the disk. A crash loses at most the records appended since the last flush,
// and the reader recovers every record before them.
//
// Open() never appends to an existing file: it starts a new segment after the highest index
// already in the directory, so a resumed run cannot write behind a torn tail.
class EpisodeLogWriter {
 public:
  struct Options {
    std::string directory;                         // created if missing
    int64_t segment_bytes = int64_t{64} << 20;     // rotate before a record would pass this size;
                                                   // a segment always holds at least one record
    int64_t flush_every_records = 256;             // 0: only on Flush(), rotation and Close()
    bool fsync = false;                            // fdatasync on Flush()/Close(), fsync the
                                                   // directory when a segment is created
    int64_t buffer_bytes = int64_t{1} << 20;       // user-space buffer; 0 writes every record
    int64_t max_record_bytes = int64_t{16} << 20;  // Append() refuses larger records
    Status Validate() const;
  };

  // Validates `options` (InvalidArgument), creates the directory and the first segment.
  static Result<EpisodeLogWriter> Open(Options options, EpisodeLogMetadata metadata);

  EpisodeLogWriter(EpisodeLogWriter&&) noexcept;
  EpisodeLogWriter& operator=(EpisodeLogWriter&&) noexcept;
  // Closes the writer if it is still open, dropping any error: call Close() to see it.
  ~EpisodeLogWriter();

  // Appends one record, rotating first if it would not fit the current segment. InvalidArgument
  // (nothing written) if it encodes to more than max_record_bytes; an I/O error is returned and
  // sticks: every later call returns it. Throws InvalidArgument after Close().
  // With `where`, also says where the record's frame starts (valid once the record is written).
  Status Append(const DecisionRecord& record, EpisodeLogLocation* where = nullptr);
  // Hands buffered records to the OS (and to the disk with `fsync`). Throws after Close().
  Status Flush();
  // Flushes and closes the current segment. Later calls return Ok and do nothing.
  Status Close();

  int64_t records() const;           // records appended since Open()
  // Records whose bytes have all reached the OS: what a reader finds after a crash of this
  // process. After an I/O error, the records appended since stay unwritten.
  int64_t records_written() const;
  uint64_t segment_index() const;    // index of the segment being written
  std::string segment_path() const;  // path of the segment being written
  int64_t segments_created() const;  // segments this writer created

 private:
  struct Impl;
  explicit EpisodeLogWriter(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// A stretch of a segment that did not hold an intact record: skipped by the reader.
struct EpisodeLogDamage {
  std::string file;
  int64_t offset = 0;  // where the damage starts (a frame start, or 0 for a header)
  int64_t bytes = 0;   // bytes skipped from `offset` (0 for an empty or missing segment)
  std::string reason;
};

// One segment as the reader found it.
struct EpisodeLogSegment {
  std::string file;
  bool header_ok = false;  // false: the header was damaged; the fields below are unknown
  uint32_t format_version = 0;
  uint64_t index = 0;  // from the header
  EpisodeLogMetadata metadata;
  int64_t records = 0;  // intact records read from it so far
};

// Reads the records of one segment file or of a directory (its segment-N.alog files in index
// order; other files are ignored), verifying every frame's CRC32C and every FlatBuffer before
// decoding it. Never trusts a length read from a file: records over max_record_bytes count as
// damage. Damaged stretches are recorded in damage() and skipped; every intact record is
// returned, before and after them. Owned by one thread.
class EpisodeLogReader {
 public:
  struct Options {
    int64_t max_record_bytes = int64_t{16} << 20;  // longer frames are treated as damage
    Status Validate() const;
  };

  // NotFound if `path` does not exist; InvalidArgument for bad options or a path that is
  // neither a file nor a directory. An empty directory is a log with no records.
  static Result<EpisodeLogReader> Open(const std::string& path, Options options);
  static Result<EpisodeLogReader> Open(const std::string& path);  // default Options

  EpisodeLogReader(EpisodeLogReader&&) noexcept;
  EpisodeLogReader& operator=(EpisodeLogReader&&) noexcept;
  ~EpisodeLogReader();

  // Reads the next intact record into `record` (its vectors are reused) and returns true, or
  // returns false at the end of the log. An error only for what is not damage: a file that
  // cannot be opened or read, or a segment of a newer format version (InvalidArgument).
  Result<bool> Next(DecisionRecord& record);

  const std::vector<EpisodeLogDamage>& damage() const;
  const std::vector<EpisodeLogSegment>& segments() const;  // segments opened so far
  int64_t records_read() const;
  // Where the record the last Next() returned starts (the segment index of its file name).
  EpisodeLogLocation location() const;

 private:
  struct Impl;
  explicit EpisodeLogReader(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The one record whose frame starts at `where` in the log directory `directory`, verified (CRC32C
// and FlatBuffer) and decoded into `out`; `frame_bytes`, when given, gets the frame's size (the
// next record starts that far on). NotFound when the segment does not exist, DataLoss when no
// intact record starts there, Unavailable for a read error. Any thread (it opens the file itself).
Status ReadEpisodeLogRecordAt(const std::string& directory, EpisodeLogLocation where,
                              DecisionRecord& out, int64_t* frame_bytes = nullptr,
                              int64_t max_record_bytes = int64_t{16} << 20);

// Everything in a log, read at once (tests and small logs; stream with EpisodeLogReader).
struct EpisodeLogContents {
  std::vector<DecisionRecord> records;
  std::vector<EpisodeLogSegment> segments;
  std::vector<EpisodeLogDamage> damage;
};
Result<EpisodeLogContents> ReadEpisodeLog(const std::string& path,
                                          EpisodeLogReader::Options options = {});

// What `apprentice inspect` shows about a log.
struct EpisodeLogSummary {
  struct Episode {
    int64_t id = 0;
    int64_t steps = 0;      // records of this episode
    double return_sum = 0;  // sum of their rewards
    bool complete = false;  // a record with terminated or truncated was seen
  };
  std::vector<EpisodeLogSegment> segments;
  int64_t records = 0;
  int64_t labelled = 0;  // records with has_label
  int64_t acted_by_executor = 0;
  int64_t acted_by_planner = 0;
  // Records by what they say of the behaviour policy (DecisionRecord::behaviour); the rest are
  // unknown.
  int64_t behaviour_stochastic = 0, behaviour_deterministic = 0;
  std::vector<Episode> episodes;  // by episode id, in order of their first record
  std::vector<EpisodeLogDamage> damage;

  int64_t complete_episodes() const;
  double mean_complete_return() const;  // 0 when no episode is complete
  Json ToJson() const;
  std::string ToString() const;  // a few lines for a terminal
};
// A segment as JSON: {"file", "header_ok", "format_version", "index", "env",
// "observation_space", "action_space", "run", "records"}.
Json SegmentJson(const EpisodeLogSegment& segment);
// Damage entries as a JSON array of {"file", "offset", "bytes", "reason"}.
Json DamageJson(const std::vector<EpisodeLogDamage>& damage);

// Reads the whole log once. Episodes are keyed by id, so a directory should hold one run.
Result<EpisodeLogSummary> SummarizeEpisodeLog(const std::string& path,
                                              EpisodeLogReader::Options options = {});

// One record as the log's Record FlatBuffer alone (a frame's payload, without length and CRC):
// how a record travels as a message (the NATS record stream, docs/scaling.md).
std::vector<uint8_t> EncodeRecordMessage(const DecisionRecord& record);
// Verifies and decodes such bytes, at any alignment, into `out`; DataLoss naming what is wrong
// (too short, not a Record, fails verification, a value out of range).
Status DecodeRecordMessage(std::span<const uint8_t> bytes, DecisionRecord& out);

}  // namespace apprentice
