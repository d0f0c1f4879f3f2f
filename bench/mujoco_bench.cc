// MuJoCo through apprentice: the adapter's cost over raw MuJoCo, env copies, sampling-planner
// rollouts, and the executor's Gaussian head.
//
//   mujoco_bench [--seconds 1] [--testspeed /usr/bin/mujoco-testspeed] [--json]
//
// For each shipped task model and the humanoid of libmujoco-samples, one after the other, each
// measured for --seconds:
//   adapter       MujocoEnv::Step with frame_skip 1 (one mj_step per env step: its checks,
//                 controls, the task's reward and observation), random controls in the box;
//   raw           mj_step on the same model and controls, in a plain loop;
//   testspeed     MuJoCo's own mujoco-testspeed on the same file (one thread, its control
//                 noise), run from here in the same process run;
//   copy          CopyStateFrom (mj_copyData into a preallocated mjData), and Clone();
//   rollouts      MPPI rollouts per second per worker thread (horizon 30, the task's frame skip),
//                 with 1 and 2 threads.
// Then the executor's decision latency for a Gaussian head on each task's spaces (hidden
// 64,64), p50 and p99 over 200 000 calls.
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <mujoco/mujoco.h>

#include "core/clock.h"
#include "core/flags.h"
#include "core/json.h"
#include "core/latency_histogram.h"
#include "core/rng.h"
#include "env/mujoco/mujoco_env.h"
#include "env/registry.h"
#include "executor/executor.h"
#include "executor/snapshot.h"
#include "planner/mppi.h"
#include "planner/registry.h"

using namespace apprentice;

namespace {

struct Model {
  std::string label, env, file;
};

std::unique_ptr<MujocoEnv> Make(const Model& model, int64_t frame_skip) {
  OptionValues options{{"model", model.file}};
  if (frame_skip > 0) options.Set("frame_skip", std::to_string(frame_skip));
  auto env = MakeEnv(model.env, options).ValueOrThrow();
  return std::unique_ptr<MujocoEnv>(static_cast<MujocoEnv*>(env.release()));
}

std::vector<Action> RandomControls(const Space& space, int n, uint64_t seed) {
  Rng rng(seed);
  std::vector<Action> out;
  std::vector<float> u(static_cast<size_t>(space.flat_size()));
  for (int k = 0; k < n; ++k) {
    for (size_t i = 0; i < u.size(); ++i) {
      const bool bounded = std::isfinite(space.low()[i]) && std::isfinite(space.high()[i]);
      u[i] = bounded ? static_cast<float>(rng.Uniform(space.low()[i], space.high()[i]))
                     : static_cast<float>(rng.Uniform(-1, 1));
    }
    out.push_back(Action::Continuous(u));
  }
  return out;
}

// Steps per second of `step` run in batches until `seconds` have passed; `reset` starts anew
// when an episode ends.
template <class Step>
double Rate(double seconds, Step step) {
  const int64_t start = NowNs(), end = start + static_cast<int64_t>(seconds * 1e9);
  int64_t n = 0;
  while (NowNs() < end) {
    for (int i = 0; i < 256; ++i) step(n + i);
    n += 256;
  }
  return static_cast<double>(n) / (static_cast<double>(NowNs() - start) * 1e-9);
}

double AdapterRate(const Model& model, double seconds) {
  auto env = Make(model, 1);
  const std::vector<Action> controls = RandomControls(env->action_space(), 1024, 1);
  env->Reset(1);
  return Rate(seconds, [&](int64_t i) {
    if (env->Step(controls[static_cast<size_t>(i) % controls.size()]).done()) env->Reset(i);
  });
}

double RawRate(const Model& model, double seconds) {
  auto env = Make(model, 1);  // the same compiled model
  const mjModel* m = env->model();
  mjData* d = mj_makeData(m);
  const std::vector<Action> controls = RandomControls(env->action_space(), 1024, 1);
  env->Reset(1);
  mj_copyData(d, m, env->data());
  const double rate = Rate(seconds, [&](int64_t i) {
    const Action& a = controls[static_cast<size_t>(i) % controls.size()];
    for (int k = 0; k < m->nu; ++k) d->ctrl[k] = a.values()[k];
    mj_step(m, d);
  });
  mj_deleteData(d);
  return rate;
}

// mujoco-testspeed's "Steps per second", or -1 when it cannot run.
double TestspeedRate(const std::string& testspeed, const std::string& file, double seconds,
                     double raw_rate) {
  const auto steps = static_cast<long long>(std::max(1000.0, raw_rate * seconds));
  const std::string command =
      testspeed + " '" + file + "' " + std::to_string(steps) + " 1 0.01 2>&1";
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return -1;
  char line[512];
  double rate = -1;
  while (std::fgets(line, sizeof(line), pipe) != nullptr) {
    double v = 0;
    if (std::sscanf(line, " Steps per second : %lf", &v) == 1) rate = v;
  }
  ::pclose(pipe);
  return rate;
}

struct CopyCost {
  double copy_ns = 0, clone_us = 0;
};

CopyCost Copies(const Model& model, double seconds) {
  auto env = Make(model, 0);
  env->Reset(3);
  auto target = env->Clone();
  CopyCost cost;
  cost.copy_ns = 1e9 / Rate(seconds, [&](int64_t) { (void)target->CopyStateFrom(*env); });
  std::unique_ptr<Env> keep;
  cost.clone_us = 1e6 / Rate(seconds / 4, [&](int64_t) { keep = env->Clone(); });
  return cost;
}

// Rollouts per second per thread of MPPI planning from the start state.
double RolloutsPerThread(const Model& model, int threads, double seconds) {
  auto env = Make(model, 0);
  const std::span<const float> obs = env->Reset(5);
  auto planner = MakePlanner("mppi", {{"threads", std::to_string(threads)}}).ValueOrThrow();
  auto& mppi = dynamic_cast<MppiPlanner&>(*planner);
  int64_t rollouts = 0;
  const int64_t start = NowNs(), end = start + static_cast<int64_t>(seconds * 1e9);
  uint64_t seed = 0;
  while (NowNs() < end) {
    PlanRequest r;
    r.observation = obs;
    r.env = env.get();
    r.seed = ++seed;
    (void)planner->Plan(r).ValueOrThrow();
    rollouts += mppi.last_rollouts();
  }
  return static_cast<double>(rollouts) / (static_cast<double>(NowNs() - start) * 1e-9) / threads;
}

LatencyHistogram GaussianExecutor(const Model& model) {
  auto env = Make(model, 0);
  const MlpSpec spec =
      StudentSpec(env->observation_space(), env->action_space(), {64, 64}, Activation::kTanh)
          .ValueOrThrow();
  SnapshotSlot slot(Snapshot::Create(spec, InitialParameters(spec, 1), 1).ValueOrThrow());
  Executor executor(slot, env->action_space());
  const std::vector<float> obs(env->Reset(1).begin(), env->Reset(1).end());
  LatencyHistogram h;
  for (int i = 0; i < 200'000; ++i) {
    const int64_t t0 = NowNs();
    const ExecutorDecision d = executor.Act(obs);
    h.Record(NowNs() - t0);
    if (!std::isfinite(d.confidence)) std::abort();
  }
  return h;
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = 1;
  std::string testspeed = "/usr/bin/mujoco-testspeed";
  std::string models = APPRENTICE_SOURCE_DIR "/env/mujoco/models/";
  std::string humanoid = "/usr/share/mujoco/model/humanoid/humanoid.xml";
  bool json = false;
  FlagSet flags(
      "usage: mujoco_bench [flags]\n\nMuJoCo through apprentice: the adapter against raw mj_step "
      "and mujoco-testspeed, env copies, MPPI rollouts, the Gaussian executor.");
  flags.Double("seconds", &seconds, "length of each measurement", 0.05, 3600);
  flags.String("testspeed", &testspeed, "MuJoCo's mujoco-testspeed program (libmujoco-samples)");
  flags.String("humanoid", &humanoid, "the libmujoco-samples model measured with ours");
  flags.Bool("json", &json, "print JSON instead of a table");
  if (Status s = flags.Parse(std::vector<std::string>(argv + 1, argv + argc)); !s.ok()) {
    std::fprintf(stderr, "mujoco_bench: %s\n", s.message().c_str());
    return 2;
  }
  if (flags.help_requested()) {
    std::printf("%s", flags.Help().c_str());
    return 0;
  }
  const std::vector<Model> list = {{"cartpole", "mujoco-cartpole", models + "cartpole.xml"},
                                   {"reacher", "mujoco-reacher", models + "reacher.xml"},
                                   {"pusher", "mujoco-pusher", models + "pusher.xml"},
                                   {"humanoid", "mujoco", humanoid}};
  Json::Array rows;
  if (!json) {
    std::printf("%-9s %12s %12s %12s %9s %9s %9s %10s %12s %12s %9s %9s\n", "model",
                "adapter/s", "raw/s", "testspeed/s", "vs raw", "vs tspeed", "copy ns",
                "clone us", "rollouts/s 1", "rollouts/s 2", "exec p50", "exec p99");
  }
  for (const Model& model : list) {
    std::fprintf(stderr, "mujoco_bench: %s ...\n", model.label.c_str());
    const double adapter = AdapterRate(model, seconds);
    const double raw = RawRate(model, seconds);
    const double tspeed = TestspeedRate(testspeed, model.file, seconds, raw);
    const CopyCost copies = Copies(model, seconds);
    const bool plans = model.env != "mujoco";  // the raw task pays nothing: no planning there
    const double r1 = plans ? RolloutsPerThread(model, 1, seconds) : 0.0;
    const double r2 = plans ? RolloutsPerThread(model, 2, seconds) : 0.0;
    const LatencyHistogram exec = GaussianExecutor(model);
    const double vs_raw = adapter / raw - 1.0;
    const double vs_tspeed = tspeed > 0 ? adapter / tspeed - 1.0 : 0.0;
    if (json) {
      rows.push_back(Json{{"model", model.label},
                          {"file", model.file},
                          {"adapter_steps_per_s", adapter},
                          {"raw_steps_per_s", raw},
                          {"testspeed_steps_per_s", tspeed},
                          {"copy_ns", copies.copy_ns},
                          {"clone_us", copies.clone_us},
                          {"mppi_rollouts_per_s_per_thread_1", r1},
                          {"mppi_rollouts_per_s_per_thread_2", r2},
                          {"executor_latency_us", LatencyPercentilesJson(exec)}});
      continue;
    }
    std::printf("%-9s %12.0f %12.0f %12.0f %8.1f%% %8.1f%% %9.0f %10.1f %12.0f %12.0f %9.2f %9.2f\n",
                model.label.c_str(), adapter, raw, tspeed, 100 * vs_raw, 100 * vs_tspeed,
                copies.copy_ns, copies.clone_us, r1, r2, exec.QuantileUs(0.5),
                exec.QuantileUs(0.99));
  }
  if (json) std::printf("%s\n", Json(std::move(rows)).Dump(2).c_str());
  return 0;
}
