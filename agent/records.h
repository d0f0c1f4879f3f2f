// The parts of a DecisionRecord, each filled in one place, used alike by the asynchronous runtime
// (Arbiter, Collector) and the deterministic sync loop (runtime/run.h):
//
//   executor decision ──▶ ApplyExecutorDecision ─┐
//   planner decision ───▶ ApplyPlanDecision ─────┼──▶ DecisionRecord ──▶ replay, episode log
//   environment's answer ─▶ ApplyOutcome ────────┘
//
// and the agreement of a labelled record (core/agreement.h), counted the same way everywhere.
// The functions allocate nothing when the record's vectors already have the capacity.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>

#include "core/agreement.h"
#include "core/decision.h"
#include "core/space.h"
#include "core/status.h"
#include "executor/executor.h"
#include "executor/snapshot.h"
#include "planner/planner.h"

namespace apprentice {

// What the environment (or a caller reporting later) answered to a decision's action.
struct Outcome {
  double reward = 0.0;
  bool terminated = false;
  bool truncated = false;
  bool has_truth = false;  // a ground-truth label (DecisionRecord::truth) comes with it
  Action truth = Action();
};

// Finds a decision by id, where decisions are kept after they leave memory (the decision
// service's journal): the record, nullopt when it is unknown there, or why it cannot be read.
using DecisionLookup = std::function<Result<std::optional<DecisionRecord>>(uint64_t id)>;

// The executor's action, full output (`head` says how to read it), weights version and latency.
void ApplyExecutorDecision(const ExecutorDecision& decision, HeadKind head, int64_t latency_ns,
                           DecisionRecord& record);
// The planner's label: its distribution (moved from `decision`), action, value and latency.
void ApplyPlanDecision(PlanDecision&& decision, DecisionRecord& record);
void ApplyOutcome(const Outcome& outcome, DecisionRecord& record);
// Who chose the sent action and how likely they were to (DecisionRecord::behaviour), after
// ApplyExecutorDecision (it reads the executor's output in `record`):
// - `taken`, `acted_by`: the action sent to the environment and who chose it;
// - `executor_sampled`: the executor drew its action from its head (Executor::Sample: categorical,
//   softmax with masked entries at 0; Gaussian, the density of the action as sent, clipped into
//   the box) rather than taking the greedy one;
// - `mixture_beta`: the probability with which a β-mixture let the planner act in this decision
//   (dagger), 0 when no draw decided who acted; `planner_action`: the planner's choice, which a
//   mixture needs (null when not known at decision time: the behaviour is then unknown).
// Categorical under a mixture: p = β [a = planner's] + (1 − β) p_executor(a). Gaussian under a
// mixture: the executor's draw has density (1 − β) N(a); the planner's action is a point mass no
// density describes (unknown), and so are two greedy choices. Allocates nothing.
void ApplyBehaviour(const Action& taken, Actor acted_by, bool executor_sampled,
                    double mixture_beta, const Action* planner_action, DecisionRecord& record);

// Pushes the agreement of a labelled record (executor vs planner action) and its
// KL(planner || executor) into `window`; returns whether they agreed. Unlabelled: no push, false.
bool PushAgreement(const Space& action_space, const DecisionRecord& record,
                   AgreementWindow& window);

}  // namespace apprentice
