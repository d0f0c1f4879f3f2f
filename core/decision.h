// DecisionRecord: the one record that flows everywhere. The planner fills in its decision, the
// runtime adds what the executor did and what the environment answered, the replay buffer stores
// it, the episode log writes it and the evaluator reads it. Wire formats (MessagePack,
// FlatBuffers) have their own structs next to their codecs; this is the domain type.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "core/action.h"
#include "core/policy.h"

namespace apprentice {

// Who chose the action that was sent to the environment.
enum class Actor : uint8_t { kExecutor, kPlanner };
std::string_view ActorName(Actor actor);

// How likely the behaviour policy — whoever acted, with the β-mixture that chose between them —
// was to send the action it sent: what off-policy estimates weigh a logged decision by.
enum class Behaviour : uint8_t {
  kUnknown,        // not recorded: a log written before it was, or a choice no probability
                   // describes (the planner's point mass among a continuous executor's draws;
                   // the agent's dagger mode when the executor acts before the planner's choice
                   // is known)
  kDeterministic,  // the action was certain given the state: a greedy executor, the planner's own
                   // choice, a deadline's outcome
  kStochastic,     // behaviour_log_prob holds log p(action) (Discrete) or its log-density (Box)
};
std::string_view BehaviourName(Behaviour behaviour);

struct DecisionRecord {
  uint64_t decision_id = 0;  // the runtime's id of the decision, from 1 (0: not recorded); what
                             // labels, outcomes and late feedback are joined by
  int64_t episode = 0;  // episode id, counted from 0 within a run (-1: unknown)
  int64_t step = 0;     // step within the episode, from 0 (-1: unknown)

  std::vector<float> observation;  // what the agent saw
  // The actions legal in this state, one byte each (core/policy.h: MaskLogits); empty when every
  // action is legal. The executor chose among these, the planner's distribution gives the others
  // probability 0, and the distiller's loss masks them.
  std::vector<uint8_t> legal;

  // The full outputs, side by side (what the replay measures and the distiller reads):
  // the planner's distribution, the soft target (empty until has_label), and the executor's
  // logits, or mean and log-std (empty when not recorded).
  PolicyOutput planner;
  PolicyOutput executor;

  // The planner's decision; has_label is false until the planner has labelled this state.
  bool has_label = false;
  Action planner_action;     // the planner's choice: the hard label
  float planner_value = 0;   // the planner's value estimate of the state
  int64_t planner_latency_ns = 0;
  // The teacher's hidden features at this state, when the teacher exposes them (a TorchScript
  // teacher with features=true): what feature distillation matches (Distiller::Options::
  // feature_weight). Kept in memory for the replay only: not written to the episode log.
  std::vector<float> teacher_features;

  // What the executor chose and with which weights.
  Action executor_action;
  int64_t executor_version = 0;  // snapshot version; 0 = the untrained initial weights
  int64_t executor_latency_ns = 0;

  Actor acted_by = Actor::kExecutor;
  // The behaviour policy's probability of the action sent (agent/records.h: ApplyBehaviour).
  Behaviour behaviour = Behaviour::kUnknown;
  float behaviour_log_prob = 0;  // kStochastic only; 0 otherwise

  // What the environment answered to the action that was taken.
  float reward = 0;
  bool terminated = false;
  bool truncated = false;

  // The true label of this decision, when the outside world reported one (a chargeback that
  // arrives weeks later, a verified outcome): what the distiller's hard-label term uses instead
  // of planner_action.
  bool has_truth = false;
  Action truth;
};

// The action that was sent to the environment: the planner's when it acted, else the executor's.
inline const Action& TakenAction(const DecisionRecord& r) {
  return r.acted_by == Actor::kPlanner ? r.planner_action : r.executor_action;
}

// What the distiller can learn from: a planner label (soft target and hard label), or a ground
// truth label alone (the hard-label term only).
inline bool Trainable(const DecisionRecord& r) { return r.has_label || r.has_truth; }
// The hard label of a trainable record: the ground truth when it is known, else the planner's
// action.
inline const Action& HardLabel(const DecisionRecord& r) {
  return r.has_truth ? r.truth : r.planner_action;
}

}  // namespace apprentice
