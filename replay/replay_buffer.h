// ReplayBuffer: the labelled decisions the distiller learns from.
//
//   planner workers ── Insert ──▶ ring of records, FIFO at capacity ── Sample ──▶ distiller
//                                 + sampler: uniform | prioritized | recent ◀── UpdatePriorities
//
// Thread-safe: every member may be called concurrently from any threads. One mutex guards the
// ring and the sampler; each call holds it only to move pointers and update the sampler's
// bookkeeping (the record is built, measured and, when evicted, destroyed outside the lock).
// Insert(RecordPtr) never allocates: the ring and the sampler's arrays are sized to capacity at
// construction. Records are immutable once inserted (Replace swaps in a new one) and shared with
// samplers, so a sampled record stays valid after it is evicted or replaced.
//
// Keys: each insert gets the next key (0, 1, 2, ...); Sample reports the keys of what it drew, and
// UpdatePriorities takes them back after a training step. A key whose record has been evicted
// since is skipped.
//
// To throttle sampling against inserts, pair the buffer with a RateLimiter (rate_limiter.h):
// Insert, then limiter.OnInsert(); limiter.WaitToSample(n), then Sample(n).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <vector>

#include "core/decision.h"
#include "core/rng.h"
#include "core/status.h"
#include "core/options.h"
#include "replay/samplers/interface.h"
#include "replay/samplers/prioritized.h"
#include "replay/samplers/recent.h"
#include "replay/samplers/registry.h"

namespace apprentice {

class ReplayBuffer {
 public:
  using RecordPtr = std::shared_ptr<const DecisionRecord>;

  struct Options {
    int64_t capacity = 100'000;  // records kept; the oldest is evicted first
    // What Sample draws with: a registered sampler (replay/samplers/registry.h: "uniform",
    // "prioritized", "recent") and its options.
    std::string sampler = "uniform";
    OptionValues sampler_options;
    // Priority of a record inserted without one (prioritized sampler only). Unset: the largest
    // priority seen so far (1 until a larger one is inserted or updated), so a new record is
    // likely drawn before its real priority is known. Set (e.g. to PlannerExecutorDisagreement):
    // called by Insert on the inserting thread, outside the lock; must be thread-safe and return a
    // finite value >= 0.
    std::function<double(const DecisionRecord&)> initial_priority{};
    Status Validate() const;  // checks every field, the sampler's name and options included
  };

  // What Sample drew: parallel vectors, one entry per draw (with replacement, so a record can
  // appear twice).
  struct SampleBatch {
    std::vector<RecordPtr> records;
    std::vector<int64_t> keys;          // for UpdatePriorities
    std::vector<double> probabilities;  // P(draw), under the buffer's sampler
    std::vector<float> weights;  // importance-sampling weights in (0, 1]; 1 unless prioritized
    size_t size() const { return records.size(); }
    bool empty() const { return records.empty(); }
  };

  // Throws InvalidArgument if `options` do not validate.
  explicit ReplayBuffer(Options options);

  // Adds a record, evicting the oldest when full, and returns its key. Any thread. Without a
  // priority, the record gets Options::initial_priority. A priority must be finite and >= 0
  // (InvalidArgument otherwise); samplers other than prioritized ignore it. Throws
  // InvalidArgument for a null record.
  int64_t Insert(DecisionRecord record);
  int64_t Insert(DecisionRecord record, double priority);
  int64_t Insert(RecordPtr record);
  int64_t Insert(RecordPtr record, double priority);

  // Puts `record` in the place of the record stored under `key` (a corrected version of it: a
  // late ground-truth label), keeping its key and priority; false, and nothing changes, when
  // that record has been evicted. Not an insert: inserted() and the rate limit are unchanged.
  // Any thread. Throws InvalidArgument for a null record.
  bool Replace(int64_t key, RecordPtr record);
  // The record stored under `key`; null when it has been evicted. Any thread.
  RecordPtr At(int64_t key) const;

  // Replaces `out` with `n` >= 0 draws from the buffer's sampler using `rng`. Returns false and
  // leaves `out` empty when the buffer is empty. Any thread (rng belongs to the caller). Reuses
  // `out`'s capacity: no allocation once it has held n draws.
  bool Sample(int64_t n, Rng& rng, SampleBatch& out) const;

  // Replaces `out` with `n` records drawn uniformly with replacement, whatever the sampler. Returns
  // false and leaves `out` empty when the buffer is empty. Any thread.
  bool SampleUniform(int64_t n, Rng& rng, std::vector<RecordPtr>& out) const;

  // Sets the priorities of the records with `keys` (same length; each finite and >= 0, else
  // InvalidArgument and nothing changes). Keys of evicted records are skipped; a key given twice
  // keeps its last priority. Returns how many keys were still stored. Raises the "largest priority
  // seen" used as the default initial priority. A no-op apart from that count for samplers that do
  // not use priorities. Any thread.
  int64_t UpdatePriorities(std::span<const int64_t> keys, std::span<const double> priorities);

  // The importance-sampling exponent used by Sample (starts at options.prioritized.beta; anneal it
  // towards 1 over training). Must be in [0, 1]. Any thread.
  void SetBeta(double beta);
  double beta() const;

  int64_t size() const;
  int64_t capacity() const { return options_.capacity; }
  const std::string& sampler_name() const { return options_.sampler; }
  bool uses_priorities() const { return prioritized_; }
  int64_t inserted() const;  // total inserts since construction (= the next key)
  int64_t evicted() const;   // inserts that pushed out an older record

  // Memory. A stored record costs RecordBytes(record) (its struct inside make_shared's block and
  // the capacity of its vectors) plus slot_bytes() (its ring slot and its share of the sampler's
  // arrays, allocated for every slot up front). Allocator headers are not counted.
  static int64_t RecordBytes(const DecisionRecord& record);
  int64_t slot_bytes() const;
  // Mean bytes of a stored record: mean RecordBytes over what is stored + slot_bytes();
  // slot_bytes() when empty.
  int64_t bytes_per_record() const;
  // The whole buffer: the stored records' bytes + capacity * slot_bytes() + the object itself.
  int64_t approximate_bytes() const;

 private:
  struct Slot {
    RecordPtr record;
    int64_t key = -1;   // -1: never filled
    int64_t bytes = 0;  // RecordBytes(*record)
  };

  int64_t InsertImpl(RecordPtr record, double priority, bool has_priority);
  static void CheckPriority(double priority);

  const Options options_;
  const std::unique_ptr<Sampler> sampler_;  // calls guarded by mu_
  const bool prioritized_;                  // sampler_->uses_priorities()
  const int64_t sampler_bytes_;             // sampler_->bytes(), fixed at construction
  mutable std::mutex mu_;
  std::vector<Slot> slots_;    // guarded by mu_; capacity slots, filled from 0, then wrapping
  int64_t next_slot_ = 0;      // guarded by mu_; where the next insert goes
  int64_t inserted_ = 0;       // guarded by mu_
  int64_t stored_bytes_ = 0;   // guarded by mu_; sum of slots_[*].bytes
  double max_priority_ = 1.0;  // guarded by mu_; largest priority inserted or updated
  double beta_;                // guarded by mu_
};

// Options for a buffer of `capacity` records drawn by `sampler` with `sampler_options`; a sampler
// that uses priorities starts every record at its executor-planner disagreement
// (PlannerExecutorDisagreement).
ReplayBuffer::Options ReplayOptionsFor(int64_t capacity, const std::string& sampler,
                                       const OptionValues& sampler_options = {});

}  // namespace apprentice
