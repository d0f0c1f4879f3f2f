#include "learner/local_learner.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>

#include "agent/threads.h"
#include "core/clock.h"
#include "executor/snapshot_file.h"

namespace apprentice {

Status LocalLearner::Options::Validate() const {
  if (Status s = learning.Validate(); !s.ok()) return s;
  if (checkpoint_every_ms < 1) {
    return Status::InvalidArgument("the checkpoint interval must be >= 1 ms");
  }
  return Status::Ok();
}

LocalLearner::LocalLearner(Options options, const Space& observation_space,
                           const Space& action_space)
    : options_(Validated(options)),
      observation_space_(observation_space),
      action_space_(action_space),
      learning_(options_.learning, observation_space, action_space),
      weights_(learning_.CurrentSnapshot()) {}

LocalLearner::~LocalLearner() { (void)Stop(); }

Status LocalLearner::Restore(const std::string& checkpoint_path,
                             std::span<const std::shared_ptr<const DecisionRecord>> records) {
  Require(!started_, "LocalLearner::Restore: call it before Start()");
  if (Status s = learning_.Restore(checkpoint_path, records); !s.ok()) return s;
  records_.fetch_add(static_cast<int64_t>(records.size()), std::memory_order_relaxed);
  if (!checkpoint_path.empty()) weights_.Publish(learning_.CurrentSnapshot());
  return Status::Ok();
}

void LocalLearner::Start() {
  Require(!started_, "LocalLearner::Start: started already");
  started_ = true;
  thread_ = std::thread([this] { Run(); });
}

void LocalLearner::Add(std::shared_ptr<const DecisionRecord> record) {
  learning_.Add(std::move(record));
  records_.fetch_add(1, std::memory_order_relaxed);
}

void LocalLearner::NoteError(const std::string& message) {
  errors_.fetch_add(1, std::memory_order_relaxed);
  std::lock_guard lock(error_mu_);
  last_error_ = message;
}

void LocalLearner::Run() {
  SetThreadNice(options_.nice);
  RateLimiter& limiter = learning_.limiter();
  const bool trains = options_.learning.updates_per_label > 0.0;
  const int64_t batch = options_.learning.distiller.batch_size;
  const int64_t checkpoint_ns = options_.checkpoint_every_ms * 1'000'000;
  const bool checkpoints = !options_.checkpoint_path.empty() || !options_.snapshot_path.empty();
  int64_t last_checkpoint_ns = NowNs();
  for (;;) {
    const int64_t until_checkpoint = checkpoint_ns - (NowNs() - last_checkpoint_ns);
    const auto timeout = std::chrono::nanoseconds(
        checkpoints ? std::max<int64_t>(until_checkpoint, 0) : int64_t{3'600'000'000'000});
    Status wait = Status::DeadlineExceeded("not training");
    if (trains) {
      wait = limiter.WaitToSample(batch, timeout);
    } else {  // a learner that does not train sleeps until Stop() or the next checkpoint
      std::unique_lock lock(idle_mu_);
      idle_cv_.wait_for(lock, timeout, [this] { return idle_stop_; });
      if (idle_stop_) wait = Status::Unavailable("stopped");
    }
    if (wait.code() == StatusCode::kUnavailable) break;  // cancelled: Stop()
    if (wait.ok()) {
      const int64_t t0 = NowNs();
      try {
        Distiller::TrainStats stats = learning_.TrainStep();
        latency_.Record(NowNs() - t0);
        last_loss_.store(stats.loss, std::memory_order_relaxed);
        priority_updates_.store(learning_.priority_updates(), std::memory_order_relaxed);
        if (stats.snapshot) {
          weights_.Publish(std::move(stats.snapshot));
          snapshots_.fetch_add(1, std::memory_order_relaxed);
        }
      } catch (const std::exception& e) {
        NoteError(std::string("distiller: ") + e.what());
      }
      steps_.fetch_add(1, std::memory_order_relaxed);
    }
    if (checkpoints && NowNs() - last_checkpoint_ns >= checkpoint_ns) {
      last_checkpoint_ns = NowNs();
      (void)SaveFiles();  // an error is noted; Stop() saves again and reports it
    }
  }
}

Status LocalLearner::SaveFiles() {
  Status s = Status::Ok();
  if (!options_.checkpoint_path.empty()) {
    s = learning_.distiller().SaveCheckpoint(options_.checkpoint_path);
  }
  if (s.ok() && !options_.snapshot_path.empty()) {
    SnapshotFileInfo info;
    info.env = options_.env_name;
    info.observation_space = observation_space_.ToString();
    info.action_space = action_space_.ToString();
    info.note = options_.note;
    s = SaveSnapshot(*weights_.Latest(), info, options_.snapshot_path);
  }
  if (!s.ok()) {
    NoteError("checkpoint: " + s.message());
  } else if (options_.on_saved) {
    options_.on_saved();
  }
  return s;
}

Status LocalLearner::Stop() {
  std::call_once(stop_once_, [this] {
    if (started_) {
      learning_.limiter().Cancel();
      {
        std::lock_guard lock(idle_mu_);
        idle_stop_ = true;
      }
      idle_cv_.notify_all();
      thread_.join();
    }
    if (std::shared_ptr<const Snapshot> last = learning_.FinalSnapshot()) {
      weights_.Publish(std::move(last));
      snapshots_.fetch_add(1, std::memory_order_relaxed);
    }
    stop_status_ = Status::Ok();
    if (!options_.checkpoint_path.empty() || !options_.snapshot_path.empty()) {
      stop_status_ = SaveFiles();
    }
  });
  return stop_status_;
}

LearnerMetrics LocalLearner::Metrics() const {
  LearnerMetrics m;
  m.records = records_.load(std::memory_order_relaxed);
  m.replay_size = learning_.replay().size();
  m.replaced = learning_.replaced();
  m.train_steps = steps_.load(std::memory_order_relaxed);
  m.train_errors = errors_.load(std::memory_order_relaxed);
  m.snapshots = snapshots_.load(std::memory_order_relaxed);
  m.priority_updates = priority_updates_.load(std::memory_order_relaxed);
  m.last_loss = last_loss_.load(std::memory_order_relaxed);
  m.train = latency_.Snapshot();
  std::lock_guard lock(error_mu_);
  m.last_error = last_error_;
  return m;
}

}  // namespace apprentice
