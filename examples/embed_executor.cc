// Embedding apprentice in a C++ control loop, step by step, without the runtime's loop:
// a planner labels the states the executor visits, the distiller learns from them and hot-swaps
// new weights into the executor, which keeps answering every step.
//
//   build/examples/embed_executor [steps]
#include <cstdio>
#include <cstdlib>

#include "core/clock.h"
#include "distiller/distiller.h"
#include "env/cartpole.h"
#include "executor/executor.h"
#include "planner/mcts.h"
#include "replay/replay_buffer.h"

using namespace apprentice;

int main(int argc, char** argv) {
  const long steps = argc > 1 ? std::strtol(argv[1], nullptr, 10) : 3000;
  if (steps < 1) {
    std::fprintf(stderr, "usage: embed_executor [steps >= 1]\n");
    return 2;
  }
  CartPole env;
  MctsPlanner planner({});
  Distiller distiller({}, env.observation_space(), env.action_space());
  SnapshotSlot slot(distiller.MakeSnapshot(/*version=*/0));
  Executor executor(slot, env.action_space());  // one per thread that calls Act()
  ReplayBuffer replay(ReplayOptionsFor(/*capacity=*/50'000, "uniform"));
  Rng rng(1);
  std::vector<ReplayBuffer::RecordPtr> batch;

  auto obs = env.Reset(/*seed=*/1);
  double episode_return = 0;
  for (long t = 0; t < steps; ++t) {
    const ExecutorDecision reflex = executor.Act(obs);  // microseconds, no lock, no allocation

    PlanRequest request;  // the planner labels the state the executor is in (DAgger)
    request.observation = obs;
    request.env = &env;
    request.seed = rng.Next();
    const PlanDecision label = planner.Plan(request).ValueOrThrow();

    DecisionRecord record;
    record.observation.assign(obs.begin(), obs.end());
    record.has_label = true;
    record.planner = label.distribution;
    record.planner_action = label.action;
    record.executor_action = reflex.action;
    record.executor_version = reflex.version;

    const StepResult r = env.Step(reflex.action);  // the executor acts
    record.reward = static_cast<float>(r.reward);
    replay.Insert(std::move(record));
    episode_return += r.reward;

    if (replay.size() >= 128) {
      replay.SampleUniform(/*n=*/64, rng, batch);
      if (auto stats = distiller.Train(batch); stats.snapshot) {
        RequireOk(slot.Publish(stats.snapshot));  // picked up by the next Act()
      }
    }
    if (r.done()) {
      std::printf("step %5ld  episode return %5.0f  executor v%lld\n", t + 1, episode_return,
                  static_cast<long long>(slot.version()));
      episode_return = 0;
      obs = env.Reset(rng.Next());
    } else {
      obs = r.observation;
    }
  }
  return 0;
}
