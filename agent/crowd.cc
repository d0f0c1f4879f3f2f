#include "agent/crowd.h"

#include <string>
#include <typeinfo>

#include "agent/agent.h"
#include "core/clock.h"
#include "core/seeds.h"

namespace apprentice {
namespace {

// Crowds draw seed streams apart from the arbiters' (which are salted 0..63).
uint64_t CrowdSeed(uint64_t seed, SeedStream stream, int index) {
  return MixSeed(StreamSeed(seed, stream), 0x10000u + static_cast<uint64_t>(index));
}

}  // namespace

Crowd::Crowd(Agent& agent, int index, int64_t agents)
    : agent_(agent),
      executor_(*agent.slot_, agent.action_space_),
      selector_(agent.options_.labels, CrowdSeed(agent.options_.seed, SeedStream::kLabelSelection,
                                                 index),
                &agent.disagreement_),
      sampling_(CrowdSeed(agent.options_.seed, SeedStream::kExecutorSampling, index)) {
  Require(agents >= 1, "Agent::OpenCrowd: a crowd needs at least one agent");
  lanes_.resize(static_cast<size_t>(agents));
  actions_.resize(static_cast<size_t>(agents));
  const auto obs = static_cast<size_t>(agent.observation_space_.flat_size());
  const auto out = static_cast<size_t>(agent.slot_->spec().output());
  outputs_.resize(static_cast<size_t>(agents) * out);
  confidences_.resize(static_cast<size_t>(agents));
  for (Lane& lane : lanes_) {
    DecisionRecord& r = lane.pending.record;
    r.observation.reserve(obs);
    r.legal.reserve(out);
    r.executor.logits.reserve(out);
    r.executor.mean.reserve(out);
    r.executor.log_std.reserve(out);
  }
}

Crowd::Tick Crowd::Act(std::span<const float> observations, std::span<const Env* const> states,
                       std::span<const uint8_t> legal) {
  Agent& agent = agent_;
  if (!agent.running()) {
    throw InvalidArgument(agent.state_.load() == Agent::kCreated
                              ? "Crowd::Act: Start() the agent first"
                              : "Crowd::Act: the agent has stopped");
  }
  if (!acting_) throw InvalidArgument("Crowd::Act: Observe() the previous tick first");
  const auto n = size();
  const int64_t obs_size = agent.observation_space_.flat_size();
  if (static_cast<int64_t>(observations.size()) != n * obs_size) {
    throw InvalidArgument("Crowd::Act: " + std::to_string(n) + " agents need " +
                          std::to_string(n * obs_size) + " observation floats, got " +
                          std::to_string(observations.size()));
  }
  if (agent.needs_env_) {
    if (static_cast<int64_t>(states.size()) != n) {
      throw InvalidArgument("Crowd::Act: the planner plans on the environment: pass " +
                            std::to_string(n) + " states, got " + std::to_string(states.size()));
    }
    for (const Env* s : states) {
      if (s == nullptr || typeid(*s) != *agent.env_type_) {
        throw InvalidArgument("Crowd::Act: a state is missing or not the kind of env the agent "
                              "was built with");
      }
    }
  }
  const int64_t t0 = NowNs();
  Tick tick;
  // Checks the mask's size and that every row has a legal move.
  tick.executor_version = executor_.ActBatch(observations, actions_, outputs_, confidences_, legal);
  const int64_t exec_ns = NowNs() - t0;
  const AgentOptions& o = agent.options_;
  const HeadKind head = agent.slot_->spec().head;
  const auto out_size = static_cast<size_t>(agent.slot_->spec().output());
  const auto actions_n = static_cast<size_t>(agent.slot_->spec().actions);
  const int64_t per_decision_ns = exec_ns / n;

  for (int64_t i = 0; i < n; ++i) {
    Lane& lane = lanes_[static_cast<size_t>(i)];
    lane.recorded = false;
    if (lane.sitting_out) continue;  // the VectorEnv resets it this tick
    ExecutorDecision exec;
    exec.action = actions_[static_cast<size_t>(i)];
    exec.version = tick.executor_version;
    exec.output = std::span<const float>(outputs_).subspan(static_cast<size_t>(i) * out_size,
                                                           out_size);
    exec.confidence = confidences_[static_cast<size_t>(i)];
    if (o.sample_actions) {
      executor_.Sample(exec, sampling_);
      actions_[static_cast<size_t>(i)] = exec.action;
    }
    if (lane.episode < 0) lane.episode = agent.NewEpisode();
    const uint64_t id = agent.NewDecisionId();
    const std::span<const float> row =
        observations.subspan(static_cast<size_t>(i * obs_size), static_cast<size_t>(obs_size));
    const std::span<const uint8_t> row_legal =
        legal.empty() ? legal : legal.subspan(static_cast<size_t>(i) * actions_n, actions_n);

    PlanQueue::PushResult pushed;
    if (agent.queue_ != nullptr) {
      if (selector_.Select(exec.action, exec.confidence)) {
        PlanRequestView request;
        request.decision_id = id;
        request.episode = lane.episode;
        request.step = lane.step;
        request.observation = row;
        request.state = agent.needs_env_ ? states[static_cast<size_t>(i)] : nullptr;
        request.seed = MixSeed(o.seed, id);
        request.executor_action = exec.action;
        request.deadline_ns = o.planner_budget_ms > 0 ? t0 + o.planner_budget_ms * 1'000'000 : 0;
        Bump(requests_);
        ++tick.plan_requests;
        pushed = agent.queue_->Push(request);
        if (!pushed.queued) Bump(drops_);
        if (pushed.dropped_id != 0) Bump(drops_);
      } else {
        Bump(unselected_);
      }
    }
    CollectorItem& item = lane.pending;
    item.kind = CollectorItem::Kind::kDecision;
    item.id = id;
    item.label_expected = pushed.queued;
    item.dropped_request = pushed.dropped_id;
    item.has_outcome = false;
    DecisionRecord& r = item.record;
    r.decision_id = id;
    r.episode = lane.episode;
    r.step = lane.step;
    r.observation.assign(row.begin(), row.end());
    r.legal.assign(row_legal.begin(), row_legal.end());
    ApplyExecutorDecision(exec, head, per_decision_ns, r);
    r.acted_by = Actor::kExecutor;
    ApplyBehaviour(exec.action, Actor::kExecutor, o.sample_actions, 0.0, nullptr, r);
    lane.recorded = true;
    ++tick.decisions;
  }
  acting_ = false;
  tick.actions = actions_;
  tick.latency_ns = NowNs() - t0;
  tick_latency_.Record(tick.latency_ns);
  return tick;
}

void Crowd::Observe(std::span<const double> rewards, std::span<const uint8_t> terminated,
                    std::span<const uint8_t> truncated) {
  if (acting_) {
    throw InvalidArgument(agent_.running() ? "Crowd::Observe: no Act() to observe"
                                           : "Crowd::Observe: the agent is not running");
  }
  const auto n = static_cast<size_t>(size());
  if (rewards.size() != n || terminated.size() != n || truncated.size() != n) {
    throw InvalidArgument("Crowd::Observe: " + std::to_string(n) +
                          " agents need as many rewards and flags, got " +
                          std::to_string(rewards.size()) + ", " +
                          std::to_string(terminated.size()) + " and " +
                          std::to_string(truncated.size()));
  }
  int64_t steps = 0, drops = 0;
  for (size_t i = 0; i < n; ++i) {
    Lane& lane = lanes_[i];
    if (!lane.recorded) {  // the reset tick of an agent that sat out
      lane.sitting_out = false;
      continue;
    }
    CollectorItem& p = lane.pending;
    p.has_outcome = true;
    p.outcome.reward = rewards[i];
    p.outcome.terminated = terminated[i] != 0;
    p.outcome.truncated = truncated[i] != 0;
    p.outcome.has_truth = false;
    const auto sent = !agent_.running()
                          ? BoundedQueue<CollectorItem>::PushResult::kRejected
                          : agent_.collector_->Inbox().Push([&](CollectorItem& item) { item = p; },
                                                            [](const CollectorItem&) {});
    if (sent == BoundedQueue<CollectorItem>::PushResult::kRejected) ++drops;
    ++steps;
    lane.episode_return += rewards[i];
    ++lane.step;
    if (p.outcome.terminated || p.outcome.truncated) {
      returns_.Add(lane.episode_return);
      lane.episode = -1;
      lane.step = 0;
      lane.episode_return = 0.0;
      lane.sitting_out = true;
    }
  }
  Bump(steps_, steps);
  if (drops > 0) Bump(decision_drops_, drops);
  acting_ = true;
}

ArbiterCounters Crowd::counters() const {
  ArbiterCounters c;
  c.steps = steps_.load(std::memory_order_relaxed);
  c.episodes = returns_.episodes();
  c.acted_by_executor = c.steps;
  c.planner_requests = requests_.load(std::memory_order_relaxed);
  c.planner_drops = drops_.load(std::memory_order_relaxed);
  c.decision_drops = decision_drops_.load(std::memory_order_relaxed);
  c.unselected = unselected_.load(std::memory_order_relaxed);
  return c;
}

}  // namespace apprentice
