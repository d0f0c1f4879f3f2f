// act() in reflex mode, the plan request and the decision's record included, while the distiller
// trains flat out on the other core: the latency a control loop pays per step.
//
//   act_bench [--seconds 20] [--rate-hz 1000] [--planner-delay-ms 20] [--json]
//
// CartPole; the LQR teacher made to take 20 ms per decision (it labels one state in twenty at
// 1 kHz, so the plan queue is full and drops the oldest request at every step); a LocalLearner
// allowed a million updates per label once 16 labels are in, so the distiller never idles.
// Three loops, one after the other, each for --seconds:
//   back-to-back   act(), env step, observe(), as fast as they go;
//   paced          the same at --rate-hz, sleeping until each tick;
//   paced, warmed  waking --wake-early-us before each tick, spinning, Agent::Warm() 3 µs before
//                  the tick (the executor runs once; what Act() writes is prefetched), spinning
//                  to the tick: agent/pacer.h, what `apprentice run --rate-hz` does. The
//                  executor's weights and the request slot are then in cache; after a plain
//                  sleep other threads have evicted them.
// Latencies are Agent::Act from entry to return (AgentDecision::latency_ns, what the agent's
// metrics record) over the measured interval only (LatencyHistogram: exact below 128 ns, within
// 1.6 % above).
#include <sys/prctl.h>

#include <chrono>
#include <cstdio>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "agent/agent.h"
#include "agent/pacer.h"
#include "core/clock.h"
#include "core/flags.h"
#include "core/json.h"
#include "env/cartpole.h"
#include "learner/local_learner.h"
#include "planner/registry.h"

using namespace apprentice;

namespace {

struct LoopResult {
  std::string loop;
  int64_t steps = 0;
  LatencyHistogram act;
  int64_t train_steps = 0, labels = 0, drops = 0, misses = 0;
  double seconds = 0;
};

LoopResult RunLoop(const std::string& loop, double seconds, double rate_hz, double delay_ms,
                   int64_t wake_early_us) {
  CartPole env;
  LocalLearner::Options lo;
  lo.learning.min_replay = 16;
  lo.learning.updates_per_label = 1e6;  // train flat out once 16 labels are in
  LocalLearner learner(lo, env.observation_space(), env.action_space());
  AgentOptions o;
  o.mode = Mode::kReflex;
  o.deadline_us = 1000;
  AgentSeams seams;
  seams.planners = [delay_ms] { return MakePlanner("lqr", {}, delay_ms); };
  seams.learner = &learner;
  Agent agent(o, env, seams);
  agent.Start();
  // Warm up: the learner reaches min_replay and starts training; every slot is written once.
  auto obs = env.Reset(1);
  uint64_t seed = 1;
  LatencyHistogram* measured = nullptr;  // set for the measured interval
  const auto step = [&] {
    const AgentDecision d = agent.Act(obs, &env);
    if (measured != nullptr) measured->Record(d.latency_ns);
    const StepResult r = env.Step(d.action);
    agent.Observe(r.reward, r.terminated, r.truncated);
    obs = r.done() ? env.Reset(++seed) : r.observation;
  };
  while (learner.Metrics().train_steps < 100) {
    step();
    std::this_thread::sleep_for(std::chrono::microseconds(500));
  }
  const AgentMetrics before = agent.Metrics();
  const LearnerMetrics learner_before = learner.Metrics();
  std::optional<Pacer> pacer;
  if (rate_hz > 0) {
    Pacer::Options pacing;
    pacing.rate_hz = rate_hz;
    pacing.wake_early_us = wake_early_us;
    pacer.emplace(pacing);
  }
  const std::function<void()> warm = [&] { agent.Warm(obs); };
  const int64_t start = NowNs(), end = start + static_cast<int64_t>(seconds * 1e9);
  LoopResult result;
  result.loop = loop;
  measured = &result.act;
  while (NowNs() < end) {
    // As `apprentice run --rate-hz` does (agent/pacer.h).
    if (pacer) pacer->Wait(warm, nullptr);
    step();
    ++result.steps;
    if (pacer) pacer->EndStep();
  }
  result.seconds = static_cast<double>(NowNs() - start) * 1e-9;
  std::fprintf(stderr, "act_bench: %s done: %lld steps, p50 %.2f us\n", loop.c_str(),
               static_cast<long long>(result.steps), result.act.QuantileUs(0.5));
  const AgentMetrics after = agent.Metrics();
  (void)agent.Stop();
  result.train_steps = learner.Metrics().train_steps - learner_before.train_steps;
  result.labels = after.labels - before.labels;
  result.drops = after.planner_drops - before.planner_drops;
  result.misses = after.deadline_misses - before.deadline_misses;
  return result;
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = 20, rate_hz = 1000, delay_ms = 20;
  int64_t wake_early_us = 50;
  bool json = false;
  FlagSet flags(
      "usage: act_bench [flags]\n\nact() latency in reflex mode with the distiller training on "
      "the other core: back-to-back, then paced at --rate-hz.");
  flags.Double("seconds", &seconds, "length of each loop", 0.1, 3600);
  flags.Double("rate-hz", &rate_hz, "the paced loop's rate", 1, 100000);
  flags.Double("planner-delay-ms", &delay_ms, "every planner decision takes this long", 0, 10000);
  flags.Int("wake-early-us", &wake_early_us,
            "the warmed loop wakes this long before each tick, calls Agent::Warm and spins", 1,
            100'000);
  flags.Bool("json", &json, "print JSON instead of a table");
  if (Status s = flags.Parse(std::vector<std::string>(argv + 1, argv + argc)); !s.ok()) {
    std::fprintf(stderr, "act_bench: %s\n", s.message().c_str());
    return 2;
  }
  if (flags.help_requested()) {
    std::printf("%s", flags.Help().c_str());
    return 0;
  }
  (void)prctl(PR_SET_TIMERSLACK, 1000UL, 0UL, 0UL, 0UL);
  std::fprintf(stderr,
               "act_bench: back-to-back, then paced at %g Hz (sleeping to each tick), then paced "
               "and warmed (waking %lld us early, Agent::Warm, spinning to the tick), %g s each\n",
               rate_hz, static_cast<long long>(wake_early_us), seconds);
  const std::vector<LoopResult> results = {
      RunLoop("back-to-back", seconds, 0, delay_ms, 0),
      RunLoop("paced", seconds, rate_hz, delay_ms, /*wake_early_us=*/0),
      RunLoop("paced, warmed", seconds, rate_hz, delay_ms, wake_early_us)};
  Json::Array rows;
  if (!json) {
    std::printf("%-14s %10s %9s %9s %9s %9s %12s %8s %10s\n", "loop", "steps", "p50 us",
                "p90 us", "p99 us", "max us", "train steps", "labels", "drops");
  }
  for (const LoopResult& r : results) {
    if (json) {
      rows.push_back(Json{{"loop", r.loop},
                          {"steps", r.steps},
                          {"act_latency_us", LatencyPercentilesJson(r.act)},
                          {"train_steps", r.train_steps},
                          {"labels", r.labels},
                          {"planner_drops", r.drops},
                          {"deadline_misses", r.misses},
                          {"seconds", r.seconds}});
      continue;
    }
    std::printf("%-14s %10lld %9.2f %9.2f %9.2f %9.1f %12lld %8lld %10lld\n", r.loop.c_str(),
                static_cast<long long>(r.steps), r.act.QuantileUs(0.5), r.act.QuantileUs(0.9),
                r.act.QuantileUs(0.99), static_cast<double>(r.act.max_ns()) * 1e-3,
                static_cast<long long>(r.train_steps), static_cast<long long>(r.labels),
                static_cast<long long>(r.drops));
  }
  if (json) std::printf("%s\n", Json(std::move(rows)).Dump(2).c_str());
  return 0;
}
