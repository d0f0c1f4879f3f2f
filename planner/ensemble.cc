#include "planner/ensemble.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>

#include "core/clock.h"
#include "core/seeds.h"
#include "core/status.h"

namespace apprentice {

EnsemblePlanner::EnsemblePlanner(std::vector<Member> members) : members_(std::move(members)) {
  Require(members_.size() >= 2, "an ensemble needs at least two planners");
  double total = 0.0;
  for (const Member& m : members_) {
    Require(m.planner != nullptr, "an ensemble member is null");
    Require(std::isfinite(m.weight) && m.weight > 0.0,
            "ensemble weights must be finite and > 0 (" + m.planner->name() + ")");
    total += m.weight;
  }
  for (Member& m : members_) m.weight /= total;
}

std::string EnsemblePlanner::name() const {
  std::string out = "ensemble(";
  for (size_t i = 0; i < members_.size(); ++i) {
    char weight[32];
    std::snprintf(weight, sizeof weight, "%.3g", members_[i].weight);
    out += (i ? "," : "") + members_[i].planner->name() + ":" + weight;
  }
  return out + ")";
}

bool EnsemblePlanner::needs_env() const {
  for (const Member& m : members_) {
    if (m.planner->needs_env()) return true;
  }
  return false;
}

Status EnsemblePlanner::Supports(const Space& action_space) const {
  for (const Member& m : members_) {
    if (Status s = m.planner->Supports(action_space); !s.ok()) {
      return Status(s.code(), "ensemble member " + m.planner->name() + ": " + s.message());
    }
  }
  return Status::Ok();
}

Status EnsemblePlanner::CanTeach(const Env& env) const {
  for (const Member& m : members_) {
    if (Status s = m.planner->CanTeach(env); !s.ok()) {
      return Status(s.code(), "ensemble member " + m.planner->name() + ": " + s.message());
    }
  }
  return Status::Ok();
}

Status EnsemblePlanner::CanTeachSpaces(const Space& observation_space,
                                       const Space& action_space) const {
  for (const Member& m : members_) {
    if (Status s = m.planner->CanTeachSpaces(observation_space, action_space); !s.ok()) {
      return Status(s.code(), "ensemble member " + m.planner->name() + ": " + s.message());
    }
  }
  return Status::Ok();
}

Result<PlanDecision> EnsemblePlanner::Combine(const std::vector<PlanDecision>& decisions,
                                              const std::vector<double>& weights) {
  if (decisions.empty() || decisions.size() != weights.size()) {
    return Status::InvalidArgument("an ensemble combines one decision per weight");
  }
  const PolicyOutput& first = decisions[0].distribution;
  for (const PlanDecision& d : decisions) {
    const PolicyOutput& p = d.distribution;
    if (p.kind != first.kind || p.logits.size() != first.logits.size() ||
        p.mean.size() != first.mean.size() || p.log_std.size() != p.mean.size()) {
      return Status::InvalidArgument(
          "the ensemble's members answered with distributions of different kinds or sizes");
    }
  }
  PlanDecision out;
  for (size_t i = 0; i < decisions.size(); ++i) out.value += weights[i] * decisions[i].value;
  if (first.kind == PolicyKind::kCategorical) {
    std::vector<double> mixed(first.logits.size(), 0.0);
    for (size_t i = 0; i < decisions.size(); ++i) {
      const std::vector<float> p = decisions[i].distribution.Probabilities();
      for (size_t a = 0; a < p.size(); ++a) mixed[a] += weights[i] * p[a];
    }
    std::vector<float> probs(mixed.begin(), mixed.end());
    out.distribution = PolicyOutput::FromProbabilities(probs);
    out.action = out.distribution.Mode();
    return out;
  }
  const size_t d = first.mean.size();
  std::vector<float> mean(d), log_std(d);
  for (size_t k = 0; k < d; ++k) {
    double m = 0.0, second = 0.0;
    for (size_t i = 0; i < decisions.size(); ++i) {
      const double mu = decisions[i].distribution.mean[k];
      const double sd = std::exp(static_cast<double>(decisions[i].distribution.log_std[k]));
      m += weights[i] * mu;
      second += weights[i] * (sd * sd + mu * mu);
    }
    // Floating-point cancellation can leave a tiny negative variance for equal members.
    const double variance = std::max(second - m * m, 0.0);
    mean[k] = static_cast<float>(m);
    log_std[k] = static_cast<float>(0.5 * std::log(std::max(variance, 1e-30)));
  }
  out.distribution = PolicyOutput::Gaussian(mean, log_std);
  // The weighted mean of the members' actions: inside the action box, as each of them is.
  std::vector<float> action(d, 0.0f);
  for (size_t i = 0; i < decisions.size(); ++i) {
    const std::span<const float> a = decisions[i].action.values();
    if (a.size() != d) {
      return Status::InvalidArgument("an ensemble member's action does not fit its distribution");
    }
    for (size_t k = 0; k < d; ++k) action[k] += static_cast<float>(weights[i] * a[k]);
  }
  out.action = Action::Continuous(action);
  return out;
}

Result<PlanDecision> EnsemblePlanner::Plan(const PlanRequest& request) {
  const int64_t start = NowNs();
  std::vector<PlanDecision> decisions;
  std::vector<double> weights;
  decisions.reserve(members_.size());
  for (size_t k = 0; k < members_.size(); ++k) {
    PlanRequest member_request = request;
    member_request.seed = MixSeed(request.seed, k);
    Result<PlanDecision> d = members_[k].planner->Plan(member_request);
    if (!d.ok()) {
      return Status(d.status().code(),
                    "ensemble member " + members_[k].planner->name() + ": " + d.status().message());
    }
    decisions.push_back(std::move(d).value());
    weights.push_back(members_[k].weight);
  }
  Result<PlanDecision> out = Combine(decisions, weights);
  if (out.ok()) out->latency_ns = NowNs() - start;
  return out;
}

}  // namespace apprentice
