// The executor side alone, without LibTorch: an Agent whose executor answers from a snapshot file
// (or, without one, the student's initial weights), with a planner labelling the visited states
// in the background and every decision written to an episode log. No learner: the labels are
// logged for `apprentice distill` to train on elsewhere. This program links apprentice::agent
// only; the layering test checks that LibTorch is absent from its link line.
//
//   build/examples/agent_without_torch [--snapshot FILE] [--steps N] [--logs DIR] [--planner lqr]
#include <cstdio>
#include <string>
#include <vector>

#include "agent/agent.h"
#include "agent/weights.h"
#include "core/flags.h"
#include "env/registry.h"
#include "executor/snapshot.h"
#include "executor/snapshot_file.h"
#include "planner/registry.h"

using namespace apprentice;

int main(int argc, char** argv) {
  std::string snapshot_path, logs = "runs/without-torch/logs", planner = "lqr";
  int64_t steps = 2000;
  FlagSet flags(
      "usage: agent_without_torch [flags]\n\nCartPole with an executor-side Agent and no "
      "LibTorch: the executor acts from a snapshot, the planner labels in the background, every "
      "decision goes to the episode log.");
  flags.String("snapshot", &snapshot_path, "executor snapshot file; empty = initial weights");
  flags.Int("steps", &steps, "environment steps", 1, 100'000'000);
  flags.String("logs", &logs, "episode log directory");
  flags.String("planner", &planner, "teacher", PlannerNames());
  if (Status s = flags.Parse(std::vector<std::string>(argv + 1, argv + argc)); !s.ok()) {
    std::fprintf(stderr, "agent_without_torch: %s\n", s.message().c_str());
    return 2;
  }
  if (flags.help_requested()) {
    std::printf("%s", flags.Help().c_str());
    return 0;
  }

  std::unique_ptr<Env> env = MakeEnv("cartpole").ValueOrThrow();
  std::shared_ptr<const Snapshot> weights;
  if (snapshot_path.empty()) {
    const MlpSpec spec = StudentSpec(env->observation_space(), env->action_space(), {64, 64},
                                     Activation::kTanh)
                             .ValueOrThrow();
    weights = Snapshot::Create(spec, InitialParameters(spec, /*seed=*/1), /*version=*/0)
                  .ValueOrThrow();
  } else {
    Result<LoadedSnapshot> loaded = LoadSnapshot(snapshot_path);
    if (!loaded.ok()) {
      std::fprintf(stderr, "agent_without_torch: %s\n", loaded.status().message().c_str());
      return 1;
    }
    weights = loaded->snapshot;
  }
  StaticWeights source(weights);

  AgentOptions options;
  options.mode = Mode::kReflex;
  options.log_dir = logs;
  options.env_name = "cartpole";
  AgentSeams seams;
  seams.planners = [&] { return MakePlanner(planner); };
  seams.weights = &source;  // no learner
  Agent agent(options, *env, seams);
  agent.Start();
  auto obs = env->Reset(/*seed=*/1);
  uint64_t episode_seed = 1;
  for (int64_t t = 0; t < steps; ++t) {
    const AgentDecision d = agent.Act(obs, env.get());
    const StepResult r = env->Step(d.action);
    agent.Observe(r.reward, r.terminated, r.truncated);
    obs = r.done() ? env->Reset(++episode_seed) : r.observation;
  }
  if (Status s = agent.Stop(); !s.ok()) {
    std::fprintf(stderr, "agent_without_torch: %s\n", s.message().c_str());
    return 1;
  }
  const AgentMetrics m = agent.Metrics();
  std::printf("%lld steps, %lld episodes (recent return %.1f), %lld labels, %lld records logged "
              "to %s, agreement %.1f %%, act p50 %.2f us\n",
              static_cast<long long>(m.steps), static_cast<long long>(m.episodes),
              m.recent_return, static_cast<long long>(m.labels), static_cast<long long>(m.logged),
              logs.c_str(), 100.0 * m.agreement, m.act.QuantileUs(0.5));
  return 0;
}
