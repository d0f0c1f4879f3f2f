// apprentice planner-worker: labels a run's plan requests pulled from NATS JetStream
// (nats/planner_worker.h), on this machine, next to any number of other workers.
#include <unistd.h>

#include <cstdio>
#include <string>

#include "apps/commands.h"
#include "apps/extension_flags.h"
#include "apps/flag_values.h"
#include "apps/signals.h"
#include "apps/table.h"
#include "core/flags.h"
#include "env/registry.h"
#include "nats/planner_worker.h"
#include "planner/registry.h"
#include "runtime/run.h"

namespace apprentice {
namespace {

constexpr const char* kUsage =
    "usage: apprentice planner-worker [--nats URL] [--nats-run NAME] [--env NAME]\n"
    "                                 [--planner NAME] [options]\n"
    "\n"
    "Labels the plan requests of a run whose agent uses planner workers (`apprentice run --nats\n"
    "URL --mode reflex ...`): pulls them from the run's JetStream work queue, plans\n"
    "each on its own copy of the env (loaded from the state the request carries), publishes the\n"
    "label and only then acknowledges the request. Start any number of workers, on any machine,\n"
    "at any time; a worker killed mid-plan loses nothing: its request comes again to another\n"
    "worker after --ack-wait-ms, at most --max-deliver times. --env and its options must be the\n"
    "run's (requests of another env are refused and counted). Prints progress every second and\n"
    "a summary at the end (SIGINT/SIGTERM: finishes the request in hand and stops).\n"
    "\n"
    "Exit codes: 0 done, 1 NATS could not be reached, 2 bad flags, 130/143 stopped by a signal.";

}  // namespace

int PlannerWorkerCommand(const std::vector<std::string>& args) {
  PlannerWorkerOptions o;
  std::string env_name = "cartpole", planner_name;
  double planner_delay_ms = 0.0;
  bool json = false, quiet = false;
  char host[256] = "worker";
  (void)gethostname(host, sizeof host - 1);
  o.name = std::string(host) + "-" + std::to_string(getpid());

  FlagSet flags(kUsage);
  DeclareNatsFlags(flags, o.url, o.run, o.security, o.replicas,
                   "the NATS server(s), nats://host:port (comma-separated)");
  flags.String("env", &env_name, "the run's environment (options below)", EnvNames());
  flags.String("planner", &planner_name,
               "the planner (options below); default mcts for Discrete actions, mppi for Box");
  flags.Double("planner-delay-ms", &planner_delay_ms,
               "make every plan take at least this long (same decisions; for tests and demos)", 0,
               3'600'000);
  flags.String("name", &o.name, "this worker's name, recorded in its labels (default host-pid)");
  flags.Int("ack-wait-ms", &o.ack_wait_ms,
            "a request not acknowledged this long is delivered again (to any worker)", 100,
            3'600'000);
  flags.Int("max-deliver", &o.max_deliver,
            "deliveries of one request before the server gives up on it", 1, 1000);
  flags.Int("queue", &o.queue, "the plan stream's size if this worker creates it", 1, 100'000'000);
  flags.Int("max-requests", &o.max_requests, "stop after this many requests; 0 = never", 0,
            INT64_MAX);
  flags.Int("idle-exit-s", &o.idle_exit_ms, "stop after this many seconds without a request; "
            "0 = never", 0, 86'400);
  flags.Bool("json", &json, "print the summary as JSON");
  flags.Bool("quiet", &quiet, "no progress lines");
  ExtensionFlags env_flags(flags, "Environment options (each env declares its own)", "env",
                           "env-opt", ExtensionsOf(Envs()));
  ExtensionFlags planner_flags(flags, "Planner options (each planner declares its own)", "planner",
                               "planner-opt", ExtensionsOf(Planners()));
  auto usage_error = [](const std::string& message) {
    return UsageError("apprentice planner-worker", message);
  };
  if (std::optional<int> done = ParseCommandFlags(flags, args, "apprentice planner-worker")) {
    return *done;
  }
  if (o.url.empty()) return usage_error("--nats: give the NATS server's URL");
  o.idle_exit_ms *= 1000;
  Result<OptionValues> env_options = env_flags.ValuesFor(env_name);
  if (!env_options.ok()) return usage_error(env_options.status().message());
  Result<std::unique_ptr<Env>> env = MakeEnv(env_name, *env_options);
  if (!env.ok()) return usage_error(env.status().message());
  if (planner_name.empty()) planner_name = DefaultPlannerFor((*env)->action_space());
  Result<OptionValues> planner_options = planner_flags.ValuesFor(planner_name);
  if (!planner_options.ok()) return usage_error(planner_options.status().message());
  Result<std::unique_ptr<Planner>> planner =
      MakePlanner(planner_name, *planner_options, planner_delay_ms);
  if (!planner.ok()) return usage_error(planner.status().message());
  if (Status s = (*planner)->CanTeach(**env); !s.ok()) return usage_error(s.message());
  if (Status s = o.Validate(); !s.ok()) return usage_error(s.message());
  const std::string env_key =
      EnvKey(env_name, Envs().Resolve(env_name, *env_options).ValueOrThrow().ToString());

  if (!quiet) {
    std::fprintf(stderr, "apprentice planner-worker %s: run %s at %s, env %s, planner %s\n",
                 o.name.c_str(), o.run.c_str(), o.url.c_str(), env_key.c_str(),
                 planner_name.c_str());
  }
  PlannerWorkerStats stats;
  auto progress = [&](const PlannerWorkerStats& s) {
    if (quiet) return;
    std::fprintf(stderr,
                 "[%7.1fs] requests %lld  labels %lld  redelivered %lld  failed %lld  refused "
                 "%lld  errors %lld\n",
                 s.seconds, static_cast<long long>(s.requests), static_cast<long long>(s.labels),
                 static_cast<long long>(s.redelivered), static_cast<long long>(s.failed),
                 static_cast<long long>(s.refused), static_cast<long long>(s.errors));
  };
  const Status s = RunPlannerWorker(o, **planner, **env, env_key, ProcessStop(), stats, progress);
  if (!s.ok()) {
    std::fprintf(stderr, "apprentice planner-worker: %s\n", s.message().c_str());
    return s.code() == StatusCode::kInvalidArgument ? 2 : 1;
  }
  if (json) {
    std::printf("%s\n", stats.ToJson().Dump(2).c_str());
  } else {
    Table t({"metric", "value"});
    t.AddRow({"requests", std::to_string(stats.requests)});
    t.AddRow({"labels", std::to_string(stats.labels)});
    t.AddRow({"redelivered", std::to_string(stats.redelivered)});
    t.AddRow({"failed plans", std::to_string(stats.failed)});
    t.AddRow({"refused requests", std::to_string(stats.refused)});
    t.AddRow({"NATS errors", std::to_string(stats.errors)});
    t.AddRow({"time", Format("%.1f s", stats.seconds)});
    if (!stats.last_error.empty()) t.AddRow({"last error", stats.last_error});
    std::printf("apprentice planner-worker %s\n\n%s", o.name.c_str(), t.ToString().c_str());
  }
  return ProcessStop().requested() ? StopExitCode() : 0;
}

}  // namespace apprentice
