// The learner as a process of its own (`apprentice learner`): the replay and the distiller of a
// run whose agents are elsewhere, fed from the run's durable record stream on NATS JetStream and
// publishing every snapshot into the run's weights bucket (nats/nats_weights.h).
//
//   agents (NatsLearner) ── records ──▶ stream APPRENTICE_RUN_RECORD ── ordered read from the
//                                       saved position ──▶ LocalLearner (replay + distiller)
//   LocalLearner ── snapshots ──▶ putter thread (the newest only) ──▶ KV APPRENTICE_RUN_WEIGHTS
//   every checkpoint: checkpoint + snapshot files, then learner.json {position} in the run dir
//
// Restart: the checkpoint restores the distiller (weights, optimiser, version); the replay is
// refilled from the stream's records up to the saved position (at most the replay's capacity of
// them); reading continues after it. A record the stream acknowledged is therefore never lost to
// a learner that was killed: it is either in the checkpoint's replay window or read again. Only
// the stream's own limit (max_records, the oldest discarded) can remove a record the learner has
// not read; that is counted (`skipped`).
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "core/json.h"
#include "core/space.h"
#include "core/status.h"
#include "core/stop_flag.h"
#include "learner/local_learner.h"
#include "nats/nats_link.h"

namespace apprentice {

struct LearnerServiceOptions {
  std::string url = "nats://127.0.0.1:4222";
  std::string run = "apprentice";
  NatsSecurity security;
  int64_t replicas = 1;                      // for the stream and bucket, if this process makes them
  std::string run_dir;                   // checkpoint, snapshot file and learner.json; required
  LocalLearner::Options learner;         // its paths and on_saved are set from run_dir
  int64_t max_records = 10'000'000;      // the record stream's size, if this process makes it
  int64_t max_record_bytes = 1 << 20;
  int64_t max_snapshot_bytes = 64 << 20;
  int64_t idle_exit_ms = 0;              // stop after this long without a new record; 0 = never
  int64_t max_read = 0;                  // stop after this many new records; 0 = never
  Status Validate() const;
};

struct LearnerServiceStats {
  bool resumed = false;           // a checkpoint was restored
  uint64_t resumed_position = 0;  // the stream position it was saved at
  int64_t resumed_steps = 0;      // the distiller's updates in the checkpoint
  int64_t resumed_version = 0;    // the executor version in the checkpoint
  int64_t restored = 0;           // records read back into the replay at the start
  uint64_t position = 0;          // the last stream sequence handed to the learner
  int64_t records = 0;            // records read after the saved position
  int64_t bad_records = 0;        // messages that did not decode (skipped, counted)
  int64_t skipped = 0;            // records the stream discarded before they were read
  int64_t resubscribed = 0;       // stream readers started again (their server died)
  int64_t train_steps = 0;        // the distiller's updates in all (the checkpoint's included)
  int64_t executor_version = 0;
  int64_t snapshots_put = 0, put_errors = 0;
  int64_t snapshot_bytes = 0;     // the size of the last snapshot put
  double first_put_ms = 0;        // from the start to the first snapshot in the bucket
  double last_loss = 0;
  double seconds = 0;
  std::string last_error;
  Json ToJson() const;
};

// Serves until `stop`, idle_exit_ms or max_read, then stops the learner (its final checkpoint,
// snapshot and position are saved and the final snapshot put). `observation_space` and
// `action_space` are the run's. `progress` (if set) is called about once a second. Unavailable
// when NATS cannot be reached; InvalidArgument for bad options; an error of the final save.
Status RunLearnerService(const LearnerServiceOptions& options, const Space& observation_space,
                         const Space& action_space, StopFlag& stop, LearnerServiceStats& stats,
                         const std::function<void(const LearnerServiceStats&)>& progress = nullptr);

// learner.json in `run_dir`: the stream position the run dir's checkpoint reaches.
std::string LearnerPositionPath(const std::string& run_dir);

}  // namespace apprentice
