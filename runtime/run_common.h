// What the sync loop (sync_loop.cc) and the agent loop (agent_loop.cc) share, so that neither
// holds a block of the other's logic. Internal to runtime/.
#pragma once

#include <cstdint>
#include <deque>
#include <numeric>
#include <string>

#include "core/clock.h"
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
