#include "env/registry.h"

namespace apprentice {

EnvRegistry& Envs() {
  static EnvRegistry* registry = new EnvRegistry("environment");  // never destroyed
  return *registry;
}

Result<std::unique_ptr<Env>> MakeEnv(const std::string& name, const OptionValues& options) {
  return Envs().Make(name, options);
}

std::vector<std::string> EnvNames() { return Envs().Names(); }

}  // namespace apprentice
