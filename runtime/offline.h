// Offline work on episode logs (replay/episode_log.h), behind `apprentice inspect`, `eval` and
// `distill`: inspecting a log, scoring an executor snapshot against the planner's logged labels,
// rolling a snapshot out in an environment, and distilling a new executor from a log with a
// held-out split by episode.
//
//   log ──▶ InspectEpisodeLog ──▶ LogInspection                          (apprentice inspect)
//   log + Snapshot ──▶ EvaluateOnLog ──▶ LogEvaluation ─┐                (apprentice eval)
//   Snapshot + env name ──▶ Rollout ──▶ RolloutResult ◀─┘
//   log ──▶ ReadLabelledLog ──▶ SplitByEpisode ──▶ DistillOffline ──▶ Snapshot + held-out score
//                                                                        (apprentice distill)
//
// Scoring (PolicyScore): over labelled records only, the snapshot's greedy decision is compared
// with the planner's by the one agreement rule of core/agreement.h (top-1 for discrete actions;
// within 5 % of the action range for Box actions, the range read from the log's header), with
// KL(planner || policy) in nats (softmax at temperature 1, or the Gaussian KL summed over
// components). Gaussian heads also get the RMSE between the policy mean and the planner action.
//
// Everything here is single-threaded and torch-free in its header (DistillOffline trains with
// the Distiller, which hides LibTorch). Logs are read through EpisodeLogReader: damage is
// reported and skipped, never an error. Errors are Status values whose message says what was
// wrong: NotFound for a missing path, InvalidArgument for a snapshot or env that does not fit
// the log and for a log that cannot serve (no labelled records, records that disagree).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/decision.h"
#include "core/json.h"
#include "core/options.h"
#include "core/space.h"
#include "core/status.h"
#include "core/stop_flag.h"
#include "distiller/distiller.h"
#include "env/env.h"
#include "executor/executor.h"
#include "executor/snapshot.h"
#include "replay/episode_log.h"
#include "runtime/ope.h"

namespace apprentice {

// ---------------------------------------------------------------------------------------------
// Inspect
// ---------------------------------------------------------------------------------------------

// What `apprentice inspect` shows: the log's summary plus what the summary does not hold.
struct LogInspection {
  std::string path;
  EpisodeLogSummary summary;
  std::vector<int64_t> episode_labelled;  // labelled records per episode, parallel to
                                          // summary.episodes
  bool has_executor_versions = false;     // false for a log without records
  int64_t executor_version_min = 0, executor_version_max = 0;

  double min_complete_return() const;  // NaN when no episode is complete
  double max_complete_return() const;  // NaN when no episode is complete
  // The stable keys of `apprentice inspect --json` (docs/cli.md). Undefined numbers are null.
  Json ToJson() const;
};

// Reads the log at `path` (a segment file or a log directory) once. NotFound if it does not
// exist; the reader's errors (an unreadable file, a newer format) otherwise. Damage is not an
// error: it is listed in summary.damage.
Result<LogInspection> InspectEpisodeLog(const std::string& path);

// ---------------------------------------------------------------------------------------------
// Scoring a policy against the planner's labels
// ---------------------------------------------------------------------------------------------

// Sums over scored decisions; the accessors turn them into means.
struct PolicyScore {
  HeadKind head = HeadKind::kCategorical;
  int64_t decisions = 0;       // labelled records scored
  int64_t agreed = 0;          // decisions that agree (core/agreement.h)
  double kl_sum = 0.0;         // KL(planner || policy), nats
  double squared_error = 0.0;  // gaussian: sum of (policy mean - planner action)^2
  int64_t components = 0;      // gaussian: action components summed in squared_error

  double agreement() const;    // agreed / decisions; NaN for none
  double mean_kl() const;      // NaN for none
  double action_rmse() const;  // gaussian: sqrt(squared_error / components); NaN otherwise
  void Add(const PolicyScore& other);
};

// Scores one snapshot on labelled records with the executor's own kernel (Executor::Act).
// Owned by one thread.
class PolicyScorer {
 public:
  // `action_space` (when given and of the head's kind and size, e.g. from a log header) bounds
  // the actions: the Gaussian mean is clipped into it and agreement is measured against its
  // ranges. Otherwise HeadActionSpace(spec).
  explicit PolicyScorer(std::shared_ptr<const Snapshot> snapshot,
                        const Space* action_space = nullptr);
  PolicyScorer(const PolicyScorer&) = delete;
  PolicyScorer& operator=(const PolicyScorer&) = delete;

  // Ok if `record` carries a planner label the snapshot can be compared with: an observation of
  // spec().input floats, a planner distribution and action of the head's kind and size.
  // InvalidArgument naming the record and both sizes otherwise.
  Status CheckFits(const DecisionRecord& record) const;
  // Adds `record` (which must pass CheckFits; unlabelled records are ignored) to `score`.
  void Score(const DecisionRecord& record, PolicyScore& score);
  // The policy's greedy action for `observation` (size spec().input).
  Action Act(std::span<const float> observation) { return executor_.Act(observation).action; }

  const MlpSpec& spec() const { return slot_.spec(); }
  // The action space the scorer assumes: Discrete(n), or an unbounded Box(d).
  const Space& action_space() const { return action_space_; }

 private:
  Space action_space_;
  SnapshotSlot slot_;
  Executor executor_;
};

// The action space a snapshot's head acts in when no env says more: Discrete(n) for a
// categorical head, Box(-inf, inf, (d,)) for a Gaussian one.
Space HeadActionSpace(const MlpSpec& spec);
// The action space a snapshot acts in on a log: the one its first intact header names when that
// parses and fits the head (kind and size), else HeadActionSpace(spec).
Space LogActionSpace(const std::vector<EpisodeLogSegment>& segments, const MlpSpec& spec);

// One episode of a log, scored.
struct EpisodeScore {
  int64_t id = 0;
  int64_t steps = 0;        // records of the episode
  double return_sum = 0.0;  // the logged return: the sum of its rewards
  bool complete = false;    // a record with terminated or truncated was seen
  PolicyScore score;        // its labelled records
};

struct LogEvaluation {
  std::string path;
  int64_t records = 0;                 // intact records read
  PolicyScore overall;                 // every labelled record
  std::vector<EpisodeScore> episodes;  // in order of their first record
  std::vector<EpisodeLogSegment> segments;
  std::vector<EpisodeLogDamage> damage;
};

// Reads the log at `path` once and scores `snapshot` on every labelled record (a log without
// labels gives overall.decisions == 0). NotFound / reader errors as InspectEpisodeLog;
// InvalidArgument (naming the first such record) when a labelled record does not fit the
// snapshot's spec.
Result<LogEvaluation> EvaluateOnLog(const std::string& path,
                                    std::shared_ptr<const Snapshot> snapshot);

// The first labelled record of the log at `path`, or nullopt if it holds none (reads no
// further). Lets a caller check that a snapshot fits a log before reading all of it.
Result<std::optional<DecisionRecord>> FirstLabelledRecord(const std::string& path);

// Scores `snapshot` on records in memory (unlabelled ones are skipped), with the actions in
// `action_space` when given (see PolicyScorer). InvalidArgument when a labelled record does not
// fit.
Result<PolicyScore> ScoreRecords(std::span<const std::shared_ptr<const DecisionRecord>> records,
                                 std::shared_ptr<const Snapshot> snapshot,
                                 const Space* action_space = nullptr);

// ---------------------------------------------------------------------------------------------
// Rollouts
// ---------------------------------------------------------------------------------------------

struct RolloutResult {
  std::string env;
  uint64_t seed = 0;
  std::vector<double> returns;  // one per episode
  double discount = 1.0;                   // of discounted_returns
  std::vector<double> discounted_returns;  // Σ discount^t r_t, one per episode

  double mean() const;  // NaN for no episodes
  double discounted_mean() const;  // NaN for no episodes
  double min() const;
  double max() const;
  Json ToJson() const;  // env, seed, episodes, mean_return, min_return, max_return, returns
};

// Ok if `spec` can act in `env`: its input is the observation size and its head fits the action
// space (Discrete(n): n logits; Box(d): a Gaussian head with d components). InvalidArgument
// naming both otherwise.
Status CheckSnapshotFitsEnv(const MlpSpec& spec, const Env& env);

// How a rollout acts and what it keeps.
struct RolloutOptions {
  // The snapshot's policy (runtime/ope.h): greedy by default; `sample` draws from its head and
  // `epsilon` mixes in uniformly random legal actions (Discrete).
  CandidateOptions policy;
  // When set, every decision is written to an episode log in this directory (created; it must
  // not hold a log already), with the behaviour probability of the action taken: logs of a known
  // policy for off-policy estimates (`apprentice eval --ope`).
  std::string log_dir;
  double discount = 1.0;  // of RolloutResult::discounted_returns, in (0, 1]
  Status Validate() const;
};

// Runs `episodes` episodes of `env_name` with the snapshot acting alone (the env's action bounds
// clip a Gaussian's action). Episode k is reset with the k-th draw of an Rng seeded from `seed`
// (the policy's draws come from their own stream of it), so the same seed gives the same episodes.
// NotFound for an unknown env, InvalidArgument when the snapshot does not fit it or for invalid
// options, the log writer's errors when the log cannot be written.
Result<RolloutResult> Rollout(std::shared_ptr<const Snapshot> snapshot, const std::string& env_name,
                              int64_t episodes, uint64_t seed,
                              const OptionValues& env_options = {},
                              const RolloutOptions& options = {});

// ---------------------------------------------------------------------------------------------
// Offline distillation
// ---------------------------------------------------------------------------------------------

// The labelled records of a log, in log order, and the spaces they imply.
struct LabelledLog {
  std::string path;
  std::vector<std::shared_ptr<const DecisionRecord>> records;  // has_label only
  int64_t records_read = 0;                                    // labelled or not
  EpisodeLogMetadata metadata;  // of the first segment with an intact header (empty if none)
  Space observation_space = Space::Box(0.0f, 0.0f, {1});  // Box(-inf, inf, (input,))
  // Discrete(n), or the header's Box when it fits the labels (else Box(-inf, inf, (d,))).
  Space action_space = Space::Discrete(1);
  std::vector<EpisodeLogSegment> segments;
  std::vector<EpisodeLogDamage> damage;
};

// Reads every labelled record of the log at `path`. Reader errors as InspectEpisodeLog;
// InvalidArgument when the log holds no labelled record, when labelled records disagree on the
// observation size or the planner's kind and action count, or when one holds a non-finite
// observation or planner output or an action outside its own distribution's range (each names
// the record).
Result<LabelledLog> ReadLabelledLog(const std::string& path);

// Records split by episode id: a held-out episode contributes none of its records to training.
struct EpisodeSplit {
  std::vector<int64_t> train_episodes, holdout_episodes;  // ids, ascending
  std::vector<std::shared_ptr<const DecisionRecord>> train, holdout;
};

// Holds out round(holdout * E) of the E episode ids that have labelled records (at least one
// when holdout > 0, at most E - 1), chosen by a shuffle seeded from `seed`: the same records,
// fraction and seed give the same split. holdout must be in [0, 1).
EpisodeSplit SplitByEpisode(std::span<const std::shared_ptr<const DecisionRecord>> records,
                            double holdout, uint64_t seed);

struct OfflineDistillOptions {
  Distiller::Options distiller;  // its seed is replaced by `seed`
  double holdout = 0.2;          // fraction of episodes held out, in [0, 1)
  int64_t epochs = 100;          // passes over the training records (when updates == 0)
  int64_t updates = 0;           // > 0: exactly this many optimiser steps instead of epochs
  uint64_t seed = 1;             // the split, the initial weights and the batch order
  int64_t progress_interval_ns = 1'000'000'000;
  Status Validate() const;
};

struct OfflineDistillProgress {
  int64_t update = 0, total_updates = 0;
  double loss = 0.0;             // of the last update
  double train_agreement = 0.0;  // current weights on (up to 2000 of) the training records
  double elapsed_s = 0.0;
};
using OfflineDistillCallback = std::function<void(const OfflineDistillProgress&)>;

struct OfflineDistillResult {
  std::shared_ptr<const Snapshot> snapshot;  // the final weights, version 1
  EpisodeSplit split;
  int64_t updates = 0;
  int64_t updates_per_epoch = 0;
  double final_loss = 0.0;
  PolicyScore train;    // the final weights on every training record
  PolicyScore holdout;  // the final weights on every held-out record (decisions 0 if none)
  double seconds = 0.0;
  bool interrupted = false;  // `stop` ended training early
};

// Trains a student from scratch on the training split of `log` with the Distiller (the online
// loss: docs/cli.md), in epochs of shuffled mini-batches, then scores it on both splits.
// `progress` (if set) is called every progress_interval_ns and once at the end. When `stop`
// is requested, training ends after the current update and the result holds what was reached.
// InvalidArgument for invalid options, a holdout > 0 on a log whose labels come from one
// episode, or a split that leaves nothing to train on.
Result<OfflineDistillResult> DistillOffline(const LabelledLog& log,
                                            const OfflineDistillOptions& options,
                                            const OfflineDistillCallback& progress = nullptr,
                                            const StopFlag* stop = nullptr);

}  // namespace apprentice
