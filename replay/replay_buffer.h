// ReplayBuffer: the labelled decisions the distiller learns from.
//
//   planner workers ── Insert ──▶ ring of records (FIFO eviction at capacity) ── Sample ──▶ distiller
//
// Thread-safe: Insert() and Sample() may be called concurrently from any threads; one mutex
// guards the ring and each call holds it only to copy pointers. Records are immutable once
// inserted and shared with samplers, so a sampled record stays valid after it is evicted.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "core/decision.h"
#include "core/rng.h"
#include "core/status.h"

namespace apprentice {

class ReplayBuffer {
 public:
  using RecordPtr = std::shared_ptr<const DecisionRecord>;

  struct Options {
    int64_t capacity = 100'000;  // records kept; the oldest is evicted first
    Status Validate() const;
  };

  // Throws InvalidArgument if `options` do not validate.
  explicit ReplayBuffer(Options options);

  // Adds a record, evicting the oldest when full. Any thread.
  void Insert(DecisionRecord record);
  void Insert(RecordPtr record);

  // Replaces `out` with `n` records drawn uniformly with replacement using `rng`. Returns false
  // and leaves `out` empty when the buffer is empty. Any thread (rng belongs to the caller).
  bool SampleUniform(int64_t n, Rng& rng, std::vector<RecordPtr>& out) const;

  int64_t size() const;
  int64_t capacity() const { return options_.capacity; }
  int64_t inserted() const;  // total inserts since construction
  int64_t evicted() const;   // inserts that pushed out an older record

 private:
  const Options options_;
  mutable std::mutex mu_;
  std::vector<RecordPtr> ring_;  // guarded by mu_; grows to capacity, then wraps
  int64_t next_ = 0;             // guarded by mu_; slot of the next insert once full
  int64_t inserted_ = 0;         // guarded by mu_
};

}  // namespace apprentice
