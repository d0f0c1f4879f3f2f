// PlannerPool: N worker threads, each with its own Planner, taking requests from a PlanQueue and
// delivering every finished request to a LabelSink.
//
//   PlanQueue ── Pop (urgent first) ──▶ worker i: planners[i].Plan() ──▶ Label ──▶ LabelSink
//
// A planner that batches (max_batch() > 1: a network) gets, with each request a worker pops,
// the others waiting at that moment, up to max_batch(), in one PlanBatch() call.
//
// Threading: each worker owns its planner and its tasks; the queue and the sink are called from
// every worker. A planner that throws or returns an error yields a label with that status (the
// error is counted). A planner that hangs is reported as stuck (busy longer than stuck_ms) and,
// at Stop(), left behind after stop_timeout_ms: the thread is detached holding only the state it
// shares by ownership (the queue, its planner), and its label goes nowhere, so that nothing can
// block the caller. Metrics are atomics any thread may read.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "agent/plan_queue.h"
#include "core/status.h"
#include "env/env.h"
#include "planner/planner.h"

namespace apprentice {

using PlannerFactory = std::function<Result<std::unique_ptr<Planner>>()>;

class PlannerPool {
 public:
  // The most requests a worker hands a batching planner at once (Planner::max_batch()).
  static constexpr int64_t kMaxBatch = 1024;
  struct Options {
    int64_t threads = 1;
    int64_t stuck_ms = 5'000;        // a worker inside one Plan() this long counts as stuck
    int64_t stop_timeout_ms = 500;   // Stop(): the longest wait for a worker inside Plan()
    int nice = 0;                    // the workers' nice value (Linux; 0 = unchanged)
    Status Validate() const;
  };

  // Makes options.threads planners with `make_planner`. Tasks hold observations of
  // `observation_size` floats and a clone of `prototype` (null: planners that need no env).
  // Throws InvalidArgument for invalid options or a factory that fails or returns null.
  PlannerPool(Options options, std::shared_ptr<PlanQueue> queue, const PlannerFactory& make_planner,
              int64_t observation_size, const Env* prototype);
  // Stop(), if still running.
  ~PlannerPool();
  PlannerPool(const PlannerPool&) = delete;
  PlannerPool& operator=(const PlannerPool&) = delete;

  // The first worker's planner, before Start(): to ask what it needs (needs_env, CanTeach).
  const Planner& planner() const;

  // Starts the workers, which deliver labels to `sink` until Stop(). Once.
  void Start(LabelSink* sink);
  // Closes the queue, waits up to stop_timeout_ms for every worker to finish the plan it is in,
  // and leaves the rest behind (counted in abandoned()). After it returns no label is delivered.
  // Idempotent.
  void Stop();

  int64_t errors() const;     // plans that threw or returned an error
  int64_t stuck() const;      // workers inside one Plan() for more than stuck_ms, now
  int64_t abandoned() const;  // workers Stop() left behind
  std::string last_error() const;

 private:
  struct Shared;
  static void WorkerMain(std::shared_ptr<Shared> shared, size_t index, int nice);

  const Options options_;
  std::shared_ptr<Shared> shared_;  // shared with the worker threads
  bool started_ = false, stopped_ = false;
  std::atomic<int64_t> abandoned_{0};
};

}  // namespace apprentice
