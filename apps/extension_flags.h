// Flags built from what extensions declare (core/registry.h): for one kind of extension (envs,
// planners, replay samplers), a repeatable --<kind>-opt key=value flag and one flag per declared
// option of every registered extension, --<extension>-<option> with '_' written '-'
// (--mcts-simulations, --pendulum-g, --prioritized-alpha). A flag's value is checked against its
// declaration when it is parsed; ValuesFor() gathers the values of the selected extension and
// refuses a flag that belongs to another one.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/flags.h"
#include "core/options.h"
#include "core/status.h"

namespace apprentice {

class ExtensionFlags {
 public:
  struct Extension {
    std::string name;
    std::string help;
    std::vector<OptionSpec> options;
  };

  // Declares the flags in `flags` (under a section "<title>") for `extensions`. `kind` names the
  // extensions in messages ("planner"); `opt_flag` is the --<kind>-opt flag's name.
  ExtensionFlags(FlagSet& flags, std::string title, std::string kind, std::string opt_flag,
                 std::vector<Extension> extensions);

  // The option values given for extension `selected`: --<kind>-opt entries, then its own
  // --<extension>-<option> flags. `selected` may join several extensions with commas (a planner
  // ensemble, "mcts,lqr"): each one's flags then give "<extension>.<option>" keys.
  // InvalidArgument for a malformed --<kind>-opt entry or a flag of an extension not selected.
  // (Unknown keys are left for the registry to refuse.)
  Result<OptionValues> ValuesFor(const std::string& selected) const;

 private:
  struct Bound {
    std::string extension, option, flag;
    std::unique_ptr<std::string> value;
  };
  const FlagSet& flags_;
  std::string kind_, opt_flag_;
  std::vector<std::string> opt_values_;
  std::vector<Bound> bound_;
};

// The extensions of a registry, for ExtensionFlags.
template <class Registry>
std::vector<ExtensionFlags::Extension> ExtensionsOf(const Registry& registry) {
  std::vector<ExtensionFlags::Extension> out;
  for (const auto* entry : registry.Entries()) out.push_back({entry->name, entry->help, entry->options});
  return out;
}

}  // namespace apprentice
