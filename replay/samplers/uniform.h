// UniformSampler: every stored record is equally likely, P(i) = 1/N, weight 1.
//
// Not thread-safe (see interface.h: the ReplayBuffer serialises calls). Keeps no state, so it
// costs no memory per slot. Draws one rng.Below(N) per record, the same stream as
// ReplayBuffer::SampleUniform, so a seed gives the same batches through either.
#pragma once

#include "core/options.h"
#include "replay/samplers/interface.h"

namespace apprentice {

class UniformSampler final : public Sampler {
 public:
  struct Options {  // none
    void Declare(OptionBinder&) {}
    Status Validate() const { return Status::Ok(); }
  };
  UniformSampler() = default;
  UniformSampler(const Options&, int64_t /*capacity*/) {}

  void OnInsert(int64_t /*slot*/, double /*priority*/) override {}
  void OnUpdate(int64_t /*slot*/, double /*priority*/) override {}
  void Sample(const Ring& ring, Rng& rng, std::span<int64_t> slots, std::span<double> probabilities,
              std::span<float> weights) override;

  std::string_view name() const override { return "uniform"; }
  bool uses_priorities() const override { return false; }
  int64_t bytes() const override { return 0; }
};

}  // namespace apprentice
