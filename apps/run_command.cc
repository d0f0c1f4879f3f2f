#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <string_view>

#include "apps/commands.h"
#include "apps/extension_flags.h"
#include "apps/flag_values.h"
#include "apps/signals.h"
#include "apps/table.h"
#include "core/atomic_file.h"
#include "core/flags.h"
#include "env/registry.h"
#include "planner/registry.h"
#include "replay/samplers/registry.h"
#include "runtime/run.h"
#include "runtime/run_store.h"

namespace apprentice {
namespace {

constexpr const char* kUsage =
    "usage: apprentice run [flags]\n"
    "\n"
    "Runs a live distillation: the executor acts, the planner labels the states it visits,\n"
    "the distiller trains the executor on those labels and publishes new weights into the loop.\n"
    "Then the executor is evaluated alone (planner off) and the planner alone, and a summary\n"
    "table is printed. Progress goes to stderr; the table (or --json) to stdout.\n"
    "\n"
    "Modes: sync runs everything on one thread (DAgger with a decaying beta-mixture; the same\n"
    "seed gives the same result bit for bit). The others run an Agent: the executor answers on\n"
    "the loop's thread (at --rate-hz), the planner pool labels in the background, the distiller\n"
    "trains on its own thread. reflex: the executor always acts. deadline: the planner acts if\n"
    "it answers within --deadline-us. gated: the executor acts when its confidence is at least\n"
    "--gate-confidence, else as deadline. planner: the planner acts. dagger: the planner acts\n"
    "with probability beta. Every mode appends metrics as JSON lines to RUN_DIR/metrics.jsonl\n"
    "(apprentice report draws them).\n"
    "\n"
    "Envs, planners and replay samplers declare their own options: --<name>-<option> (e.g.\n"
    "--mcts-simulations 64) or --env-opt/--planner-opt/--replay-opt key=value, listed below.\n"
    "\n"
    "SIGINT/SIGTERM stop the run cleanly at any moment: the summary of what ran is printed and\n"
    "written, and the exit code is 130/143 (a second signal aborts). Exit 2: bad usage; exit 1:\n"
    "a failure while running (e.g. the log or a checkpoint cannot be written: the summary says\n"
    "what failed, and its counts are what is on disk).";

std::string Us(double us) {
  return us >= 1000.0 ? Format("%.2f ms", us / 1000.0) : Format("%.2f us", us);
}

void PrintTable(const RunSummary& s) {
  Table t({"metric", "value"});
  t.AddRow({"planner return", Format("%.1f  (%lld episodes)", s.planner_return,
                                     static_cast<long long>(s.planner_eval_episodes))});
  t.AddRow({"executor return", Format("%.1f  (%lld episodes, min %.1f)", s.executor_return,
                                      static_cast<long long>(s.eval_episodes),
                                      s.executor_return_min)});
  t.AddRow({"executor / planner",
            s.planner_return != 0.0 ? Format("%.1f %%", 100.0 * s.executor_return / s.planner_return)
                                    : "n/a"});
  t.AddRow({"random policy return", Format("%.1f  (%lld episodes)", s.random_return,
                                           static_cast<long long>(s.random_episodes))});
  t.AddRow({"normalised return", std::isfinite(s.normalised_return())
                                     ? Format("%.3f  (executor - random) / (planner - random)",
                                              s.normalised_return())
                                     : "n/a  (the planner is no better than random)"});
  t.AddRow({"agreement", Format("%.1f %%, KL %.4f  (training, last 1000: %.1f %%, KL %.4f)",
                                100.0 * s.agreement, s.mean_kl, 100.0 * s.training_agreement,
                                s.training_mean_kl)});
  if (s.labels_to_target >= 0 || !s.curve.empty()) {
    t.AddRow({"labels to 97 % of planner",
              s.labels_to_target >= 0 ? std::to_string(s.labels_to_target) : "not reached"});
  }
  t.AddRow({"planner labels", std::to_string(s.planner_labels)});
  t.AddRow({"distiller updates", Format("%lld  (executor version %lld)",
                                        static_cast<long long>(s.distiller_updates),
                                        static_cast<long long>(s.executor_version))});
  t.AddRow({"executor latency p50 / p99", Us(s.executor_latency.QuantileUs(0.5)) + " / " +
                                              Us(s.executor_latency.QuantileUs(0.99))});
  t.AddRow({"planner latency p50 / p99", Us(s.planner_latency.QuantileUs(0.5)) + " / " +
                                             Us(s.planner_latency.QuantileUs(0.99))});
  const double exec_p50 = s.executor_latency.Quantile(0.5);
  t.AddRow({"planner / executor p50",
            exec_p50 > 0 ? Format("%.0fx", s.planner_latency.Quantile(0.5) / exec_p50) : "n/a"});
  if (s.mode != "sync") {
    t.AddRow({"act latency p50 / p99 / max", Us(s.act_latency.QuantileUs(0.5)) + " / " +
                                                 Us(s.act_latency.QuantileUs(0.99)) + " / " +
                                                 Us(s.act_latency.max_ns() * 1e-3)});
    t.AddRow({"acted by executor / planner",
              Format("%lld / %lld", static_cast<long long>(s.acted_by_executor),
                     static_cast<long long>(s.acted_by_planner))});
    t.AddRow({"deadline misses", std::to_string(s.deadline_misses) +
                                     (s.rate_hz > 0 ? Format("  (loop overruns %lld at %g Hz)",
                                                             static_cast<long long>(s.loop_overruns),
                                                             s.rate_hz)
                                                    : std::string())});
    t.AddRow({"planner drops / timeouts / errors",
              Format("%lld / %lld / %lld", static_cast<long long>(s.planner_drops),
                     static_cast<long long>(s.planner_timeouts),
                     static_cast<long long>(s.planner_errors))});
    if (!s.last_error.empty()) t.AddRow({"last error", s.last_error});
  }
  t.AddRow({"logged records", std::to_string(s.logged)});
  t.AddRow({"time", Format("%.1f s  (training %.1f s)%s", s.total_seconds, s.train_seconds,
                           s.interrupted ? "  interrupted" : "")});
  if (!s.nats.empty()) t.AddRow({"NATS", s.nats});
  if (!s.error.empty()) t.AddRow({"error", s.error});
  std::printf("apprentice run: env %s, planner %s, seed %llu, mode %s\n\n%s", s.env.c_str(),
              s.planner.c_str(), static_cast<unsigned long long>(s.seed), s.mode.c_str(),
              t.ToString().c_str());
}

std::string ProgressLine(const RunProgress& p) {
  if (p.agent != nullptr) {
    const AgentMetrics& m = *p.agent;
    std::string line = Format(
        "[%6.1fs] %s  step %lld/%lld  act p50/p99 %.2f/%.2f us  misses %lld  labels %lld  "
        "queue %lld/%lld drops %lld  train %lld  agreement %.1f%%  return %.1f  executor v%lld",
        p.elapsed_s, std::string(ModeName(m.mode)).c_str(), static_cast<long long>(p.step),
        static_cast<long long>(p.total_steps), m.act.QuantileUs(0.5), m.act.QuantileUs(0.99),
        static_cast<long long>(m.deadline_misses), static_cast<long long>(m.labels),
        static_cast<long long>(m.queue_depth), static_cast<long long>(m.queue_capacity),
        static_cast<long long>(m.planner_drops), static_cast<long long>(m.train_steps),
        100.0 * m.agreement, m.recent_return, static_cast<long long>(m.executor_version));
    if (m.planner_errors > 0 || m.planner_stuck > 0) {
      line += Format("  planner errors %lld stuck %lld", static_cast<long long>(m.planner_errors),
                     static_cast<long long>(m.planner_stuck));
    }
    return line;
  }
  if (std::string_view(p.phase) == "train") {
    return Format("[%6.1fs] train  step %lld/%lld  labels %lld  episodes %lld  agreement %.1f%%"
                  "  recent return %.1f (planner acts %.1f%%)  executor v%lld",
                  p.elapsed_s, static_cast<long long>(p.step),
                  static_cast<long long>(p.total_steps), static_cast<long long>(p.labels),
                  static_cast<long long>(p.episodes), 100.0 * p.agreement, p.recent_return,
                  100.0 * p.beta, static_cast<long long>(p.executor_version));
  }
  return Format("[%6.1fs] %s  episode %lld", p.elapsed_s, p.phase,
                static_cast<long long>(p.episodes));
}

std::string DefaultRunDir(const RunOptions& o) {
  char stamp[32];
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  localtime_r(&now, &tm);
  std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
  return "runs/" + std::string(stamp) + "-" + o.env + "-" + o.mode + "-seed" +
         std::to_string(o.seed);
}

}  // namespace

int RunCommand(const std::vector<std::string>& args) {
  RunOptions o;
  std::string summary_json;
  bool json = false, quiet = false;
  std::string hidden = "64,64";
  std::string run_dir, resume_dir;
  std::string label_policy = "all";
  std::string nats_parts = "planners";
  int64_t seed = static_cast<int64_t>(o.seed);

  FlagSet flags(kUsage);
  flags.String("env", &o.env, "environment (options below)", EnvNames());
  const std::vector<std::string> known_planners = PlannerNames();
  std::string all_planners;
  for (const std::string& name : known_planners) {
    all_planners += (all_planners.empty() ? "" : "|") + name;
  }
  flags.String("planner", &o.planner,
               "planner, the teacher (options below): " + all_planners +
                   "; several joined by commas (mcts,lqr) teach as an ensemble (--planner-weights); "
                   "when not given, mcts for an env with Discrete actions and mppi for one with "
                   "Box actions");
  std::string planner_weights;
  flags.String("planner-weights", &planner_weights,
               "an ensemble's weights, one per --planner member (0.7,0.3); default equal");
  flags.String("mode", &o.mode, "who acts, and how the actors run (see above)", RunModeNames());
  flags.Double("rate-hz", &o.rate_hz, "agent modes: fixed loop rate; 0 = as fast as possible", 0,
               1e6);
  flags.Int("wake-early-us", &o.wake_early_us,
            "agent modes with --rate-hz: wake this long before each tick, warm the executor and "
            "the plan queue, spin to the tick; 0 = sleep to the tick",
            0, 1'000'000);
  flags.Int("deadline-us", &o.agent.deadline_us,
            "agent modes: act() deadline; deadline/gated: how long to wait for the planner", 1,
            60'000'000);
  flags.Double("gate-confidence", &o.agent.gate_confidence,
               "gated: the executor acts when its confidence is at least this", 0, 1);
  flags.Bool("sample-actions", &o.agent.sample_actions,
             "while training, the executor acts with a draw from its distribution instead of its "
             "greedy action (the argmax, or the Gaussian's mean); evaluations stay greedy");
  flags.Int("planner-threads", &o.agent.planner_threads, "agent modes: planner workers", 1, 256);
  flags.Int("planner-queue", &o.agent.planner_queue,
            "agent modes: pending plan requests; the oldest is dropped when full", 2, 1'000'000);
  flags.Int("planner-wait-ms", &o.agent.planner_wait_ms,
            "planner/dagger modes: the longest wait for the planner before the executor acts", 1,
            3'600'000);
  DeclareLabelFlags(flags, label_policy, o.agent.labels);
  flags.Double("planner-delay-ms", &o.planner_delay_ms,
               "make every planner decision take at least this long (same decisions)", 0,
               3'600'000);
  flags.String("run-dir", &run_dir,
               "directory for the run's logs, snapshot, checkpoint and metrics (default "
               "runs/<time>-<env>-<mode>-seed<N>)");
  flags.Int("metrics-interval-ms", &o.agent.metrics_interval_ms,
            "between the lines of RUN_DIR/metrics.jsonl", 10, 3'600'000);
  DeclareNatsFlags(flags, o.nats_url, o.nats_run, o.nats_security, o.nats_replicas,
                   "agent modes: parts of the run are elsewhere, on NATS JetStream at this URL "
                   "(nats://127.0.0.1:4222): the planners (`apprentice planner-worker`), the "
                   "learner (`apprentice learner`) or both, by --nats-parts");
  flags.String("nats-parts", &nats_parts,
               "with --nats: what runs elsewhere: planners, learner, or planners,learner",
               {"planners", "learner", "planners,learner", "learner,planners"});
  flags.Int("nats-wait-ms", &o.nats_wait_ms,
            "with the learner elsewhere: the longest wait for its first snapshot", 0, 3'600'000);
  flags.Int("checkpoint-every-ms", &o.checkpoint_every_ms,
            "agent modes: save the checkpoint and snapshot this often (and at the end)", 1,
            86'400'000);
  flags.String("resume", &resume_dir,
               "continue the run in this directory: its logs refill the replay, its checkpoint "
               "restores the distiller; new records are appended to its logs");
  flags.Int("seed", &seed, "seed of everything random; same seed, same result", 0, INT64_MAX);
  flags.Int("steps", &o.steps, "training steps; each visited state is labelled by the planner", 1,
            100'000'000);
  flags.String("summary-json", &summary_json, "also write the summary as JSON to this file");
  flags.Bool("json", &json, "print the summary as JSON instead of a table");
  flags.Bool("quiet", &quiet, "no progress lines on stderr");
  flags.Double("beta", &o.beta, "probability that the planner acts in the first episode", 0, 1);
  flags.Double("beta-decay", &o.beta_decay, "beta is multiplied by this after each episode", 0, 1);
  flags.Double("updates-per-step", &o.updates_per_step,
               "distiller updates per label once --min-replay labels are in (the rate limit)", 0,
               1000);
  flags.String("replay-sampler", &o.replay_sampler,
               "how the distiller draws from the replay (options below)", SamplerNames());
  flags.Int("min-replay", &o.min_replay, "labels needed before training starts", 1, 100'000'000);
  flags.Int("eval-episodes", &o.eval_episodes, "episodes to evaluate the executor alone", 1,
            100000);
  flags.Int("planner-eval-episodes", &o.planner_eval_episodes,
            "episodes to evaluate the planner alone", 0, 100000);
  flags.Int("curve-every", &o.curve_every,
            "sync: evaluate the executor alone every N labels (the summary's learning curve); "
            "0 = never",
            0, 100'000'000);
  flags.Int("curve-episodes", &o.curve_episodes, "episodes of each learning-curve evaluation", 1,
            10000);
  DeclareDistillerFlags(flags, o.distiller, hidden, /*publish_every=*/true);
  ExtensionFlags env_flags(flags, "Environment options (each env declares its own)", "env",
                           "env-opt", ExtensionsOf(Envs()));
  ExtensionFlags planner_flags(flags, "Planner options (each planner declares its own)", "planner",
                               "planner-opt", ExtensionsOf(Planners()));
  ExtensionFlags replay_flags(flags, "Replay sampler options (each sampler declares its own)",
                              "replay sampler", "replay-opt", ExtensionsOf(Samplers()));

  auto usage_error = [](const std::string& message) {
    return UsageError("apprentice run", message);
  };
  if (std::optional<int> done = ParseCommandFlags(flags, args, "apprentice run")) return *done;
  Result<std::vector<int64_t>> widths = ParseHiddenWidths(hidden);
  if (!widths.ok()) return usage_error(widths.status().message());
  o.distiller.hidden = *widths;
  o.seed = static_cast<uint64_t>(seed);
  Result<OptionValues> env_options = env_flags.ValuesFor(o.env);
  if (!env_options.ok()) return usage_error(env_options.status().message());
  o.env_options = std::move(*env_options);
  if (!flags.WasSet("planner")) {
    Result<std::unique_ptr<Env>> env = MakeEnv(o.env, o.env_options);
    if (!env.ok()) return usage_error(env.status().message());
    o.planner = DefaultPlannerFor((*env)->action_space());
  }
  for (const std::string& member : PlannerMembers(o.planner)) {
    if (std::find(known_planners.begin(), known_planners.end(), member) ==
        known_planners.end()) {
      return usage_error("--planner: unknown value '" + member + "' (choose " + all_planners +
                         ", or several joined by commas)");
    }
  }
  Result<OptionValues> planner_options = planner_flags.ValuesFor(o.planner);
  if (!planner_options.ok()) return usage_error(planner_options.status().message());
  o.planner_options = std::move(*planner_options);
  if (Status s = CheckFeatureTeacher(o.distiller.feature_weight, o.planner, o.planner_options);
      !s.ok()) {
    return usage_error(s.message());
  }
  if (!planner_weights.empty()) {
    if (PlannerMembers(o.planner).size() < 2) {
      return usage_error("--planner-weights needs an ensemble: several --planner names, "
                         "joined by commas");
    }
    o.planner_options.Set("weights", planner_weights);
  }
  Result<OptionValues> replay_options = replay_flags.ValuesFor(o.replay_sampler);
  if (!replay_options.ok()) return usage_error(replay_options.status().message());
  o.replay_options = std::move(*replay_options);
  if (Status s = ApplyLabelFlags(flags, label_policy, o.agent.labels); !s.ok()) {
    return usage_error(s.message());
  }
  if (o.mode == "sync" && flags.WasSet("label-policy")) {
    return usage_error("--label-policy is for agent modes: sync mode labels every step");
  }
  o.nats_planners = nats_parts.find("planners") != std::string::npos;
  o.nats_learner = nats_parts.find("learner") != std::string::npos;
  if (o.nats_url.empty() && (flags.WasSet("nats-parts") || flags.WasSet("nats-run"))) {
    return usage_error("--nats-parts and --nats-run need --nats URL");
  }
  if (Status s = CheckRunnable(o); !s.ok()) return usage_error(s.message());
  // Checked before the run without touching the file, so that a bad path is found before
  // minutes of work, and an existing file is replaced only by a complete new summary.
  if (!summary_json.empty()) {
    if (Status s = CheckWritable(summary_json); !s.ok()) {
      return usage_error("--summary-json: " + s.message());
    }
  }

  if (flags.WasSet("resume") && flags.WasSet("run-dir")) {
    return usage_error("give --resume DIR or --run-dir DIR, not both");
  }
  o.resume = flags.WasSet("resume");
  o.run_dir = o.resume ? resume_dir : flags.WasSet("run-dir") ? run_dir : DefaultRunDir(o);
  std::error_code ec;
  if (o.resume && !std::filesystem::is_directory(RunLogDir(o.run_dir), ec)) {
    return usage_error("--resume: " + o.run_dir + " has no logs/ to continue from");
  }
  Result<RunIdentity> identity = IdentityOf(o);
  if (!identity.ok()) return usage_error(identity.status().message());
  Result<RunDirectory> directory = RunDirectory::Open(o.run_dir);
  if (!directory.ok()) {
    return usage_error(std::string(o.resume ? "--resume: " : "--run-dir: ") +
                       directory.status().message());
  }
  if (o.resume) {
    if (Status s = directory->CheckResumable(*identity); !s.ok()) {
      return usage_error("--resume: " + s.message());
    }
  } else if (Status s = directory->WriteIdentity(*identity); !s.ok()) {
    std::fprintf(stderr, "apprentice run: %s\n", s.message().c_str());
    return 1;
  }

  const bool tty = isatty(STDERR_FILENO) != 0;
  o.progress_interval_ns = tty ? 250'000'000 : 2'000'000'000;
  if (!quiet) {
    std::fprintf(stderr,
                 "apprentice run: mode=%s env=%s planner=%s seed=%llu steps=%lld beta=%g "
                 "beta-decay=%g hidden=%s T=%g alpha=%g lr=%g batch=%lld publish-every=%lld "
                 "updates-per-step=%g replay-sampler=%s\n",
                 o.mode.c_str(), o.env.c_str(), o.planner.c_str(),
                 static_cast<unsigned long long>(o.seed), static_cast<long long>(o.steps), o.beta,
                 o.beta_decay, hidden.c_str(), o.distiller.temperature, o.distiller.alpha,
                 o.distiller.learning_rate, static_cast<long long>(o.distiller.batch_size),
                 static_cast<long long>(o.distiller.publish_every), o.updates_per_step,
                 o.replay_sampler.c_str());
    std::fprintf(stderr, "apprentice run: %s options: %s; %s options: %s\n", o.env.c_str(),
                 identity->env_options.ToString().c_str(), o.planner.c_str(),
                 identity->planner_options.ToString().c_str());
    std::fprintf(stderr, "apprentice run: run-dir=%s%s\n", o.run_dir.c_str(),
                 o.resume ? " (resuming)" : "");
    if (o.mode != "sync") {
      std::fprintf(stderr,
                   "apprentice run: rate-hz=%g deadline-us=%lld planner-threads=%lld "
                   "planner-queue=%lld planner-delay-ms=%g gate-confidence=%g\n",
                   o.rate_hz, static_cast<long long>(o.agent.deadline_us),
                   static_cast<long long>(o.agent.planner_threads),
                   static_cast<long long>(o.agent.planner_queue), o.planner_delay_ms,
                   o.agent.gate_confidence);
    }
  }
  ProgressCallback progress;
  if (!quiet) {
    progress = [tty](const RunProgress& p) {
      std::fprintf(stderr, tty ? "\r\033[K%s" : "%s\n", ProgressLine(p).c_str());
    };
  }

  // A failure from here on is a failure while running: exit 1 (main reports exceptions).
  const RunSummary summary = Run(o, progress, &ProcessStop());
  if (tty && !quiet) std::fprintf(stderr, "\r\033[K");

  const std::string text = summary.ToJson().Dump(2) + "\n";
  if (json) {
    std::fputs(text.c_str(), stdout);
  } else {
    PrintTable(summary);
  }
  std::fflush(stdout);
  int code = summary.error.empty() ? 0 : 1;
  if (!summary.error.empty()) {
    std::fprintf(stderr, "apprentice run: error: %s\n", summary.error.c_str());
  }
  for (const std::string& path : {summary_json, RunSummaryPath(o.run_dir)}) {
    if (path.empty()) continue;
    if (Status s = WriteFileAtomically(path, text); !s.ok()) {
      std::fprintf(stderr, "apprentice run: cannot write the summary: %s\n", s.message().c_str());
      code = 1;
    }
  }
  if (code == 0 && summary.interrupted) code = StopExitCode();
  return code;
}

}  // namespace apprentice
