// A planner worker: pulls plan requests of a run from its JetStream work queue (the durable
// consumer "workers", shared by every worker of the run, on any machine), plans each on its own
// env (the request's state loaded with Env::LoadState), publishes the label to the run's label
// stream, and only then acknowledges the request. A worker killed mid-plan never acknowledges:
// the server redelivers the request after `ack_wait_ms` to another worker, up to `max_deliver`
// deliveries, then gives up on it (an advisory the agent counts). Workers join and leave at any
// time; the agent never waits for any of them.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "core/json.h"
#include "core/status.h"
#include "core/stop_flag.h"
#include "env/env.h"
#include "nats/nats_link.h"
#include "planner/planner.h"

namespace apprentice {

struct PlannerWorkerOptions {
  std::string url = "nats://127.0.0.1:4222";
  std::string run = "apprentice";
  NatsSecurity security;
  int64_t replicas = 1;               // the streams' replicas, if this worker makes them
  std::string name = "worker";  // recorded in its labels
  int64_t ack_wait_ms = 10'000;   // a request not acknowledged this long is redelivered
  int64_t max_deliver = 3;        // deliveries of one request before the server gives up on it
  int64_t queue = 1024;           // the plan stream's size, if this worker creates it
  int64_t max_requests = 0;       // stop after this many requests; 0 = until stopped
  int64_t idle_exit_ms = 0;       // stop after this long without a request; 0 = never
  Status Validate() const;
};

struct PlannerWorkerStats {
  int64_t requests = 0;     // requests received (redeliveries included)
  int64_t labels = 0;       // labels published and their requests acknowledged
  int64_t redelivered = 0;  // requests received for the second time or later
  int64_t failed = 0;       // plans that failed (published as failed labels)
  int64_t refused = 0;      // requests that did not decode or name another env (acked, dropped)
  int64_t errors = 0;       // NATS errors (a label not stored: the request is redelivered)
  double seconds = 0.0;
  std::string last_error;
  Json ToJson() const;
};

// Serves requests until `stop`, max_requests or idle_exit_ms. `env` is an env of the run's kind
// (the worker's own, loaded from each request's state when the planner simulates); `env_key` is
// what requests must say of their env (name and resolved options). `progress` (if set) is called
// about once a second. Unavailable when NATS cannot be reached at the start.
Status RunPlannerWorker(const PlannerWorkerOptions& options, Planner& planner, Env& env,
                        const std::string& env_key, StopFlag& stop, PlannerWorkerStats& stats,
                        const std::function<void(const PlannerWorkerStats&)>& progress = nullptr);

// "cartpole max_episode_steps=500": what a request's env key holds for `env_name` and its
// resolved options.
std::string EnvKey(const std::string& env_name, const std::string& resolved_options);

}  // namespace apprentice
