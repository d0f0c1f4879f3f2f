// WeightSource: where new executor weights come from. The agent subscribes once and publishes
// every snapshot it hears of into its SnapshotSlot, where callers' Act() picks it up at the next
// decision without pausing (executor/executor.h).
//
//   in-process learner (learner/local_learner.h) ─┐
//   a fixed snapshot (StaticWeights) ─────────────┼──▶ WeightSource ── on_snapshot ──▶ SnapshotSlot
//   a snapshot file, reloaded when replaced ──────┤
//   later: a key-value watch ─────────────────────┘
//
// Threading: Latest() from any thread. Subscribers are called on the source's own thread (the
// learner's trainer thread in process), one snapshot at a time; they must not block.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/status.h"
#include "core/stop_flag.h"

#include "executor/snapshot.h"

namespace apprentice {

class WeightSource {
 public:
  using Callback = std::function<void(std::shared_ptr<const Snapshot>)>;

  virtual ~WeightSource() = default;
  // The newest snapshot; never null.
  virtual std::shared_ptr<const Snapshot> Latest() const = 0;
  // Calls `on_snapshot` with every snapshot published from now on, until Unsubscribe(id).
  virtual int Subscribe(Callback on_snapshot) = 0;
  // After it returns, the callback is not running and will not be called again.
  virtual void Unsubscribe(int id) = 0;
};

// Subscribers and the latest snapshot, for sources to build on: Publish() stores the snapshot and
// calls every subscriber.
class WeightBroadcast : public WeightSource {
 public:
  explicit WeightBroadcast(std::shared_ptr<const Snapshot> initial);

  std::shared_ptr<const Snapshot> Latest() const override;
  int Subscribe(Callback on_snapshot) override;
  void Unsubscribe(int id) override;

  // Any thread; calls the subscribers on this thread (publishers are serialised). A subscriber
  // may call Latest(), not Subscribe() or Unsubscribe().
  void Publish(std::shared_ptr<const Snapshot> snapshot);

 private:
  std::mutex publish_mu_;  // serialises publishers and subscription changes; held while
                           // subscribers run
  mutable std::mutex latest_mu_;  // guards latest_ (never held while subscribers run)
  std::shared_ptr<const Snapshot> latest_;
  std::vector<std::pair<int, Callback>> subscribers_;  // guarded by publish_mu_
  int next_id_ = 1;                                    // guarded by publish_mu_
};

// What a source that receives whole snapshots from outside (a file, a key-value bucket) publishes
// when `next` arrives while `current` is served: `next` itself, or a copy numbered
// current.version() + 1 when its version is not above (the agent serves only newer snapshots; a
// learner that started again from scratch numbers from 1). InvalidArgument when its network
// (MlpSpec) differs from the one served: the executor keeps serving what it has. `from` names
// the source in the message ("snapshot file F").
Result<std::shared_ptr<const Snapshot>> NextToServe(std::shared_ptr<const Snapshot> next,
                                                    const Snapshot& current,
                                                    const std::string& from);

// A snapshot that never changes (an executor served from a file, without a learner).
class StaticWeights final : public WeightBroadcast {
 public:
  using WeightBroadcast::WeightBroadcast;
};

// A snapshot file that a deployment replaces while the executor serves it (an edge service, a
// robot): a watcher thread checks the file every poll_ms (inode, size, modification time) and
// publishes each new version. Replace the file atomically (write a temporary file beside it, then
// rename it over the path: SaveSnapshot does); a file caught half-written fails its checksum,
// counts as a reload error and is read again when it next changes. A file whose network (MlpSpec)
// differs from the one served is refused the same way: the executor keeps serving what it has.
//
// Versions only increase, as the agent serves only newer snapshots: a file whose version is not
// above the one served is published as the served version + 1 (the file's own version is then
// in last_file_version()).
//
// Threading: the watcher is this object's own thread, started by the constructor and stopped by
// the destructor; subscribers run on it. The counters may be read from any thread.
class SnapshotFileWeights final : public WeightBroadcast {
 public:
  struct Options {
    std::string path;
    int64_t poll_ms = 500;  // 0: no watcher thread (CheckNow() only)
    Status Validate() const;
  };

  // Loads the file; InvalidArgument naming the path and what is wrong if it cannot.
  explicit SnapshotFileWeights(Options options);
  ~SnapshotFileWeights() override;

  // One check of the file on the caller's thread (the watcher does this every poll_ms): Ok when
  // the file is unchanged or its new contents were published; the load error otherwise.
  Status CheckNow();

  int64_t reloads() const { return reloads_.load(std::memory_order_relaxed); }
  int64_t reload_errors() const { return reload_errors_.load(std::memory_order_relaxed); }
  int64_t last_file_version() const { return file_version_.load(std::memory_order_relaxed); }
  std::string last_error() const;  // the latest reload error; empty if none
  const std::string& path() const { return options_.path; }

 private:
  struct FileStamp {
    uint64_t inode = 0;
    int64_t size = -1, mtime_ns = 0;
    friend bool operator==(const FileStamp&, const FileStamp&) = default;
  };
  static Result<FileStamp> Stamp(const std::string& path);

  const Options options_;
  std::mutex check_mu_;  // serialises CheckNow() (the watcher and callers)
  FileStamp seen_;       // guarded by check_mu_: the file last read (loaded or refused)
  std::atomic<int64_t> reloads_{0}, reload_errors_{0}, file_version_{0};
  mutable std::mutex error_mu_;
  std::string last_error_;  // guarded by error_mu_
  StopFlag stop_;
  std::thread watcher_;
};

}  // namespace apprentice
