#include "agent/arbiter.h"

#include <typeinfo>

#include "agent/agent.h"
#include "core/clock.h"
#include "core/seeds.h"

namespace apprentice {
namespace {

// A record in an inbox slot, emptied of an earlier decision's label and outcome without giving
// back the capacity of its vectors.
void ClearLabelAndOutcome(DecisionRecord& r) {
  r.has_label = false;
  r.planner.kind = PolicyKind::kCategorical;
  r.planner.logits.clear();
  r.planner.mean.clear();
  r.planner.log_std.clear();
  r.planner_action = Action();
  r.planner_value = 0.0f;
  r.planner_latency_ns = 0;
  r.reward = 0.0f;
  r.terminated = false;
  r.truncated = false;
  r.has_truth = false;
  r.truth = Action();
}

uint64_t SelectionSeed(uint64_t seed, int index) {
  return MixSeed(StreamSeed(seed, SeedStream::kLabelSelection), static_cast<uint64_t>(index));
}

uint64_t MixtureSeed(uint64_t seed, int index) {
  const uint64_t base = StreamSeed(seed, SeedStream::kMixture);
  return index == 0 ? base : MixSeed(base, static_cast<uint64_t>(index));
}

}  // namespace

Arbiter::Arbiter(Agent& agent, int index)
    : agent_(agent),
      executor_(*agent.slot_, agent.action_space_),
      mixture_(agent.options_.beta, agent.options_.beta_decay,
               MixtureSeed(agent.options_.seed, index)),
      sampling_(MixSeed(StreamSeed(agent.options_.seed, SeedStream::kExecutorSampling),
                        static_cast<uint64_t>(index))),
      selector_(agent.options_.labels, SelectionSeed(agent.options_.seed, index),
                &agent.disagreement_) {
  const auto obs = static_cast<size_t>(agent.observation_space_.flat_size());
  const auto out = static_cast<size_t>(agent.slot_->spec().output());
  pending_.record.observation.reserve(obs);
  if (agent.action_space_.is_discrete()) {
    pending_.record.legal.reserve(static_cast<size_t>(agent.action_space_.n()));
  }
  pending_.record.executor.logits.reserve(out);
  pending_.record.executor.mean.reserve(out);
  pending_.record.executor.log_std.reserve(out);
}

AgentDecision Arbiter::Act(std::span<const float> observation, const Env* state,
                           std::span<const uint8_t> legal) {
  if (phase_ != Phase::kActing) {
    throw InvalidArgument("Agent::Act: Observe() the previous step first");
  }
  if (episode_ < 0) episode_ = agent_.NewEpisode();
  const AgentDecision d =
      Run(observation, state, legal, episode_, episode_step_, /*outcome_follows=*/true);
  phase_ = Phase::kObserving;
  return d;
}

AgentDecision Arbiter::Decide(std::span<const float> observation, const Env* state,
                              StepPosition position, std::span<const uint8_t> legal) {
  const int64_t episode = position.episode >= 0 ? position.episode : agent_.NewEpisode();
  return Run(observation, state, legal, episode, position.episode >= 0 ? position.step : 0,
             /*outcome_follows=*/false);
}

AgentDecision Arbiter::Run(std::span<const float> observation, const Env* state,
                           std::span<const uint8_t> legal, int64_t episode, int64_t step,
                           bool outcome_follows) {
  Agent& agent = agent_;
  if (!agent.running()) {
    throw InvalidArgument(agent.state_.load() == Agent::kCreated
                              ? "Agent::Act: Start() the agent first"
                              : "Agent::Act: the agent has stopped");
  }
  if (agent.needs_env_ && (state == nullptr || typeid(*state) != *agent.env_type_)) {
    throw InvalidArgument(state == nullptr
                              ? "Agent::Act: the planner plans on the environment: pass its state"
                              : "Agent::Act: the state is a " + state->name() +
                                    " env, not the kind the agent was built with");
  }
  const AgentOptions& o = agent.options_;
  const int64_t t0 = NowNs();
  ExecutorDecision exec = executor_.Act(observation, legal);  // checks the sizes
  if (o.sample_actions) executor_.Sample(exec, sampling_);
  const int64_t exec_ns = NowNs() - t0;
  const uint64_t id = agent.NewDecisionId();

  bool ask_now = false;
  int64_t wait_until = 0;
  const int64_t deadline = t0 + o.deadline_us * 1000;
  switch (o.mode) {
    case Mode::kReflex: break;
    case Mode::kDeadline:
      ask_now = true;
      wait_until = deadline - agent.wake_reserve_ns_;
      break;
    case Mode::kGated:
      ask_now = exec.confidence < o.gate_confidence;
      wait_until = deadline - agent.wake_reserve_ns_;
      break;
    case Mode::kPlanner:
      ask_now = true;
      wait_until = t0 + o.planner_wait_ms * 1'000'000;
      break;
    case Mode::kDagger:
      ask_now = mixture_.PlannerActs();
      wait_until = t0 + o.planner_wait_ms * 1'000'000;
      break;
  }

  PlanRequestView request;
  request.decision_id = id;
  request.episode = episode;
  request.step = step;
  request.observation = observation;
  request.state = agent.needs_env_ ? state : nullptr;
  request.seed = MixSeed(o.seed, id);
  request.executor_action = exec.action;
  request.urgent = ask_now;
  request.deadline_ns =
      ask_now ? wait_until : (o.planner_budget_ms > 0 ? t0 + o.planner_budget_ms * 1'000'000 : 0);

  Action action = exec.action;
  Actor acted_by = Actor::kExecutor;
  PlanQueue::PushResult pushed;  // without a teacher: nothing queued, nothing dropped
  // A background request is subject to the label budget; one a caller waits for is not.
  const bool selected = agent.queue_ != nullptr && (ask_now || selector_.Select(exec.action, exec.confidence));
  if (agent.queue_ != nullptr && !selected) Bump(unselected_);
  if (selected) {
    Bump(requests_);
    if (ask_now) agent.answers_.Expect(waiter_, id);
    pushed = agent.queue_->Push(request);
    if (!pushed.queued) Bump(drops_);
  }
  if (pushed.dropped_id != 0) {
    Bump(drops_);
    // A push drops from its own queue: only an urgent push can drop a request someone awaits.
    if (ask_now) agent.answers_.Cancel(pushed.dropped_id);
  }
  if (ask_now) {
    const AnswerBoard::Answer answer =
        agent.answers_.Wait(waiter_, pushed.queued ? wait_until : NowNs());
    if (answer.answered && answer.ok) {
      action = answer.action;
      acted_by = Actor::kPlanner;
    } else if (!answer.answered && pushed.queued) {
      Bump(timeouts_);
    }
  }

  // The decision for the collector: kept here until Observe() adds its outcome and sends both
  // in one push (so that Act() touches no slot of the collector's ring), or sent now when the
  // outcome comes later through Agent::Report().
  const HeadKind head = agent.slot_->spec().head;
  auto fill = [&](CollectorItem& item) {
    item.kind = CollectorItem::Kind::kDecision;
    item.id = id;
    item.label_expected = pushed.queued;
    item.dropped_request = pushed.dropped_id;
    item.has_outcome = false;
    DecisionRecord& r = item.record;
    if (!outcome_follows) ClearLabelAndOutcome(r);  // a ring slot; pending_ never holds a label
    r.decision_id = id;
    r.episode = episode;
    r.step = step;
    r.observation.assign(observation.begin(), observation.end());
    r.legal.assign(legal.begin(), legal.end());
    ApplyExecutorDecision(exec, head, exec_ns, r);
    r.acted_by = acted_by;
    ApplyBehaviour(action, acted_by, o.sample_actions,
                   o.mode == Mode::kDagger ? mixture_.beta() : 0.0,
                   acted_by == Actor::kPlanner ? &action : nullptr, r);
  };
  if (outcome_follows) {
    fill(pending_);
  } else {
    const auto sent = agent.collector_->Inbox().Push(fill, [](const CollectorItem&) {});
    if (sent == BoundedQueue<CollectorItem>::PushResult::kRejected) Bump(decision_drops_);
  }

  AgentDecision d;
  d.action = action;
  d.acted_by = acted_by;
  d.executor_version = exec.version;
  d.executor_output = exec.output;
  d.confidence = exec.confidence;
  d.id = id;
  d.episode = episode;
  d.step = step;
  d.latency_ns = NowNs() - t0;
  d.deadline_missed = d.latency_ns > o.deadline_us * 1000;
  act_latency_.Record(d.latency_ns);
  last_latency_ns_ = d.latency_ns;
  if (d.deadline_missed) Bump(deadline_misses_);
  Bump(acted_by == Actor::kPlanner ? acted_planner_ : acted_executor_);
  return d;
}

void Arbiter::Observe(double reward, bool terminated, bool truncated) {
  if (phase_ != Phase::kObserving) {
    throw InvalidArgument(agent_.running() ? "Agent::Observe: no Act() to observe"
                                           : "Agent::Observe: the agent is not running");
  }
  // The decision Act() kept, with its outcome, in one push. After Stop() it is lost and counted
  // (the collector has drained for the last time); an Observe() racing Stop() may be lost
  // uncounted.
  pending_.has_outcome = true;
  pending_.outcome.reward = reward;
  pending_.outcome.terminated = terminated;
  pending_.outcome.truncated = truncated;
  pending_.outcome.has_truth = false;
  const auto sent =
      !agent_.running()
          ? BoundedQueue<CollectorItem>::PushResult::kRejected
          : agent_.collector_->Inbox().Push(
                // Same sizes: the slot's vectors keep their capacity (no allocation).
                [&](CollectorItem& item) { item = pending_; },
                [](const CollectorItem&) {});
  if (sent == BoundedQueue<CollectorItem>::PushResult::kRejected) Bump(decision_drops_);
  Bump(steps_);
  episode_return_ += reward;
  ++episode_step_;
  if (terminated || truncated) {
    returns_.Add(episode_return_);
    episode_ = -1;
    episode_step_ = 0;
    episode_return_ = 0.0;
    mixture_.EndEpisode();
  }
  phase_ = Phase::kActing;
}

void Arbiter::Warm(std::span<const float> observation) {
  (void)executor_.Act(observation);
  if (agent_.queue_ != nullptr) agent_.queue_->Warm();
  // What Act() writes besides: the decision kept for Observe(), the latency histogram, counters.
  const auto* pending = reinterpret_cast<const char*>(&pending_);
  for (size_t at = 0; at < sizeof(pending_); at += 64) __builtin_prefetch(pending + at, 1);
  __builtin_prefetch(pending_.record.observation.data(), 1);
  __builtin_prefetch(pending_.record.executor.logits.data(), 1);
  __builtin_prefetch(pending_.record.executor.mean.data(), 1);
  act_latency_.Prefetch(last_latency_ns_);
  __builtin_prefetch(&steps_, 1);
  __builtin_prefetch(&agent_.next_id_, 1);
}

ArbiterCounters Arbiter::counters() const {
  ArbiterCounters c;
  c.steps = steps_.load(std::memory_order_relaxed);
  c.episodes = returns_.episodes();
  c.acted_by_executor = acted_executor_.load(std::memory_order_relaxed);
  c.acted_by_planner = acted_planner_.load(std::memory_order_relaxed);
  c.deadline_misses = deadline_misses_.load(std::memory_order_relaxed);
  c.planner_requests = requests_.load(std::memory_order_relaxed);
  c.planner_drops = drops_.load(std::memory_order_relaxed);
  c.planner_timeouts = timeouts_.load(std::memory_order_relaxed);
  c.decision_drops = decision_drops_.load(std::memory_order_relaxed);
  c.unselected = unselected_.load(std::memory_order_relaxed);
  return c;
}

}  // namespace apprentice
