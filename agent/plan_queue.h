// Plan requests and labels: what a caller's side asks the planner to label, the queue requests
// wait in, and the labels that come back. These are the seam between the executor side and the
// planners: the in-process queue below hands requests to a local PlannerPool
// (agent/planner_pool.h); a network queue can hand them to planner workers on other machines and
// deliver their labels to the same LabelSink.
//
//   Arbiter ── Push(PlanRequestView) ──▶ PlanQueue ── Pop(PlanTask&) ──▶ worker ── Plan()
//                                                                            │
//   Agent (routes an urgent answer to its waiting caller) ◀── OnLabel(Label) ┘ ──▶ Collector
//
// Requests carry the decision id (labels are joined to decisions by it, never by order), the
// episode and step (a warm-starting planner continues its own plan of that episode), the
// observation and, for model-based planners, the environment's state.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <typeinfo>
#include <vector>

#include "agent/bounded_queue.h"
#include "core/action.h"
#include "core/status.h"
#include "env/env.h"
#include "planner/planner.h"

namespace apprentice {

// A request as the caller has it: spans and pointers into the caller's own data, copied by the
// queue before Push() returns.
struct PlanRequestView {
  uint64_t decision_id = 0;
  int64_t episode = -1, step = -1;
  std::span<const float> observation;
  const Env* state = nullptr;  // the environment at this state; null for planners without a model
  uint64_t seed = 0;           // the planner's randomness for this request
  int64_t deadline_ns = 0;     // NowNs() time to answer by; 0 = none
  Action executor_action;      // what the executor chose (recorded with a label whose decision
                               // entry was lost)
  bool urgent = false;         // a caller waits for the answer: served before the others
};

// A request as a worker owns it. Its buffers are sized once (the env is a clone, refreshed with
// Env::CopyStateFrom), so copying a request into a task allocates nothing.
struct PlanTask {
  uint64_t decision_id = 0;
  int64_t episode = -1, step = -1;
  std::vector<float> observation;
  std::unique_ptr<Env> env;  // null for planners without a model
  uint64_t seed = 0;
  int64_t deadline_ns = 0;
  Action executor_action;
  bool urgent = false;

  // Sizes the buffers for observations of `observation_size` floats and clones `prototype` (if
  // not null) to hold states.
  void Prepare(int64_t observation_size, const Env* prototype);
  // Copies `request` in. InvalidArgument (task unchanged) when it carries a state of another kind
  // of env than the one prepared, or a state where none was prepared.
  Status Assign(const PlanRequestView& request);
  // Copies another prepared task in (its env state into this one's clone): no allocation. False
  // (decision_id unchanged) when the env state could not be copied, e.g. a remote env's server
  // stopped answering.
  bool CopyFrom(const PlanTask& other);
  // What the planner is asked.
  PlanRequest ToPlanRequest() const;
};

// A finished request: the planner's decision, or why there is none.
struct Label {
  uint64_t decision_id = 0;
  int64_t episode = -1, step = -1;
  Status status;          // ok: `decision` holds the planner's answer
  PlanDecision decision;
  std::vector<float> observation;
  Action executor_action;
  bool urgent = false;
};

// Where labels go. OnLabel may be called from any thread, concurrently.
class LabelSink {
 public:
  virtual ~LabelSink() = default;
  virtual void OnLabel(Label label) = 0;
};

class PlanQueue {
 public:
  struct PushResult {
    bool queued = false;      // false: the request was not queued (counted as a drop)
    uint64_t dropped_id = 0;  // a queued request this push displaced (drop-oldest), whose label
                              // will not come; 0 = none. Possible with queued == false too.
  };

  virtual ~PlanQueue() = default;

  // Queues a request; never blocks, never waits for a planner. Any thread. Urgent requests are
  // served first. A request whose state does not fit the queue (another kind of env, or a state
  // where none is carried) is not queued.
  virtual PushResult Push(const PlanRequestView& request) = 0;
  // Workers: blocks until a request is available and copies it into `task` (true), or until
  // Close() (false). Any thread.
  virtual bool Pop(PlanTask& task) = 0;
  // Workers that batch: a request if one is waiting now (true), without blocking. A queue that
  // cannot tell returns false (the default): the worker then plans what it has.
  virtual bool TryPop(PlanTask& task) {
    (void)task;
    return false;
  }
  // Wakes every blocked Pop(); later Pushes are refused. Idempotent.
  virtual void Close() = 0;
  // Brings what the next Push() writes into this thread's cache, so that a fixed-rate loop can
  // pay for the cache misses before its tick instead of inside Act(). Optional; never blocks.
  virtual void Warm() {}

  virtual int64_t size() const = 0;      // requests waiting (a snapshot)
  virtual int64_t capacity() const = 0;  // background requests it holds at most
};

// The in-process queue: two BoundedQueues of preallocated tasks (urgent ones first). Pushing a
// background request takes no lock, allocates nothing and makes no system call: an idle worker
// looks at the queue again after a short sleep (kMinPollNs, doubling while it stays idle up to
// kMaxPollNs), so a background label starts at most that late. Pushing an urgent request (a
// caller waits for it) wakes a sleeping worker at once.
class LocalPlanQueue final : public PlanQueue {
 public:
  static constexpr int64_t kUrgentCapacity = 16;
  static constexpr int64_t kMinPollNs = 200'000;
  static constexpr int64_t kMaxPollNs = 10'000'000;

  // Holds `capacity` background requests with the `overflow` policy (urgent ones: the 16 newest).
  // Tasks hold observations of `observation_size` floats and, with a `prototype`, a clone of it
  // for the state (every request must then carry a state of the same kind of env).
  LocalPlanQueue(int64_t capacity, Overflow overflow, int64_t observation_size,
                 const Env* prototype);

  PushResult Push(const PlanRequestView& request) override;
  bool Pop(PlanTask& task) override;
  bool TryPop(PlanTask& task) override;
  void Close() override;
  void Warm() override;
  int64_t size() const override;
  int64_t capacity() const override { return background_.capacity(); }

 private:
  // One waiting request (urgent first) into `task`, skipping tombstones; false when none waits.
  bool PopNow(PlanTask& task);
  BoundedQueue<PlanTask> urgent_, background_;
  const std::type_info* env_type_;  // the prototype's type; null: requests carry no state
  std::mutex wake_mu_;               // sleeping workers wait on wake_cv_ under it
  std::condition_variable wake_cv_;  // notified for urgent requests and Close()
  std::atomic<bool> closed_{false};
};

}  // namespace apprentice
