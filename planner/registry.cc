#include "planner/registry.h"

#include <cmath>

#include "planner/delayed.h"
#include "planner/ensemble.h"

namespace apprentice {

PlannerRegistry& Planners() {
  static PlannerRegistry* registry = new PlannerRegistry("planner");  // never destroyed
  return *registry;
}

std::vector<std::string> PlannerNames() { return Planners().Names(); }

std::vector<std::string> PlannerMembers(const std::string& name) { return SplitCommas(name); }

namespace {

// An ensemble's options split by member (the prefix "<member>." removed), and its weights.
struct EnsembleOptions {
  std::vector<std::string> members;
  std::vector<OptionValues> options;
  std::vector<double> weights;
};

Result<EnsembleOptions> SplitEnsembleOptions(const std::string& name, const OptionValues& values) {
  EnsembleOptions e;
  e.members = PlannerMembers(name);
  for (const std::string& m : e.members) {
    if (m.empty()) return Status::InvalidArgument("planner '" + name + "': an empty member name");
    if (Status s = Planners().Resolve(m, {}).status(); !s.ok()) return s;
  }
  e.options.resize(e.members.size());
  e.weights.assign(e.members.size(), 1.0);
  for (const auto& [key, value] : values.items()) {
    if (key == "weights") {
      std::vector<double> weights;
      for (const std::string& field : SplitCommas(value)) {
        Result<double> w = ParseDouble(field, 1e-9, 1e9, "planner " + name + ": weights");
        if (!w.ok()) return w.status();
        weights.push_back(*w);
      }
      if (weights.size() != e.members.size()) {
        return Status::InvalidArgument("planner " + name + ": " + std::to_string(weights.size()) +
                                       " weights for " + std::to_string(e.members.size()) +
                                       " planners");
      }
      e.weights = std::move(weights);
      continue;
    }
    const size_t dot = key.find('.');
    bool placed = false;
    for (size_t i = 0; dot != std::string::npos && i < e.members.size(); ++i) {
      if (key.compare(0, dot, e.members[i]) == 0 && dot == e.members[i].size()) {
        e.options[i].Set(key.substr(dot + 1), value);
        placed = true;  // a member named twice gets its options twice
      }
    }
    if (!placed) {
      return Status::InvalidArgument("planner " + name + ": option '" + key +
                                     "' names no member (write <member>.<option>, or weights)");
    }
  }
  return e;
}

}  // namespace

Result<OptionValues> ResolvePlannerOptions(const std::string& name, const OptionValues& options) {
  if (name.find(',') == std::string::npos) return Planners().Resolve(name, options);
  Result<EnsembleOptions> e = SplitEnsembleOptions(name, options);
  if (!e.ok()) return e.status();
  OptionValues out;
  std::string weights;
  for (size_t i = 0; i < e->members.size(); ++i) {
    Result<OptionValues> resolved = Planners().Resolve(e->members[i], e->options[i]);
    if (!resolved.ok()) return resolved.status();
    for (const auto& [key, value] : resolved->items()) out.Set(e->members[i] + "." + key, value);
    weights += (i ? "," : "") + FormatNumber(e->weights[i]);
  }
  out.Set("weights", weights);
  return out;
}

Result<std::unique_ptr<Planner>> MakePlanner(const std::string& name, const OptionValues& options,
                                             double delay_ms) {
  if (!(std::isfinite(delay_ms) && delay_ms >= 0.0 && delay_ms <= 3.6e6)) {
    return Status::InvalidArgument("the planner delay must be in [0, 3600000] ms");
  }
  auto make = [&]() -> Result<std::unique_ptr<Planner>> {
    if (name.find(',') == std::string::npos) return Planners().Make(name, options);
    Result<EnsembleOptions> e = SplitEnsembleOptions(name, options);
    if (!e.ok()) return e.status();
    std::vector<EnsemblePlanner::Member> members;
    for (size_t i = 0; i < e->members.size(); ++i) {
      Result<std::unique_ptr<Planner>> member = Planners().Make(e->members[i], e->options[i]);
      if (!member.ok()) return member.status();
      members.push_back({std::move(member).value(), e->weights[i]});
    }
    return std::unique_ptr<Planner>(std::make_unique<EnsemblePlanner>(std::move(members)));
  };
  Result<std::unique_ptr<Planner>> planner = make();
  if (!planner.ok() || delay_ms == 0.0) return planner;
  return std::unique_ptr<Planner>(std::make_unique<DelayedPlanner>(
      std::move(planner).value(), static_cast<int64_t>(delay_ms * 1e6)));
}

}  // namespace apprentice
