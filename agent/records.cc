#include "agent/records.h"

#include <algorithm>
#include <cmath>
#include <span>
#include <utility>

namespace apprentice {

void ApplyExecutorDecision(const ExecutorDecision& decision, HeadKind head, int64_t latency_ns,
                           DecisionRecord& record) {
  record.executor_action = decision.action;
  record.executor_version = decision.version;
  record.executor_latency_ns = latency_ns;
  PolicyOutput& out = record.executor;
  if (head == HeadKind::kCategorical) {
    out.kind = PolicyKind::kCategorical;
    out.logits.assign(decision.output.begin(), decision.output.end());
    out.mean.clear();
    out.log_std.clear();
  } else {
    const size_t d = decision.output.size() / 2;
    out.kind = PolicyKind::kGaussian;
    out.logits.clear();
    out.mean.assign(decision.output.begin(), decision.output.begin() + static_cast<ptrdiff_t>(d));
    out.log_std.assign(decision.output.begin() + static_cast<ptrdiff_t>(d), decision.output.end());
  }
}

void ApplyPlanDecision(PlanDecision&& decision, DecisionRecord& record) {
  record.has_label = true;
  record.planner = std::move(decision.distribution);
  record.planner_action = decision.action;
  record.planner_value = static_cast<float>(decision.value);
  record.planner_latency_ns = decision.latency_ns;
  record.teacher_features = std::move(decision.features);
}

void ApplyOutcome(const Outcome& outcome, DecisionRecord& record) {
  record.reward = static_cast<float>(outcome.reward);
  record.terminated = outcome.terminated;
  record.truncated = outcome.truncated;
  record.has_truth = outcome.has_truth;
  record.truth = outcome.has_truth ? outcome.truth : Action();
}

void ApplyBehaviour(const Action& taken, Actor acted_by, bool executor_sampled,
                    double mixture_beta, const Action* planner_action, DecisionRecord& record) {
  record.behaviour = Behaviour::kUnknown;
  record.behaviour_log_prob = 0.0f;
  const PolicyOutput& out = record.executor;
  const bool mixture = mixture_beta > 0.0;
  if (!mixture && (acted_by == Actor::kPlanner || !executor_sampled)) {
    record.behaviour = Behaviour::kDeterministic;
    return;
  }
  if (out.kind == PolicyKind::kCategorical) {
    if (out.logits.empty() || !taken.is_discrete()) return;
    const int64_t a = taken.index();
    if (a < 0 || a >= static_cast<int64_t>(out.logits.size())) return;
    double p_executor = executor_sampled ? SampledProbability(out.logits, a)
                                         : (record.executor_action == taken ? 1.0 : 0.0);
    double p = p_executor;
    if (mixture) {
      if (planner_action == nullptr) return;
      p = mixture_beta * (*planner_action == taken ? 1.0 : 0.0) + (1.0 - mixture_beta) * p_executor;
    }
    if (!(p > 0.0)) return;
    record.behaviour = Behaviour::kStochastic;
    record.behaviour_log_prob = static_cast<float>(std::log(p));
    return;
  }
  // Gaussian: the density of the executor's draw; under a mixture, of its share (1 − β) — the
  // planner's action is a point mass, which no density describes.
  if (acted_by == Actor::kPlanner || !executor_sampled || taken.is_discrete()) return;
  const auto values = taken.values();
  if (values.size() != out.mean.size() || out.mean.size() != out.log_std.size()) return;
  double log_density = GaussianLogDensity(values, out.mean, out.log_std);
  if (mixture) log_density += std::log1p(-std::min(mixture_beta, 1.0));
  if (!std::isfinite(log_density)) return;
  record.behaviour = Behaviour::kStochastic;
  record.behaviour_log_prob = static_cast<float>(log_density);
}

bool PushAgreement(const Space& action_space, const DecisionRecord& record,
                   AgreementWindow& window) {
  if (!record.has_label) return false;
  const bool agree = ActionsAgree(action_space, record.executor_action, record.planner_action);
  window.Push(agree, PolicyKl(record.planner, record.executor));
  return agree;
}

}  // namespace apprentice
