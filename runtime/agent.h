// Agent: the object a robot, a game or a service embeds. The executor answers every Act() on the
// caller's thread; the planner labels the visited states in the background; the distiller trains
// on those labels and publishes new executor weights, which Act() picks up without pausing.
//
//   caller ── Act(obs) ──▶ executor (snapshot vN) ── arbitration ──▶ decision ──▶ caller
//     │                      │ plan request (bounded queue, drop-oldest; or one urgent slot)
//     │                      ▼
//     │               planner pool (N workers) ── label ──┐
//     └─ Observe(reward, done) ── step ring ──────────────┴──▶ collector ──▶ replay ──▶ distiller
//                                                                  │                       │
//                                                        metrics.jsonl     publish snapshot vN+1
//
// Actors and what they own:
// - The caller's thread (one thread calls Act() and Observe(); they alternate): the Executor, the
//   arbitration state (mode, β, its Rng), the step being built, the act-latency histogram. In
//   reflex mode Act() takes no lock and allocates nothing: one snapshot acquire, the kernel, a
//   push into a preallocated ring. Modes that wait for the planner (deadline, gated when unsure,
//   planner, dagger when the planner acts) block on a condition variable for at most their wait.
// - Planner workers (planner_threads std::threads): each owns one Planner instance (from the
//   factory) and a task buffer. They take the urgent request first, then the oldest queued one.
//   A planner that throws or returns an error is counted; one that hangs is reported as stuck
//   and, at stop, left behind (detached, holding only state it shares by ownership) after
//   stop_timeout_ms, so that nothing can block the caller.
// - The collector (a Boost.Asio io_context on its own thread, so every handler runs serialised):
//   joins labels with the steps Observe() reported, inserts labelled records into the replay,
//   keeps the rolling agreement, and writes metrics lines on a timer.
// - The distiller (a Boost.Asio io_context on its own thread): samples the replay, trains within
//   the rate limit (updates <= labels * updates_per_label), publishes snapshots into the slot.
//   LibTorch's intra-op threads are bounded by distiller.torch_threads.
// - Metrics() and the counters it reads are atomics: any thread.
//
// Every decision records who acted and the executor version it used. A label that arrives after
// its episode ended still reaches the replay (labels are joined by decision id, not episode).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <typeinfo>

#include "core/action.h"
#include "core/decision.h"
#include "core/json.h"
#include "core/latency_histogram.h"
#include "core/rng.h"
#include "core/space.h"
#include "core/status.h"
#include "distiller/distiller.h"
#include "env/env.h"
#include "executor/executor.h"
#include "planner/planner.h"
#include "replay/replay_buffer.h"
#include "runtime/bounded_queue.h"

namespace apprentice {

// Who decides in Act().
enum class Mode {
  kReflex,    // the executor always acts; the planner labels in the background
  kDeadline,  // the planner's answer if it comes within deadline_us, else the executor's
  kGated,     // the executor when its confidence >= gate_confidence, else as kDeadline
  kPlanner,   // the planner acts (behaviour-cloning data); the executor only if it fails
  kDagger,    // the planner acts with probability β (decaying per episode), else the executor
};
std::string_view ModeName(Mode mode);
Result<Mode> ParseMode(std::string_view name);
// "reflex, deadline, gated, planner, dagger"
std::string ModeNames();

struct AgentOptions {
  Mode mode = Mode::kReflex;
  // Act() should answer within this; a later answer counts as a deadline miss. In the deadline
  // and gated modes it is also how long Act() waits for the planner.
  int64_t deadline_us = 1000;
  double gate_confidence = 0.9;   // gated: the executor's probability of its own choice
  int64_t planner_wait_ms = 10'000;  // planner and dagger modes: the longest wait for the teacher
  double beta = 0.5;              // dagger: probability that the planner acts in the first episode
  double beta_decay = 0.8;        // dagger: β is multiplied by this after every episode

  int64_t planner_threads = 1;
  int64_t planner_queue = 64;     // background requests waiting for a worker
  Overflow planner_overflow = Overflow::kDropOldest;
  int64_t planner_budget_ms = 0;  // deadline handed to background requests; 0 = none
  int64_t planner_stuck_ms = 5'000;  // a worker inside one Plan() this long counts as stuck
  int64_t stop_timeout_ms = 2'000;   // Stop(): the longest wait for a worker inside Plan()

  int64_t step_buffer = 16'384;   // observed steps waiting for the collector
  int64_t replay_capacity = 100'000;
  SamplerKind replay_sampler = SamplerKind::kUniform;  // prioritised: by executor-planner disagreement
  int64_t min_replay = 128;       // labels in the replay before the distiller starts
  double updates_per_label = 2.0; // distiller rate limit: updates <= labels * this
  Distiller::Options distiller;

  uint64_t seed = 1;
  // Nice value of the planner, collector and distiller threads (Linux; 0 = unchanged), so that
  // background work yields to the control loop on a busy machine.
  int background_nice = 10;
  std::string metrics_path;       // JSON lines, one per metrics_interval_ms; empty = none
  int64_t metrics_interval_ms = 1'000;
  // Every decision (labelled or not) is appended to episode-log segments in this directory,
  // flushed every metrics interval and at Stop(); empty = no log.
  std::string log_dir;
  std::string env_name = "custom";  // recorded in the log and snapshot headers
  // The distiller's checkpoint and the executor's snapshot file, saved every
  // checkpoint_every_ms by the distiller's thread and at Stop(); empty = not saved.
  std::string checkpoint_path;
  std::string snapshot_path;
  int64_t checkpoint_every_ms = 30'000;

  Status Validate() const;
};

// What Act() decided.
struct AgentDecision {
  Action action;                 // what to send to the environment (not clipped)
  Actor acted_by = Actor::kExecutor;
  int64_t executor_version = 0;  // the snapshot the executor used
  float confidence = 1.0f;       // the executor's probability of its own choice
  int64_t latency_ns = 0;        // Act() from entry to return
  bool deadline_missed = false;  // latency_ns > deadline_us
  uint64_t id = 0;               // decision id, from 1
};

// Counters and histograms; a consistent-enough snapshot taken from any thread.
struct AgentMetrics {
  Mode mode = Mode::kReflex;
  double elapsed_s = 0.0;
  int64_t steps = 0, episodes = 0;
  int64_t acted_by_executor = 0, acted_by_planner = 0;
  int64_t deadline_misses = 0;
  int64_t planner_requests = 0;  // requests issued (background and urgent)
  int64_t planner_drops = 0;     // requests dropped by the overflow policy or replaced
  int64_t planner_timeouts = 0;  // waits for the planner that ended without an answer
  int64_t planner_errors = 0;    // plans that threw or returned an error
  int64_t planner_stuck = 0;     // workers inside one Plan() for more than planner_stuck_ms
  int64_t planner_abandoned = 0; // workers Stop() left inside a Plan() that did not return
  int64_t queue_depth = 0, queue_capacity = 0;
  int64_t labels = 0;            // labelled records inserted into the replay
  int64_t train_steps = 0, train_errors = 0;
  int64_t executor_version = 0;
  int64_t step_drops = 0;        // steps lost because the collector fell behind
  int64_t logged = 0;            // records appended to the episode log
  int64_t log_errors = 0;        // appends, flushes or checkpoints that failed
  double agreement = 0.0;        // executor == planner over the last 1000 labels
  int64_t agreement_samples = 0;
  double recent_return = 0.0;    // mean of the last 10 episodes' returns
  double last_loss = 0.0;
  LatencyHistogram act, planner, train;  // Act() latency, planner decisions, training steps
  std::string last_error;        // the latest planner or distiller error, empty if none

  // Stable keys; `previous` (an earlier snapshot) adds labels_per_s and train_steps_per_s.
  Json ToJson(const AgentMetrics* previous = nullptr) const;
};

using PlannerFactory = std::function<Result<std::unique_ptr<Planner>>()>;

class Agent {
 public:
  // `prototype` is an environment of the kind the caller steps: a model-based planner gets
  // clones of it (kept per request, refreshed with Env::CopyStateFrom). It is only read here.
  // Throws InvalidArgument for invalid options, a planner the factory cannot make, or a planner
  // that cannot plan over the action space.
  Agent(AgentOptions options, const Env& prototype, const PlannerFactory& make_planner);
  // For teachers that need no environment (planner->needs_env() must be false).
  Agent(AgentOptions options, const Space& observation_space, const Space& action_space,
        const PlannerFactory& make_planner);
  // Stop(), if still running.
  ~Agent();
  Agent(const Agent&) = delete;
  Agent& operator=(const Agent&) = delete;

  // Before Start(): continue a run. Loads the distiller checkpoint at `checkpoint_path` (if not
  // empty) and publishes its weights, refills the replay with `labelled`, and numbers episodes
  // from `first_episode`. An error leaves the agent as it was.
  Status Restore(const std::string& checkpoint_path,
                 std::span<const std::shared_ptr<const DecisionRecord>> labelled,
                 int64_t first_episode);

  // Starts the planner workers, the collector and the distiller. Once.
  void Start();

  // The decision for `observation`, by the mode's rule. `state` is the environment in the state
  // that produced the observation; planners that need it (needs_env()) get a copy. Throws
  // InvalidArgument for a wrong-size observation, a missing state a planner needs, or an Act()
  // not preceded by Observe() of the previous step; nothing is recorded then.
  AgentDecision Act(std::span<const float> observation, const Env* state = nullptr);

  // What the environment answered to the last Act()'s action. Ends the episode when
  // terminated or truncated.
  void Observe(double reward, bool terminated, bool truncated);

  // Drains and joins: no new requests; workers finish the plan they are in (waiting up to
  // stop_timeout_ms each) and queued requests are cancelled; the collector turns every observed
  // step into a record and inserts the labelled ones; the distiller finishes its step and
  // publishes its final weights; the last metrics line is written. Idempotent.
  void Stop();

  AgentMetrics Metrics() const;
  // The executor's weights: to evaluate them, save them, or build another Executor.
  SnapshotSlot& snapshot_slot() { return *slot_; }
  const ReplayBuffer& replay() const { return *replay_; }
  const AgentOptions& options() const { return options_; }
  const Space& observation_space() const { return observation_space_; }
  const Space& action_space() const { return action_space_; }

 private:
  struct Pool;
  struct Collector;
  struct Trainer;

  Agent(AgentOptions options, const Space& observation_space, const Space& action_space,
        const Env* prototype, const PlannerFactory& make_planner);
  static void WorkerMain(std::shared_ptr<Pool> pool, size_t index, int nice);

  const AgentOptions options_;
  const Space observation_space_, action_space_;
  const int64_t start_ns_;
  const int64_t wake_reserve_ns_;  // a wait for the planner ends this long before the deadline
  bool needs_env_ = false;
  const std::type_info* env_type_ = nullptr;  // the prototype's type

  std::unique_ptr<SnapshotSlot> slot_;
  std::unique_ptr<ReplayBuffer> replay_;
  std::shared_ptr<Pool> pool_;           // shared with the worker threads
  std::unique_ptr<Collector> collector_;
  std::unique_ptr<Trainer> trainer_;
  std::unique_ptr<Executor> executor_;   // caller's thread

  // Caller's thread.
  enum class Phase { kCreated, kActing, kObserving, kStopped };
  Phase phase_ = Phase::kCreated;
  uint64_t next_id_ = 1;
  int64_t episode_ = 0, episode_step_ = 0;
  double episode_return_ = 0.0;
  double beta_;
  Rng mixture_;
  struct PendingStep;
  std::unique_ptr<PendingStep> pending_;  // the step between Act() and Observe()
  std::mutex stop_mu_;                    // Stop() may be called from the destructor's thread

  // Written by the caller's thread, read by any.
  SharedLatencyHistogram act_latency_;
  std::atomic<int64_t> steps_{0}, episodes_{0}, acted_executor_{0}, acted_planner_{0};
  std::atomic<int64_t> deadline_misses_{0}, step_drops_{0};
  std::atomic<int64_t> abandoned_{0};  // written by Stop()
  static constexpr int kReturnWindow = 10;
  std::atomic<double> returns_[kReturnWindow] = {};
};

}  // namespace apprentice
