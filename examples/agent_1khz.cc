// Embedding an Agent in a fixed-rate control loop: CartPole stepped at 1 kHz, the executor
// answering every step, a planner 20 ms per decision (20 000x slower than the executor) labelling
// in the background, the distiller training and hot-swapping weights. Every second it prints the
// agreement between executor and planner, the executor's recent return and the deadline misses.
//
//   build/examples/agent_1khz [--seconds 30] [--rate-hz 1000] [--planner lqr] [--delay-ms 20]
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "agent/agent.h"
#include "agent/pacer.h"
#include "core/clock.h"
#include "core/flags.h"
#include "env/cartpole.h"
#include "learner/local_learner.h"
#include "planner/registry.h"

using namespace apprentice;

int main(int argc, char** argv) {
  int64_t seconds = 30;
  double rate_hz = 1000, delay_ms = 20;
  std::string planner_name = "lqr";
  FlagSet flags(
      "usage: agent_1khz [flags]\n\nCartPole at a fixed rate with an embedded Agent in reflex "
      "mode; prints one line per second.");
  flags.Int("seconds", &seconds, "how long to run", 1, 86400);
  flags.Double("rate-hz", &rate_hz, "control loop rate", 1, 100000);
  flags.String("planner", &planner_name, "teacher", PlannerNames());
  flags.Double("delay-ms", &delay_ms, "every planner decision takes at least this long", 0, 10000);
  const std::vector<std::string> args(argv + 1, argv + argc);
  if (Status s = flags.Parse(args); !s.ok()) {
    std::fprintf(stderr, "agent_1khz: %s\n", s.message().c_str());
    return 2;
  }
  if (flags.help_requested()) {
    std::printf("%s", flags.Help().c_str());
    return 0;
  }

  CartPole env;
  // The learner: replay + LibTorch distiller on a thread of its own (defaults: uniform replay,
  // two updates per label after 128 labels).
  LocalLearner learner({}, env.observation_space(), env.action_space());
  AgentOptions options;  // reflex: the executor always acts; deadline = one period
  options.mode = Mode::kReflex;
  options.deadline_us = static_cast<int64_t>(1e6 / rate_hz);
  AgentSeams seams;
  seams.planners = [&] { return MakePlanner(planner_name, /*options=*/{}, delay_ms); };
  seams.learner = &learner;
  Agent agent(options, env, seams);
  agent.Start();

  // The loop's clock: sleep to 50 µs before each tick, warm the agent 3 µs before it, spin to it.
  Pacer::Options pacing;
  pacing.rate_hz = rate_hz;
  Pacer pacer(pacing);
  auto obs = env.Reset(/*seed=*/1);
  uint64_t episode_seed = 1;
  std::printf("%6s %9s %10s %11s %8s %9s %8s\n", "second", "steps", "agreement",
              "exec return", "misses", "labels", "version");
  const int64_t start = NowNs();
  int64_t printed = 0;
  while (NowNs() - start < seconds * 1'000'000'000) {
    pacer.Wait([&] { agent.Warm(obs); }, /*stop=*/nullptr);
    const AgentDecision d = agent.Act(obs, &env);  // the executor answers; never waits here
    Action action = d.action;
    const StepResult r = env.Step(action);
    agent.Observe(r.reward, r.terminated, r.truncated);
    obs = r.done() ? env.Reset(++episode_seed) : r.observation;
    pacer.EndStep();

    if ((NowNs() - start) / 1'000'000'000 > printed) {
      ++printed;
      const AgentMetrics m = agent.Metrics();
      std::printf("%6lld %9lld %9.1f%% %11.1f %8lld %9lld %8lld\n",
                  static_cast<long long>(printed), static_cast<long long>(m.steps),
                  100.0 * m.agreement, m.recent_return, static_cast<long long>(m.deadline_misses),
                  static_cast<long long>(m.labels), static_cast<long long>(m.executor_version));
      std::fflush(stdout);
    }
  }
  if (Status s = agent.Stop(); !s.ok()) {  // drain, join, publish the final weights
    std::fprintf(stderr, "agent_1khz: %s\n", s.message().c_str());
    return 1;
  }
  const AgentMetrics m = agent.Metrics();
  std::printf("act p50 %.2f us, p99 %.2f us, max %.1f us; %lld deadline misses in %lld steps\n",
              m.act.QuantileUs(0.5), m.act.QuantileUs(0.99), m.act.max_ns() * 1e-3,
              static_cast<long long>(m.deadline_misses), static_cast<long long>(m.steps));
  return 0;
}
