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

// Pushes the agreement of a labelled record (executor vs planner action) and its
// KL(planner || executor) into `window`; returns whether they agreed. Unlabelled: no push, false.
bool PushAgreement(const Space& action_space, const DecisionRecord& record,
                   AgreementWindow& window);

}  // namespace apprentice
