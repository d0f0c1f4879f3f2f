#include "replay/samplers/interface.h"

#include <string>

namespace apprentice {

std::string_view SamplerKindName(SamplerKind kind) {
  switch (kind) {
    case SamplerKind::kUniform:
      return "uniform";
    case SamplerKind::kPrioritized:
      return "prioritized";
    case SamplerKind::kRecent:
      return "recent";
  }
  return "unknown";
}

Result<SamplerKind> ParseSamplerKind(std::string_view name) {
  for (SamplerKind kind :
       {SamplerKind::kUniform, SamplerKind::kPrioritized, SamplerKind::kRecent}) {
    if (name == SamplerKindName(kind)) return kind;
  }
  return Status::InvalidArgument("unknown replay sampler '" + std::string(name) +
                                 "' (expected uniform, prioritized or recent)");
}

}  // namespace apprentice
