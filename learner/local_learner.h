// LocalLearner: the in-process Learner (agent/learner.h) and the trainer actor. A replay buffer,
// the LibTorch distiller and a rate limiter (learner/learning.h) on a thread of their own; its
// snapshots go out through a WeightBroadcast, which the Agent subscribes to.
//
//   Collector ── Add ──▶ replay (+ limiter.OnInsert)
//   trainer thread: limiter.WaitToSample(batch) ── Learning::TrainStep ── snapshot ──▶ weights()
//                   every checkpoint_every_ms, and at Stop(): checkpoint + snapshot files
//
// Threading: Add(), Metrics() and weights() from any thread. The trainer thread owns the
// distiller once Start() has run; it sleeps in the rate limiter (no polling) until a batch is
// allowed, a checkpoint is due or Stop() cancels the wait. LibTorch's intra-op threads are bounded
// by distiller.torch_threads; the thread runs at the background nice value.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>

#include "agent/learner.h"
#include "agent/weights.h"
#include "core/latency_histogram.h"
#include "learner/learning.h"

namespace apprentice {

class LocalLearner final : public Learner {
 public:
  struct Options {
    Learning::Options learning;
    // The distiller's checkpoint and the executor's snapshot file, saved every
    // checkpoint_every_ms by the trainer thread and at Stop(); empty = not saved.
    std::string checkpoint_path;
    std::string snapshot_path;
    int64_t checkpoint_every_ms = 30'000;
    // Called after the checkpoint and snapshot files were written (by the trainer thread, or by
    // Stop()'s thread): a learner fed from a stream records there how far the files reach.
    std::function<void()> on_saved;
    // Written into the snapshot file's header.
    std::string env_name = "custom";
    std::string note;
    int nice = 0;  // the trainer thread's nice value (Linux; 0 = unchanged)
    Status Validate() const;
  };

  // Throws InvalidArgument for invalid options or spaces the student cannot serve.
  LocalLearner(Options options, const Space& observation_space, const Space& action_space);
  ~LocalLearner() override;

  // Before Start(): continue from a checkpoint (empty: none) with `records` in the replay, and
  // publish the checkpoint's weights. An error leaves the weights as they were.
  Status Restore(const std::string& checkpoint_path,
                 std::span<const std::shared_ptr<const DecisionRecord>> records);

  void Start() override;
  void Add(std::shared_ptr<const DecisionRecord> record) override;
  Status Stop() override;
  WeightSource& weights() override { return weights_; }
  LearnerMetrics Metrics() const override;

  // Before Start() or after Stop() (the trainer thread owns it in between).
  Learning& learning() { return learning_; }

 private:
  void Run();
  Status SaveFiles();
  void NoteError(const std::string& message);

  const Options options_;
  const Space observation_space_, action_space_;
  Learning learning_;
  WeightBroadcast weights_;
  std::thread thread_;
  bool started_ = false;
  std::mutex idle_mu_;               // a learner that does not train waits on idle_cv_
  std::condition_variable idle_cv_;
  bool idle_stop_ = false;           // guarded by idle_mu_
  std::once_flag stop_once_;
  Status stop_status_;

  // Written by the trainer thread, read by any.
  SharedLatencyHistogram latency_;
  std::atomic<int64_t> records_{0}, steps_{0}, errors_{0}, snapshots_{0}, priority_updates_{0};
  std::atomic<double> last_loss_{0.0};
  mutable std::mutex error_mu_;
  std::string last_error_;  // guarded by error_mu_
};

}  // namespace apprentice
