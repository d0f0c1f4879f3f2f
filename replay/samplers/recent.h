// RecentSampler: recent-first sampling. Each draw picks, with probability `fraction`, a record
// uniformly among the newest `window` inserts, and otherwise a record uniformly among all N
// stored. With W = min(window, N), a record of age a (0 = newest) is drawn with probability
//
//     P(a) = (1 - fraction) / N + (a < W ? fraction / W : 0).
//
// Why this shape and not a geometric decay: it keeps every stored record reachable (fraction < 1),
// its bias is one number that reads directly ("half the batch from the last 1000 labels"), both
// parts cost one rng.Below each, and fraction = 1 gives the plain sliding window. The bias is the
// point — the distiller sees more of the states the current executor visits (DAgger) — so it is
// not corrected: weights are 1. Probabilities are reported exactly, for a caller that wants to.
//
// Not thread-safe (see interface.h: the ReplayBuffer serialises calls). Keeps no per-slot state.
#pragma once

#include "core/options.h"
#include "replay/samplers/interface.h"

namespace apprentice {

class RecentSampler final : public Sampler {
 public:
  struct Options {
    int64_t window = 1000;  // the newest `window` inserts form the recent part
    double fraction = 0.5;  // share of draws from the recent part, in [0, 1]
    void Declare(OptionBinder& b) {
      b.Int("window", &window, "the newest inserts that form the recent part", 1, INT64_MAX);
      b.Double("fraction", &fraction, "share of draws from the recent part", 0, 1);
    }
    Status Validate() const;
  };

  // Throws InvalidArgument if `options` do not validate.
  RecentSampler(Options options, int64_t capacity);

  void OnInsert(int64_t /*slot*/, double /*priority*/) override {}
  void OnUpdate(int64_t /*slot*/, double /*priority*/) override {}
  void Sample(const Ring& ring, Rng& rng, std::span<int64_t> slots, std::span<double> probabilities,
              std::span<float> weights) override;

  std::string_view name() const override { return "recent"; }
  bool uses_priorities() const override { return false; }
  int64_t bytes() const override { return 0; }

 private:
  const Options options_;
  const int64_t capacity_;
};

}  // namespace apprentice
