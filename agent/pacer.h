// Pacer: the clock of a fixed-rate control loop around an Agent.
//
//   ... step ... │ sleep ─────────────────────▶│ spin ──▶│ warm │ spin ─▶│ tick: act(), step ...
//                 (woken by the OS, late)      tick − early    tick − lead
//
// Wait() sleeps to `wake_early_us` before the next tick (the OS wakes a sleeping thread tens of
// microseconds late, and a core that slept wakes slowly), spins, calls `warm` (Agent::Warm: runs
// the executor once and prefetches what Act() writes) `warm_lead_ns` before the tick, and spins
// to the tick. After a sleep, other threads have run on the core and evicted the executor's
// weights; warmed just before the tick, act() runs from cache (bench/act_bench: p50 ≈ 0.4 µs
// instead of ≈ 1.5 µs at 1 kHz with the distiller training on the other core). Warming earlier
// helps less: on a 2-core machine the trainer evicts it again within tens of microseconds.
// Spinning costs wake_early_us of CPU per period (5 % of a core at 1 kHz); wake_early_us = 0 sleeps
// to the tick and does not warm.
//
// A request to stop ends the sleep at once. One thread (the loop's) uses a Pacer.
#pragma once

#include <cstdint>
#include <functional>

#include "core/status.h"
#include "core/stop_flag.h"

namespace apprentice {

class Pacer {
 public:
  struct Options {
    double rate_hz = 1000;
    int64_t wake_early_us = 50;
    int64_t warm_lead_ns = 3'000;
    Status Validate() const;
  };

  // The first tick is now. Throws InvalidArgument for invalid options.
  explicit Pacer(Options options);

  // Waits for the next tick as above; false if `stop` (when given) was requested meanwhile.
  // `warm` may be empty.
  bool Wait(const std::function<void()>& warm, StopFlag* stop);
  // After the step: the tick after it, skipping ahead (and counting an overrun) when the step
  // ran past it.
  void EndStep();

  int64_t overruns() const { return overruns_; }
  int64_t period_ns() const { return period_ns_; }

 private:
  const Options options_;
  const int64_t period_ns_;
  const int64_t early_ns_;  // at most half a period
  int64_t next_tick_;
  int64_t overruns_ = 0;
};

}  // namespace apprentice
