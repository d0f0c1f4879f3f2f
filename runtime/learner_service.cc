#include "runtime/learner_service.h"

#include <nats/nats.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "core/atomic_file.h"
#include "core/clock.h"
#include "executor/snapshot_file.h"
#include "nats/nats_weights.h"
#include "replay/episode_log.h"
#include "runtime/run_store.h"

namespace apprentice {
namespace {

// The newest snapshot waiting to be put: the trainer thread leaves it, the putter takes it (an
// older one not yet put is replaced: only the newest matters to the bucket's readers).
class SnapshotPutter {
 public:
  SnapshotPutter(NatsSnapshotBucket& bucket, SnapshotFileInfo info)
      : bucket_(bucket), info_(std::move(info)) {
    thread_ = std::thread([this] { Run(); });
  }
  ~SnapshotPutter() { Stop(); }

  void Offer(std::shared_ptr<const Snapshot> snapshot) {
    {
      std::lock_guard lock(mu_);
      waiting_ = std::move(snapshot);
    }
    cv_.notify_one();
  }
  // Puts what waits, then stops.
  void Stop() {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    cv_.notify_one();
    if (thread_.joinable()) thread_.join();
  }
  int64_t puts() const { return puts_.load(); }
  int64_t errors() const { return errors_.load(); }
  int64_t bytes() const { return bytes_.load(); }
  int64_t first_put_ns() const { return first_put_ns_.load(); }  // NowNs() of the first put
  std::string last_error() const {
    std::lock_guard lock(mu_);
    return last_error_;
  }

 private:
  void Run() {
    while (true) {
      std::shared_ptr<const Snapshot> snapshot;
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [&] { return stopping_ || waiting_ != nullptr; });
        if (waiting_ == nullptr) return;
        snapshot = std::move(waiting_);
      }
      if (snapshot->version() == last_put_version_) continue;  // in the bucket already
      const std::vector<uint8_t> bytes = EncodeSnapshotFile(*snapshot, info_);
      Result<uint64_t> put = bucket_.Put(bytes);
      if (put.ok()) {
        last_put_version_ = snapshot->version();
        if (puts_.fetch_add(1) == 0) first_put_ns_.store(NowNs());
        bytes_.store(static_cast<int64_t>(bytes.size()));
      } else {
        // A bucket another process is still creating ("no responders"), a cluster electing a
        // new leader: the same snapshot again after a pause, unless a newer one came meanwhile.
        errors_.fetch_add(1);
        std::unique_lock lock(mu_);
        last_error_ = put.status().message();
        if (stopping_) continue;  // what waits is put once more; a failed one is given up
        if (waiting_ == nullptr) waiting_ = std::move(snapshot);
        cv_.wait_for(lock, std::chrono::milliseconds(kRetryMs), [&] { return stopping_; });
      }
    }
  }
  static constexpr int64_t kRetryMs = 250;

  NatsSnapshotBucket& bucket_;
  const SnapshotFileInfo info_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::shared_ptr<const Snapshot> waiting_;  // guarded by mu_
  bool stopping_ = false;                    // guarded by mu_
  std::string last_error_;                   // guarded by mu_
  std::atomic<int64_t> puts_{0}, errors_{0}, bytes_{0}, first_put_ns_{0};
  int64_t last_put_version_ = -1;  // the putter thread's
  std::thread thread_;
};

struct Subscription {
  natsSubscription* sub = nullptr;
  ~Subscription() {
    if (sub != nullptr) {
      natsSubscription_Unsubscribe(sub);
      natsSubscription_Destroy(sub);
    }
  }
};

// One message of the record stream: its stream sequence and body.
struct StreamMessage {
  uint64_t sequence = 0;
  std::vector<uint8_t> body;
};

// The next message, waiting at most `timeout_ms`: false when none came.
bool NextMessage(natsSubscription* sub, int64_t timeout_ms, StreamMessage& out) {
  natsMsg* msg = nullptr;
  const natsStatus s = natsSubscription_NextMsg(&msg, sub, timeout_ms);
  if (s != NATS_OK) {
    // Not a timeout (a connection closed or reconnecting): no busy loop meanwhile.
    if (s != NATS_TIMEOUT) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    return false;
  }
  jsMsgMetaData* meta = nullptr;
  const bool ok = natsMsg_GetMetaData(&meta, msg) == NATS_OK;
  if (ok) {
    out.sequence = meta->Sequence.Stream;
    const auto* data = reinterpret_cast<const uint8_t*>(natsMsg_GetData(msg));
    out.body.assign(data, data + natsMsg_GetDataLength(msg));
    jsMsgMetaData_Destroy(meta);
  }
  natsMsg_Destroy(msg);
  return ok;
}

constexpr int64_t kQuietCheckNs = 1'000'000'000;

struct SavedPosition {
  uint64_t position = 0;
  bool found = false;
};

Result<SavedPosition> ReadPosition(const std::string& path) {
  SavedPosition saved;
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return saved;
  Result<std::vector<uint8_t>> bytes = ReadFileBytes(path, 1 << 20);
  if (!bytes.ok()) return bytes.status();
  Result<Json> json = Json::Parse(std::string_view(
      reinterpret_cast<const char*>(bytes->data()), bytes->size()));
  const Json* position = json.ok() ? json->Find("position") : nullptr;
  if (position == nullptr || !position->is_int() || position->AsInt() < 0) {
    return Status::DataLoss(path + ": not a learner position file ({\"position\": N})");
  }
  saved.position = static_cast<uint64_t>(position->AsInt());
  saved.found = true;
  return saved;
}

}  // namespace

std::string LearnerPositionPath(const std::string& run_dir) {
  return (std::filesystem::path(run_dir) / "learner.json").string();
}

Status LearnerServiceOptions::Validate() const {
  if (url.empty()) return Status::InvalidArgument("the NATS URL is empty");
  if (Result<NatsRunNames> n = NatsRunNames::For(run); !n.ok()) return n.status();
  if (run_dir.empty()) return Status::InvalidArgument("the learner needs a run directory");
  if (replicas < 1 || replicas > 5) return Status::InvalidArgument("replicas: 1 to 5");
  if (max_records < 1 || max_record_bytes < 1024 || max_snapshot_bytes < 1024) {
    return Status::InvalidArgument("max_records >= 1, max_record_bytes and max_snapshot_bytes "
                                   ">= 1024");
  }
  if (idle_exit_ms < 0 || max_read < 0) {
    return Status::InvalidArgument("idle_exit_ms and max_read must not be negative");
  }
  if (Status s = learner.Validate(); !s.ok()) return s;
  return security.Validate();
}

Json LearnerServiceStats::ToJson() const {
  return Json{{"resumed", resumed},
              {"resumed_position", static_cast<int64_t>(resumed_position)},
              {"resumed_steps", resumed_steps},
              {"resumed_version", resumed_version},
              {"restored", restored},
              {"position", static_cast<int64_t>(position)},
              {"records", records},
              {"bad_records", bad_records},
              {"skipped", skipped},
              {"resubscribed", resubscribed},
              {"train_steps", train_steps},
              {"executor_version", executor_version},
              {"snapshots_put", snapshots_put},
              {"put_errors", put_errors},
              {"snapshot_bytes", snapshot_bytes},
              {"first_put_ms", first_put_ms},
              {"last_loss", last_loss},
              {"seconds", seconds},
              {"last_error", last_error}};
}

Status RunLearnerService(const LearnerServiceOptions& options, const Space& observation_space,
                         const Space& action_space, StopFlag& stop, LearnerServiceStats& stats,
                         const std::function<void(const LearnerServiceStats&)>& progress) {
  if (Status s = options.Validate(); !s.ok()) return s;
  const Stopwatch clock;
  const int64_t start_ns = NowNs();
  std::error_code ec;
  std::filesystem::create_directories(options.run_dir, ec);
  if (ec) return Status::Unavailable("cannot create " + options.run_dir + ": " + ec.message());
  const std::string position_path = LearnerPositionPath(options.run_dir);
  Result<SavedPosition> saved = ReadPosition(position_path);
  if (!saved.ok()) return saved.status();

  const NatsRunNames names = *NatsRunNames::For(options.run);
  Result<std::unique_ptr<NatsLink>> link =
      NatsLink::Connect(options.url, "apprentice-learner", options.security);
  if (!link.ok()) return link.status();
  NatsLink& nats = **link;
  if (Status s = nats.EnsureRecordStream(names, options.max_records, options.max_record_bytes,
                                         options.replicas);
      !s.ok()) {
    return s;
  }
  Result<std::unique_ptr<NatsSnapshotBucket>> bucket =
      NatsSnapshotBucket::Open(nats, names, options.max_snapshot_bytes, options.replicas);
  if (!bucket.ok()) return bucket.status();
  Result<std::pair<uint64_t, uint64_t>> range = nats.StreamRange(names.record_stream);
  if (!range.ok()) return range.status();

  // The learner; after each save, the position its files reach.
  std::atomic<uint64_t> added_position{0};
  LocalLearner::Options lo = options.learner;
  lo.checkpoint_path = RunCheckpointPath(options.run_dir);
  lo.snapshot_path = RunSnapshotPath(options.run_dir);
  std::mutex position_mu;
  std::string position_error;
  lo.on_saved = [&] {
    const Json position{{"position", static_cast<int64_t>(added_position.load())},
                        {"stream", names.record_stream}};
    if (Status s = WriteFileAtomically(position_path, position.Dump(2) + "\n"); !s.ok()) {
      std::lock_guard lock(position_mu);
      position_error = s.message();
    }
  };
  std::unique_ptr<LocalLearner> learner;
  try {
    learner = std::make_unique<LocalLearner>(lo, observation_space, action_space);
  } catch (const std::exception& e) {
    return Status::InvalidArgument(e.what());
  }

  // Read from where the replay window of the saved position starts (everything when fresh).
  const bool has_checkpoint = std::filesystem::exists(lo.checkpoint_path, ec);
  const uint64_t position = has_checkpoint && saved->found ? saved->position : 0;
  const auto capacity = static_cast<uint64_t>(lo.learning.replay_capacity);
  const uint64_t start = std::max<uint64_t>(1, position >= capacity ? position - capacity + 1 : 1);
  Subscription sub;
  // Reads the stream from sequence `from` on, replacing the reader there was.
  auto subscribe = [&](uint64_t from) -> natsStatus {
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = names.record_stream.c_str();
    so.Ordered = true;  // flow-controlled, in order, no acks: the position is ours to keep
    so.Config.DeliverPolicy = js_DeliverByStartSequence;
    so.Config.OptStartSeq = from;
    jsErrCode code = static_cast<jsErrCode>(0);
    natsSubscription* fresh = nullptr;
    const natsStatus s = js_SubscribeSync(&fresh, static_cast<jsCtx*>(nats.jetstream()),
                                          names.record_subject.c_str(), nullptr, &so, &code);
    if (s != NATS_OK) return s;
    Subscription old;
    old.sub = sub.sub;  // unsubscribed and destroyed on return
    sub.sub = fresh;
    return NATS_OK;
  };
  natsStatus ns = subscribe(start);
  if (ns != NATS_OK) return NatsError("NATS: cannot read stream " + names.record_stream, ns);

  uint64_t expected = std::max(start, range->first);  // the next sequence to come
  StreamMessage message;
  DecisionRecord record;
  auto decode = [&](const StreamMessage& m) -> std::shared_ptr<const DecisionRecord> {
    if (m.sequence > expected) stats.skipped += static_cast<int64_t>(m.sequence - expected);
    expected = m.sequence + 1;
    if (!DecodeRecordMessage(m.body, record).ok() || !Trainable(record)) {
      ++stats.bad_records;
      return nullptr;
    }
    return std::make_shared<const DecisionRecord>(record);
  };

  if (has_checkpoint) {
    // The records up to the saved position refill the replay; the checkpoint the distiller.
    std::vector<std::shared_ptr<const DecisionRecord>> restored;
    const uint64_t until = std::min(position, range->second);
    while (expected <= until) {
      if (stop.requested()) return Status::Ok();
      if (!NextMessage(sub.sub, 5000, message)) {
        return Status::Unavailable("NATS: stream " + names.record_stream +
                                   " stopped delivering at sequence " + std::to_string(expected) +
                                   " of " + std::to_string(until) + " while refilling the replay");
      }
      if (std::shared_ptr<const DecisionRecord> r = decode(message)) restored.push_back(r);
    }
    if (Status s = learner->Restore(lo.checkpoint_path, restored); !s.ok()) return s;
    stats.resumed = true;
    stats.resumed_position = position;
    stats.resumed_steps = learner->learning().distiller().updates();
    stats.resumed_version = learner->weights().Latest()->version();
    stats.restored = static_cast<int64_t>(restored.size());
    added_position.store(std::max(until, position));
  }

  SnapshotFileInfo info;
  info.env = lo.env_name;
  info.observation_space = observation_space.ToString();
  info.action_space = action_space.ToString();
  info.note = lo.note;
  SnapshotPutter putter(**bucket, info);
  // Agents waiting for weights get the current ones at once, then every new one.
  putter.Offer(learner->weights().Latest());
  const int subscription = learner->weights().Subscribe(
      [&putter](std::shared_ptr<const Snapshot> s) { putter.Offer(std::move(s)); });
  learner->Start();

  auto fill = [&] {
    const LearnerMetrics m = learner->Metrics();
    stats.position = added_position.load();
    stats.train_steps = stats.resumed_steps + m.train_steps;
    stats.executor_version = learner->weights().Latest()->version();
    stats.snapshots_put = putter.puts();
    stats.put_errors = putter.errors();
    stats.snapshot_bytes = putter.bytes();
    if (putter.first_put_ns() > 0) stats.first_put_ms = (putter.first_put_ns() - start_ns) * 1e-6;
    stats.last_loss = m.last_loss;
    stats.seconds = clock.ElapsedSeconds();
    std::string error = putter.last_error();
    if (error.empty()) error = m.last_error;
    {
      std::lock_guard lock(position_mu);
      if (error.empty()) error = position_error;
    }
    stats.last_error = error;
  };

  int64_t last_record_ns = NowNs(), last_progress_ns = NowNs(), last_check_ns = NowNs();
  while (!stop.requested()) {
    if (options.max_read > 0 && stats.records >= options.max_read) break;
    if (options.idle_exit_ms > 0 && NowNs() - last_record_ns > options.idle_exit_ms * 1'000'000) {
      break;
    }
    if (NextMessage(sub.sub, 100, message)) {
      last_record_ns = NowNs();
      if (message.sequence > added_position.load()) {  // not one the replay was refilled with
        ++stats.records;
        if (std::shared_ptr<const DecisionRecord> r = decode(message)) learner->Add(std::move(r));
        added_position.store(message.sequence);
      }
    } else if (NowNs() - last_record_ns >= kQuietCheckNs && NowNs() - last_check_ns >= kQuietCheckNs) {
      // The client restarts an ordered consumer whose server died only if it can reach the
      // stream at that moment. A quiet second while the stream holds newer records: read on
      // after the position with a new one.
      last_check_ns = NowNs();
      Result<std::pair<uint64_t, uint64_t>> now = nats.StreamRange(names.record_stream);
      const uint64_t next = added_position.load() + 1;
      if (now.ok() && now->second >= next && subscribe(next) == NATS_OK) {
        ++stats.resubscribed;
        expected = std::max(expected, next);
      }
    }
    if (NowNs() - last_progress_ns >= 1'000'000'000) {
      last_progress_ns = NowNs();
      fill();
      if (progress) progress(stats);
    }
  }
  const Status stopped = learner->Stop();  // the final checkpoint, snapshot and position
  learner->weights().Unsubscribe(subscription);
  putter.Offer(learner->weights().Latest());
  putter.Stop();
  fill();
  if (!stopped.ok()) return stopped;
  if (stats.put_errors > 0 && stats.snapshots_put == 0) {
    return Status::Unavailable("no snapshot reached bucket " + names.weights_bucket + ": " +
                               stats.last_error);
  }
  return Status::Ok();
}

}  // namespace apprentice
