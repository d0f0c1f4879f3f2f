#include "nats/nats_weights.h"

#include <nats/nats.h>

#include <algorithm>
#include <optional>
#include <utility>

#include "core/clock.h"

namespace apprentice {

Result<std::unique_ptr<NatsSnapshotBucket>> NatsSnapshotBucket::Open(NatsLink& link,
                                                                     const NatsRunNames& names,
                                                                     int64_t max_snapshot_bytes,
                                                                     int64_t replicas) {
  auto bucket = std::unique_ptr<NatsSnapshotBucket>(new NatsSnapshotBucket());
  bucket->bucket_ = names.weights_bucket;
  bucket->key_ = names.weights_key;
  auto* js = static_cast<jsCtx*>(link.jetstream());
  kvStore* kv = nullptr;
  natsStatus s = js_KeyValue(&kv, js, names.weights_bucket.c_str());
  if (s != NATS_OK) {
    kvConfig cfg;
    kvConfig_Init(&cfg);
    cfg.Bucket = names.weights_bucket.c_str();
    cfg.History = 1;  // only the newest snapshot matters
    cfg.MaxValueSize = static_cast<int32_t>(std::min<int64_t>(max_snapshot_bytes, INT32_MAX));
    cfg.StorageType = js_FileStorage;
    cfg.Replicas = static_cast<int>(std::clamp<int64_t>(replicas, 1, 5));
    s = js_CreateKeyValue(&kv, js, &cfg);
    // Another process may have made it in between.
    if (s != NATS_OK) s = js_KeyValue(&kv, js, names.weights_bucket.c_str());
  }
  if (s != NATS_OK) return NatsError("NATS: cannot open bucket " + names.weights_bucket, s);
  bucket->kv_ = kv;
  return bucket;
}

NatsSnapshotBucket::~NatsSnapshotBucket() {
  if (kv_ != nullptr) kvStore_Destroy(static_cast<kvStore*>(kv_));
}

Result<uint64_t> NatsSnapshotBucket::Put(std::span<const uint8_t> bytes) {
  uint64_t revision = 0;
  const natsStatus s = kvStore_Put(&revision, static_cast<kvStore*>(kv_), key_.c_str(),
                                   bytes.data(), static_cast<int>(bytes.size()));
  if (s != NATS_OK) {
    return NatsError("NATS: cannot put the snapshot (" + std::to_string(bytes.size()) +
                         " bytes) into bucket " + bucket_,
                     s);
  }
  return revision;
}

Result<LoadedSnapshot> DecodeBucketSnapshot(std::span<const uint8_t> bytes) {
  return DecodeSnapshotFile(bytes);
}

// The watcher of the bucket's key.
struct NatsWeights::Watch {
  std::mutex mu;  // held while the watcher is replaced, and by the destructor's stop
  kvWatcher* watcher = nullptr;
  uint64_t revision = 0;  // of the newest value served (the watcher thread's)
  ~Watch() {
    if (watcher != nullptr) kvWatcher_Destroy(watcher);
  }
};

namespace {

// Takes a put entry whose revision is above `after` (filling `bytes` and `revision`: true), and
// destroys the entry.
bool TakePut(kvEntry* e, uint64_t after, std::vector<uint8_t>& bytes, uint64_t& revision) {
  const bool take = kvEntry_Operation(e) == kvOp_Put && kvEntry_Revision(e) > after;
  if (take) {
    const auto* data = static_cast<const uint8_t*>(kvEntry_Value(e));
    bytes.assign(data, data + kvEntry_ValueLen(e));
    revision = kvEntry_Revision(e);
  }
  kvEntry_Destroy(e);
  return take;
}

// The next value put under the watched key, waiting at most `timeout_ms`: true with `bytes` and
// `revision` filled, false when none came (or the entry was a delete, or the end of the initial
// values).
bool NextValue(kvWatcher* w, int64_t timeout_ms, std::vector<uint8_t>& bytes,
               uint64_t& revision) {
  kvEntry* e = nullptr;
  if (kvWatcher_Next(&e, w, timeout_ms) != NATS_OK || e == nullptr) return false;
  return TakePut(e, 0, bytes, revision);
}

// The key's newest value read directly (not through the watcher), if it is newer than `after`.
bool NewerValue(kvStore* kv, const std::string& key, uint64_t after, std::vector<uint8_t>& bytes,
                uint64_t& revision) {
  kvEntry* e = nullptr;
  if (kvStore_Get(&e, kv, key.c_str()) != NATS_OK || e == nullptr) return false;
  return TakePut(e, after, bytes, revision);
}

natsStatus StartWatch(kvStore* kv, const std::string& key, kvWatcher** watcher) {
  kvWatchOptions wo;
  kvWatchOptions_Init(&wo);
  wo.IgnoreDeletes = true;
  return kvStore_Watch(watcher, kv, key.c_str(), &wo);
}

}  // namespace

Status NatsWeights::Options::Validate() const {
  if (url.empty()) return Status::InvalidArgument("the NATS URL is empty");
  if (wait_ms < 0) return Status::InvalidArgument("wait_ms must not be negative");
  if (max_snapshot_bytes < 1024) return Status::InvalidArgument("max_snapshot_bytes below 1024");
  if (Result<NatsRunNames> n = NatsRunNames::For(run); !n.ok()) return n.status();
  return security.Validate();
}

Result<std::unique_ptr<NatsWeights>> NatsWeights::Connect(const Options& options) {
  if (Status s = options.Validate(); !s.ok()) return s;
  const Stopwatch clock;
  NatsRunNames names = *NatsRunNames::For(options.run);
  Result<std::unique_ptr<NatsLink>> link =
      NatsLink::Connect(options.url, "apprentice-weights", options.security);
  if (!link.ok()) return link.status();
  Result<std::unique_ptr<NatsSnapshotBucket>> bucket =
      NatsSnapshotBucket::Open(**link, names, options.max_snapshot_bytes, options.replicas);
  if (!bucket.ok()) return bucket.status();
  auto watch = std::make_unique<Watch>();
  natsStatus s = StartWatch(static_cast<kvStore*>((*bucket)->kv()), names.weights_key,
                            &watch->watcher);
  if (s != NATS_OK) return NatsError("NATS: cannot watch bucket " + names.weights_bucket, s);
  // The newest value comes first (if the bucket has one); otherwise wait for the learner's.
  const int64_t deadline_ns = NowNs() + options.wait_ms * 1'000'000;
  std::vector<uint8_t> bytes;
  std::string refused;
  std::optional<LoadedSnapshot> first;
  while (!first) {
    const int64_t left_ms = (deadline_ns - NowNs()) / 1'000'000;
    if (left_ms <= 0) {
      return Status::Unavailable(
          "no executor snapshot in NATS bucket " + names.weights_bucket + " within " +
          std::to_string(options.wait_ms) + " ms: start `apprentice learner --nats-run " +
          options.run + "` (it publishes its weights at once)" +
          (refused.empty() ? "" : "; refused: " + refused));
    }
    if (!NextValue(watch->watcher, std::min<int64_t>(left_ms, 100), bytes, watch->revision)) {
      continue;
    }
    Result<LoadedSnapshot> snapshot = DecodeBucketSnapshot(bytes);
    if (snapshot.ok()) {
      first = std::move(*snapshot);
    } else {
      refused = snapshot.status().message();
    }
  }
  auto weights = std::unique_ptr<NatsWeights>(
      new NatsWeights(std::move(*first), std::move(names), std::move(*link), std::move(*bucket),
                      std::move(watch), clock.ElapsedSeconds() * 1e3));
  weights->watcher_ = std::thread([w = weights.get()] { w->WatchLoop(); });
  return weights;
}

NatsWeights::NatsWeights(LoadedSnapshot first, NatsRunNames names, std::unique_ptr<NatsLink> link,
                         std::unique_ptr<NatsSnapshotBucket> bucket, std::unique_ptr<Watch> watch,
                         double first_ms)
    : WeightBroadcast(std::move(first.snapshot)), names_(std::move(names)), link_(std::move(link)),
      bucket_(std::move(bucket)), watch_(std::move(watch)), first_snapshot_ms_(first_ms),
      first_info_(std::move(first.info)) {}

NatsWeights::~NatsWeights() {
  stop_.Request();
  {
    std::lock_guard lock(watch_->mu);
    kvWatcher_Stop(watch_->watcher);
  }
  if (watcher_.joinable()) watcher_.join();
  watch_.reset();
  bucket_.reset();
  link_.reset();
}

void NatsWeights::WatchLoop() {
  std::vector<uint8_t> bytes;
  auto* kv = static_cast<kvStore*>(bucket_->kv());
  int64_t quiet_since_ns = NowNs();
  while (!stop_.requested()) {
    uint64_t revision = 0;
    if (NextValue(watch_->watcher, 250, bytes, revision)) {
      quiet_since_ns = NowNs();
      if (revision <= watch_->revision) continue;  // already served
    } else {
      // A watcher whose consumer was on a server that died hears nothing more: after a quiet
      // second, read the key directly; a newer value means the watch is lost, so start another.
      if (NowNs() - quiet_since_ns < kQuietCheckNs) continue;
      quiet_since_ns = NowNs();
      if (!NewerValue(kv, names_.weights_key, watch_->revision, bytes, revision)) continue;
      std::lock_guard lock(watch_->mu);
      if (stop_.requested()) break;
      kvWatcher* fresh = nullptr;
      if (StartWatch(kv, names_.weights_key, &fresh) == NATS_OK) {
        kvWatcher_Destroy(watch_->watcher);
        watch_->watcher = fresh;
        rewatches_.fetch_add(1, std::memory_order_relaxed);
      }
    }
    watch_->revision = revision;
    Result<LoadedSnapshot> snapshot = DecodeBucketSnapshot(bytes);
    if (!snapshot.ok()) {
      Refuse("bucket " + names_.weights_bucket + ": " + snapshot.status().message());
      continue;
    }
    Result<std::shared_ptr<const Snapshot>> next =
        NextToServe(snapshot->snapshot, *Latest(), "bucket " + names_.weights_bucket);
    if (!next.ok()) {
      Refuse(next.status().message());
      continue;
    }
    Publish(std::move(*next));
    updates_.fetch_add(1, std::memory_order_relaxed);
  }
}

void NatsWeights::Refuse(const std::string& why) {
  refused_.fetch_add(1, std::memory_order_relaxed);
  std::lock_guard lock(error_mu_);
  last_error_ = why;
}

std::string NatsWeights::last_error() const {
  std::lock_guard lock(error_mu_);
  return last_error_;
}

}  // namespace apprentice
