// RateLimiter: keeps the distiller's sampling in step with the planners' inserts (Reverb's
// SampleToInsertRatio, one-sided).
//
//   planner workers ── Insert, OnInsert ──▶ counts ◀── WaitToSample(n), Sample(n) ── distiller
//
// Only sampling is throttled; inserts are never blocked. The producers are real time — a planner
// labels the states a live control loop visits and cannot wait for the learner — so OnInsert only
// counts and wakes waiting samplers. If the learner falls behind, the ratio just runs below target.
//
// Sampling n records is allowed when
//
//     inserts >= min_size_to_sample   and
//     samples + n <= (inserts - min_size_to_sample) * samples_per_insert + tolerance
//
// (samples_per_insert = 0 turns the ratio off and leaves only the minimum size). As in Reverb, the
// ratio counts inserts past the minimum size, so reaching it does not release a burst of
// min_size * samples_per_insert samples at once; `tolerance` (in samples) is the slack either way,
// and must cover a batch for sampling to start right at min size. The buffer never shrinks (FIFO
// eviction replaces), so "inserts >= min size" is "size >= min size" while min size <= capacity.
//
// Thread-safe: every member may be called from any thread. WaitToSample blocks the caller; a
// timeout is a value (DeadlineExceeded), not an error, and Cancel() wakes every waiter at shutdown
// (Unavailable from then on).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>

#include "core/status.h"

namespace apprentice {

class RateLimiter {
 public:
  struct Options {
    int64_t min_size_to_sample = 1;  // inserts before the first sample, >= 1
    double samples_per_insert = 0;   // target samples per insert past min size; 0 = no ratio
    double tolerance = 0;            // samples allowed beyond the target, >= 0
    Status Validate() const;
  };

  // Throws InvalidArgument if `options` do not validate.
  explicit RateLimiter(Options options);

  // Counts `n` >= 0 inserts (call after ReplayBuffer::Insert) and wakes waiting samplers. Never
  // blocks beyond the short internal lock.
  void OnInsert(int64_t n = 1);

  // Whether `n` >= 0 samples could be taken now. A snapshot: with several sampling threads use
  // TrySample or WaitToSample, which check and count in one step.
  bool CanSample(int64_t n) const;
  // If `n` samples can be taken now, counts them and returns true; otherwise returns false.
  bool TrySample(int64_t n);
  // Counts `n` >= 0 samples taken without asking (never blocks, may exceed the ratio).
  void OnSample(int64_t n);

  // Blocks until `n` samples can be taken, then counts them (no OnSample needed) and returns Ok.
  // DeadlineExceeded if `timeout` passes first (a timeout <= 0 polls once); Unavailable once
  // Cancel() has been called, at once or while waiting. Nothing is counted unless Ok.
  Status WaitToSample(int64_t n, std::chrono::nanoseconds timeout);

  // Wakes every waiter and makes WaitToSample return Unavailable from now on (shutdown). Sticky.
  void Cancel();
  bool cancelled() const;

  int64_t inserts() const;
  int64_t samples() const;
  int64_t waiters() const;  // threads blocked in WaitToSample now
  const Options& options() const { return options_; }

 private:
  bool CanSampleLocked(int64_t n) const;  // requires mu_

  const Options options_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  int64_t inserts_ = 0;     // guarded by mu_
  int64_t samples_ = 0;     // guarded by mu_
  int64_t waiters_ = 0;     // guarded by mu_; threads inside WaitToSample
  bool cancelled_ = false;  // guarded by mu_
};

}  // namespace apprentice
