#include "env/registry.h"

#include <utility>

#include "env/cartpole.h"
#include "env/pendulum.h"

namespace apprentice {

Result<std::unique_ptr<Env>> MakeEnv(const std::string& name) {
  std::unique_ptr<Env> env;
  if (name == "cartpole") {
    env = std::make_unique<CartPole>();
  } else if (name == "pendulum") {
    env = std::make_unique<Pendulum>();
  } else {
    std::string known;
    for (const std::string& n : EnvNames()) known += (known.empty() ? "" : ", ") + n;
    return Status::NotFound("unknown environment '" + name + "' (known: " + known + ")");
  }
  return Result<std::unique_ptr<Env>>(std::move(env));
}

std::vector<std::string> EnvNames() { return {"cartpole", "pendulum"}; }

}  // namespace apprentice
