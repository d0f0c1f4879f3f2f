// WeightSource: where new executor weights come from. The agent subscribes once and publishes
// every snapshot it hears of into its SnapshotSlot, where callers' Act() picks it up at the next
// decision without pausing (executor/executor.h).
//
//   in-process learner (learner/local_learner.h) ─┐
//   a fixed snapshot (StaticWeights) ─────────────┼──▶ WeightSource ── on_snapshot ──▶ SnapshotSlot
//   later: a snapshot file, a key-value watch ────┘
//
// Threading: Latest() from any thread. Subscribers are called on the source's own thread (the
// learner's trainer thread in process), one snapshot at a time; they must not block.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <vector>

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

// A snapshot that never changes (an executor served from a file, without a learner).
class StaticWeights final : public WeightBroadcast {
 public:
  using WeightBroadcast::WeightBroadcast;
};

}  // namespace apprentice
