// What the sync loop (sync_loop.cc) and the agent loop (agent_loop.cc) share, so that neither
// holds a block of the other's logic. Internal to runtime/.
#pragma once

#include <cstdint>
#include <deque>
#include <numeric>
#include <span>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/rng.h"
#include "core/seeds.h"
#include "core/stop_flag.h"
#include "env/env.h"
#include "executor/executor.h"
#include "learner/learning.h"
#include "planner/planner.h"
#include "runtime/run.h"
#include "runtime/run_store.h"

namespace apprentice::run_internal {

inline constexpr int64_t kAgreementWindow = 1000;
inline constexpr int kReturnWindow = 10;
// The share of the planner's return that counts as "reached" on the learning curve.
inline constexpr double kCurveTarget = 0.97;

// Progress reports at most every options.progress_interval_ns (always when forced).
class Reporter {
 public:
  Reporter(const RunOptions& options, const ProgressCallback& progress)
      : interval_ns_(options.progress_interval_ns), progress_(progress) {
    prog.total_steps = options.steps;
  }
  bool Due(bool force) const {
    return progress_ && (force || NowNs() - last_ns_ >= interval_ns_);
  }
  void Send(double elapsed_s) {
    last_ns_ = NowNs();
    prog.elapsed_s = elapsed_s;
    progress_(prog);
  }

  RunProgress prog;

 private:
  int64_t interval_ns_;
  const ProgressCallback& progress_;
  int64_t last_ns_ = 0;
};

// The training options of a run: replay, sampler, rate limit, distiller, seed.
Learning::Options LearningOptionsFor(const RunOptions& options);

// Before training a resumed run: `learner` (a Learning or a LocalLearner) takes the checkpoint, if
// there is one, and the newest labelled records. Nothing when not resuming.
template <class Learner>
void RestoreLearner(const RunOptions& options, const ResumeState& resumed, Learner& learner) {
  if (!options.resume) return;
  RequireOk(learner.Restore(resumed.has_checkpoint ? RunCheckpointPath(options.run_dir) : "",
                            resumed.labelled));
}

// The training episodes of a run: the env, reset on the run's stream of training-episode seeds
// (continued after a resume), and the observation to act on.
class TrainingEpisodes {
 public:
  // Resets `env` for the first episode.
  TrainingEpisodes(const RunOptions& options, const ResumeState& resumed, Env& env)
      : env_(env), seeds_(TrainEpisodeSeed(options.seed, static_cast<uint64_t>(resumed.records))) {
    Keep(env_.Reset(seeds_.Next()));
  }
  const std::vector<float>& observation() const { return observation_; }
  // The seed stream (the sync loop draws its plan seeds from it too).
  Rng& seeds() { return seeds_; }
  // Clips `action` into the action space and steps; when the episode ends, resets for the next
  // one. The result's observation is the one to act on next.
  StepResult Step(Action action) {
    env_.action_space().Clip(action);
    StepResult result = env_.Step(action);
    Keep(result.done() ? env_.Reset(seeds_.Next()) : result.observation);
    result.observation = observation_;
    return result;
  }

 private:
  void Keep(std::span<const float> observation) {
    observation_.assign(observation.begin(), observation.end());
  }

  Env& env_;
  Rng seeds_;
  std::vector<float> observation_;
};

// "apprentice run, mode reflex, seed 1": the note in log headers and snapshot files.
std::string RunNote(const RunOptions& options);

// The summary's names, resolved options, seed and rate.
RunSummary StartSummary(const RunOptions& options);

// The resumed state of options.run_dir, or an empty one when not resuming.
ResumeState LoadResume(const RunOptions& options);

// After training: the executor alone over options.eval_episodes, then the planner alone over
// options.planner_eval_episodes (and how often the final executor agrees with it, with the mean
// KL), on evaluation seeds. A stop request ends it early and sets summary.interrupted.
void Evaluate(const RunOptions& options, Env& env, Executor& executor, Planner& planner,
              RunSummary& summary, Reporter& reporter, const Stopwatch& clock, StopFlag* stop);

// The executor's mean return on the learning curve's episodes (the same seeds every time).
double CurveReturn(const RunOptions& options, Env& env, Executor& executor);

// summary.labels_to_target from summary.curve and summary.planner_return.
void FinishCurve(RunSummary& summary);

inline double Mean(const std::deque<double>& values, double otherwise) {
  return values.empty() ? otherwise
                        : std::accumulate(values.begin(), values.end(), 0.0) /
                              static_cast<double>(values.size());
}

}  // namespace apprentice::run_internal
