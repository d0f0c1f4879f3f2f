// Learner: the replay buffer and the distiller behind one interface. It takes labelled records
// and hands out executor snapshots; the executor side (this folder) sees only this header, so it
// links without LibTorch. learner/local_learner.h is the in-process implementation (a replay
// buffer, the LibTorch distiller, a rate limiter and a trainer thread); a learner on another
// machine can take its place.
//
//   Collector ── Add(labelled record) ──▶ Learner ── weights(): WeightSource ──▶ Agent's slot
//
// Threading: Add() and Metrics() from any thread, concurrently; Start() and Stop() from one
// thread (the Agent calls them from its own Start() and Stop()).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "agent/weights.h"
#include "core/decision.h"
#include "core/json.h"
#include "core/latency_histogram.h"
#include "core/status.h"

namespace apprentice {

struct LearnerMetrics {
  int64_t records = 0;      // trainable records added (replacements included)
  int64_t replaced = 0;     // records that replaced an earlier version (a late ground truth)
  int64_t replay_size = 0;  // records the replay holds
  int64_t train_steps = 0;
  int64_t train_errors = 0;
  int64_t snapshots = 0;    // snapshots published
  int64_t priority_updates = 0;  // records whose priority a training step updated
  double last_loss = 0.0;
  LatencyHistogram train;   // training-step latency
  std::string last_error;   // the latest training or saving error; empty if none
};

class Learner {
 public:
  virtual ~Learner() = default;

  // Starts training (on the learner's own threads). Once.
  virtual void Start() = 0;
  // A trainable record (a planner label, a ground-truth label or both) for the replay. A record
  // with the decision id of one added earlier is its corrected version (the ground truth came
  // later): it takes that record's place if the replay still holds it. Never blocks on training.
  virtual void Add(std::shared_ptr<const DecisionRecord> record) = 0;
  // Stops training: the step in progress finishes, the final weights are published and the
  // learner's files (checkpoint, snapshot) are saved. Returns the first error of publishing or
  // saving: a run must not report success when its files were not written. Idempotent.
  virtual Status Stop() = 0;

  // Where the learner's snapshots appear.
  virtual WeightSource& weights() = 0;
  virtual LearnerMetrics Metrics() const = 0;
};

}  // namespace apprentice
