#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "apps/commands.h"
#include "apps/table.h"
#include "core/flags.h"
#include "env/registry.h"
#include "runtime/run.h"

namespace apprentice {
namespace {

constexpr const char* kUsage =
    "usage: apprentice run [flags]\n"
    "\n"
    "Runs a live distillation: the executor acts, the planner labels the states it visits\n"
    "(DAgger, with a decaying beta-mixture in which the planner acts), the distiller trains the\n"
    "executor on those labels and publishes new weights into the loop. Then the executor is\n"
    "evaluated alone (planner off) and the planner alone, and a summary table is printed.\n"
    "Progress goes to stderr; the table (or --json) to stdout.";

Result<std::vector<int64_t>> ParseWidths(const std::string& text) {
  std::vector<int64_t> widths;
  if (!text.empty() && text.back() == ',') {
    return Status::InvalidArgument("--hidden: '" + text + "' ends with a comma");
  }
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    char* end = nullptr;
    const long long w = std::strtoll(item.c_str(), &end, 10);
    if (item.empty() || *end != '\0' || w < 1 || w > 4096) {
      return Status::InvalidArgument("--hidden: '" + text +
                                     "' is not a comma-separated list of widths in [1, 4096]");
    }
    widths.push_back(w);
  }
  if (widths.empty()) return Status::InvalidArgument("--hidden: give at least one width");
  return widths;
}

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
  t.AddRow({"agreement", Format("%.1f %%  (training, last 1000: %.1f %%)", 100.0 * s.agreement,
                                100.0 * s.training_agreement)});
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
  t.AddRow({"time", Format("%.1f s  (training %.1f s)", s.total_seconds, s.train_seconds)});
  std::printf("apprentice run: env %s, planner %s, seed %llu, mode %s\n\n%s", s.env.c_str(),
              s.planner.c_str(), static_cast<unsigned long long>(s.seed), s.mode.c_str(),
              t.ToString().c_str());
}

}  // namespace

int RunCommand(const std::vector<std::string>& args) {
  RunOptions o;
  std::string summary_json;
  bool json = false, quiet = false;
  std::string hidden = "64,64";
  int64_t seed = static_cast<int64_t>(o.seed);

  FlagSet flags(kUsage);
  flags.String("env", &o.env, "environment", EnvNames());
  flags.String("planner", &o.planner, "planner (teacher)", PlannerNames());
  flags.Int("seed", &seed, "seed of everything random; same seed, same result", 0, INT64_MAX);
  flags.Int("steps", &o.steps, "training steps; each visited state is labelled by the planner", 1,
            100'000'000);
  flags.String("summary-json", &summary_json, "also write the summary as JSON to this file");
  flags.Bool("json", &json, "print the summary as JSON instead of a table");
  flags.Bool("quiet", &quiet, "no progress lines on stderr");
  flags.Double("beta", &o.beta, "probability that the planner acts in the first episode", 0, 1);
  flags.Double("beta-decay", &o.beta_decay, "beta is multiplied by this after each episode", 0, 1);
  flags.Int("updates-per-step", &o.updates_per_step, "distiller updates per labelled step", 0,
            1000);
  flags.Int("min-replay", &o.min_replay, "labels needed before training starts", 1, 100'000'000);
  flags.Int("eval-episodes", &o.eval_episodes, "episodes to evaluate the executor alone", 1,
            100000);
  flags.Int("planner-eval-episodes", &o.planner_eval_episodes,
            "episodes to evaluate the planner alone", 0, 100000);
  flags.Int("mcts-simulations", &o.planner_config.mcts.simulations, "MCTS simulations per decision",
            1, 10'000'000);
  flags.Int("mcts-rollout", &o.planner_config.mcts.rollout_horizon,
            "MCTS random-rollout horizon (steps)", 0, 100000);
  flags.Double("mcts-exploration", &o.planner_config.mcts.exploration, "MCTS UCB constant", 0,
               100);
  flags.String("hidden", &hidden, "executor hidden layer widths, comma-separated");
  flags.Double("temperature", &o.distiller.temperature, "distillation temperature T", 1e-3, 1e3);
  flags.Double("alpha", &o.distiller.alpha, "weight of the soft (KL) loss; 1-alpha for the label",
               0, 1);
  flags.Double("lr", &o.distiller.learning_rate, "Adam learning rate", 1e-8, 10);
  flags.Int("batch-size", &o.distiller.batch_size, "distiller batch size", 1, 65536);
  flags.Int("publish-every", &o.distiller.publish_every, "updates between executor snapshots", 1,
            100'000'000);

  if (Status s = flags.Parse(args); !s.ok()) {
    std::fprintf(stderr, "apprentice run: %s\n", s.message().c_str());
    return 2;
  }
  if (flags.help_requested()) {
    std::printf("%s", flags.Help().c_str());
    return 0;
  }
  Result<std::vector<int64_t>> widths = ParseWidths(hidden);
  if (!widths.ok()) {
    std::fprintf(stderr, "apprentice run: %s\n", widths.status().message().c_str());
    return 2;
  }
  o.distiller.hidden = *widths;
  o.seed = static_cast<uint64_t>(seed);
  if (Status s = CheckRunnable(o); !s.ok()) {
    std::fprintf(stderr, "apprentice run: %s\n", s.message().c_str());
    return 2;
  }
  // Opened before the run, so that a bad path is found before minutes of work, not after.
  std::ofstream summary_file;
  if (!summary_json.empty()) {
    summary_file.open(summary_json);
    if (!summary_file) {
      std::fprintf(stderr, "apprentice run: --summary-json: cannot write %s\n",
                   summary_json.c_str());
      return 2;
    }
  }

  const bool tty = isatty(STDERR_FILENO) != 0;
  o.progress_interval_ns = tty ? 250'000'000 : 2'000'000'000;
  if (!quiet) {
    std::fprintf(stderr,
                 "apprentice run: env=%s planner=%s seed=%llu steps=%lld beta=%g beta-decay=%g "
                 "mcts-simulations=%lld mcts-rollout=%lld hidden=%s T=%g alpha=%g lr=%g batch=%lld "
                 "publish-every=%lld updates-per-step=%lld\n",
                 o.env.c_str(), o.planner.c_str(), static_cast<unsigned long long>(o.seed),
                 static_cast<long long>(o.steps), o.beta, o.beta_decay,
                 static_cast<long long>(o.planner_config.mcts.simulations),
                 static_cast<long long>(o.planner_config.mcts.rollout_horizon), hidden.c_str(),
                 o.distiller.temperature, o.distiller.alpha, o.distiller.learning_rate,
                 static_cast<long long>(o.distiller.batch_size),
                 static_cast<long long>(o.distiller.publish_every),
                 static_cast<long long>(o.updates_per_step));
  }
  ProgressCallback progress;
  if (!quiet) {
    progress = [tty](const RunProgress& p) {
      std::string line;
      if (std::string_view(p.phase) == "train") {
        line = Format("[%6.1fs] train  step %lld/%lld  labels %lld  episodes %lld  agreement %.1f%%"
                      "  recent return %.1f (planner acts %.1f%%)  executor v%lld",
                      p.elapsed_s, static_cast<long long>(p.step),
                      static_cast<long long>(p.total_steps), static_cast<long long>(p.labels),
                      static_cast<long long>(p.episodes), 100.0 * p.agreement, p.recent_return,
                      100.0 * p.beta, static_cast<long long>(p.executor_version));
      } else {
        line = Format("[%6.1fs] %s  episode %lld", p.elapsed_s, p.phase,
                      static_cast<long long>(p.episodes));
      }
      std::fprintf(stderr, tty ? "\r\033[K%s" : "%s\n", line.c_str());
    };
  }

  // A failure from here on is a failure while running: main reports it and exits 1.
  const RunSummary summary = RunSync(o, progress);
  if (tty && !quiet) std::fprintf(stderr, "\r\033[K");

  const std::string text = summary.ToJson().Dump(2) + "\n";
  if (json) {
    std::fputs(text.c_str(), stdout);
  } else {
    PrintTable(summary);
  }
  if (summary_file.is_open() && (!(summary_file << text) || !summary_file.flush())) {
    std::fprintf(stderr, "apprentice run: cannot write the summary to %s\n", summary_json.c_str());
    return 1;
  }
  return 0;
}

}  // namespace apprentice
