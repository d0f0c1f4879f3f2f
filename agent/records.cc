#include "agent/records.h"

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
}

void ApplyOutcome(const Outcome& outcome, DecisionRecord& record) {
  record.reward = static_cast<float>(outcome.reward);
  record.terminated = outcome.terminated;
  record.truncated = outcome.truncated;
  record.has_truth = outcome.has_truth;
  record.truth = outcome.has_truth ? outcome.truth : Action();
}

bool PushAgreement(const Space& action_space, const DecisionRecord& record,
                   AgreementWindow& window) {
  if (!record.has_label) return false;
  const bool agree = ActionsAgree(action_space, record.executor_action, record.planner_action);
  window.Push(agree, PolicyKl(record.planner, record.executor));
  return agree;
}

}  // namespace apprentice
