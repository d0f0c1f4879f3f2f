// The environments this process knows, by name. Each environment declares its options next to its
// code (a nested Options struct, core/options.h) and registers itself with one line in its .cc:
//
//   APPRENTICE_REGISTER_ENV(CartPole, "cartpole", "Gymnasium's CartPole-v1");
//
// The class needs `struct Options { void Declare(OptionBinder&); Status Validate() const; }` and a
// constructor `explicit Class(const Options&)`. The command line builds its --env flag, the
// --env-opt key=value flag and one --<env>-<option> flag per declared option from this registry,
// and tests/conformance_test.cc runs the environment contract over every registered env.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/options.h"
#include "core/registry.h"
#include "core/status.h"
#include "env/env.h"

namespace apprentice {

using EnvRegistry = Registry<Env>;

// The process's registry of environments (thread-safe; see core/registry.h).
EnvRegistry& Envs();

// A fresh, not yet reset env called `name` with `options` applied to its declared defaults.
// NotFound naming the known environments for an unknown name; InvalidArgument for an unknown
// option or a bad value.
Result<std::unique_ptr<Env>> MakeEnv(const std::string& name, const OptionValues& options = {});

// The names MakeEnv() accepts, sorted.
std::vector<std::string> EnvNames();

}  // namespace apprentice

// Registers class `Class` as environment `name` (a string literal) with one line of `help`.
#define APPRENTICE_REGISTER_ENV(Class, name, help)                          \
  [[maybe_unused]] static const bool apprentice_registered_env_##Class = \
      ::apprentice::Envs().RegisterClass<Class>(name, help)
