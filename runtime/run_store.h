// The files of a run directory, its lock, and what --resume reads back from them.
//
//   RUN_DIR/run.json              what the run is: env and its options, planner and its options,
//                                 spaces, student widths; a resumed run must match it
//   RUN_DIR/lock                  held (flock) by the process writing the directory
//   RUN_DIR/logs/segment-*.alog   every decision the run made (replay/episode_log.h,
//                                 docs/log-format.md); flushed at least once a second
//   RUN_DIR/executor.snap         the latest executor snapshot, loadable without LibTorch
//   RUN_DIR/distiller.ckpt        the distiller's weights and optimiser state, for --resume
//   RUN_DIR/metrics.jsonl         one metrics line per interval, every mode (appended to)
//   RUN_DIR/summary.json          the run's summary (written atomically by the command line)
//
// Resuming reads the logs (every intact record; damage is skipped and counted), refills the
// replay with the newest labelled records, continues the episode ids, and loads the distiller
// checkpoint when there is one (a run killed before its first checkpoint resumes with a fresh
// student and the logged labels).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/decision.h"
#include "core/json.h"
#include "core/options.h"
#include "core/space.h"
#include "core/status.h"
#include "replay/episode_log.h"

namespace apprentice {

std::string RunLogDir(const std::string& run_dir);
std::string RunSnapshotPath(const std::string& run_dir);
std::string RunCheckpointPath(const std::string& run_dir);
std::string RunMetricsPath(const std::string& run_dir);
std::string RunSummaryPath(const std::string& run_dir);
std::string RunInfoPath(const std::string& run_dir);  // run.json

// The episode log a user means by `path`: a segment file or a log directory as it is, and a run
// directory (one that holds no segments of its own but a logs/ directory) as RUN_DIR/logs.
std::string ResolveLogPath(const std::string& path);

// What a run directory was made for. A resumed run must be the same env (with the same options),
// planner, spaces and student widths; its mode, seed and training settings may differ.
struct RunIdentity {
  std::string env;
  OptionValues env_options;      // every declared option, resolved
  std::string planner;
  OptionValues planner_options;  // every declared option, resolved
  std::string observation_space, action_space;
  std::vector<int64_t> hidden;

  Json ToJson() const;
  static Result<RunIdentity> FromJson(const Json& json);
  // "env cartpole (max_episode_steps=500), planner lqr, Box(...) -> Discrete(2), hidden 64,64"
  std::string Describe() const;
};

// A run directory held by this process: created if needed and locked, so that a second run
// cannot write into it at the same time. The lock is an flock on RUN_DIR/lock, released when the
// object is destroyed or the process ends (however it ends).
class RunDirectory {
 public:
  // Unavailable when the directory cannot be created, or another process holds it (the message
  // names that process's pid).
  static Result<RunDirectory> Open(const std::string& path);
  RunDirectory(RunDirectory&&) noexcept;
  RunDirectory& operator=(RunDirectory&&) noexcept;
  ~RunDirectory();

  const std::string& path() const { return path_; }

  // For --resume: Ok when the directory was made for `identity`; InvalidArgument saying what
  // differs otherwise, and NotFound when it holds no logs to continue from. A directory from
  // before run.json existed is checked against its log headers (env and spaces).
  Status CheckResumable(const RunIdentity& identity) const;
  // Writes run.json atomically (a new run; a resumed one keeps its own).
  Status WriteIdentity(const RunIdentity& identity) const;

 private:
  RunDirectory(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  std::string path_;
  int fd_ = -1;
};

EpisodeLogMetadata RunLogMetadata(const std::string& env, const Space& observation_space,
                                  const Space& action_space, const std::string& run);

struct ResumeState {
  std::vector<std::shared_ptr<const DecisionRecord>> labelled;  // the newest, oldest first
  int64_t records = 0;       // intact records in the logs
  int64_t next_episode = 0;  // one past the largest episode id logged
  uint64_t next_decision_id = 1;  // one past the largest decision id logged (and past the count)
  int64_t damaged = 0;       // damaged stretches skipped
  bool has_checkpoint = false;
};

// Reads RUN_DIR for a resume, keeping at most `capacity` labelled records. NotFound when
// RUN_DIR has no logs.
Result<ResumeState> LoadResumeState(const std::string& run_dir, int64_t capacity);

}  // namespace apprentice
