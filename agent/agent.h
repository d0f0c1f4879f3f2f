// Agent: the object a robot, a game or a service embeds. The executor answers every Act() on the
// caller's thread; the planner labels the visited states in the background; a learner trains on
// those labels and publishes new executor weights, which Act() picks up without pausing.
//
//   caller ── Act(obs) ──▶ Arbiter: executor (snapshot vN), mode ──▶ decision ──▶ caller
//     │                      │ plan request (decision id, episode, step, obs, state)
//     │                      ▼
//     │                  PlanQueue ──▶ PlannerPool (in process) or planners elsewhere
//     │                                        │ label (decision id)
//     └─ Observe / Report(id, outcome) ──▶ Collector ◀──┘ (joined by decision id)
//                                            │      └──▶ episode log, metrics.jsonl
//                                            ▼ labelled records
//                                         Learner ── WeightSource ──▶ SnapshotSlot (hot swap)
//
// The seams (AgentSeams) are interfaces with in-process implementations: the plan queue
// (agent/plan_queue.h), the learner (agent/learner.h; learner/local_learner.h trains with
// LibTorch) and the weight source (agent/weights.h). This folder links without LibTorch: an
// executor-side agent (a snapshot, a planner, logs) runs where LibTorch is absent
// (examples/agent_without_torch.cc).
//
// Actors, one file each: Arbiter (a caller's side), PlannerPool (workers), Collector (joins and
// logs), and the learner's trainer. Threads and what they own are stated in each header. Every
// decision records who acted and the executor version it used; labels, outcomes and late reports
// are joined by decision id, so several callers may act concurrently and report outcomes late.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <typeinfo>

#include "agent/answer_board.h"
#include "agent/arbiter.h"
#include "agent/collector.h"
#include "agent/crowd.h"
#include "agent/label_selection.h"
#include "agent/learner.h"
#include "agent/plan_queue.h"
#include "agent/planner_pool.h"
#include "agent/records.h"
#include "agent/weights.h"
#include "core/json.h"
#include "core/latency_histogram.h"
#include "core/space.h"
#include "core/status.h"
#include "env/env.h"
#include "executor/executor.h"
#include "planner/planner.h"

namespace apprentice {

// Who decides in Act().
enum class Mode {
  kReflex,    // the executor always acts; the planner labels in the background
  kDeadline,  // the planner's answer if it comes within deadline_us, else the executor's
  kGated,     // the executor when its confidence >= gate_confidence, else as kDeadline
  kPlanner,   // the planner acts (behaviour-cloning data); the executor only if it fails
  kDagger,    // the planner acts with probability β (decaying per episode), else the executor
};
// Every mode, in the order above.
std::span<const Mode> Modes();
std::string_view ModeName(Mode mode);
Result<Mode> ParseMode(std::string_view name);
// "reflex, deadline, gated, planner, dagger"
std::string ModeNames();

struct AgentOptions {
  Mode mode = Mode::kReflex;
  // Act() should answer within this; a later answer counts as a deadline miss. In the deadline
  // and gated modes it is also how long Act() waits for the planner.
  int64_t deadline_us = 1000;
  double gate_confidence = 0.9;      // gated: the executor's confidence needed to act alone
  // The executor acts with a draw from its distribution (Executor::Sample) instead of its greedy
  // action (the argmax, or the Gaussian's mean).
  bool sample_actions = false;
  int64_t planner_wait_ms = 10'000;  // planner and dagger modes: the longest wait for the teacher
  double beta = 0.5;                 // dagger: probability that the planner acts at first
  double beta_decay = 0.8;           // dagger: β is multiplied by this after every episode

  int64_t planner_threads = 1;       // workers of the in-process pool
  int64_t planner_queue = 64;        // background requests waiting for a worker
  Overflow planner_overflow = Overflow::kDropOldest;
  int64_t planner_budget_ms = 0;     // deadline handed to background requests; 0 = none
  // Which decisions the planner labels in the background (a label budget; agent/label_selection.h).
  LabelSelection labels;
  int64_t planner_stuck_ms = 5'000;  // a worker inside one Plan() this long counts as stuck
  int64_t stop_timeout_ms = 500;     // Stop(): the longest wait for a worker inside Plan()

  int64_t inbox = 16'384;            // decisions and outcomes waiting for the collector
  int64_t outcome_wait_ms = 60'000;  // a decision whose outcome never comes is logged after this
  int64_t max_pending = 65'536;      // decisions waiting for outcome or label; the oldest stops
                                     // waiting beyond this (memory stays bounded)

  uint64_t seed = 1;
  // Nice value of the planner and collector threads (Linux; 0 = unchanged), so that background
  // work yields to the control loop on a busy machine.
  int background_nice = 10;
  std::string metrics_path;          // JSON lines, one per metrics_interval_ms; empty = none
  int64_t metrics_interval_ms = 1'000;
  // Every decision (labelled or not) is appended to episode-log segments in this directory,
  // flushed every metrics interval and at Stop(); empty = no log.
  std::string log_dir;
  std::string env_name = "custom";   // recorded in the log headers
  std::string run_note;              // recorded in the log headers (free text)

  Status Validate() const;
};

// The seams, each an interface with an in-process implementation.
struct AgentSeams {
  // Planners in this process: a pool of planner_threads workers made by this factory. Leave it
  // empty when the plan queue is served elsewhere.
  PlannerFactory planners;
  // Where plan requests go; null: an in-process LocalPlanQueue (planner_queue, planner_overflow).
  // With neither planners nor a plan queue the agent has no teacher: the executor alone answers
  // (reflex mode only), nothing is labelled, decisions and outcomes are still joined and logged
  // (an edge service serving a snapshot file).
  std::shared_ptr<PlanQueue> plan_queue;
  // Where labelled records go; null: nowhere (labels are still logged). The agent starts and
  // stops it with itself.
  Learner* learner = nullptr;
  // Where new weights come from; null: the learner's. One of the two must be given.
  WeightSource* weights = nullptr;
  // Decisions no longer in memory, by id (the decision service's journal): an outcome for a
  // decision the collector does not hold is joined with what this finds (Collector::Options).
  DecisionLookup decisions;
};

// Counters and histograms; a consistent-enough snapshot taken from any thread.
struct AgentMetrics {
  Mode mode = Mode::kReflex;
  double elapsed_s = 0.0;
  int64_t steps = 0, episodes = 0;
  int64_t acted_by_executor = 0, acted_by_planner = 0;
  int64_t deadline_misses = 0;
  int64_t planner_requests = 0;  // requests issued (background and urgent)
  int64_t unselected = 0;        // decisions the label budget did not send to the planner
  int64_t planner_drops = 0;     // requests dropped by the overflow policy
  int64_t planner_timeouts = 0;  // waits for the planner that ended without an answer
  int64_t planner_errors = 0;    // plans that threw or returned an error
  int64_t planner_stuck = 0;     // workers inside one Plan() for more than planner_stuck_ms
  int64_t planner_abandoned = 0; // workers Stop() left inside a Plan() that did not return
  int64_t queue_depth = 0, queue_capacity = 0;
  int64_t decisions = 0;         // decisions the collector received
  int64_t decision_drops = 0;    // decisions lost: the collector's inbox was full, or the agent
                                 // stopped between Act() and Observe()
  int64_t outcome_drops = 0;     // Report() refused: the collector's inbox was full
  int64_t orphan_outcomes = 0;   // reported outcomes of decisions the collector never saw
  int64_t ground_truth = 0;      // decisions joined with a ground-truth label (Outcome::truth)
  int64_t late_joins = 0;        // outcomes joined with a decision found by id (the journal)
  int64_t missing_outcomes = 0;  // decisions logged without an outcome
  int64_t orphan_labels = 0;     // labels whose decision never came (taught alone, not logged)
  int64_t missing_labels = 0;    // decisions logged without the label they waited for
  int64_t duplicate_labels = 0;  // labels delivered again for a decision already taught
  int64_t weight_errors = 0;     // snapshots from the weight source the slot refused
  int64_t labels = 0;            // labelled records passed to the learner
  int64_t logged = 0;            // records in the episode log on disk
  int64_t train_steps = 0, train_errors = 0;
  int64_t executor_version = 0;
  double agreement = 0.0;        // over the last 1000 labels (core/agreement.h)
  double mean_kl = 0.0;          // KL(planner || executor) over the same labels, nats
  int64_t agreement_samples = 0;
  double recent_return = 0.0;    // mean of the last 10 episodes' returns
  double last_loss = 0.0;
  LatencyHistogram act, planner, train;  // Act() latency, planner decisions, training steps
  std::string last_error;        // the latest planner, learner or I/O error, empty if none
  std::string error;             // a fatal error (the log could not be written): the run stops

  // Stable keys; `previous` (an earlier snapshot) adds labels_per_s and train_steps_per_s.
  Json ToJson(const AgentMetrics* previous = nullptr) const;
};

class Agent final : private LabelSink {
 public:
  // `prototype` is an environment of the kind the caller steps: a model-based planner gets
  // clones of it (refreshed with Env::CopyStateFrom). It is only read here. Throws
  // InvalidArgument for invalid options, a planner the factory cannot make or that cannot teach
  // on the prototype, missing seams, or a log or metrics file that cannot be written.
  Agent(AgentOptions options, const Env& prototype, AgentSeams seams);
  // For teachers that need no environment (planner->needs_env() must be false).
  Agent(AgentOptions options, const Space& observation_space, const Space& action_space,
        AgentSeams seams);
  // Stop(), if still running.
  ~Agent() override;
  Agent(const Agent&) = delete;
  Agent& operator=(const Agent&) = delete;

  // Before Start(): number new episodes from `first` and decisions from `first` (a resumed run
  // continues its ids, so that ids stay unique within a run's log).
  void SetFirstEpisode(int64_t first);
  void SetFirstDecisionId(uint64_t first);

  // Starts the learner, the planner workers and the collector. Once. If a part fails to start,
  // the parts already started are stopped again and the exception is rethrown: the agent is then
  // stopped.
  void Start();

  // The default arbiter's Act() and Observe() (arbiter.h): one caller thread.
  AgentDecision Act(std::span<const float> observation, const Env* state = nullptr,
                    std::span<const uint8_t> legal = {});
  void Observe(double reward, bool terminated, bool truncated);

  // The default arbiter's Warm() (arbiter.h): call it shortly before a fixed-rate tick.
  void Warm(std::span<const float> observation) { default_arbiter_->Warm(observation); }

  // The arbiter behind Act() and Observe().
  Arbiter& default_arbiter() { return *default_arbiter_; }
  // Another caller: an arbiter of its own (its own executor and episodes) for another thread.
  // Valid until the agent is destroyed. Any thread; at most 63 besides the default one (crowds
  // included).
  Arbiter& OpenArbiter();
  // Many agents decided a tick at a time by one caller (agent/crowd.h): `agents` lanes with
  // episodes of their own, one batched executor call per tick. Reflex mode only (InvalidArgument
  // otherwise). Valid until the agent is destroyed; counts against the same 64 executors.
  Crowd& OpenCrowd(int64_t agents);

  // The outcome of decision `id`, from any thread, any time after its Act()/Decide() (a reward
  // that arrives late, a label from the outside world). Unavailable when the agent is not
  // running or the collector's inbox is full (the outcome is then counted as dropped). A Report()
  // that races Stop() may return Ok and still miss the collector's last drain.
  Status Report(uint64_t id, const Outcome& outcome);

  // Drains and joins: no new decisions; workers finish the plan they are in (Stop() waits for
  // them stop_timeout_ms in all) and queued requests are cancelled; the collector turns
  // everything it holds into records and closes the log; the learner publishes its final weights
  // and saves its files; the last metrics line is written. Returns the first error of all that
  // (the log or a file could not be written): a caller must not report success then.
  // Idempotent.
  Status Stop();

  // Where planners outside this process deliver their labels (a PlanQueue served elsewhere): a
  // label routes to its waiting caller, if any, and to the collector. Any thread, from Start()
  // until Stop() returns (a label delivered after that is dropped); never after the Agent is
  // destroyed. A label delivered twice teaches once (duplicate_labels).
  LabelSink& label_sink() { return *this; }

  // Ok while nothing fatal happened; the collector's I/O error otherwise (stop the run).
  Status health() const { return collector_->error(); }
  // Whether health() is not ok: one atomic load, cheap enough for every step.
  bool failed() const { return collector_->failed(); }

  AgentMetrics Metrics() const;
  // The executor's weights: to evaluate them, save them, or build another Executor.
  SnapshotSlot& snapshot_slot() { return *slot_; }
  const AgentOptions& options() const { return options_; }
  // Whether a planner labels decisions (AgentSeams: planners or a plan queue).
  bool has_teacher() const { return has_teacher_; }
  const Space& observation_space() const { return observation_space_; }
  const Space& action_space() const { return action_space_; }

 private:
  friend class Arbiter;
  friend class Crowd;
  Agent(AgentOptions options, const Space& observation_space, const Space& action_space,
        const Env* prototype, AgentSeams seams);
  void OnLabel(Label label) override;  // LabelSink: from the workers (or a remote queue)
  // Serves `snapshot` if it is newer than the one served (versions only increase).
  void Adopt(std::shared_ptr<const Snapshot> snapshot);
  std::string MetricsLine();           // the collector's thread
  uint64_t NewDecisionId() { return next_id_.fetch_add(1, std::memory_order_relaxed); }
  int64_t NewEpisode() { return next_episode_.fetch_add(1, std::memory_order_relaxed); }
  bool running() const { return state_.load(std::memory_order_acquire) == kRunning; }

  const AgentOptions options_;
  const Space observation_space_, action_space_;
  const int64_t start_ns_;
  const int64_t wake_reserve_ns_;  // a wait for the planner ends this long before the deadline
  bool needs_env_ = false;
  bool has_teacher_ = false;  // planners or a plan queue: false leaves queue_ null
  const std::type_info* env_type_ = nullptr;  // the prototype's type

  Learner* learner_ = nullptr;
  WeightSource* weights_ = nullptr;
  int subscription_ = 0;
  std::unique_ptr<SnapshotSlot> slot_;
  std::shared_ptr<PlanQueue> queue_;  // null without a teacher
  std::unique_ptr<PlannerPool> pool_;  // null when planners live elsewhere
  DisagreementBoard disagreement_;  // the collector writes it, the arbiters' selectors read it
  std::unique_ptr<Collector> collector_;
  AnswerBoard answers_;

  static constexpr int kCreated = 0, kRunning = 1, kStopped = 2;
  std::atomic<int> state_{kCreated};
  std::atomic<uint64_t> next_id_{1};
  std::atomic<int64_t> next_episode_{0};
  std::atomic<int64_t> report_drops_{0};
  std::mutex adopt_mu_;  // serialises Adopt() (the source's thread and Start())
  std::atomic<int64_t> weight_errors_{0};
  mutable std::mutex weights_error_mu_;
  std::string weights_error_;  // guarded by weights_error_mu_

  mutable std::mutex arbiters_mu_;
  std::deque<std::unique_ptr<Arbiter>> arbiters_;  // guarded by arbiters_mu_; [0] is the default
  Arbiter* default_arbiter_ = nullptr;
  std::deque<std::unique_ptr<Crowd>> crowds_;  // guarded by arbiters_mu_

  std::mutex stop_mu_;
  Status stop_status_;  // guarded by stop_mu_

  // Collector thread only (MetricsLine).
  AgentMetrics previous_metrics_;
  bool have_previous_ = false;
};

}  // namespace apprentice
