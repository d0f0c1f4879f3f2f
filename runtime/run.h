// The deterministic distillation loop (mode "sync"): one thread runs the environment, the
// executor, the planner, the replay buffer and the distiller inline, so the same options and seed
// give the same labels, weights and summary, bit for bit.
//
//   env ── obs ──▶ executor (snapshot vN) ──┐
//    ▲                                      ├─ β-mixture picks who acts ── action ──▶ env
//    │      planner (on an env clone) ──────┘
//    │            │ label (DAgger: the states the executor visits)
//    │            ▼
//    │         replay ── sample ──▶ distiller ── every K updates: snapshot vN+1 ──▶ executor
//
// The other modes (reflex, deadline, gated, planner, dagger) run the same loop through an Agent
// (runtime/agent.h): the executor answers on the loop's thread, optionally at a fixed rate, while
// the planner pool, the collector and the distiller run as actors of their own (RunAgentLoop).
//
// After training, the executor is evaluated alone (planner off) and the planner alone, on
// episodes whose seeds differ from the training ones.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/json.h"
#include "core/latency_histogram.h"
#include "distiller/distiller.h"
#include "planner/registry.h"
#include "runtime/agent.h"

namespace apprentice {

struct RunOptions {
  std::string env = "cartpole";
  std::string planner = "mcts";
  std::string mode = "sync";     // "sync", or an agent mode: reflex, deadline, gated, planner, dagger
  uint64_t seed = 1;
  int64_t steps = 4000;          // environment steps of training (sync: each is labelled)
  double rate_hz = 0;            // agent modes: fixed loop rate; 0 = as fast as possible
  double beta = 0.5;             // probability that the planner acts in the first episode (sync, dagger)
  double beta_decay = 0.8;       // β is multiplied by this after every episode
  int64_t updates_per_step = 2;  // distiller updates per labelled step (agent modes: the limit)
  int64_t min_replay = 128;      // labels in the replay before training starts
  int64_t replay_capacity = 100'000;
  std::string replay_sampler = "uniform";  // uniform, prioritized (by disagreement), recent
  int64_t eval_episodes = 20;          // executor alone
  int64_t planner_eval_episodes = 10;  // planner alone
  int64_t progress_interval_ns = 500'000'000;  // between progress callbacks
  PlannerConfig planner_config;
  Distiller::Options distiller;
  // Agent modes: deadline, planner pool, gate, metrics. Its mode, seed, beta, replay, rate limit
  // and distiller fields are taken from the fields above.
  AgentOptions agent;
  // Where the run keeps its files (runtime/run_store.h): episode logs, executor snapshot,
  // distiller checkpoint, metrics.jsonl (agent modes). Empty = no files.
  std::string run_dir;
  bool resume = false;  // continue the run in run_dir (its logs and checkpoint)
  Status Validate() const;
};

// What the progress callback sees, every progress_interval_ns and at the end of training.
struct RunProgress {
  const char* phase = "train";  // "train", "eval-executor", "eval-planner"
  int64_t step = 0, total_steps = 0;
  int64_t labels = 0;
  int64_t episodes = 0;
  double agreement = 0.0;       // executor == planner over the last 1000 labels
  double recent_return = 0.0;   // mean return of the last 10 training episodes
  double beta = 0.0;            // probability that the planner acts in the current episode
  int64_t executor_version = 0;
  double elapsed_s = 0.0;
  const AgentMetrics* agent = nullptr;  // agent modes: the live metrics (valid during the call)
};

struct RunSummary {
  std::string env, planner, mode = "sync";
  uint64_t seed = 0;
  int64_t steps = 0, episodes = 0, planner_labels = 0, distiller_updates = 0;
  int64_t executor_version = 0;
  double planner_return = 0.0, executor_return = 0.0;
  double executor_return_min = 0.0;
  int64_t eval_episodes = 0, planner_eval_episodes = 0;
  double agreement = 0.0;           // final executor vs planner on the planner's evaluation states
  double training_agreement = 0.0;  // over the last 1000 training labels
  double final_loss = 0.0;
  LatencyHistogram executor_latency, planner_latency;
  LatencyHistogram act_latency;     // the loop's whole act (sync: the executor's)
  int64_t acted_by_executor = 0, acted_by_planner = 0;
  int64_t deadline_misses = 0, planner_drops = 0, planner_timeouts = 0, planner_errors = 0;
  int64_t planner_abandoned = 0, loop_overruns = 0;
  double rate_hz = 0.0;
  double recent_return = 0.0;       // mean of the last 10 training episodes
  bool interrupted = false;         // stopped early by the stop flag
  int64_t resumed_records = 0;      // records read back from run_dir when resuming
  int64_t logged = 0;               // records written to the episode log
  std::string last_error;
  double train_seconds = 0.0, total_seconds = 0.0;

  // The stable summary keys (see docs/cli.md).
  Json ToJson() const;
};

using ProgressCallback = std::function<void(const RunProgress&)>;

// Ok if `options` validate, name a known env and planner, and the planner can teach on the env.
// What RunSync checks before it starts; a command line reports a failure here as bad usage.
Status CheckRunnable(const RunOptions& options);

// Runs training and evaluation in one thread. Throws InvalidArgument when CheckRunnable() fails.
// When `stop` becomes true, training ends after the current step and evaluation still runs.
RunSummary RunSync(const RunOptions& options, const ProgressCallback& progress = nullptr,
                   const std::atomic<bool>* stop = nullptr);

// The same with an Agent in options.mode (not "sync"): the loop acts at options.rate_hz, then
// stops the agent (drain, join, flush) and evaluates. The planner's own evaluation runs without
// planner_config.delay_ms, which does not change its decisions.
RunSummary RunAgentLoop(const RunOptions& options, const ProgressCallback& progress = nullptr,
                        const std::atomic<bool>* stop = nullptr);

// RunSync or RunAgentLoop, by options.mode.
RunSummary Run(const RunOptions& options, const ProgressCallback& progress = nullptr,
               const std::atomic<bool>* stop = nullptr);

// "sync, reflex, deadline, gated, planner, dagger"
std::vector<std::string> RunModeNames();

}  // namespace apprentice
