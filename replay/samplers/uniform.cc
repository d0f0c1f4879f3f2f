#include "replay/samplers/uniform.h"

#include "replay/samplers/registry.h"

namespace apprentice {

void UniformSampler::Sample(const Ring& ring, Rng& rng, std::span<int64_t> slots,
                            std::span<double> probabilities, std::span<float> weights) {
  const double p = 1.0 / static_cast<double>(ring.size);
  for (size_t i = 0; i < slots.size(); ++i) {
    slots[i] = static_cast<int64_t>(rng.Below(static_cast<uint64_t>(ring.size)));
    probabilities[i] = p;
    weights[i] = 1.0f;
  }
}

APPRENTICE_REGISTER_SAMPLER(UniformSampler, "uniform", "every stored label equally likely");

}  // namespace apprentice
