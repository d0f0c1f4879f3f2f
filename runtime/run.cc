#include "runtime/run.h"

#include <sys/prctl.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <deque>
#include <numeric>
#include <optional>
#include <thread>

#include "core/clock.h"
#include "core/rng.h"
#include "env/registry.h"
#include "executor/executor.h"
#include "replay/replay_buffer.h"
#include "runtime/rolling_rate.h"
#include "runtime/run_store.h"
#include "executor/snapshot_file.h"
#include "replay/episode_log.h"

namespace apprentice {
namespace {

constexpr int64_t kAgreementWindow = 1000;
constexpr int kReturnWindow = 10;

Json Percentiles(const LatencyHistogram& h) {
  return Json::Object{{"p50", h.QuantileUs(0.5)}, {"p99", h.QuantileUs(0.99)},
                      {"max", h.max_ns() * 1e-3}};
}

// The agent options a run in an agent mode uses: options.agent, with the fields the run shares
// with the sync mode.
AgentOptions AgentOptionsFor(const RunOptions& o) {
  AgentOptions a = o.agent;
  if (o.mode != "sync") a.mode = ParseMode(o.mode).ValueOrThrow();
  a.seed = o.seed;
  a.beta = o.beta;
  a.beta_decay = o.beta_decay;
  a.replay_capacity = o.replay_capacity;
  a.replay_sampler = ParseSamplerKind(o.replay_sampler).ValueOrThrow();
  a.min_replay = o.min_replay;
  a.updates_per_label = static_cast<double>(o.updates_per_step);
  a.distiller = o.distiller;
  a.env_name = o.env;
  if (!o.run_dir.empty()) {
    if (a.metrics_path.empty()) a.metrics_path = o.run_dir + "/metrics.jsonl";
    a.log_dir = RunLogDir(o.run_dir);
    a.checkpoint_path = RunCheckpointPath(o.run_dir);
    a.snapshot_path = RunSnapshotPath(o.run_dir);
  }
  return a;
}

}  // namespace

std::vector<std::string> RunModeNames() {
  return {"sync", "reflex", "deadline", "gated", "planner", "dagger"};
}

Status RunOptions::Validate() const {
  if (mode != "sync") {
    if (Result<Mode> m = ParseMode(mode); !m.ok()) {
      return Status::InvalidArgument("unknown mode '" + mode + "' (known: sync, " + ModeNames() +
                                     ")");
    }
  }
  if (!(std::isfinite(rate_hz) && rate_hz >= 0.0 && rate_hz <= 1e6)) {
    return Status::InvalidArgument("the loop rate must be in [0, 1000000] Hz");
  }
  if (Status s = planner_config.Validate(); !s.ok()) return s;
  if (Result<SamplerKind> k = ParseSamplerKind(replay_sampler); !k.ok()) return k.status();
  if (mode != "sync") {
    if (Status s = AgentOptionsFor(*this).Validate(); !s.ok()) return s;
  }
  if (steps < 1) return Status::InvalidArgument("steps must be >= 1");
  if (resume && run_dir.empty()) return Status::InvalidArgument("resume needs a run directory");
  if (!(beta >= 0.0 && beta <= 1.0)) return Status::InvalidArgument("beta must be in [0, 1]");
  if (!(beta_decay >= 0.0 && beta_decay <= 1.0)) {
    return Status::InvalidArgument("beta decay must be in [0, 1]");
  }
  if (updates_per_step < 0) return Status::InvalidArgument("updates per step must be >= 0");
  if (min_replay < 1) return Status::InvalidArgument("min replay must be >= 1");
  if (eval_episodes < 1) return Status::InvalidArgument("eval episodes must be >= 1");
  if (planner_eval_episodes < 0) {
    return Status::InvalidArgument("planner eval episodes must be >= 0");
  }
  if (Status s = ReplayBuffer::Options{replay_capacity}.Validate(); !s.ok()) return s;
  if (min_replay > replay_capacity) {
    return Status::InvalidArgument("min replay (" + std::to_string(min_replay) +
                                   ") exceeds the replay capacity (" +
                                   std::to_string(replay_capacity) + "): training would never start");
  }
  return distiller.Validate();
}

Json RunSummary::ToJson() const {
  return Json::Object{
      {"env", env},
      {"planner", planner},
      {"mode", mode},
      {"seed", static_cast<int64_t>(seed)},
      {"steps", steps},
      {"episodes", episodes},
      {"planner_return", planner_return},
      {"planner_eval_episodes", planner_eval_episodes},
      {"executor_return", executor_return},
      {"executor_return_min", executor_return_min},
      {"eval_episodes", eval_episodes},
      {"agreement", agreement},
      {"training_agreement", training_agreement},
      {"planner_labels", planner_labels},
      {"distiller_updates", distiller_updates},
      {"executor_version", executor_version},
      {"final_loss", final_loss},
      {"executor_latency_us", Percentiles(executor_latency)},
      {"planner_latency_us", Percentiles(planner_latency)},
      {"act_latency_us", Percentiles(act_latency)},
      {"acted_by", Json::Object{{"executor", acted_by_executor}, {"planner", acted_by_planner}}},
      {"deadline_misses", deadline_misses},
      {"planner_drops", planner_drops},
      {"planner_timeouts", planner_timeouts},
      {"planner_errors", planner_errors},
      {"planner_abandoned", planner_abandoned},
      {"loop_overruns", loop_overruns},
      {"rate_hz", rate_hz},
      {"recent_return", recent_return},
      {"interrupted", interrupted},
      {"resumed_records", resumed_records},
      {"logged", logged},
      {"last_error", last_error},
      {"train_seconds", train_seconds},
      {"total_seconds", total_seconds},
  };
}

Status CheckRunnable(const RunOptions& options) {
  if (Status s = options.Validate(); !s.ok()) return s;
  Result<std::unique_ptr<Env>> env = MakeEnv(options.env);
  if (!env.ok()) return env.status();
  Result<std::unique_ptr<Planner>> planner = MakePlanner(options.planner, options.planner_config);
  if (!planner.ok()) return planner.status();
  if (Status s = (*planner)->Supports((*env)->action_space()); !s.ok()) {
    return Status::InvalidArgument("planner " + options.planner + " cannot teach on " +
                                   options.env + ": " + s.message());
  }
  return Status::Ok();
}

namespace {

// Progress reports at most every options.progress_interval_ns (always when forced).
class Reporter {
 public:
  Reporter(const RunOptions& options, const ProgressCallback& progress)
      : interval_ns_(options.progress_interval_ns), progress_(progress) {
    prog.total_steps = options.steps;
  }
  bool Due(bool force) const {
    return progress_ && (force || NowNs() - last_ns_ >= interval_ns_);
  }
  void Send(double elapsed_s) {
    last_ns_ = NowNs();
    prog.elapsed_s = elapsed_s;
    progress_(prog);
  }

  RunProgress prog;

 private:
  int64_t interval_ns_;
  const ProgressCallback& progress_;
  int64_t last_ns_ = 0;
};

// After training: the executor alone, then the planner alone (and how often the final executor
// agrees with it), on evaluation seeds.
void Evaluate(const RunOptions& options, Env& env, Executor& executor, Planner& planner,
              RunSummary& summary, Reporter& reporter, const Stopwatch& clock) {
  Rng eval_seeds(options.seed ^ 0xE7A1'5EED'0000'0001ULL);
  Rng plan_seeds(options.seed ^ 0x9A77'0000'0000'0004ULL);
  // One evaluation episode on a fresh seed: `choose(observation)` picks every action.
  auto episode = [&](auto&& choose) {
    auto o = env.Reset(eval_seeds.Next());
    double ret = 0.0;
    for (;;) {
      Action a = choose(o);
      env.action_space().Clip(a);
      const StepResult r = env.Step(a);
      ret += r.reward;
      if (r.done()) return ret;
      o = r.observation;
    }
  };
  auto report = [&](int64_t episodes) {
    reporter.prog.episodes = episodes;
    if (reporter.Due(false)) reporter.Send(clock.ElapsedSeconds());
  };

  reporter.prog.phase = "eval-executor";
  reporter.prog.agent = nullptr;
  double return_sum = 0.0;
  summary.executor_return_min = 1e300;
  for (int64_t e = 0; e < options.eval_episodes; ++e) {
    const double ret = episode([&](std::span<const float> o) {
      const int64_t t0 = NowNs();
      const Action a = executor.Act(o).action;
      summary.executor_latency.Record(NowNs() - t0);
      return a;
    });
    return_sum += ret;
    summary.executor_return_min = std::min(summary.executor_return_min, ret);
    report(e + 1);
  }
  summary.eval_episodes = options.eval_episodes;
  summary.executor_return = return_sum / static_cast<double>(options.eval_episodes);

  reporter.prog.phase = "eval-planner";
  return_sum = 0.0;
  int64_t agree = 0, decisions = 0;
  for (int64_t e = 0; e < options.planner_eval_episodes; ++e) {
    return_sum += episode([&](std::span<const float> o) {
      PlanRequest request;
      request.observation = o;
      request.env = &env;
      request.seed = plan_seeds.Next();
      const PlanDecision d = planner.Plan(request).ValueOrThrow();
      summary.planner_latency.Record(d.latency_ns);
      agree += executor.Act(o).action == d.action;
      ++decisions;
      return d.action;
    });
    report(e + 1);
  }
  summary.planner_eval_episodes = options.planner_eval_episodes;
  summary.planner_return = options.planner_eval_episodes
                               ? return_sum / static_cast<double>(options.planner_eval_episodes)
                               : 0.0;
  summary.agreement = decisions ? static_cast<double>(agree) / decisions : 0.0;
}

RunSummary StartSummary(const RunOptions& options) {
  RunSummary summary;
  summary.env = options.env;
  summary.planner = options.planner;
  summary.mode = options.mode;
  summary.seed = options.seed;
  summary.rate_hz = options.rate_hz;
  return summary;
}

constexpr int64_t kSyncCheckpointEvery = 1000;  // distiller updates between sync checkpoints

// The resumed state of options.run_dir, or an empty one when not resuming.
ResumeState LoadResume(const RunOptions& options) {
  if (!options.resume) return {};
  return LoadResumeState(options.run_dir, options.replay_capacity).ValueOrThrow();
}

// Training episodes of a resumed run draw new seeds: the stream depends on what was logged.
uint64_t TrainSeed(const RunOptions& options, const ResumeState& resumed) {
  return options.seed ^ (static_cast<uint64_t>(resumed.records) * 0x9E3779B97F4A7C15ULL);
}

Status SaveRunSnapshot(const RunOptions& options, const Snapshot& snapshot, const Env& env) {
  SnapshotFileInfo info;
  info.env = options.env;
  info.observation_space = env.observation_space().ToString();
  info.action_space = env.action_space().ToString();
  info.note = "apprentice run, mode " + options.mode + ", seed " + std::to_string(options.seed);
  return SaveSnapshot(snapshot, info, RunSnapshotPath(options.run_dir));
}

double Mean(const std::deque<double>& values, double otherwise) {
  return values.empty() ? otherwise
                        : std::accumulate(values.begin(), values.end(), 0.0) /
                              static_cast<double>(values.size());
}

}  // namespace

RunSummary RunSync(const RunOptions& options, const ProgressCallback& progress,
                   const std::atomic<bool>* stop) {
  RequireOk(CheckRunnable(options));
  const Stopwatch total_clock;
  std::unique_ptr<Env> env = MakeEnv(options.env).ValueOrThrow();
  std::unique_ptr<Planner> planner =
      MakePlanner(options.planner, options.planner_config).ValueOrThrow();

  Distiller::Options distiller_options = options.distiller;
  distiller_options.seed = options.seed;
  Distiller distiller(distiller_options, env->observation_space(), env->action_space());
  const ResumeState resumed = LoadResume(options);
  if (resumed.has_checkpoint) {
    RequireOk(distiller.LoadCheckpoint(RunCheckpointPath(options.run_dir)));
  }
  SnapshotSlot slot(distiller.MakeSnapshot(/*version=*/distiller.published()));
  Executor executor(slot, env->action_space());
  const SamplerKind sampler_kind = ParseSamplerKind(options.replay_sampler).ValueOrThrow();
  ReplayBuffer replay(ReplayOptionsFor(options.replay_capacity, sampler_kind));
  for (const auto& record : resumed.labelled) replay.Insert(record);
  ReplayBuffer::SampleBatch drawn;
  std::optional<EpisodeLogWriter> log;
  if (!options.run_dir.empty()) {
    EpisodeLogWriter::Options log_options;
    log_options.directory = RunLogDir(options.run_dir);
    log.emplace(EpisodeLogWriter::Open(log_options, RunLogMetadata(options.env,
                                                                   env->observation_space(),
                                                                   env->action_space(), "sync"))
                    .ValueOrThrow());
  }

  Rng train_seeds(TrainSeed(options, resumed));
  Rng mixture(options.seed ^ 0xB37A'0000'0000'0002ULL);
  Rng sampler(options.seed ^ 0x5A3B'0000'0000'0003ULL);

  RunSummary summary = StartSummary(options);
  summary.mode = "sync";
  summary.resumed_records = resumed.records;
  RollingRate agreement(kAgreementWindow);
  std::deque<double> recent_returns;
  std::vector<ReplayBuffer::RecordPtr> batch;
  Reporter reporter(options, progress);
  RunProgress& prog = reporter.prog;
  auto report = [&](bool force) {
    if (!reporter.Due(force)) return;
    prog.agreement = agreement.rate();
    prog.executor_version = slot.version();
    reporter.Send(total_clock.ElapsedSeconds());
  };

  // ---- Training: DAgger with a decaying β-mixture. ----
  const Stopwatch train_clock;
  double beta = options.beta;
  int64_t episode = resumed.next_episode, episode_step = 0, steps = 0;
  double episode_return = 0.0;
  std::vector<float> obs;
  {
    auto first = env->Reset(train_seeds.Next());
    obs.assign(first.begin(), first.end());
  }
  for (; steps < options.steps; ++steps) {
    if (stop != nullptr && stop->load(std::memory_order_relaxed)) {
      summary.interrupted = true;
      break;
    }
    DecisionRecord record;
    record.episode = episode;
    record.step = episode_step;
    record.observation = obs;

    const int64_t t0 = NowNs();
    const ExecutorDecision exec = executor.Act(obs);
    record.executor_latency_ns = NowNs() - t0;
    summary.executor_latency.Record(record.executor_latency_ns);
    summary.act_latency.Record(record.executor_latency_ns);
    record.executor_action = exec.action;
    record.executor_version = exec.version;

    PlanRequest request;
    request.observation = obs;
    request.env = env.get();
    request.seed = train_seeds.Next();
    PlanDecision label = planner->Plan(request).ValueOrThrow();
    summary.planner_latency.Record(label.latency_ns);
    record.has_label = true;
    record.planner = std::move(label.distribution);
    record.planner_action = label.action;
    record.planner_value = static_cast<float>(label.value);
    record.planner_latency_ns = label.latency_ns;
    ++summary.planner_labels;
    agreement.Push(exec.action == label.action);

    const bool planner_acts = beta > 0.0 && mixture.Uniform() < beta;
    record.acted_by = planner_acts ? Actor::kPlanner : Actor::kExecutor;
    ++(planner_acts ? summary.acted_by_planner : summary.acted_by_executor);
    Action action = planner_acts ? label.action : exec.action;
    env->action_space().Clip(action);
    const StepResult result = env->Step(action);
    record.reward = static_cast<float>(result.reward);
    record.terminated = result.terminated;
    record.truncated = result.truncated;
    if (log) {
      RequireOk(log->Append(record));
      ++summary.logged;
    }
    replay.Insert(std::move(record));
    episode_return += result.reward;
    ++episode_step;

    if (replay.size() >= options.min_replay) {
      for (int64_t u = 0; u < options.updates_per_step; ++u) {
        if (sampler_kind == SamplerKind::kUniform) {  // the stream every earlier run drew
          replay.SampleUniform(distiller.options().batch_size, sampler, batch);
        } else {
          replay.Sample(distiller.options().batch_size, sampler, drawn);
          batch.assign(drawn.records.begin(), drawn.records.end());
        }
        Distiller::TrainStats stats = distiller.Train(batch);
        summary.final_loss = stats.loss;
        if (stats.snapshot) RequireOk(slot.Publish(std::move(stats.snapshot)));
        if (log && distiller.updates() % kSyncCheckpointEvery == 0) {
          RequireOk(log->Flush());
          RequireOk(distiller.SaveCheckpoint(RunCheckpointPath(options.run_dir)));
        }
      }
    }

    if (result.done()) {
      recent_returns.push_back(episode_return);
      if (static_cast<int>(recent_returns.size()) > kReturnWindow) recent_returns.pop_front();
      ++episode;
      episode_step = 0;
      episode_return = 0.0;
      beta *= options.beta_decay;
      auto next = env->Reset(train_seeds.Next());
      obs.assign(next.begin(), next.end());
    } else {
      obs.assign(result.observation.begin(), result.observation.end());
    }

    prog.step = steps + 1;
    prog.labels = summary.planner_labels;
    prog.episodes = episode;
    prog.beta = beta;
    prog.recent_return = Mean(recent_returns, episode_return);
    report(/*force=*/false);
  }
  report(/*force=*/true);
  summary.steps = steps;
  summary.episodes = episode;
  summary.recent_return = Mean(recent_returns, 0.0);
  summary.training_agreement = agreement.rate();
  summary.distiller_updates = distiller.updates();
  // The final weights, when updates were made after the last publish.
  if (distiller.updates() % distiller.options().publish_every != 0) {
    RequireOk(slot.Publish(distiller.MakeSnapshot(slot.version() + 1)));
  }
  summary.executor_version = slot.version();
  summary.train_seconds = train_clock.ElapsedSeconds();
  if (log) {
    RequireOk(log->Close());
    RequireOk(distiller.SaveCheckpoint(RunCheckpointPath(options.run_dir)));
    RequireOk(SaveRunSnapshot(options, *slot.Current(), *env));
  }

  Evaluate(options, *env, executor, *planner, summary, reporter, total_clock);
  summary.total_seconds = total_clock.ElapsedSeconds();
  return summary;
}

RunSummary RunAgentLoop(const RunOptions& options, const ProgressCallback& progress,
                        const std::atomic<bool>* stop) {
  RequireOk(CheckRunnable(options));
  Require(options.mode != "sync", "RunAgentLoop runs the agent modes; use RunSync for sync");
  const Stopwatch total_clock;
  std::unique_ptr<Env> env = MakeEnv(options.env).ValueOrThrow();
  const PlannerConfig planner_config = options.planner_config;
  const std::string planner_name = options.planner;
  Agent agent(AgentOptionsFor(options), *env,
              [&] { return MakePlanner(planner_name, planner_config); });

  const ResumeState resumed = LoadResume(options);
  if (options.resume) {
    RequireOk(agent.Restore(resumed.has_checkpoint ? RunCheckpointPath(options.run_dir) : "",
                            resumed.labelled, resumed.next_episode));
  }
  RunSummary summary = StartSummary(options);
  summary.resumed_records = resumed.records;
  Reporter reporter(options, progress);
  RunProgress& prog = reporter.prog;
  AgentMetrics metrics;
  auto report = [&](bool force) {
    if (!reporter.Due(force)) return;
    metrics = agent.Metrics();
    prog.labels = metrics.labels;
    prog.episodes = metrics.episodes;
    prog.agreement = metrics.agreement;
    prog.recent_return = metrics.recent_return;
    prog.executor_version = metrics.executor_version;
    prog.agent = &metrics;
    reporter.Send(total_clock.ElapsedSeconds());
  };

  // The loop sleeps to a fixed schedule: ask for 1 µs timer slack, not the default 50 µs.
  (void)prctl(PR_SET_TIMERSLACK, 1000UL, 0UL, 0UL, 0UL);
  Rng train_seeds(TrainSeed(options, resumed));
  const Stopwatch train_clock;
  agent.Start();
  const int64_t period_ns =
      options.rate_hz > 0 ? static_cast<int64_t>(std::llround(1e9 / options.rate_hz)) : 0;
  int64_t next_tick = NowNs();
  int64_t steps = 0;
  std::vector<float> obs;
  {
    auto first = env->Reset(train_seeds.Next());
    obs.assign(first.begin(), first.end());
  }
  for (; steps < options.steps; ++steps) {
    if (stop != nullptr && stop->load(std::memory_order_relaxed)) {
      summary.interrupted = true;
      break;
    }
    if (period_ns > 0) {
      std::this_thread::sleep_until(std::chrono::steady_clock::time_point(
          std::chrono::nanoseconds(next_tick)));
    }
    const AgentDecision d = agent.Act(obs, env.get());
    Action action = d.action;
    env->action_space().Clip(action);
    const StepResult r = env->Step(action);
    agent.Observe(r.reward, r.terminated, r.truncated);
    if (r.done()) {
      auto next = env->Reset(train_seeds.Next());
      obs.assign(next.begin(), next.end());
    } else {
      obs.assign(r.observation.begin(), r.observation.end());
    }
    if (period_ns > 0) {
      next_tick += period_ns;
      const int64_t now = NowNs();
      if (now > next_tick) {  // this step ran past the next tick: skip ahead, count it
        ++summary.loop_overruns;
        next_tick = now;
      }
    }
    prog.step = steps + 1;
    report(/*force=*/false);
  }
  report(/*force=*/true);
  agent.Stop();  // drain, join, flush
  summary.train_seconds = train_clock.ElapsedSeconds();

  const AgentMetrics m = agent.Metrics();
  summary.steps = steps;
  summary.episodes = m.episodes;
  summary.planner_labels = m.labels;
  summary.distiller_updates = m.train_steps;
  summary.executor_version = m.executor_version;
  summary.training_agreement = m.agreement;
  summary.recent_return = m.recent_return;
  summary.final_loss = m.last_loss;
  summary.act_latency = m.act;
  summary.acted_by_executor = m.acted_by_executor;
  summary.acted_by_planner = m.acted_by_planner;
  summary.deadline_misses = m.deadline_misses;
  summary.planner_drops = m.planner_drops;
  summary.planner_timeouts = m.planner_timeouts;
  summary.planner_errors = m.planner_errors;
  summary.planner_abandoned = m.planner_abandoned;
  summary.last_error = m.last_error;
  summary.logged = m.logged;
  const LatencyHistogram training_planner_latency = m.planner;

  // Evaluation: the trained executor alone, and the planner without the artificial delay.
  PlannerConfig eval_config = options.planner_config;
  eval_config.delay_ms = 0.0;
  std::unique_ptr<Planner> planner = MakePlanner(options.planner, eval_config).ValueOrThrow();
  Executor executor(agent.snapshot_slot(), env->action_space());
  Evaluate(options, *env, executor, *planner, summary, reporter, total_clock);
  // The planner latency that matters is the one the loop lived with.
  summary.planner_latency = training_planner_latency;
  summary.total_seconds = total_clock.ElapsedSeconds();
  return summary;
}

RunSummary Run(const RunOptions& options, const ProgressCallback& progress,
               const std::atomic<bool>* stop) {
  return options.mode == "sync" ? RunSync(options, progress, stop)
                                : RunAgentLoop(options, progress, stop);
}

}  // namespace apprentice
