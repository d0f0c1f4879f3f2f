#include "replay/samplers/recent.h"

#include <algorithm>
#include <string>

#include "replay/samplers/registry.h"

namespace apprentice {

Status RecentSampler::Options::Validate() const {
  if (window < 1) {
    return Status::InvalidArgument("recent sampler window must be >= 1, got " +
                                   std::to_string(window));
  }
  if (!(fraction >= 0.0 && fraction <= 1.0)) {
    return Status::InvalidArgument("recent sampler fraction must be in [0, 1], got " +
                                   std::to_string(fraction));
  }
  return Status::Ok();
}

RecentSampler::RecentSampler(Options options, int64_t capacity)
    : options_(options), capacity_(capacity) {
  RequireOk(options_.Validate());
  Require(capacity_ >= 1, "recent sampler capacity must be >= 1");
}

void RecentSampler::Sample(const Ring& ring, Rng& rng, std::span<int64_t> slots,
                           std::span<double> probabilities, std::span<float> weights) {
  const int64_t n = ring.size;
  const int64_t w = std::min(options_.window, n);
  const double p_old = (1.0 - options_.fraction) / static_cast<double>(n);
  const double p_recent = p_old + options_.fraction / static_cast<double>(w);
  // Ring order: while filling, slot = age-from-oldest; once full, slots wrap. Either way the
  // record of age a (0 = newest) sits at newest_slot - a, wrapped into [0, capacity).
  for (size_t i = 0; i < slots.size(); ++i) {
    int64_t age;
    const bool recent =
        options_.fraction >= 1.0 || (options_.fraction > 0.0 && rng.Uniform() < options_.fraction);
    if (recent) {
      age = static_cast<int64_t>(rng.Below(static_cast<uint64_t>(w)));
    } else {
      age = static_cast<int64_t>(rng.Below(static_cast<uint64_t>(n)));
    }
    int64_t slot = ring.newest_slot - age;
    if (slot < 0) slot += capacity_;
    slots[i] = slot;
    probabilities[i] = age < w ? p_recent : p_old;
    weights[i] = 1.0f;
  }
}

APPRENTICE_REGISTER_SAMPLER(RecentSampler, "recent",
                            "a share of the draws from the newest labels, the rest uniform");

}  // namespace apprentice
