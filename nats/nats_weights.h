// Executor snapshots on NATS: the run's key-value bucket (JetStream KV, history 1) holds the
// newest one; the learner puts, agents and edge executors watch.
//
//   apprentice learner ── Put ──▶ KV APPRENTICE_RUN_WEIGHTS["executor"]
//                                        │ watch (the newest at once, then every put)
//                                        ▼
//   NatsWeights (a WeightSource) ── Publish ──▶ the Agent's SnapshotSlot (hot swap)
//
// A value is a whole snapshot file (executor/snapshot_file.h: header, checksum, FlatBuffer), so
// a damaged or foreign value is refused by its checksum and counted; the executor keeps serving.
// The bucket refuses values over its maximum size (max_snapshot_bytes; NATS's own default
// maximum message is 1 MB, which a server's max_payload raises).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>

#include "agent/weights.h"
#include "core/status.h"
#include "executor/snapshot_file.h"
#include "core/stop_flag.h"
#include "nats/nats_link.h"

namespace apprentice {

// The run's weights bucket, for the learner (which puts) and NatsWeights (which watches).
class NatsSnapshotBucket {
 public:
  // Opens the bucket of `names` on `link` (borrowed: it must outlive the bucket), creating it
  // when it does not exist yet: values of at most `max_snapshot_bytes`, stored on `replicas`
  // servers.
  static Result<std::unique_ptr<NatsSnapshotBucket>> Open(NatsLink& link,
                                                          const NatsRunNames& names,
                                                          int64_t max_snapshot_bytes,
                                                          int64_t replicas = 1);
  ~NatsSnapshotBucket();
  NatsSnapshotBucket(const NatsSnapshotBucket&) = delete;
  NatsSnapshotBucket& operator=(const NatsSnapshotBucket&) = delete;

  // Stores `bytes` (a snapshot file's contents) as the newest value; its revision.
  Result<uint64_t> Put(std::span<const uint8_t> bytes);
  // The client's kvStore*, for nats/*.cc.
  void* kv() const { return kv_; }
  const std::string& key() const { return key_; }

 private:
  NatsSnapshotBucket() = default;
  void* kv_ = nullptr;
  std::string bucket_, key_;
};

// A WeightSource fed by the weights bucket: the snapshot the bucket holds when it connects, then
// every snapshot put later, on a watcher thread of its own. After a quiet second the watcher
// thread reads the key directly; a newer value than it has (its watch was on a server that died)
// is served and the watch started again. A value that does not decode, or holds another network
// than the one served, is refused and counted; an older version than the one served is
// renumbered (NextToServe, agent/weights.h).
class NatsWeights final : public WeightBroadcast {
 public:
  struct Options {
    std::string url = "nats://127.0.0.1:4222";
    std::string run = "apprentice";
    NatsSecurity security;
    int64_t wait_ms = 30'000;  // for the first snapshot, when the bucket is still empty
    int64_t replicas = 1;          // if this process creates the bucket
    int64_t max_snapshot_bytes = 64 << 20;
    Status Validate() const;
  };

  // Connects, watches the bucket and waits at most wait_ms for a snapshot: Unavailable when NATS
  // cannot be reached or none comes (no learner has published yet), naming the bucket.
  static Result<std::unique_ptr<NatsWeights>> Connect(const Options& options);
  ~NatsWeights() override;  // stops the watcher

  int64_t updates() const { return updates_.load(std::memory_order_relaxed); }
  int64_t refused() const { return refused_.load(std::memory_order_relaxed); }
  // Watches started again: the watcher had missed a newer value (its server died).
  int64_t rewatches() const { return rewatches_.load(std::memory_order_relaxed); }
  // Milliseconds from Connect() to the first snapshot in hand.
  double first_snapshot_ms() const { return first_snapshot_ms_; }
  // What the first snapshot's file header said (env, spaces, note).
  const SnapshotFileInfo& first_info() const { return first_info_; }
  std::string last_error() const;
  const std::string& bucket() const { return names_.weights_bucket; }

 private:
  struct Watch;
  NatsWeights(LoadedSnapshot first, NatsRunNames names,
              std::unique_ptr<NatsLink> link, std::unique_ptr<NatsSnapshotBucket> bucket,
              std::unique_ptr<Watch> watch, double first_ms);
  void WatchLoop();  // the watcher thread
  void Refuse(const std::string& why);

  const NatsRunNames names_;
  std::unique_ptr<NatsLink> link_;
  std::unique_ptr<NatsSnapshotBucket> bucket_;
  std::unique_ptr<Watch> watch_;
  const double first_snapshot_ms_;
  const SnapshotFileInfo first_info_;
  std::atomic<int64_t> updates_{0}, refused_{0}, rewatches_{0};
  static constexpr int64_t kQuietCheckNs = 1'000'000'000;
  mutable std::mutex error_mu_;
  std::string last_error_;  // guarded by error_mu_
  StopFlag stop_;
  std::thread watcher_;
};

// The snapshot in a bucket value (a snapshot file's bytes: DecodeSnapshotFile); DataLoss or
// InvalidArgument naming what is wrong.
Result<LoadedSnapshot> DecodeBucketSnapshot(std::span<const uint8_t> bytes);

}  // namespace apprentice
