#include "replay/episode_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <optional>
#include <span>
#include <unordered_map>
#include <utility>

#include "core/crc32c.h"
#include "replay/episode_log_codec.h"

namespace apprentice {
namespace {

namespace fs = std::filesystem;
using episode_log_internal::kMinRecordBytes;

// Segment header (docs/log-format.md):
//   0  magic[8] | 8  u32 format version | 12  u32 metadata size M | 16  u64 segment index |
//   24  metadata[M] | 24+M  u32 crc32c of bytes [0, 24+M)
constexpr uint8_t kMagic[8] = {0x89, 'A', 'L', 'O', 'G', '\r', '\n', 0x1A};
constexpr int64_t kHeaderFixedBytes = 24;
constexpr int64_t kHeaderCrcBytes = 4;
// Frame: u32 length | u32 crc32c | payload[length]
constexpr int64_t kFrameHeaderBytes = 8;
// The reader reads files in chunks of this size (or a whole frame, if larger).
constexpr int64_t kReadChunkBytes = int64_t{1} << 20;

constexpr std::string_view kSegmentPrefix = "segment-";
constexpr std::string_view kSegmentSuffix = ".alog";

void PutLe32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
void PutLe64(uint8_t* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
uint32_t GetLe32(const uint8_t* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}
uint64_t GetLe64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

std::string ErrnoMessage(const std::string& what, const std::string& path) {
  return what + " " + path + ": " + std::strerror(errno);
}

// The index of a file named segment-<digits>.alog, or nothing.
std::optional<uint64_t> ParseSegmentName(std::string_view name) {
  if (name.size() <= kSegmentPrefix.size() + kSegmentSuffix.size() ||
      !name.starts_with(kSegmentPrefix) || !name.ends_with(kSegmentSuffix)) {
    return std::nullopt;
  }
  const std::string_view digits = name.substr(
      kSegmentPrefix.size(), name.size() - kSegmentPrefix.size() - kSegmentSuffix.size());
  if (!std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  uint64_t index = 0;
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), index);
  if (ec != std::errc() || end != digits.data() + digits.size()) return std::nullopt;
  return index;
}

struct SegmentFile {
  uint64_t index = 0;
  std::string path;
};

// The segment files of `directory` to read, in index order, and what is wrong with the names:
// a file named like a segment but not as the writer names it (segment-2.alog) is read only when
// no properly named file has its index (segment-000002.alog), and is otherwise reported and
// skipped, so that no segment is counted twice.
struct SegmentListing {
  std::vector<SegmentFile> files;
  std::vector<EpisodeLogDamage> skipped;
};

Result<SegmentListing> ListSegments(const std::string& directory) {
  std::error_code ec;
  std::vector<SegmentFile> found;
  for (fs::directory_iterator it(directory, ec), end; !ec && it != end; it.increment(ec)) {
    const std::optional<uint64_t> index = ParseSegmentName(it->path().filename().string());
    if (!index) continue;
    std::error_code type_ec;
    if (!it->is_regular_file(type_ec)) continue;
    found.push_back({*index, it->path().string()});
  }
  if (ec) return Status::Unavailable("list " + directory + ": " + ec.message());
  auto canonical = [](const SegmentFile& f) {
    return fs::path(f.path).filename() == EpisodeLogSegmentName(f.index);
  };
  // By index; within an index the properly named file first, then by name.
  std::sort(found.begin(), found.end(), [&](const SegmentFile& a, const SegmentFile& b) {
    if (a.index != b.index) return a.index < b.index;
    if (canonical(a) != canonical(b)) return canonical(a);
    return a.path < b.path;
  });
  SegmentListing listing;
  for (SegmentFile& f : found) {
    if (!listing.files.empty() && listing.files.back().index == f.index) {
      listing.skipped.push_back(
          {f.path, 0, 0,
           "not read: another file holds segment " + std::to_string(f.index) + " (" +
               fs::path(listing.files.back().path).filename().string() + ")"});
      continue;
    }
    listing.files.push_back(std::move(f));
  }
  return listing;
}

// Writes all `size` bytes; `written` (if given) receives how many reached the OS, also when a
// later write fails (a full disk often takes part of a buffer first).
Status WriteAll(int fd, const uint8_t* data, size_t size, const std::string& path,
                size_t* written = nullptr) {
  size_t done = 0;
  while (done < size) {
    const ssize_t n = ::write(fd, data + done, size - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (written != nullptr) *written = done;
      return Status::Unavailable(ErrnoMessage("write", path));
    }
    done += static_cast<size_t>(n);
  }
  if (written != nullptr) *written = done;
  return Status::Ok();
}

// Frames that lie whole within the first `bytes` of a buffer of frames.
int64_t WholeFrames(const uint8_t* frames, size_t bytes) {
  int64_t count = 0;
  size_t at = 0;
  while (at + kFrameHeaderBytes <= bytes) {
    const size_t length = GetLe32(frames + at);
    if (at + kFrameHeaderBytes + length > bytes) break;
    at += kFrameHeaderBytes + length;
    ++count;
  }
  return count;
}

Status SyncData(int fd, const std::string& path) {
#if defined(__linux__)
  const int rc = ::fdatasync(fd);
#else
  const int rc = ::fsync(fd);
#endif
  return rc == 0 ? Status::Ok() : Status::Unavailable(ErrnoMessage("fsync", path));
}

Status SyncDirectory(const std::string& directory) {
  const int fd = ::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Status::Unavailable(ErrnoMessage("open directory", directory));
  const int rc = ::fsync(fd);
  const Status status =
      rc == 0 ? Status::Ok() : Status::Unavailable(ErrnoMessage("fsync directory", directory));
  ::close(fd);
  return status;
}

// Header bytes of a segment: fixed fields, metadata and the CRC.
std::vector<uint8_t> SegmentHeader(const std::vector<uint8_t>& metadata, uint64_t index) {
  std::vector<uint8_t> header(kHeaderFixedBytes + metadata.size() + kHeaderCrcBytes);
  std::memcpy(header.data(), kMagic, sizeof(kMagic));
  PutLe32(header.data() + 8, kEpisodeLogFormatVersion);
  PutLe32(header.data() + 12, static_cast<uint32_t>(metadata.size()));
  PutLe64(header.data() + 16, index);
  std::copy(metadata.begin(), metadata.end(), header.begin() + kHeaderFixedBytes);
  const size_t covered = header.size() - kHeaderCrcBytes;
  PutLe32(header.data() + covered, Crc32c(header.data(), covered));
  return header;
}

}  // namespace

std::string EpisodeLogSegmentName(uint64_t index) {
  char digits[24];
  std::snprintf(digits, sizeof(digits), "%06llu", static_cast<unsigned long long>(index));
  return std::string(kSegmentPrefix) + digits + std::string(kSegmentSuffix);
}

// ---------------------------------------------------------------------------------------------
// Writer
// ---------------------------------------------------------------------------------------------

Status EpisodeLogWriter::Options::Validate() const {
  if (directory.empty()) return Status::InvalidArgument("episode log directory must be set");
  if (segment_bytes < 1) {
    return Status::InvalidArgument("episode log segment_bytes must be >= 1, got " +
                                   std::to_string(segment_bytes));
  }
  if (flush_every_records < 0) {
    return Status::InvalidArgument("episode log flush_every_records must be >= 0, got " +
                                   std::to_string(flush_every_records));
  }
  if (buffer_bytes < 0 || buffer_bytes > kEpisodeLogMaxRecordBytesLimit) {
    return Status::InvalidArgument("episode log buffer_bytes must be in [0, " +
                                   std::to_string(kEpisodeLogMaxRecordBytesLimit) + "], got " +
                                   std::to_string(buffer_bytes));
  }
  if (max_record_bytes < kMinRecordBytes || max_record_bytes > kEpisodeLogMaxRecordBytesLimit) {
    return Status::InvalidArgument("episode log max_record_bytes must be in [" +
                                   std::to_string(kMinRecordBytes) + ", " +
                                   std::to_string(kEpisodeLogMaxRecordBytesLimit) + "], got " +
                                   std::to_string(max_record_bytes));
  }
  return Status::Ok();
}

struct EpisodeLogWriter::Impl {
  Options options;
  std::vector<uint8_t> metadata;  // encoded SegmentMetadata
  episode_log_internal::RecordEncoder encoder;
  std::unique_ptr<uint8_t[]> buffer;
  size_t buffered = 0;
  int64_t buffered_records = 0;  // records in `buffer`
  int64_t written = 0;           // records whose bytes all reached the OS

  int fd = -1;
  uint64_t index = 0;
  std::string path;
  int64_t segment_size = 0;  // bytes in the current segment, buffered ones included
  int64_t segment_records = 0;
  int64_t records = 0;
  int64_t since_flush = 0;
  int64_t segments_created = 0;
  bool closed = false;
  Status error;  // the first I/O error; sticks

  ~Impl() {
    if (fd >= 0) ::close(fd);
  }

  // Remembers the first I/O error and returns it.
  Status Fail(Status status) {
    if (error.ok()) error = std::move(status);
    return error;
  }

  Status OpenSegment(uint64_t new_index) {
    index = new_index;
    path = (fs::path(options.directory) / EpisodeLogSegmentName(index)).string();
    fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) return Fail(Status::Unavailable(ErrnoMessage("create", path)));
    ++segments_created;
    const std::vector<uint8_t> header = SegmentHeader(metadata, index);
    if (Status s = WriteAll(fd, header.data(), header.size(), path); !s.ok()) return Fail(s);
    if (options.fsync) {
      if (Status s = SyncData(fd, path); !s.ok()) return Fail(s);
      if (Status s = SyncDirectory(options.directory); !s.ok()) return Fail(s);
    }
    segment_size = static_cast<int64_t>(header.size());
    segment_records = 0;
    return Status::Ok();
  }

  Status WriteBuffer() {
    if (buffered == 0) return Status::Ok();
    const size_t n = buffered;
    const int64_t n_records = buffered_records;
    buffered = 0;
    buffered_records = 0;
    size_t done = 0;
    if (Status s = WriteAll(fd, buffer.get(), n, path, &done); !s.ok()) {
      written += WholeFrames(buffer.get(), done);  // what a reader will find
      return Fail(s);
    }
    written += n_records;
    return Status::Ok();
  }

  Status Flush() {
    if (!error.ok()) return error;
    if (Status s = WriteBuffer(); !s.ok()) return s;
    if (options.fsync) {
      if (Status s = SyncData(fd, path); !s.ok()) return Fail(s);
    }
    since_flush = 0;
    return Status::Ok();
  }

  Status CloseSegment() {
    Status status = Flush();
    if (fd >= 0 && ::close(fd) != 0 && status.ok()) {
      status = Fail(Status::Unavailable(ErrnoMessage("close", path)));
    }
    fd = -1;
    return status;
  }

  Status Append(const DecisionRecord& record, EpisodeLogLocation* where) {
    if (!error.ok()) return error;
    const std::span<const uint8_t> payload = encoder.Encode(record);
    const int64_t size = static_cast<int64_t>(payload.size());
    if (size > options.max_record_bytes) {
      return Status::InvalidArgument("episode log record of " + std::to_string(size) +
                                     " bytes exceeds max_record_bytes " +
                                     std::to_string(options.max_record_bytes));
    }
    const int64_t frame = kFrameHeaderBytes + size;
    if (segment_records > 0 && segment_size + frame > options.segment_bytes) {
      if (Status s = CloseSegment(); !s.ok()) return s;
      if (Status s = OpenSegment(index + 1); !s.ok()) return s;
    }
    if (where != nullptr) *where = {index, segment_size};
    uint8_t head[kFrameHeaderBytes];
    PutLe32(head, static_cast<uint32_t>(size));
    PutLe32(head + 4, Crc32c(payload));

    const size_t capacity = static_cast<size_t>(options.buffer_bytes);
    if (buffered + static_cast<size_t>(frame) > capacity) {
      if (Status s = WriteBuffer(); !s.ok()) return s;
    }
    if (static_cast<size_t>(frame) > capacity) {
      if (Status s = WriteAll(fd, head, sizeof(head), path); !s.ok()) return Fail(s);
      if (Status s = WriteAll(fd, payload.data(), payload.size(), path); !s.ok()) return Fail(s);
      ++written;
    } else {
      std::memcpy(buffer.get() + buffered, head, sizeof(head));
      std::memcpy(buffer.get() + buffered + sizeof(head), payload.data(), payload.size());
      buffered += static_cast<size_t>(frame);
      ++buffered_records;
    }
    segment_size += frame;
    ++segment_records;
    ++records;
    ++since_flush;
    if (options.flush_every_records > 0 && since_flush >= options.flush_every_records) {
      return Flush();
    }
    return Status::Ok();
  }
};

Result<EpisodeLogWriter> EpisodeLogWriter::Open(Options options, EpisodeLogMetadata metadata) {
  if (Status s = options.Validate(); !s.ok()) return s;
  auto impl = std::make_unique<Impl>();
  impl->metadata = episode_log_internal::EncodeMetadata(metadata);
  if (static_cast<int64_t>(impl->metadata.size()) > kEpisodeLogMaxMetadataBytes) {
    return Status::InvalidArgument("episode log metadata encodes to " +
                                   std::to_string(impl->metadata.size()) + " bytes; at most " +
                                   std::to_string(kEpisodeLogMaxMetadataBytes) + " fit a header");
  }
  std::error_code ec;
  fs::create_directories(options.directory, ec);
  if (ec) return Status::Unavailable("create directory " + options.directory + ": " + ec.message());
  Result<SegmentListing> existing = ListSegments(options.directory);
  if (!existing.ok()) return existing.status();
  const uint64_t first = existing->files.empty() ? 0 : existing->files.back().index + 1;

  impl->buffer = std::make_unique<uint8_t[]>(static_cast<size_t>(options.buffer_bytes));
  impl->options = std::move(options);
  if (Status s = impl->OpenSegment(first); !s.ok()) return s;
  return EpisodeLogWriter(std::move(impl));
}

EpisodeLogWriter::EpisodeLogWriter(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
EpisodeLogWriter::EpisodeLogWriter(EpisodeLogWriter&&) noexcept = default;
EpisodeLogWriter& EpisodeLogWriter::operator=(EpisodeLogWriter&& other) noexcept {
  if (this != &other) {
    if (impl_ && !impl_->closed) static_cast<void>(Close());
    impl_ = std::move(other.impl_);
  }
  return *this;
}
EpisodeLogWriter::~EpisodeLogWriter() {
  if (impl_ && !impl_->closed) static_cast<void>(Close());
}

Status EpisodeLogWriter::Append(const DecisionRecord& record, EpisodeLogLocation* where) {
  if (impl_ == nullptr || impl_->closed) {  // (no std::string built on the per-record path)
    throw InvalidArgument("EpisodeLogWriter::Append after Close()");
  }
  return impl_->Append(record, where);
}

Status EpisodeLogWriter::Flush() {
  Require(impl_ != nullptr && !impl_->closed, "EpisodeLogWriter::Flush after Close()");
  return impl_->Flush();
}

Status EpisodeLogWriter::Close() {
  Require(impl_ != nullptr, "EpisodeLogWriter::Close on a moved-from writer");
  if (impl_->closed) return Status::Ok();
  impl_->closed = true;
  return impl_->CloseSegment();
}

int64_t EpisodeLogWriter::records() const { return impl_->records; }
uint64_t EpisodeLogWriter::segment_index() const { return impl_->index; }
int64_t EpisodeLogWriter::records_written() const { return impl_->written; }
std::string EpisodeLogWriter::segment_path() const { return impl_->path; }
int64_t EpisodeLogWriter::segments_created() const { return impl_->segments_created; }

// ---------------------------------------------------------------------------------------------
// Reader
// ---------------------------------------------------------------------------------------------

Status EpisodeLogReader::Options::Validate() const {
  if (max_record_bytes < kMinRecordBytes || max_record_bytes > kEpisodeLogMaxRecordBytesLimit) {
    return Status::InvalidArgument("episode log max_record_bytes must be in [" +
                                   std::to_string(kMinRecordBytes) + ", " +
                                   std::to_string(kEpisodeLogMaxRecordBytesLimit) + "], got " +
                                   std::to_string(max_record_bytes));
  }
  return Status::Ok();
}

struct EpisodeLogReader::Impl {
  enum class Frame { kRecord, kDamaged, kUndecodable, kIoError };

  Options options;
  bool directory = false;
  std::string directory_path;
  std::vector<SegmentFile> files;
  size_t next_file = 0;
  std::optional<uint64_t> previous_index;

  // The open segment.
  int fd = -1;
  std::string path;
  int64_t size = 0;
  int64_t offset = 0;
  // Bytes [window_start, window_start + window_len) of the segment.
  std::vector<uint8_t> window;
  int64_t window_start = 0;
  int64_t window_len = 0;

  std::vector<uint64_t> aligned;  // 8-byte-aligned copy of a payload for the verifier
  DecisionRecord scratch;         // decoded while resynchronising after a damaged header
  std::vector<EpisodeLogDamage> damage;
  std::vector<EpisodeLogSegment> segments;
  int64_t records_read = 0;
  EpisodeLogLocation last;  // where the record Next() returned last starts
  Status error;  // an I/O error; sticks

  ~Impl() { CloseSegment(); }

  void CloseSegment() {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }

  void AddDamage(int64_t at, int64_t bytes, std::string reason) {
    damage.push_back({path, at, bytes, std::move(reason)});
  }

  // Bytes [at, at + n) of the open segment, or nullptr after a read error (in `error`).
  // Precondition: at + n <= size, and n <= max_record_bytes + kFrameHeaderBytes or the header.
  const uint8_t* Bytes(int64_t at, int64_t n) {
    if (at >= window_start && at + n <= window_start + window_len) {
      return window.data() + (at - window_start);
    }
    int64_t keep = 0;
    if (at >= window_start && at < window_start + window_len) {
      keep = window_start + window_len - at;
      std::memmove(window.data(), window.data() + (at - window_start), static_cast<size_t>(keep));
    }
    window_start = at;
    window_len = keep;
    const int64_t want = std::min(std::max(n, kReadChunkBytes), size - at);
    if (static_cast<int64_t>(window.size()) < want) window.resize(static_cast<size_t>(want));
    while (window_len < want) {
      const ssize_t got = ::pread(fd, window.data() + window_len,
                                  static_cast<size_t>(want - window_len), at + window_len);
      if (got < 0 && errno == EINTR) continue;
      if (got < 0) {
        error = Status::Unavailable(ErrnoMessage("read", path));
        return nullptr;
      }
      if (got == 0) {
        error = Status::Unavailable("read " + path + ": the file shrank while it was read");
        return nullptr;
      }
      window_len += got;
    }
    return window.data();
  }

  // An 8-byte-aligned copy of `n` bytes at `p`.
  std::span<const uint8_t> Aligned(const uint8_t* p, int64_t n) {
    const size_t words = static_cast<size_t>((n + 7) / 8);
    if (aligned.size() < words) aligned.resize(words);
    std::memcpy(aligned.data(), p, static_cast<size_t>(n));
    return {reinterpret_cast<const uint8_t*>(aligned.data()), static_cast<size_t>(n)};
  }

  // Tries the frame at `at`. kRecord: decoded into `out`, `frame_bytes` set. kUndecodable: the
  // CRC holds, so the frame's extent (`frame_bytes`) is known, but it does not decode.
  // kDamaged: nothing can be trusted from `at` on. `reason` (if not null) says why; `scanning`
  // rejects frames without the Record identifier before computing their CRC.
  Frame ReadFrame(int64_t at, DecisionRecord& out, bool scanning, int64_t& frame_bytes,
                  std::string* reason) {
    const int64_t remaining = size - at;
    if (remaining < kFrameHeaderBytes) {
      if (reason) {
        *reason = "truncated frame header: the segment ends " + std::to_string(remaining) +
                  " bytes into it";
      }
      return Frame::kDamaged;
    }
    const uint8_t* head = Bytes(at, kFrameHeaderBytes);
    if (head == nullptr) return Frame::kIoError;
    const int64_t length = GetLe32(head);
    const uint32_t stored_crc = GetLe32(head + 4);
    if (length < kMinRecordBytes || length > options.max_record_bytes) {
      if (reason) {
        *reason = "frame length " + std::to_string(length) + " outside [" +
                  std::to_string(kMinRecordBytes) + ", " +
                  std::to_string(options.max_record_bytes) + "]";
      }
      return Frame::kDamaged;
    }
    if (length > remaining - kFrameHeaderBytes) {
      if (reason) {
        *reason = "truncated frame: " + std::to_string(kFrameHeaderBytes + length) +
                  " bytes long, the segment ends " + std::to_string(remaining) + " bytes into it";
      }
      return Frame::kDamaged;
    }
    if (scanning) {  // the identifier first: most candidates fail here, before a large read
      const uint8_t* start = Bytes(at, kFrameHeaderBytes + kMinRecordBytes);
      if (start == nullptr) return Frame::kIoError;
      if (!episode_log_internal::HasRecordIdentifier(
              {start + kFrameHeaderBytes, static_cast<size_t>(kMinRecordBytes)})) {
        return Frame::kDamaged;
      }
    }
    const uint8_t* frame = Bytes(at, kFrameHeaderBytes + length);
    if (frame == nullptr) return Frame::kIoError;
    const std::span<const uint8_t> payload(frame + kFrameHeaderBytes, static_cast<size_t>(length));
    const uint32_t crc = Crc32c(payload);
    if (crc != stored_crc) {
      if (reason) {
        char buf[64];
        std::snprintf(buf, sizeof(buf), "crc32c mismatch (stored %08x, computed %08x)", stored_crc,
                      crc);
        *reason = buf;
      }
      return Frame::kDamaged;
    }
    frame_bytes = kFrameHeaderBytes + length;
    if (Status s = episode_log_internal::DecodeRecord(Aligned(payload.data(), length), out);
        !s.ok()) {
      if (reason) *reason = s.message();
      return Frame::kUndecodable;
    }
    return Frame::kRecord;
  }

  // The first offset >= `from` where an intact, decodable frame starts (decoded into `out`,
  // its size in `frame_bytes`), or `size` if there is none; -1 after a read error.
  int64_t Resync(int64_t from, DecisionRecord& out, int64_t& frame_bytes) {
    for (int64_t at = from; at + kFrameHeaderBytes + kMinRecordBytes <= size; ++at) {
      switch (ReadFrame(at, out, /*scanning=*/true, frame_bytes, /*reason=*/nullptr)) {
        case Frame::kRecord:
          return at;
        case Frame::kIoError:
          return -1;
        case Frame::kDamaged:
        case Frame::kUndecodable:
          break;
      }
    }
    return size;
  }

  // Checks the header of the open segment. Ok with `offset` at the first frame (after
  // recording damage if the header is bad); an error only for a newer format version.
  Status ReadHeader(EpisodeLogSegment& segment) {
    std::string reason;
    int64_t header_bytes = 0;
    if (size == 0) {
      AddDamage(0, 0, "empty segment: no header");
      offset = size;
      return Status::Ok();
    }
    if (size < kHeaderFixedBytes + kHeaderCrcBytes) {
      reason = "truncated header: the segment has " + std::to_string(size) + " bytes";
    } else {
      const uint8_t* fixed = Bytes(0, kHeaderFixedBytes);
      if (fixed == nullptr) return error;
      const int64_t metadata_size = GetLe32(fixed + 12);
      header_bytes = kHeaderFixedBytes + metadata_size + kHeaderCrcBytes;
      if (std::memcmp(fixed, kMagic, sizeof(kMagic)) != 0) {
        reason = "bad magic: not an episode log segment";
      } else if (metadata_size > kEpisodeLogMaxMetadataBytes) {
        reason = "header metadata size " + std::to_string(metadata_size) + " exceeds " +
                 std::to_string(kEpisodeLogMaxMetadataBytes);
      } else if (header_bytes > size) {
        reason = "truncated header: " + std::to_string(header_bytes) +
                 " bytes long, the segment has " + std::to_string(size);
      } else {
        const uint8_t* header = Bytes(0, header_bytes);
        if (header == nullptr) return error;
        const int64_t covered = header_bytes - kHeaderCrcBytes;
        const uint32_t crc = Crc32c(header, static_cast<size_t>(covered));
        const uint32_t version = GetLe32(header + 8);
        if (crc != GetLe32(header + covered)) {
          reason = "header crc32c mismatch";
        } else if (version > kEpisodeLogFormatVersion) {
          return Status::InvalidArgument(path + " has episode log format version " +
                                         std::to_string(version) + "; this reader knows up to " +
                                         std::to_string(kEpisodeLogFormatVersion));
        } else if (version == 0) {
          reason = "header format version 0";
        } else {
          segment.format_version = version;
          segment.index = GetLe64(header + 16);
          const Status s = episode_log_internal::DecodeMetadata(
              Aligned(header + kHeaderFixedBytes, metadata_size), segment.metadata);
          if (s.ok()) {
            segment.header_ok = true;
            offset = header_bytes;
            // A renamed or copied segment: its records are intact, but its place in the
            // sequence is not what its name says.
            const std::optional<uint64_t> named =
                ParseSegmentName(fs::path(path).filename().string());
            if (named && *named != segment.index) {
              AddDamage(0, 0, "the header says segment " + std::to_string(segment.index) +
                                  ", the file name says segment " + std::to_string(*named));
            }
            return Status::Ok();
          }
          segment.format_version = 0;
          segment.index = 0;
          segment.metadata = {};
          reason = "header metadata: " + s.message();
        }
      }
    }
    // A damaged header: the records after it may still be intact.
    int64_t frame_bytes = 0;
    const int64_t next = Resync(1, scratch, frame_bytes);
    if (next < 0) return error;
    AddDamage(0, next, std::move(reason));
    offset = next;
    return Status::Ok();
  }

  Status OpenNextSegment() {
    const SegmentFile& file = files[next_file++];
    path = file.path;
    // A directory's segments are numbered from 0 without gaps: a hole is a lost segment.
    const uint64_t expected = previous_index ? *previous_index + 1 : 0;
    if (directory && file.index > expected) {
      const uint64_t first_missing = expected;
      const uint64_t last_missing = file.index - 1;
      std::string reason = first_missing == last_missing
                               ? "segment " + std::to_string(first_missing) + " missing"
                               : "segments " + std::to_string(first_missing) + " to " +
                                     std::to_string(last_missing) + " missing";
      damage.push_back({(fs::path(directory_path) / EpisodeLogSegmentName(first_missing)).string(),
                        0, 0, std::move(reason)});
    }
    previous_index = file.index;

    fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return error = Status::Unavailable(ErrnoMessage("open", path));
    struct stat st;
    if (::fstat(fd, &st) != 0) return error = Status::Unavailable(ErrnoMessage("stat", path));
    size = static_cast<int64_t>(st.st_size);
    offset = 0;
    window_start = 0;
    window_len = 0;

    EpisodeLogSegment segment;
    segment.file = path;
    if (Status s = ReadHeader(segment); !s.ok()) {
      CloseSegment();
      return error = s;
    }
    segments.push_back(std::move(segment));
    return Status::Ok();
  }

  Result<bool> Next(DecisionRecord& record) {
    while (true) {
      if (!error.ok()) return error;
      if (fd < 0) {
        if (next_file >= files.size()) return false;
        if (Status s = OpenNextSegment(); !s.ok()) return s;
        continue;
      }
      if (offset >= size) {
        CloseSegment();
        continue;
      }
      int64_t frame_bytes = 0;
      std::string reason;
      switch (ReadFrame(offset, record, /*scanning=*/false, frame_bytes, &reason)) {
        case Frame::kRecord:
          last = {previous_index.value_or(0), offset};
          offset += frame_bytes;
          ++segments.back().records;
          ++records_read;
          return true;
        case Frame::kIoError:
          return error;
        case Frame::kUndecodable:
          AddDamage(offset, frame_bytes, std::move(reason));
          offset += frame_bytes;
          continue;
        case Frame::kDamaged: {
          const int64_t start = offset;
          const int64_t next = Resync(start + 1, record, frame_bytes);
          if (next < 0) return error;
          AddDamage(start, next - start, std::move(reason));
          if (next >= size) {
            offset = size;
            continue;
          }
          last = {previous_index.value_or(0), next};
          offset = next + frame_bytes;
          ++segments.back().records;
          ++records_read;
          return true;
        }
      }
    }
  }
};

Result<EpisodeLogReader> EpisodeLogReader::Open(const std::string& path, Options options) {
  if (Status s = options.Validate(); !s.ok()) return s;
  std::error_code ec;
  const fs::file_status status = fs::status(path, ec);
  if (ec || !fs::exists(status)) return Status::NotFound("episode log " + path + " not found");
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  if (fs::is_directory(status)) {
    Result<SegmentListing> files = ListSegments(path);
    if (!files.ok()) return files.status();
    impl->directory = true;
    impl->directory_path = path;
    impl->files = std::move(files->files);
    impl->damage = std::move(files->skipped);
  } else if (fs::is_regular_file(status)) {
    impl->files.push_back({0, path});
  } else {
    return Status::InvalidArgument("episode log " + path + " is neither a file nor a directory");
  }
  return EpisodeLogReader(std::move(impl));
}

Result<EpisodeLogReader> EpisodeLogReader::Open(const std::string& path) {
  return Open(path, Options());
}

EpisodeLogReader::EpisodeLogReader(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
EpisodeLogReader::EpisodeLogReader(EpisodeLogReader&&) noexcept = default;
EpisodeLogReader& EpisodeLogReader::operator=(EpisodeLogReader&&) noexcept = default;
EpisodeLogReader::~EpisodeLogReader() = default;

Result<bool> EpisodeLogReader::Next(DecisionRecord& record) {
  if (impl_ == nullptr) throw InvalidArgument("EpisodeLogReader::Next on a moved-from reader");
  return impl_->Next(record);
}
const std::vector<EpisodeLogDamage>& EpisodeLogReader::damage() const { return impl_->damage; }
const std::vector<EpisodeLogSegment>& EpisodeLogReader::segments() const { return impl_->segments; }
int64_t EpisodeLogReader::records_read() const { return impl_->records_read; }
EpisodeLogLocation EpisodeLogReader::location() const { return impl_->last; }

Status ReadEpisodeLogRecordAt(const std::string& directory, EpisodeLogLocation where,
                              DecisionRecord& out, int64_t* frame_bytes,
                              int64_t max_record_bytes) {
  const std::string path = (fs::path(directory) / EpisodeLogSegmentName(where.segment)).string();
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return Status::NotFound("episode log segment " + path + " not found");
    return Status::Unavailable(ErrnoMessage("open", path));
  }
  auto read_at = [&](void* dst, size_t n, int64_t at) -> Status {
    size_t done = 0;
    while (done < n) {
      const ssize_t got = ::pread(fd, static_cast<uint8_t*>(dst) + done, n - done,
                                  static_cast<off_t>(at + static_cast<int64_t>(done)));
      if (got < 0 && errno == EINTR) continue;
      if (got < 0) return Status::Unavailable(ErrnoMessage("read", path));
      if (got == 0) {
        return Status::DataLoss(path + ": no record at offset " + std::to_string(where.offset) +
                                " (the file ends first)");
      }
      done += static_cast<size_t>(got);
    }
    return Status::Ok();
  };
  uint8_t head[kFrameHeaderBytes];
  Status status = read_at(head, sizeof(head), where.offset);
  const int64_t length = status.ok() ? GetLe32(head) : 0;
  if (status.ok() && (length < kMinRecordBytes || length > max_record_bytes)) {
    status = Status::DataLoss(path + ": no record at offset " + std::to_string(where.offset) +
                              " (frame length " + std::to_string(length) + ")");
  }
  std::vector<uint64_t> payload;  // 8-byte aligned for the verifier
  if (status.ok()) {
    payload.resize(static_cast<size_t>((length + 7) / 8));
    status = read_at(payload.data(), static_cast<size_t>(length),
                     where.offset + kFrameHeaderBytes);
  }
  ::close(fd);
  if (!status.ok()) return status;
  const std::span<const uint8_t> bytes(reinterpret_cast<const uint8_t*>(payload.data()),
                                       static_cast<size_t>(length));
  if (Crc32c(bytes) != GetLe32(head + 4)) {
    return Status::DataLoss(path + ": the record at offset " + std::to_string(where.offset) +
                            " fails its crc32c");
  }
  if (Status s = episode_log_internal::DecodeRecord(bytes, out); !s.ok()) {
    return Status::DataLoss(path + ": the record at offset " + std::to_string(where.offset) +
                            " does not decode: " + s.message());
  }
  if (frame_bytes != nullptr) *frame_bytes = kFrameHeaderBytes + length;
  return Status::Ok();
}

Result<EpisodeLogContents> ReadEpisodeLog(const std::string& path,
                                          EpisodeLogReader::Options options) {
  Result<EpisodeLogReader> reader = EpisodeLogReader::Open(path, options);
  if (!reader.ok()) return reader.status();
  EpisodeLogContents contents;
  DecisionRecord record;
  while (true) {
    Result<bool> more = reader->Next(record);
    if (!more.ok()) return more.status();
    if (!*more) break;
    contents.records.push_back(record);
  }
  contents.segments = reader->segments();
  contents.damage = reader->damage();
  return contents;
}

// ---------------------------------------------------------------------------------------------
// Summary
// ---------------------------------------------------------------------------------------------

int64_t EpisodeLogSummary::complete_episodes() const {
  return std::count_if(episodes.begin(), episodes.end(),
                       [](const Episode& e) { return e.complete; });
}

double EpisodeLogSummary::mean_complete_return() const {
  double sum = 0;
  int64_t n = 0;
  for (const Episode& e : episodes) {
    if (!e.complete) continue;
    sum += e.return_sum;
    ++n;
  }
  return n == 0 ? 0.0 : sum / static_cast<double>(n);
}

Json SegmentJson(const EpisodeLogSegment& s) {
  return Json{{"file", s.file},
              {"header_ok", s.header_ok},
              {"format_version", static_cast<int64_t>(s.format_version)},
              {"index", static_cast<int64_t>(s.index)},
              {"env", s.metadata.env},
              {"observation_space", s.metadata.observation_space},
              {"action_space", s.metadata.action_space},
              {"run", s.metadata.run},
              {"record_revision", static_cast<int64_t>(s.metadata.record_revision)},
              {"records", s.records}};
}

Json DamageJson(const std::vector<EpisodeLogDamage>& damage) {
  Json::Array list;
  for (const EpisodeLogDamage& d : damage) {
    list.push_back(
        Json{{"file", d.file}, {"offset", d.offset}, {"bytes", d.bytes}, {"reason", d.reason}});
  }
  return list;
}

Json EpisodeLogSummary::ToJson() const {
  Json::Array segment_list;
  for (const EpisodeLogSegment& s : segments) segment_list.push_back(SegmentJson(s));
  Json::Array episode_list;
  for (const Episode& e : episodes) {
    episode_list.push_back(
        Json{{"id", e.id}, {"steps", e.steps}, {"return", e.return_sum}, {"complete", e.complete}});
  }
  return Json{{"records", records},
              {"labelled", labelled},
              {"acted_by_executor", acted_by_executor},
              {"acted_by_planner", acted_by_planner},
              {"behaviour_stochastic", behaviour_stochastic},
              {"behaviour_deterministic", behaviour_deterministic},
              {"episodes", static_cast<int64_t>(episodes.size())},
              {"complete_episodes", complete_episodes()},
              {"mean_complete_return", mean_complete_return()},
              {"segments", std::move(segment_list)},
              {"episode_list", std::move(episode_list)},
              {"damage", DamageJson(damage)}};
}

std::string EpisodeLogSummary::ToString() const {
  std::string out;
  char line[256];
  std::snprintf(line, sizeof(line), "segments: %zu\n", segments.size());
  out += line;
  for (const EpisodeLogSegment& s : segments) {
    if (!s.header_ok) continue;
    out += "run: env " + s.metadata.env + ", observations " + s.metadata.observation_space +
           ", actions " + s.metadata.action_space;
    if (!s.metadata.run.empty()) out += ", " + s.metadata.run;
    out += "\n";
    break;
  }
  std::snprintf(
      line, sizeof(line), "records: %lld (labelled %lld; acted by executor %lld, planner %lld)\n",
      static_cast<long long>(records), static_cast<long long>(labelled),
      static_cast<long long>(acted_by_executor), static_cast<long long>(acted_by_planner));
  out += line;
  std::snprintf(line, sizeof(line), "episodes: %zu (%lld complete, mean return %.3f)\n",
                episodes.size(), static_cast<long long>(complete_episodes()),
                mean_complete_return());
  out += line;
  std::snprintf(line, sizeof(line), "damage: %zu\n", damage.size());
  out += line;
  for (const EpisodeLogDamage& d : damage) {
    std::snprintf(line, sizeof(line),
                  "  at %lld, %lld bytes skipped: ", static_cast<long long>(d.offset),
                  static_cast<long long>(d.bytes));
    out += "  " + d.file + "\n" + line + d.reason + "\n";
  }
  return out;
}

Result<EpisodeLogSummary> SummarizeEpisodeLog(const std::string& path,
                                              EpisodeLogReader::Options options) {
  Result<EpisodeLogReader> reader = EpisodeLogReader::Open(path, options);
  if (!reader.ok()) return reader.status();
  EpisodeLogSummary summary;
  std::unordered_map<int64_t, size_t> episode_index;
  DecisionRecord r;
  while (true) {
    Result<bool> more = reader->Next(r);
    if (!more.ok()) return more.status();
    if (!*more) break;
    ++summary.records;
    if (r.has_label) ++summary.labelled;
    if (r.acted_by == Actor::kExecutor) ++summary.acted_by_executor;
    if (r.acted_by == Actor::kPlanner) ++summary.acted_by_planner;
    if (r.behaviour == Behaviour::kStochastic) ++summary.behaviour_stochastic;
    if (r.behaviour == Behaviour::kDeterministic) ++summary.behaviour_deterministic;
    const auto [it, inserted] = episode_index.try_emplace(r.episode, summary.episodes.size());
    if (inserted) summary.episodes.push_back({r.episode, 0, 0.0, false});
    EpisodeLogSummary::Episode& episode = summary.episodes[it->second];
    ++episode.steps;
    episode.return_sum += r.reward;
    if (r.terminated || r.truncated) episode.complete = true;
  }
  summary.segments = reader->segments();
  summary.damage = reader->damage();
  return summary;
}

std::vector<uint8_t> EncodeRecordMessage(const DecisionRecord& record) {
  episode_log_internal::RecordEncoder encoder;
  const std::span<const uint8_t> bytes = encoder.Encode(record);
  return {bytes.begin(), bytes.end()};
}

Status DecodeRecordMessage(std::span<const uint8_t> bytes, DecisionRecord& out) {
  if (static_cast<int64_t>(bytes.size()) < episode_log_internal::kMinRecordBytes ||
      !episode_log_internal::HasRecordIdentifier(bytes)) {
    return Status::DataLoss("not a record: " + std::to_string(bytes.size()) +
                            " bytes without the Record identifier");
  }
  std::vector<uint64_t> aligned((bytes.size() + 7) / 8);  // FlatBuffers wants 8-byte alignment
  std::memcpy(aligned.data(), bytes.data(), bytes.size());
  return episode_log_internal::DecodeRecord(
      {reinterpret_cast<const uint8_t*>(aligned.data()), bytes.size()}, out);
}

}  // namespace apprentice
