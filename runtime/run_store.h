// The files of a run directory, and what --resume reads back from them.
//
//   RUN_DIR/logs/segment-*.alog   every decision the run made (replay/episode_log.h,
//                                 docs/log-format.md); flushed at least once a second
//   RUN_DIR/executor.snap         the latest executor snapshot, loadable without LibTorch
//   RUN_DIR/distiller.ckpt        the distiller's weights and optimiser state, for --resume
//   RUN_DIR/metrics.jsonl         agent modes: one metrics line per interval
//   RUN_DIR/summary.json          the run's summary (written by the command line)
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
#include "core/space.h"
#include "core/status.h"
#include "replay/episode_log.h"

namespace apprentice {

std::string RunLogDir(const std::string& run_dir);
std::string RunSnapshotPath(const std::string& run_dir);
std::string RunCheckpointPath(const std::string& run_dir);

// The episode log a user means by `path`: a segment file or a log directory as it is, and a run
// directory (one that holds no segments of its own but a logs/ directory) as RUN_DIR/logs.
std::string ResolveLogPath(const std::string& path);

EpisodeLogMetadata RunLogMetadata(const std::string& env, const Space& observation_space,
                                  const Space& action_space, const std::string& run);

struct ResumeState {
  std::vector<std::shared_ptr<const DecisionRecord>> labelled;  // the newest, oldest first
  int64_t records = 0;       // intact records in the logs
  int64_t next_episode = 0;  // one past the largest episode id logged
  int64_t damaged = 0;       // damaged stretches skipped
  bool has_checkpoint = false;
};

// Reads RUN_DIR for a resume, keeping at most `capacity` labelled records. NotFound when
// RUN_DIR has no logs.
Result<ResumeState> LoadResumeState(const std::string& run_dir, int64_t capacity);

}  // namespace apprentice
