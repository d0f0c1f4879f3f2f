#include "replay/samplers/registry.h"

namespace apprentice {

SamplerRegistry& Samplers() {
  static SamplerRegistry* registry = new SamplerRegistry("replay sampler");  // never destroyed
  return *registry;
}

std::vector<std::string> SamplerNames() { return Samplers().Names(); }

}  // namespace apprentice
