// apprentice learner: the replay and the distiller of a run whose agents are elsewhere, fed from
// the run's record stream on NATS JetStream, publishing snapshots into its weights bucket
// (runtime/learner_service.h).
#include <cstdio>
#include <string>

#include "apps/commands.h"
#include "apps/extension_flags.h"
#include "apps/flag_values.h"
#include "apps/signals.h"
#include "apps/table.h"
#include "core/flags.h"
#include "env/registry.h"
#include "runtime/learner_service.h"

namespace apprentice {
namespace {

constexpr const char* kUsage =
    "usage: apprentice learner --run-dir DIR [--nats URL] [--nats-run NAME] [--env NAME]\n"
    "                          [options]\n"
    "\n"
    "The learner of a run whose agents send their records over NATS (`apprentice run --nats URL\n"
    "--nats-parts learner ...`, or planners,learner): reads the run's record stream, trains the\n"
    "executor by distillation, and puts every snapshot into the run's weights bucket, which the\n"
    "agents and edge executors (`apprentice serve --executor-only --nats URL`) follow. Start it\n"
    "before the agents: they wait for its first snapshot.\n"
    "\n"
    "DIR keeps the checkpoint, the snapshot and learner.json (the stream position the checkpoint\n"
    "reaches), saved every --checkpoint-every-ms and at the end. Started again on the same DIR\n"
    "(after a crash, a SIGKILL, a move to another machine) it continues from the checkpoint, refills\n"
    "the replay from the stream's records up to that position and reads on from there: no record\n"
    "the stream acknowledged is lost. --env (and its options) gives the run's spaces. Prints\n"
    "progress every second and a summary at the end (SIGINT/SIGTERM: saves and stops).\n"
    "\n"
    "Exit codes: 0 done, 1 NATS could not be reached or the files not saved, 2 bad flags,\n"
    "130/143 stopped by a signal (after saving).";

}  // namespace

int LearnerCommand(const std::vector<std::string>& args) {
  LearnerServiceOptions o;
  std::string env_name = "cartpole", hidden = "64,64";
  int64_t seed = 1;
  bool json = false, quiet = false;
  Learning::Options& learning = o.learner.learning;
  learning.distiller.publish_every = 50;

  FlagSet flags(kUsage);
  DeclareNatsFlags(flags, o.url, o.run, o.security, o.replicas,
                   "the NATS server(s), nats://host:port (comma-separated)");
  flags.String("run-dir", &o.run_dir,
               "the learner's directory: checkpoint, snapshot, learner.json (required)");
  flags.String("env", &env_name, "the run's environment, for its spaces (options below)",
               EnvNames());
  flags.Int("seed", &seed, "the student's initial weights and batches", 0, INT64_MAX);
  flags.Int("replay-capacity", &learning.replay_capacity, "records the replay keeps", 1,
            100'000'000);
  flags.Int("min-replay", &learning.min_replay, "records needed before training starts", 1,
            100'000'000);
  flags.Double("updates-per-step", &learning.updates_per_label,
               "distiller updates per record once --min-replay are in (the rate limit)", 0,
               1'000'000);
  DeclareDistillerFlags(flags, learning.distiller, hidden, /*publish_every=*/true);
  flags.Int("checkpoint-every-ms", &o.learner.checkpoint_every_ms,
            "save the checkpoint, snapshot and position this often (and at the end)", 1,
            86'400'000);
  flags.Int("stream-records", &o.max_records,
            "the record stream's size if this learner creates it (the oldest are discarded)", 1,
            INT64_MAX);
  flags.Int("max-records", &o.max_read, "stop after reading this many new records; 0 = never", 0,
            INT64_MAX);
  flags.Int("idle-exit-s", &o.idle_exit_ms,
            "stop after this many seconds without a new record; 0 = never", 0, 86'400);
  flags.Bool("json", &json, "print the summary as JSON");
  flags.Bool("quiet", &quiet, "no progress lines");
  ExtensionFlags env_flags(flags, "Environment options (each env declares its own)", "env",
                           "env-opt", ExtensionsOf(Envs()));
  auto usage_error = [](const std::string& message) {
    return UsageError("apprentice learner", message);
  };
  if (std::optional<int> done = ParseCommandFlags(flags, args, "apprentice learner")) {
    return *done;
  }
  if (o.run_dir.empty()) return usage_error("--run-dir: give the learner's directory");
  if (o.url.empty()) return usage_error("--nats: give the NATS server's URL");
  o.idle_exit_ms *= 1000;
  Result<std::vector<int64_t>> widths = ParseHiddenWidths(hidden);
  if (!widths.ok()) return usage_error(widths.status().message());
  learning.distiller.hidden = *widths;
  learning.seed = static_cast<uint64_t>(seed);
  Result<OptionValues> env_options = env_flags.ValuesFor(env_name);
  if (!env_options.ok()) return usage_error(env_options.status().message());
  Result<std::unique_ptr<Env>> env = MakeEnv(env_name, *env_options);
  if (!env.ok()) return usage_error(env.status().message());
  o.learner.env_name = env_name;
  o.learner.note = "apprentice learner, run " + o.run;
  if (Status s = o.Validate(); !s.ok()) return usage_error(s.message());

  if (!quiet) {
    std::fprintf(stderr, "apprentice learner: run %s at %s, env %s, directory %s\n",
                 o.run.c_str(), o.url.c_str(), env_name.c_str(), o.run_dir.c_str());
  }
  LearnerServiceStats stats;
  auto progress = [&](const LearnerServiceStats& s) {
    if (quiet) return;
    std::fprintf(stderr,
                 "[%7.1fs] position %llu  records %lld  train steps %lld  version %lld  "
                 "snapshots put %lld  loss %.4f\n",
                 s.seconds, static_cast<unsigned long long>(s.position),
                 static_cast<long long>(s.records), static_cast<long long>(s.train_steps),
                 static_cast<long long>(s.executor_version),
                 static_cast<long long>(s.snapshots_put), s.last_loss);
  };
  const Status s = RunLearnerService(o, (*env)->observation_space(), (*env)->action_space(),
                                     ProcessStop(), stats, progress);
  if (!s.ok()) {
    std::fprintf(stderr, "apprentice learner: %s\n", s.message().c_str());
    return s.code() == StatusCode::kInvalidArgument ? 2 : 1;
  }
  if (json) {
    std::printf("%s\n", stats.ToJson().Dump(2).c_str());
  } else {
    Table t({"metric", "value"});
    t.AddRow({"resumed", stats.resumed
                             ? Format("from position %llu (%lld updates, version %lld; %lld "
                                      "records refilled the replay)",
                                      static_cast<unsigned long long>(stats.resumed_position),
                                      static_cast<long long>(stats.resumed_steps),
                                      static_cast<long long>(stats.resumed_version),
                                      static_cast<long long>(stats.restored))
                             : std::string("no (a new learner)")});
    t.AddRow({"stream position", std::to_string(stats.position)});
    t.AddRow({"records read",
              Format("%lld  (bad %lld, discarded by the stream unread %lld, reader restarted %lld)",
                     static_cast<long long>(stats.records),
                     static_cast<long long>(stats.bad_records),
                     static_cast<long long>(stats.skipped),
                     static_cast<long long>(stats.resubscribed))});
    t.AddRow({"distiller updates", Format("%lld  (executor version %lld)",
                                          static_cast<long long>(stats.train_steps),
                                          static_cast<long long>(stats.executor_version))});
    t.AddRow({"snapshots put", Format("%lld  (errors %lld, %lld bytes each, first after %.0f ms)",
                                      static_cast<long long>(stats.snapshots_put),
                                      static_cast<long long>(stats.put_errors),
                                      static_cast<long long>(stats.snapshot_bytes),
                                      stats.first_put_ms)});
    t.AddRow({"last loss", Format("%.4f", stats.last_loss)});
    t.AddRow({"time", Format("%.1f s", stats.seconds)});
    if (!stats.last_error.empty()) t.AddRow({"last error", stats.last_error});
    std::printf("apprentice learner\n\n%s", t.ToString().c_str());
  }
  return ProcessStop().requested() ? StopExitCode() : 0;
}

}  // namespace apprentice
