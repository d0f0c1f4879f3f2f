// Sampler: chooses which records of the replay ring a batch draws (Reverb's selectors). One
// interface, three strategies: uniform.h, prioritized.h, recent.h. Each declares its options and
// registers itself by name (samplers/registry.h); the ReplayBuffer builds one by name.
//
// Not thread-safe, by contract: the ReplayBuffer calls every member under its own mutex, so
// implementations need no locking of their own. Members run on the hot path of Insert and Sample
// with that lock held: they must not block and must not allocate after construction.
//
// Slots: the buffer keeps its records in a ring of `capacity` slots, filled from slot 0 in insert
// order; once the ring is full an insert overwrites the oldest slot (FIFO eviction). So while the
// ring fills, slots [0, size) hold records, and the newest record is always in `newest_slot`. A
// sampler hears of every insert (OnInsert, which also stands for the eviction of the slot's
// previous record) and of every priority change (OnUpdate), and draws slots from what it knows.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "core/rng.h"
#include "core/status.h"

namespace apprentice {

class Sampler {
 public:
  // What the buffer holds when a batch is drawn.
  struct Ring {
    int64_t size = 0;         // records stored, >= 1 when Sample is called
    int64_t newest_slot = 0;  // slot of the most recent insert
    double beta = 0;          // importance-sampling exponent (used by samplers that weight)
  };

  virtual ~Sampler() = default;

  // A new record now sits in `slot` (replacing the evicted one, if any). `priority` is its
  // priority, finite and >= 0; samplers that do not prioritise ignore it.
  virtual void OnInsert(int64_t slot, double priority) = 0;
  // The record in `slot` has a new priority (finite, >= 0).
  virtual void OnUpdate(int64_t slot, double priority) = 0;

  // Draws slots.size() slots with replacement. For draw i writes the slot, the probability with
  // which that slot was drawn, and its importance-sampling weight in (0, 1] (1 for samplers whose
  // bias is intended and left uncorrected). All three spans have the same size.
  virtual void Sample(const Ring& ring, Rng& rng, std::span<int64_t> slots,
                      std::span<double> probabilities, std::span<float> weights) = 0;

  // The name it is registered under ("uniform", "prioritized", "recent").
  virtual std::string_view name() const = 0;
  // The importance-sampling exponent a buffer starts with (samplers that weight; 1 otherwise).
  virtual double initial_beta() const { return 1.0; }
  // Whether priorities change what Sample draws (the buffer skips computing them otherwise).
  virtual bool uses_priorities() const = 0;
  // Heap bytes of the sampler's bookkeeping, all allocated at construction.
  virtual int64_t bytes() const = 0;
};

}  // namespace apprentice
