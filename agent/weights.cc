#include "agent/weights.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/clock.h"
#include "core/status.h"
#include "executor/snapshot_file.h"

namespace apprentice {

WeightBroadcast::WeightBroadcast(std::shared_ptr<const Snapshot> initial)
    : latest_(std::move(initial)) {
  Require(latest_ != nullptr, "a weight source needs an initial snapshot");
}

std::shared_ptr<const Snapshot> WeightBroadcast::Latest() const {
  std::lock_guard lock(latest_mu_);
  return latest_;
}

int WeightBroadcast::Subscribe(Callback on_snapshot) {
  Require(static_cast<bool>(on_snapshot), "WeightSource::Subscribe needs a callback");
  std::lock_guard lock(publish_mu_);
  subscribers_.emplace_back(next_id_, std::move(on_snapshot));
  return next_id_++;
}

void WeightBroadcast::Unsubscribe(int id) {
  std::lock_guard lock(publish_mu_);
  std::erase_if(subscribers_, [id](const auto& s) { return s.first == id; });
}

void WeightBroadcast::Publish(std::shared_ptr<const Snapshot> snapshot) {
  Require(snapshot != nullptr, "WeightBroadcast::Publish needs a snapshot");
  std::lock_guard lock(publish_mu_);
  {
    std::lock_guard latest_lock(latest_mu_);
    latest_ = snapshot;
  }
  for (const auto& [id, callback] : subscribers_) callback(snapshot);
}

Status SnapshotFileWeights::Options::Validate() const {
  if (path.empty()) return Status::InvalidArgument("snapshot file: no path given");
  if (poll_ms < 0 || poll_ms > kMaxWaitMs) {
    return Status::InvalidArgument("snapshot file: poll_ms must be in [0, " +
                                   std::to_string(kMaxWaitMs) + "], not " +
                                   std::to_string(poll_ms));
  }
  return Status::Ok();
}

namespace {

std::shared_ptr<const Snapshot> LoadOrThrow(const SnapshotFileWeights::Options& options) {
  RequireOk(options.Validate());
  Result<LoadedSnapshot> loaded = LoadSnapshot(options.path);
  if (!loaded.ok()) throw InvalidArgument(loaded.status().message());
  return loaded->snapshot;
}

}  // namespace

Result<std::shared_ptr<const Snapshot>> NextToServe(std::shared_ptr<const Snapshot> next,
                                                    const Snapshot& current,
                                                    const std::string& from) {
  if (next->spec() != current.spec()) {
    return Status::InvalidArgument(from + " holds a " + next->spec().ToString() +
                                   " network; the executor serves " + current.spec().ToString() +
                                   " (kept)");
  }
  if (next->version() > current.version()) return next;
  return Snapshot::Create(next->spec(), next->params(), current.version() + 1);
}

SnapshotFileWeights::SnapshotFileWeights(Options options)
    : WeightBroadcast(LoadOrThrow(options)), options_(std::move(options)) {
  file_version_.store(Latest()->version());
  // The stamp of the file as loaded: taken after the load, so a file replaced in between is
  // read again at the first check (a spurious reload at worst, never a missed one).
  if (Result<FileStamp> stamp = Stamp(options_.path); stamp.ok()) seen_ = *stamp;
  if (options_.poll_ms > 0) {
    watcher_ = std::thread([this] {
      while (stop_.SleepUntil(NowNs() + options_.poll_ms * 1'000'000)) (void)CheckNow();
    });
  }
}

SnapshotFileWeights::~SnapshotFileWeights() {
  stop_.Request();
  if (watcher_.joinable()) watcher_.join();
}

Result<SnapshotFileWeights::FileStamp> SnapshotFileWeights::Stamp(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return Status::Unavailable("snapshot file " + path + ": " + std::strerror(errno));
  }
  FileStamp stamp;
  stamp.inode = static_cast<uint64_t>(st.st_ino);
  stamp.size = static_cast<int64_t>(st.st_size);
  stamp.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
  return stamp;
}

Status SnapshotFileWeights::CheckNow() {
  std::lock_guard lock(check_mu_);
  Result<FileStamp> stamp = Stamp(options_.path);
  Status status;
  if (!stamp.ok()) {
    // Missing for a moment (a deployment tool that deletes, then writes): keep serving, and
    // report it once per disappearance.
    if (seen_.size == -1) return stamp.status();
    seen_ = FileStamp{};
    status = stamp.status();
  } else if (*stamp == seen_) {
    return Status::Ok();
  } else {
    seen_ = *stamp;
    Result<LoadedSnapshot> loaded = LoadSnapshot(options_.path);
    std::shared_ptr<const Snapshot> current = Latest();
    if (!loaded.ok()) {
      status = loaded.status();
    } else {
      Result<std::shared_ptr<const Snapshot>> next =
          NextToServe(loaded->snapshot, *current, "snapshot file " + options_.path);
      if (!next.ok()) {
        status = next.status();
      } else {
        file_version_.store(loaded->snapshot->version(), std::memory_order_relaxed);
        Publish(std::move(*next));
        reloads_.fetch_add(1, std::memory_order_relaxed);
        return Status::Ok();
      }
    }
  }
  reload_errors_.fetch_add(1, std::memory_order_relaxed);
  std::lock_guard error_lock(error_mu_);
  last_error_ = status.message();
  return status;
}

std::string SnapshotFileWeights::last_error() const {
  std::lock_guard lock(error_mu_);
  return last_error_;
}

}  // namespace apprentice
