// Many NPCs in real time: --agents grid-world NPCs (one GridWorld each, stepped together as a
// VectorEnv) decided every tick by one batched executor call at a fixed frame rate, while MCTS
// labels a sampled share of their decisions in the background and the distiller trains the
// executor and hot-swaps its weights. Prints, once a second, the frame time (the tick's work:
// decide for every NPC, step every world, hand the decisions on), frames over budget, late ticks,
// the executor's agreement with MCTS, goals reached, labels and the executor version.
//
//   build/examples/npc_demo [--agents 256] [--rate-hz 60] [--seconds 60]
//
// A frame is missed when its work takes longer than the frame period, or when the loop starts a
// tick late by more than a period (the pacer's overruns).
#include <sys/prctl.h>

#include <cstdio>
#include <string>
#include <vector>

#include "agent/agent.h"
#include "agent/pacer.h"
#include "core/clock.h"
#include "core/flags.h"
#include "core/json.h"
#include "core/latency_histogram.h"
#include "env/grid_world.h"
#include "env/vector_env.h"
#include "learner/local_learner.h"
#include "planner/mcts.h"

using namespace apprentice;

int main(int argc, char** argv) {
  int64_t agents = 256, seconds = 60, simulations = 200, seed = 1, threads = 1;
  double rate_hz = 60, label_fraction = 0.02;
  bool json = false;
  std::string json_out;
  FlagSet flags(
      "usage: npc_demo [flags]\n\nGrid-world NPCs decided by one batched executor call per "
      "frame at a fixed rate, MCTS labelling sampled decisions in the background, the distiller "
      "training the executor. One line per second on stdout, a summary at the end (or --json).");
  flags.Int("agents", &agents, "NPCs, one grid world each", 1, 65'536);
  flags.Double("rate-hz", &rate_hz, "frames per second", 1, 10'000);
  flags.Int("seconds", &seconds, "how long to run", 1, 86'400);
  flags.Int("simulations", &simulations, "MCTS simulations per label", 1, 1'000'000);
  flags.Double("label-fraction", &label_fraction, "share of the decisions MCTS labels", 1e-6, 1);
  flags.Int("planner-threads", &threads, "MCTS workers", 1, 64);
  flags.Int("seed", &seed, "seed of the worlds, the labels and the student", 0, INT64_MAX);
  flags.Bool("json", &json, "print the summary as JSON instead of a table");
  flags.String("json-out", &json_out, "also write the summary as JSON to this file");
  const std::vector<std::string> args(argv + 1, argv + argc);
  if (Status s = flags.Parse(args); !s.ok()) {
    std::fprintf(stderr, "npc_demo: %s\n", s.message().c_str());
    return 2;
  }
  if (flags.help_requested()) {
    std::printf("%s", flags.Help().c_str());
    return 0;
  }

  const GridWorld prototype;
  VectorEnv worlds(prototype, agents);
  LocalLearner::Options learner_options;
  learner_options.learning.seed = static_cast<uint64_t>(seed);
  learner_options.learning.updates_per_label = 4;
  learner_options.learning.distiller.hidden = {64, 64};
  learner_options.nice = 10;
  LocalLearner learner(learner_options, prototype.observation_space(), prototype.action_space());
  AgentOptions options;
  options.mode = Mode::kReflex;
  options.seed = static_cast<uint64_t>(seed);
  options.labels = {LabelPolicy::kRandom, label_fraction};
  options.planner_threads = threads;
  options.planner_queue = 256;
  options.deadline_us = static_cast<int64_t>(1e6 / rate_hz);
  options.env_name = "gridworld";
  AgentSeams seams;
  seams.planners = [&] {
    MctsPlanner::Options m;
    m.simulations = simulations;
    m.rollout_horizon = 30;
    return Result<std::unique_ptr<Planner>>(std::make_unique<MctsPlanner>(m));
  };
  seams.learner = &learner;
  Agent agent(options, prototype, seams);
  Crowd& crowd = agent.OpenCrowd(agents);
  std::vector<const Env*> states;
  for (int64_t i = 0; i < agents; ++i) states.push_back(&worlds.env(i));
  agent.Start();

  (void)prctl(PR_SET_TIMERSLACK, 1000UL, 0UL, 0UL, 0UL);
  Pacer::Options pacing;
  pacing.rate_hz = rate_hz;
  pacing.wake_early_us = 200;
  Pacer pacer(pacing);
  const int64_t period_ns = pacer.period_ns();
  std::span<const float> observations = worlds.Reset(static_cast<uint64_t>(seed));
  LatencyHistogram frames, second_frames;
  int64_t over_budget = 0, goals = 0, frame_count = 0, printed = 0;
  if (!json) {
    std::printf("%6s %8s %9s %9s %9s %6s %5s %10s %8s %8s %8s\n", "second", "frames",
                "frame p50", "frame p99", "frame max", "missed", "late", "agreement", "goals",
                "labels", "version");
  }
  const int64_t start = NowNs();
  while (NowNs() - start < seconds * 1'000'000'000) {
    pacer.Wait({}, nullptr);
    const int64_t t0 = NowNs();
    const Crowd::Tick tick = crowd.Act(observations, states);
    const VectorEnv::Batch batch = worlds.Step(tick.actions);
    crowd.Observe(batch.rewards, batch.terminated, batch.truncated);
    observations = batch.observations;
    const int64_t frame_ns = NowNs() - t0;
    pacer.EndStep();
    frames.Record(frame_ns);
    second_frames.Record(frame_ns);
    ++frame_count;
    if (frame_ns > period_ns) ++over_budget;
    for (const uint8_t t : batch.terminated) goals += t;

    if ((NowNs() - start) / 1'000'000'000 > printed) {
      ++printed;
      const AgentMetrics m = agent.Metrics();
      if (!json) {
        std::printf("%6lld %8lld %7.2fms %7.2fms %7.2fms %6lld %5lld %9.1f%% %8lld %8lld %8lld\n",
                    static_cast<long long>(printed), static_cast<long long>(frame_count),
                    second_frames.QuantileUs(0.5) * 1e-3, second_frames.QuantileUs(0.99) * 1e-3,
                    second_frames.max_ns() * 1e-6, static_cast<long long>(over_budget),
                    static_cast<long long>(pacer.overruns()), 100.0 * m.agreement,
                    static_cast<long long>(goals), static_cast<long long>(m.labels),
                    static_cast<long long>(m.executor_version));
        std::fflush(stdout);
      }
      second_frames = LatencyHistogram();
    }
  }
  if (Status s = agent.Stop(); !s.ok()) {
    std::fprintf(stderr, "npc_demo: %s\n", s.message().c_str());
    return 1;
  }
  const AgentMetrics m = agent.Metrics();
  const int64_t missed = over_budget + pacer.overruns();
  {
    Json out = {{"agents", agents},
                {"rate_hz", rate_hz},
                {"seconds", seconds},
                {"frames", frame_count},
                {"frame_p50_ms", frames.QuantileUs(0.5) * 1e-3},
                {"frame_p99_ms", frames.QuantileUs(0.99) * 1e-3},
                {"frame_max_ms", frames.max_ns() * 1e-6},
                {"frames_over_budget", over_budget},
                {"late_ticks", pacer.overruns()},
                {"missed_frames", missed},
                {"decisions", m.steps},
                {"goals", goals},
                {"labels", m.labels},
                {"planner_drops", m.planner_drops},
                {"agreement", m.agreement},
                {"executor_version", m.executor_version}};
    const std::string text = out.Dump() + "\n";
    if (!json_out.empty()) {
      std::FILE* f = std::fopen(json_out.c_str(), "w");
      if (f == nullptr || std::fputs(text.c_str(), f) < 0 || std::fclose(f) != 0) {
        std::fprintf(stderr, "npc_demo: cannot write %s\n", json_out.c_str());
        return 1;
      }
    }
    if (json) {
      std::printf("%s", text.c_str());
      return 0;
    }
  }
  std::printf(
      "%lld NPCs at %.0f Hz for %lld s: %lld frames, frame p50 %.2f ms, p99 %.2f ms, max %.2f ms "
      "(budget %.2f ms); %lld missed (%lld over budget, %lld late); %lld decisions, %lld goals, "
      "%lld labels (%lld dropped), agreement %.1f%%, executor v%lld\n",
      static_cast<long long>(agents), rate_hz, static_cast<long long>(seconds),
      static_cast<long long>(frame_count), frames.QuantileUs(0.5) * 1e-3,
      frames.QuantileUs(0.99) * 1e-3, frames.max_ns() * 1e-6, period_ns * 1e-6,
      static_cast<long long>(missed), static_cast<long long>(over_budget),
      static_cast<long long>(pacer.overruns()), static_cast<long long>(m.steps),
      static_cast<long long>(goals), static_cast<long long>(m.labels),
      static_cast<long long>(m.planner_drops), 100.0 * m.agreement,
      static_cast<long long>(m.executor_version));
  return 0;
}
