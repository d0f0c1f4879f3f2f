// Crowd: many agents served by one caller, a tick at a time (the NPCs of a game deciding every
// frame). One batched executor call decides for all of them; the label budget samples which of
// their decisions the planner labels; every decision goes to the agent's one collector, learner
// and episode log, each agent with its own episodes.
//
//   Act(N observations) ── Executor::ActBatch (one snapshot, weights in cache) ── N actions
//      │ sampled decisions: plan requests (decision id, episode, step, obs, state) ──▶ PlanQueue
//   Observe(N rewards, flags) ── each decision with its outcome ──▶ Collector inbox
//
// Episodes follow VectorEnv's next-step autoreset (env/vector_env.h): an agent whose episode
// ended at the last Observe() sits the next tick out: its row of Act() is computed but not
// recorded (the VectorEnv ignores its action and resets it), and its row of the following
// Observe() (the reset: reward 0, no flags) is ignored. Its next Act() row starts a new episode.
//
// The executor always acts (reflex mode: a crowd never waits for the planner). Act() records
// each decision with the tick's executor time divided by the agents (the amortised cost of a
// decision); its own latency goes to tick_latency().
//
// Threading: a Crowd belongs to one thread at a time (Agent::OpenCrowd). Act() takes no lock
// and, after the first tick, allocates nothing; Observe() copies each decision into a
// preallocated inbox slot. Counters are atomics any thread may read.
#pragma once

#include <atomic>
#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include "agent/arbiter.h"
#include "agent/collector.h"
#include "agent/label_selection.h"
#include "agent/threads.h"
#include "core/latency_histogram.h"
#include "core/rng.h"
#include "env/env.h"
#include "executor/executor.h"

namespace apprentice {

class Agent;

class Crowd {
 public:
  // Made by Agent::OpenCrowd(agents). `index` salts the seeds of its label budget and draws.
  Crowd(Agent& agent, int index, int64_t agents);
  Crowd(const Crowd&) = delete;
  Crowd& operator=(const Crowd&) = delete;

  int64_t size() const { return static_cast<int64_t>(lanes_.size()); }

  struct Tick {
    std::span<const Action> actions;  // one per agent; valid until the next Act()
    int64_t executor_version = 0;     // the snapshot that decided them all
    int64_t latency_ns = 0;           // Act() from entry to return
    int64_t decisions = 0;            // rows recorded (the others sit out a reset)
    int64_t plan_requests = 0;        // decisions sent to the planner this tick
  };

  // Decisions for every agent: `observations` holds size() rows. `states` (size() envs, each in
  // the state of its row) is needed when the planner plans on the environment; `legal` holds
  // size() legal-move masks or nothing (board games). Throws InvalidArgument for sizes that do
  // not fit, missing states, an Act() not followed by Observe(), or an agent not running;
  // nothing is recorded then.
  Tick Act(std::span<const float> observations, std::span<const Env* const> states = {},
           std::span<const uint8_t> legal = {});
  // What each agent's environment answered (size() each; VectorEnv::Step's batch fits).
  void Observe(std::span<const double> rewards, std::span<const uint8_t> terminated,
               std::span<const uint8_t> truncated);

  ArbiterCounters counters() const;
  LatencyHistogram tick_latency() const { return tick_latency_.Snapshot(); }
  // The mean return of the crowd's last (up to) 10 episodes, whichever agents ended them.
  std::pair<double, int64_t> recent_return() const { return returns_.Mean(); }

 private:
  struct Lane {
    int64_t episode = -1, step = 0;
    double episode_return = 0.0;
    bool sitting_out = false;  // its episode ended: this tick is the VectorEnv's reset
    bool recorded = false;     // the last Act() recorded a decision for it
    CollectorItem pending;     // that decision, completed by Observe()
  };
  void Bump(std::atomic<int64_t>& counter, int64_t by = 1) { BumpOneWriter(counter, by); }

  Agent& agent_;
  Executor executor_;
  LabelSelector selector_;  // the owning thread
  Rng sampling_;            // the executor's draws when it samples its actions
  std::vector<Lane> lanes_;
  std::vector<Action> actions_;
  std::vector<float> outputs_, confidences_;
  bool acting_ = true;  // Act() next (else Observe())

  SharedLatencyHistogram tick_latency_;
  std::atomic<int64_t> steps_{0}, requests_{0}, drops_{0}, unselected_{0};
  std::atomic<int64_t> decision_drops_{0};
  RecentReturns returns_;  // and the episode count
};

}  // namespace apprentice
