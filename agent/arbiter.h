// Arbiter: one caller's side of the Agent. It answers Act() with the executor, decides by the
// agent's mode whether to wait for the planner, sends the plan request and the decision on, and
// keeps the caller's episodes (ids, steps, return, the β-mixture of dagger mode).
//
//   Act(obs) ── executor (snapshot vN) ── mode: wait for the planner? ── decision ──▶ caller
//      │ plan request (decision id, episode, step, obs, state) ──▶ PlanQueue
//   Observe(reward, done) ── the last Act()'s decision with its outcome ──▶ Collector inbox
//   Decide(obs) ── as Act(), the decision ──▶ Collector inbox; its outcome later: Agent::Report
//
// Threading: an Arbiter belongs to one thread at a time (it owns an Executor and its scratch);
// several arbiters of one Agent act concurrently (Agent::OpenArbiter). In reflex mode Act() takes
// no lock and allocates nothing: one snapshot acquire, the kernel, one push into a preallocated
// ring (the plan request); Observe() makes the other (the decision and its outcome). Modes that
// wait for the planner (deadline, gated when unsure, planner, dagger when the planner acts) block
// on the AnswerBoard for at most their wait. Metrics are atomics and a SharedLatencyHistogram
// that any thread may read.
#pragma once

#include <atomic>
#include <cstdint>
#include <span>

#include "agent/answer_board.h"
#include "agent/collector.h"
#include "agent/label_selection.h"
#include "agent/mixture.h"
#include "agent/records.h"
#include "agent/threads.h"
#include "core/latency_histogram.h"
#include "env/env.h"
#include "executor/executor.h"

namespace apprentice {

class Agent;

// What Act() decided.
struct AgentDecision {
  Action action;                 // what to send to the environment (not clipped)
  Actor acted_by = Actor::kExecutor;
  int64_t executor_version = 0;  // the snapshot the executor used
  // The executor's full output, as its head reads (logits, or means then log-stds), whoever
  // acted; valid until this arbiter's next decision.
  std::span<const float> executor_output;
  float confidence = 1.0f;       // the executor's confidence in its own choice (core/agreement.h)
  int64_t latency_ns = 0;        // Act() from entry to return
  bool deadline_missed = false;  // latency_ns > deadline_us
  uint64_t id = 0;               // decision id, from 1: what Agent::Report() takes
  int64_t episode = 0, step = 0; // where the decision sits
};

// Where a decision made with Decide() sits: an episode and a step the caller numbers, or
// episode -1 (NewEpisode()) for a decision that is an episode of its own (a fraud check, a
// one-shot query), which gets a fresh episode id.
struct StepPosition {
  int64_t episode = -1;
  int64_t step = 0;
  static StepPosition NewEpisode() { return {}; }
};

// Counters of one arbiter (any thread reads them).
struct ArbiterCounters {
  int64_t steps = 0, episodes = 0;
  int64_t acted_by_executor = 0, acted_by_planner = 0;
  int64_t deadline_misses = 0;
  int64_t planner_requests = 0, planner_drops = 0, planner_timeouts = 0;
  // Decisions the collector never got: its inbox was full, or the agent stopped before Observe().
  int64_t decision_drops = 0;
  int64_t unselected = 0;  // decisions the label budget left to the executor alone

  ArbiterCounters& operator+=(const ArbiterCounters& o) {
    steps += o.steps;
    episodes += o.episodes;
    acted_by_executor += o.acted_by_executor;
    acted_by_planner += o.acted_by_planner;
    deadline_misses += o.deadline_misses;
    planner_requests += o.planner_requests;
    planner_drops += o.planner_drops;
    planner_timeouts += o.planner_timeouts;
    decision_drops += o.decision_drops;
    unselected += o.unselected;
    return *this;
  }
};

class Arbiter {
 public:
  // Created by Agent::OpenArbiter() (or the agent's default arbiter). `index` salts the seed of
  // the β-mixture (the default arbiter, 0, draws the run's mixture stream).
  Arbiter(Agent& agent, int index);
  Arbiter(const Arbiter&) = delete;
  Arbiter& operator=(const Arbiter&) = delete;

  // The decision for `observation`, by the mode's rule. `state` is the environment in the state
  // that produced the observation; planners that need it (needs_env()) get a copy. Throws
  // InvalidArgument for a wrong-size observation, a missing or wrong-kind state a planner needs,
  // an Act() not preceded by Observe() of the previous step, or an agent not running; nothing is
  // recorded then.
  // `legal` (board games; core/policy.h): the actions legal in this state, one byte each; the
  // executor chooses among them and the record keeps the mask (empty: every action is legal).
  AgentDecision Act(std::span<const float> observation, const Env* state = nullptr,
                    std::span<const uint8_t> legal = {});
  // What the environment answered to the last Act()'s action. Ends the episode when terminated
  // or truncated.
  void Observe(double reward, bool terminated, bool truncated);

  // A decision whose outcome comes later, from any thread, through Agent::Report(id, outcome);
  // `position` places it (a new one-step episode by default). Throws as Act().
  AgentDecision Decide(std::span<const float> observation, const Env* state = nullptr,
                       StepPosition position = StepPosition::NewEpisode(),
                       std::span<const uint8_t> legal = {});

  // Runs the executor once on `observation` (discarding the result) and prefetches the plan
  // queue's next slot: what the next Act() reads is then in this core's cache. A fixed-rate loop
  // calls it shortly before its tick (a loop that slept lost its cache to other threads); it
  // records nothing. Same threading as Act().
  void Warm(std::span<const float> observation);

  ArbiterCounters counters() const;
  LatencyHistogram act_latency() const { return act_latency_.Snapshot(); }
  // The mean return of this arbiter's last (up to) 10 episodes, and how many it averages.
  std::pair<double, int64_t> recent_return() const { return returns_.Mean(); }
  double beta() const { return mixture_.beta(); }

 private:
  enum class Phase { kActing, kObserving };
  // `outcome_follows`: Act(), whose decision waits in pending_ for Observe(); else Decide().
  AgentDecision Run(std::span<const float> observation, const Env* state,
                    std::span<const uint8_t> legal, int64_t episode, int64_t step,
                    bool outcome_follows);
  void Bump(std::atomic<int64_t>& counter) { BumpOneWriter(counter); }

  Agent& agent_;
  Executor executor_;
  BetaMixture mixture_;
  Rng sampling_;  // the executor's draws when it samples its actions
  AnswerBoard::Waiter waiter_;
  LabelSelector selector_;  // the owning thread

  // The owning thread.
  Phase phase_ = Phase::kActing;
  CollectorItem pending_;  // the Act() that Observe() completes and sends
  int64_t episode_ = -1, episode_step_ = 0;
  double episode_return_ = 0.0;
  int64_t last_latency_ns_ = 0;  // for Warm()

  // Written by the owning thread, read by any.
  SharedLatencyHistogram act_latency_;
  std::atomic<int64_t> steps_{0}, acted_executor_{0}, acted_planner_{0};
  std::atomic<int64_t> deadline_misses_{0}, requests_{0}, drops_{0}, timeouts_{0};
  std::atomic<int64_t> decision_drops_{0}, unselected_{0};
  RecentReturns returns_;  // and the episode count
};

}  // namespace apprentice
