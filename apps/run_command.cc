#include <unistd.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "apps/commands.h"
#include "apps/flag_values.h"
#include "apps/table.h"
#include "core/flags.h"
#include "env/registry.h"
#include "runtime/run.h"

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
    "with probability beta. Agent modes write metrics as JSON lines to RUN_DIR/metrics.jsonl.\n"
    "SIGINT/SIGTERM stop training cleanly; the summary of what ran is still printed (exit 130).";

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
  t.AddRow({"time", Format("%.1f s  (training %.1f s)%s", s.total_seconds, s.train_seconds,
                           s.interrupted ? "  interrupted" : "")});
  std::printf("apprentice run: env %s, planner %s, seed %llu, mode %s\n\n%s", s.env.c_str(),
              s.planner.c_str(), static_cast<unsigned long long>(s.seed), s.mode.c_str(),
              t.ToString().c_str());
}

std::atomic<bool> g_stop{false};

// SIGINT and SIGTERM set g_stop: the loop ends after its current step, the agent drains and
// joins, evaluation and the summary follow. A second signal restores the default action.
class SignalStop {
 public:
  SignalStop() : signals_(io_, SIGINT, SIGTERM) {
    signals_.async_wait([this](const boost::system::error_code& ec, int signal) {
      if (ec) return;
      g_stop.store(true);
      signal_ = signal;
      std::fprintf(stderr, "\napprentice run: %s received: stopping after this step "
                   "(again to abort)\n", signal == SIGINT ? "SIGINT" : "SIGTERM");
      signals_.async_wait([](const boost::system::error_code& e, int s) {
        if (e) return;
        std::signal(s, SIG_DFL);
        std::raise(s);
      });
    });
    thread_ = std::thread([this] { io_.run(); });
  }
  ~SignalStop() {
    io_.stop();
    thread_.join();
  }
  int signal() const { return signal_; }

 private:
  boost::asio::io_context io_;
  boost::asio::signal_set signals_;
  std::thread thread_;
  std::atomic<int> signal_{0};
};

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
  int64_t seed = static_cast<int64_t>(o.seed);

  FlagSet flags(kUsage);
  flags.String("env", &o.env, "environment", EnvNames());
  flags.String("planner", &o.planner, "planner (teacher)", PlannerNames());
  flags.String("mode", &o.mode, "who acts, and how the actors run (see above)", RunModeNames());
  flags.Double("rate-hz", &o.rate_hz, "agent modes: fixed loop rate; 0 = as fast as possible", 0,
               1e6);
  flags.Int("deadline-us", &o.agent.deadline_us,
            "agent modes: act() deadline; deadline/gated: how long to wait for the planner", 1,
            60'000'000);
  flags.Double("gate-confidence", &o.agent.gate_confidence,
               "gated: the executor acts when its confidence is at least this", 0, 1);
  flags.Int("planner-threads", &o.agent.planner_threads, "agent modes: planner workers", 1, 256);
  flags.Int("planner-queue", &o.agent.planner_queue,
            "agent modes: pending plan requests; the oldest is dropped when full", 1, 1'000'000);
  flags.Int("planner-wait-ms", &o.agent.planner_wait_ms,
            "planner/dagger modes: the longest wait for the planner before the executor acts", 1,
            3'600'000);
  flags.Double("planner-delay-ms", &o.planner_config.delay_ms,
               "make every planner decision take at least this long (same decisions)", 0,
               3'600'000);
  flags.String("run-dir", &run_dir,
               "directory for the run's logs, snapshot, checkpoint and metrics (default "
               "runs/<time>-<env>-<mode>-seed<N>)");
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
  flags.Int("updates-per-step", &o.updates_per_step, "distiller updates per labelled step", 0,
            1000);
  flags.String("replay-sampler", &o.replay_sampler,
               "how the distiller draws from the replay (prioritized: by executor-planner "
               "disagreement)", {"uniform", "prioritized", "recent"});
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
  Result<std::vector<int64_t>> widths = ParseHiddenWidths(hidden);
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

  if (flags.WasSet("resume") && flags.WasSet("run-dir")) {
    std::fprintf(stderr, "apprentice run: give --resume DIR or --run-dir DIR, not both\n");
    return 2;
  }
  {
    o.resume = flags.WasSet("resume");
    o.run_dir = o.resume ? resume_dir : flags.WasSet("run-dir") ? run_dir : DefaultRunDir(o);
    std::error_code ec;
    if (o.resume && !std::filesystem::is_directory(o.run_dir + "/logs", ec)) {
      std::fprintf(stderr, "apprentice run: --resume: %s has no logs/ to continue from\n",
                   o.run_dir.c_str());
      return 2;
    }
    std::filesystem::create_directories(o.run_dir, ec);
    if (ec) {
      std::fprintf(stderr, "apprentice run: --run-dir: cannot create %s: %s\n", o.run_dir.c_str(),
                   ec.message().c_str());
      return 2;
    }
  }
  const bool tty = isatty(STDERR_FILENO) != 0;
  o.progress_interval_ns = tty ? 250'000'000 : 2'000'000'000;
  if (!quiet) {
    std::fprintf(stderr,
                 "apprentice run: mode=%s env=%s planner=%s seed=%llu steps=%lld beta=%g "
                 "beta-decay=%g mcts-simulations=%lld mcts-rollout=%lld hidden=%s T=%g alpha=%g "
                 "lr=%g batch=%lld publish-every=%lld updates-per-step=%lld\n",
                 o.mode.c_str(), o.env.c_str(), o.planner.c_str(),
                 static_cast<unsigned long long>(o.seed),
                 static_cast<long long>(o.steps), o.beta, o.beta_decay,
                 static_cast<long long>(o.planner_config.mcts.simulations),
                 static_cast<long long>(o.planner_config.mcts.rollout_horizon), hidden.c_str(),
                 o.distiller.temperature, o.distiller.alpha, o.distiller.learning_rate,
                 static_cast<long long>(o.distiller.batch_size),
                 static_cast<long long>(o.distiller.publish_every),
                 static_cast<long long>(o.updates_per_step));
    std::fprintf(stderr, "apprentice run: run-dir=%s%s\n", o.run_dir.c_str(),
                 o.resume ? " (resuming)" : "");
    if (o.mode != "sync") {
      std::fprintf(stderr,
                   "apprentice run: rate-hz=%g deadline-us=%lld planner-threads=%lld "
                   "planner-queue=%lld planner-delay-ms=%g gate-confidence=%g\n",
                   o.rate_hz, static_cast<long long>(o.agent.deadline_us),
                   static_cast<long long>(o.agent.planner_threads),
                   static_cast<long long>(o.agent.planner_queue), o.planner_config.delay_ms,
                   o.agent.gate_confidence);
    }
  }
  ProgressCallback progress;
  if (!quiet) {
    progress = [tty](const RunProgress& p) {
      std::string line;
      if (p.agent != nullptr) {
        const AgentMetrics& m = *p.agent;
        line = Format("[%6.1fs] %s  step %lld/%lld  act p50/p99 %.2f/%.2f us  misses %lld  "
                      "labels %lld  queue %lld/%lld drops %lld  train %lld  agreement %.1f%%  "
                      "return %.1f  executor v%lld",
                      p.elapsed_s, std::string(ModeName(m.mode)).c_str(),
                      static_cast<long long>(p.step), static_cast<long long>(p.total_steps),
                      m.act.QuantileUs(0.5), m.act.QuantileUs(0.99),
                      static_cast<long long>(m.deadline_misses), static_cast<long long>(m.labels),
                      static_cast<long long>(m.queue_depth),
                      static_cast<long long>(m.queue_capacity),
                      static_cast<long long>(m.planner_drops),
                      static_cast<long long>(m.train_steps), 100.0 * m.agreement,
                      m.recent_return, static_cast<long long>(m.executor_version));
        if (m.planner_errors > 0 || m.planner_stuck > 0) {
          line += Format("  planner errors %lld stuck %lld", static_cast<long long>(m.planner_errors),
                         static_cast<long long>(m.planner_stuck));
        }
      } else if (std::string_view(p.phase) == "train") {
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
  SignalStop signal_stop;
  const RunSummary summary = Run(o, progress, &g_stop);
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
  if (!o.run_dir.empty()) {
    std::ofstream run_summary(o.run_dir + "/summary.json");
    if (!(run_summary << text)) {
      std::fprintf(stderr, "apprentice run: cannot write %s/summary.json\n", o.run_dir.c_str());
      return 1;
    }
  }
  return summary.interrupted ? 128 + signal_stop.signal() : 0;
}

}  // namespace apprentice
