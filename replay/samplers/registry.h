// The replay samplers this process knows, by name. Each sampler declares its options next to its
// code (a nested Options struct, core/options.h) and registers itself with one line in its .cc:
//
//   APPRENTICE_REGISTER_SAMPLER(RecentSampler, "recent", "half the draws from the newest labels");
//
// The class needs `struct Options { void Declare(OptionBinder&); Status Validate() const; }` and a
// constructor `Class(const Options&, int64_t capacity)`. The command line builds
// --replay-sampler, --replay-opt key=value and one --<sampler>-<option> flag per declared option
// from this registry.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/options.h"
#include "core/registry.h"
#include "replay/samplers/interface.h"

namespace apprentice {

// Samplers are made for a buffer of `capacity` slots.
using SamplerRegistry = Registry<Sampler, int64_t>;

// The process's registry of samplers (thread-safe; see core/registry.h).
SamplerRegistry& Samplers();

// The names the registry accepts, sorted.
std::vector<std::string> SamplerNames();

}  // namespace apprentice

// Registers class `Class` as replay sampler `name` (a string literal) with one line of `help`.
#define APPRENTICE_REGISTER_SAMPLER(Class, name, help)                          \
  [[maybe_unused]] static const bool apprentice_registered_sampler_##Class = \
      ::apprentice::Samplers().RegisterClass<Class>(name, help)
