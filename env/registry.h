// Registry: builds environments by name.
//
// - MakeEnv(name): a fresh, not yet reset env, or NotFound naming the known environments.
// - EnvNames(): the known names, sorted.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "env/env.h"

namespace apprentice {

// "cartpole" -> CartPole, "pendulum" -> Pendulum; anything else gives
// NotFound("unknown environment 'X' (known: cartpole, pendulum)").
Result<std::unique_ptr<Env>> MakeEnv(const std::string& name);

// The names MakeEnv() accepts, sorted.
std::vector<std::string> EnvNames();

}  // namespace apprentice
