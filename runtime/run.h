// Runs: live distillation on a registered environment with a registered planner, then evaluation.
//
// Mode "sync" (RunSync, runtime/sync_loop.cc): one thread runs the environment, the executor, the
// planner and the training step inline, so the same options and seed give the same labels,
// weights and summary, bit for bit.
//
//   env ── obs ──▶ executor (snapshot vN) ──┐
//    ▲                                      ├─ β-mixture picks who acts ── action ──▶ env
//    │      planner (on an env clone) ──────┘
//    │            │ label (DAgger: the states the executor visits)
//    │            ▼
//    │         Learning: replay ── rate limit ── distiller ── every K updates: vN+1 ──▶ executor
//
// The other modes (reflex, deadline, gated, planner, dagger; RunAgentLoop, runtime/agent_loop.cc)
// run the same loop through an Agent (agent/agent.h) with a LocalLearner (learner/): the executor
// answers on the loop's thread, optionally at a fixed rate, while the planner pool, the collector
// and the trainer run as actors of their own. Both loops share their pieces: the β-mixture
// (agent/mixture.h), the record joins and agreement (agent/records.h), the training step
// (learner/learning.h), the evaluation episodes (runtime/evaluation.h) and the seed streams
// (core/seeds.h).
//
// After training, the executor is evaluated alone (planner off) and the planner alone, on
// episodes whose seeds differ from the training ones. A stop request ends training after the
// current step and evaluation after the current step of its episode; the summary says so.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "agent/agent.h"
#include "core/json.h"
#include "core/latency_histogram.h"
#include "core/options.h"
#include "core/stop_flag.h"
#include "distiller/distiller.h"
#include "nats/nats_link.h"
#include "runtime/run_store.h"

namespace apprentice {

// The planner a run uses when none is named: "mcts" for Discrete actions, "mppi" for a Box.
std::string DefaultPlannerFor(const Space& action_space);

struct RunOptions {
  std::string env = "cartpole";
  OptionValues env_options;       // the env's declared options (env/registry.h)
  std::string planner = "mcts";
  OptionValues planner_options;   // the planner's declared options (planner/registry.h)
  double planner_delay_ms = 0.0;  // every planner decision takes at least this long
  std::string mode = "sync";     // "sync", or an agent mode: reflex, deadline, gated, planner, dagger
  uint64_t seed = 1;
  int64_t steps = 4000;          // environment steps of training (sync: each is labelled)
  double rate_hz = 0;            // agent modes: fixed loop rate; 0 = as fast as possible
  // With a rate: wake this long before each tick, Agent::Warm(), spin to the tick; 0 = sleep to
  // the tick (act() then starts with what other threads left in the cache).
  int64_t wake_early_us = 50;
  double beta = 0.5;             // probability that the planner acts in the first episode (sync, dagger)
  double beta_decay = 0.8;       // β is multiplied by this after every episode
  double updates_per_step = 2;   // distiller updates per label past min_replay (the rate limit)
  int64_t min_replay = 128;      // labels in the replay before training starts
  int64_t replay_capacity = 100'000;
  std::string replay_sampler = "uniform";  // a registered sampler (replay/samplers/registry.h)
  OptionValues replay_options;
  int64_t eval_episodes = 20;          // executor alone
  int64_t planner_eval_episodes = 10;  // planner alone
  // Sync mode: evaluate the executor alone on curve_episodes episodes every curve_every labels
  // (the learning curve in the summary); 0 = never.
  int64_t curve_every = 0;
  int64_t curve_episodes = 5;
  int64_t progress_interval_ns = 500'000'000;  // between progress callbacks
  Distiller::Options distiller;
  // Agent modes: deadline, planner pool, gate, metrics. Its mode, seed, beta and log fields are
  // taken from the fields above.
  AgentOptions agent;
  // Where the run keeps its files (runtime/run_store.h): episode logs, executor snapshot,
  // distiller checkpoint, metrics.jsonl (a line every agent.metrics_interval_ms, every mode).
  // Empty = no files. The caller holds the
  // directory (RunDirectory) while the run writes it.
  std::string run_dir;
  bool resume = false;  // continue the run in run_dir (its logs and checkpoint)
  // Agent modes: the distiller checkpoint and executor snapshot are saved this often (and at the
  // end); sync mode saves them every 1000 distiller updates.
  int64_t checkpoint_every_ms = 30'000;
  // Agent modes: parts of the run live elsewhere, on NATS JetStream at this URL (nats/,
  // docs/scaling.md); empty = everything in process. With it, plan requests go to planner
  // workers (`apprentice planner-worker`) when nats_planners, and trainable records to a learner
  // (`apprentice learner`, whose snapshots the agent follows) when nats_learner.
  std::string nats_url;
  std::string nats_run = "apprentice";  // names the run's subjects and streams on NATS
  bool nats_planners = true;
  bool nats_learner = false;
  NatsSecurity nats_security;
  int64_t nats_replicas = 1;            // streams made by this run are stored on this many servers
  int64_t nats_wait_ms = 30'000;        // for the learner's first snapshot
  Status Validate() const;
};

// What the progress callback sees, every progress_interval_ns and at the end of training.
struct RunProgress {
  const char* phase = "train";  // "train", "eval-executor", "eval-planner"
  int64_t step = 0, total_steps = 0;
  int64_t labels = 0;
  int64_t episodes = 0;
  double agreement = 0.0;       // over the last 1000 labels (core/agreement.h)
  double recent_return = 0.0;   // mean return of the last 10 training episodes
  double beta = 0.0;            // probability that the planner acts in the current episode
  int64_t executor_version = 0;
  double elapsed_s = 0.0;
  const AgentMetrics* agent = nullptr;  // agent modes: the live metrics (valid during the call)
};

// One point of the learning curve: the executor alone after `labels` labels.
struct CurvePoint {
  int64_t labels = 0;
  double executor_return = 0.0;
};

struct RunSummary {
  std::string env, planner, mode = "sync";
  OptionValues env_options, planner_options;  // resolved: every declared option
  std::string replay_sampler;
  uint64_t seed = 0;
  int64_t steps = 0, episodes = 0, planner_labels = 0, distiller_updates = 0;
  int64_t executor_version = 0;
  double planner_return = 0.0, executor_return = 0.0;
  double executor_return_min = 0.0;
  int64_t eval_episodes = 0, planner_eval_episodes = 0;
  // A uniformly random policy on the executor's evaluation episodes (the floor of the normalised
  // return), and (executor - random) / (planner - random): 1 = as good as the planner, 0 = no
  // better than chance (NaN when the planner is no better than chance).
  double random_return = 0.0;
  int64_t random_episodes = 0;
  double normalised_return() const;
  double agreement = 0.0;           // final executor vs planner on the planner's evaluation states
  double mean_kl = 0.0;             // KL(planner || final executor) on the same states
  double training_agreement = 0.0;  // over the last 1000 training labels
  double training_mean_kl = 0.0;    // KL over the same labels
  double final_loss = 0.0;
  LatencyHistogram executor_latency, planner_latency;
  LatencyHistogram act_latency;     // the loop's whole act (sync: the executor's)
  LatencyHistogram train_latency;   // distiller updates
  int64_t acted_by_executor = 0, acted_by_planner = 0;
  int64_t deadline_misses = 0, planner_drops = 0, planner_timeouts = 0, planner_errors = 0;
  int64_t planner_abandoned = 0, loop_overruns = 0;
  double rate_hz = 0.0;
  double recent_return = 0.0;       // mean of the last 10 training episodes
  std::vector<CurvePoint> curve;    // sync with curve_every > 0
  // The labels after which the executor first reached 97 % of the planner's return on the
  // curve's episodes (-1: never, or no curve).
  int64_t labels_to_target = -1;
  bool interrupted = false;         // stopped early by a stop request
  int64_t resumed_records = 0;      // records read back from run_dir when resuming
  int64_t resumed_version = 0;      // the executor version the resumed checkpoint held (0: none)
  int64_t logged = 0;               // records in the episode log on disk
  std::string nats;                 // with nats_url: HostedAgent::NatsCounters() at the end
  std::string last_error;
  std::string error;                // what ended the run early, if anything failed
  double train_seconds = 0.0, total_seconds = 0.0;

  // The stable summary keys (see docs/cli.md).
  Json ToJson() const;
};

using ProgressCallback = std::function<void(const RunProgress&)>;

// Ok if `options` validate, name a known env and planner with valid options, and the planner can
// teach on the env. What the run functions check before they start; a command line reports a
// failure here as bad usage.
Status CheckRunnable(const RunOptions& options);

// Runs training and evaluation in one thread. Throws InvalidArgument when CheckRunnable() fails.
// When `stop` is requested, training ends after the current step and evaluation after the
// current step of its episode (summary.interrupted). A failure while running (the log or a file
// cannot be written) ends the run with summary.error set.
RunSummary RunSync(const RunOptions& options, const ProgressCallback& progress = nullptr,
                   StopFlag* stop = nullptr);

// The same with an Agent in options.mode (not "sync"): the loop acts at options.rate_hz, then
// stops the agent (drain, join, flush) and evaluates. The planner's own evaluation runs without
// planner_delay_ms, which does not change its decisions.
RunSummary RunAgentLoop(const RunOptions& options, const ProgressCallback& progress = nullptr,
                        StopFlag* stop = nullptr);

// An Agent in options.mode (not "sync") taught by options.planner and trained by a LocalLearner,
// built as RunAgentLoop builds its own (same seams, same files under options.run_dir, resumed
// when options.resume), for programs that drive their own loop: the Python module's Agent, an
// embedding that steps its own env. The caller steps prototype() (the agent only read it when it
// was made) or another env of its kind, handing it to Act() for the model-based planners, and
// Stop()s the agent at the end. Throws InvalidArgument when CheckRunnable() fails or a part
// cannot be made.
class HostedAgent {
 public:
  explicit HostedAgent(const RunOptions& options);
  ~HostedAgent();  // stops the agent, then the learner
  HostedAgent(const HostedAgent&) = delete;
  HostedAgent& operator=(const HostedAgent&) = delete;

  Agent& agent() { return *agent_; }
  // An env of the run's kind, as made from options.env and options.env_options (not reset).
  Env& prototype() { return *prototype_; }
  const RunOptions& options() const { return options_; }
  // What was read back from run_dir when resuming (empty otherwise; its labelled records went to
  // the learner and are not kept here), and the executor version the checkpoint held.
  const ResumeState& resumed() const { return resumed_; }
  int64_t resumed_version() const { return resumed_version_; }
  // With options.nats_url: requests published, labels received, requests given up on after the
  // maximum deliveries; records stored for the learner and snapshots received from it
  // ("published 120, ..., records stored 118, ..."); empty otherwise.
  std::string NatsCounters() const;

 private:
  const RunOptions options_;
  std::unique_ptr<Env> prototype_;
  std::unique_ptr<class LocalLearner> learner_;     // in process, or
  std::unique_ptr<class NatsLearner> nats_learner_;  // with nats_learner: the learner elsewhere
  std::shared_ptr<class NatsPlanQueue> nats_queue_;  // with nats_planners: the workers' queue
  std::unique_ptr<Agent> agent_;
  ResumeState resumed_;
  int64_t resumed_version_ = 0;
};

// RunSync or RunAgentLoop, by options.mode.
RunSummary Run(const RunOptions& options, const ProgressCallback& progress = nullptr,
               StopFlag* stop = nullptr);

// "sync, reflex, deadline, gated, planner, dagger"
std::vector<std::string> RunModeNames();

// The identity of the run `options` describe (resolved options), for run.json and --resume.
Result<RunIdentity> IdentityOf(const RunOptions& options);

}  // namespace apprentice
