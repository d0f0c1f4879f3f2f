// Learning: the replay buffer, its rate limiter and the distiller, and the one training step both
// loops run: the trainer thread of LocalLearner (asynchronous modes) and the deterministic sync
// loop (runtime/run.h), which calls it inline.
//
//   Add(labelled record) ── replay.Insert, limiter.OnInsert
//   TryTrainStep() ── limiter.TrySample(batch) ── replay.Sample (keys, importance weights)
//                  ── distiller.Train(batch, weights) ── replay.UpdatePriorities(keys, losses)
//                  ── every publish_every updates: a new snapshot
//
// The rate limit: once min_replay labels are in, the distiller may take updates_per_label
// batches per label added past that point, plus one batch of slack (RateLimiter with
// samples_per_insert = updates_per_label * batch size, tolerance = one batch);
// updates_per_label = 0 never trains. Prioritised replay: a record enters with its
// executor-planner disagreement as priority and, after every training step that drew it, takes
// the distiller's per-record loss (Distiller::TrainStats::priorities); the loss is weighted by
// the sampler's importance weights. Samplers without priorities (uniform, recent) train
// unweighted (the uniform sampler draws what ReplayBuffer::SampleUniform would, the stream
// every earlier run drew).
//
// Threading: Add() from any thread; everything else from one thread (the trainer's, or the sync
// loop's). The limiter may be waited on from the training thread and cancelled from any.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/decision.h"
#include "core/options.h"
#include "core/rng.h"
#include "core/space.h"
#include "core/status.h"
#include "distiller/distiller.h"
#include "replay/rate_limiter.h"
#include "replay/replay_buffer.h"

namespace apprentice {

class Learning {
 public:
  struct Options {
    int64_t replay_capacity = 100'000;
    std::string sampler = "uniform";  // a registered replay sampler (replay/samplers/registry.h)
    OptionValues sampler_options;
    int64_t min_replay = 128;         // labels in the replay before training starts
    double updates_per_label = 2.0;   // distiller updates per label past min_replay
    Distiller::Options distiller;     // its seed is replaced by `seed`
    uint64_t seed = 1;                // the student's initial weights and the batches
    Status Validate() const;
  };

  // Throws InvalidArgument for invalid options or spaces the student cannot serve.
  Learning(Options options, const Space& observation_space, const Space& action_space);

  // Continues from a checkpoint (empty path: none) and refills the replay with `records`. An
  // error leaves the weights as they were (the replay may hold part of the records).
  Status Restore(const std::string& checkpoint_path,
                 std::span<const std::shared_ptr<const DecisionRecord>> records);

  // Any thread: a trainable record (Trainable(): a planner label, a ground-truth label or both)
  // for the replay. A record whose decision id (not 0) is still in the replay replaces it in
  // place (a late ground-truth label corrects the record it labels): not a new insert, so it
  // earns no updates; one without a planner label keeps the stored record's label and adds its
  // ground truth and outcome. Throws InvalidArgument for a null record.
  void Add(std::shared_ptr<const DecisionRecord> record);
  // Records Add() replaced so far.
  int64_t replaced() const;

  // One training step if the rate limit allows one now; nullopt otherwise. Training errors
  // (a record the distiller refuses) throw InvalidArgument.
  std::optional<Distiller::TrainStats> TryTrainStep();
  // One training step whose batch the caller has already been allowed (RateLimiter::WaitToSample).
  Distiller::TrainStats TrainStep();

  // A snapshot of the current weights when updates were made since the last one published (the
  // final weights at the end of a run), with the next version; null otherwise.
  std::shared_ptr<const Snapshot> FinalSnapshot();
  // The current weights as a snapshot of the latest published version (version 0 before any).
  std::shared_ptr<const Snapshot> CurrentSnapshot() const;

  RateLimiter& limiter() { return limiter_; }
  const ReplayBuffer& replay() const { return replay_; }
  Distiller& distiller() { return distiller_; }
  const Distiller& distiller() const { return distiller_; }
  const Options& options() const { return options_; }
  int64_t priority_updates() const { return priority_updates_; }  // training thread

 private:
  const Options options_;
  Distiller distiller_;
  ReplayBuffer replay_;
  RateLimiter limiter_;
  Rng sampler_rng_;
  ReplayBuffer::SampleBatch drawn_;
  int64_t priority_updates_ = 0;
  // Decision id -> replay key of the records the replay may still hold (the newest
  // replay_capacity inserts), with the inserts in order to forget evicted ones.
  mutable std::mutex keys_mu_;
  std::unordered_map<uint64_t, int64_t> keys_;         // guarded by keys_mu_
  std::deque<std::pair<int64_t, uint64_t>> key_order_; // guarded by keys_mu_: (key, id)
  int64_t replaced_ = 0;                                // guarded by keys_mu_
};

}  // namespace apprentice
