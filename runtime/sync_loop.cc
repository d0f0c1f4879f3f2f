// RunSync: the deterministic loop (mode "sync"); see runtime/run.h.
#include <deque>
#include <fstream>
#include <memory>
#include <optional>

#include "agent/mixture.h"
#include "agent/records.h"
#include "core/agreement.h"
#include "core/clock.h"
#include "core/seeds.h"
#include "env/registry.h"
#include "executor/executor.h"
#include "executor/snapshot_file.h"
#include "learner/learning.h"
#include "planner/registry.h"
#include "replay/episode_log.h"
#include "runtime/run.h"
#include "runtime/run_common.h"
#include "runtime/run_store.h"

namespace apprentice {
namespace {

using namespace run_internal;

constexpr int64_t kCheckpointEvery = 1000;  // distiller updates between sync checkpoints

Status SaveRunSnapshot(const RunOptions& options, const Snapshot& snapshot, const Env& env) {
  SnapshotFileInfo info;
  info.env = options.env;
  info.observation_space = env.observation_space().ToString();
  info.action_space = env.action_space().ToString();
  info.note = RunNote(options);
  return SaveSnapshot(snapshot, info, RunSnapshotPath(options.run_dir));
}

}  // namespace

RunSummary RunSync(const RunOptions& options, const ProgressCallback& progress, StopFlag* stop) {
  RequireOk(CheckRunnable(options));
  const Stopwatch total_clock;
  std::unique_ptr<Env> env = MakeEnv(options.env, options.env_options).ValueOrThrow();
  std::unique_ptr<Env> eval_env = MakeEnv(options.env, options.env_options).ValueOrThrow();
  std::unique_ptr<Planner> planner =
      MakePlanner(options.planner, options.planner_options, options.planner_delay_ms)
          .ValueOrThrow();
  const Space& action_space = env->action_space();

  Learning learning(LearningOptionsFor(options), env->observation_space(), action_space);
  const ResumeState resumed = LoadResume(options);
  RestoreLearner(options, resumed, learning);
  SnapshotSlot slot(learning.CurrentSnapshot());
  Executor executor(slot, action_space);
  const HeadKind head = slot.spec().head;

  RunSummary summary = StartSummary(options);
  summary.mode = "sync";
  summary.resumed_records = resumed.records;
  summary.resumed_version = options.resume ? slot.version() : 0;
  std::optional<EpisodeLogWriter> log;
  if (!options.run_dir.empty()) {
    EpisodeLogWriter::Options log_options;
    log_options.directory = RunLogDir(options.run_dir);
    Result<EpisodeLogWriter> opened = EpisodeLogWriter::Open(
        log_options,
        RunLogMetadata(options.env, env->observation_space(), action_space, RunNote(options)));
    if (!opened.ok()) {
      summary.error = "episode log: " + opened.status().message();
      return summary;
    }
    log.emplace(std::move(opened).value());
  }
  // Ends the run: what failed goes into the summary, and nothing more is trained or evaluated.
  // The log is still closed after any other failure, so that `logged` is what the disk holds.
  bool log_failed = false;
  auto fail = [&](const std::string& what, const Status& s) {
    if (summary.error.empty()) summary.error = what + ": " + s.message();
  };
  auto fail_log = [&](const Status& s) {
    log_failed = true;
    fail("episode log", s);
  };

  BetaMixture mixture(options.beta, options.beta_decay,
                      StreamSeed(options.seed, SeedStream::kMixture));
  Rng sampling(StreamSeed(options.seed, SeedStream::kExecutorSampling));
  AgreementWindow agreement(kAgreementWindow);
  std::deque<double> recent_returns;
  // RUN_DIR/metrics.jsonl: the keys of the agent modes' lines that a sync run has (no queue: the
  // planner answers every step before the loop moves on, so nothing waits, drops or misses).
  std::ofstream metrics_file;
  if (!options.run_dir.empty()) {
    metrics_file.open(RunMetricsPath(options.run_dir), std::ios::out | std::ios::app);
    if (!metrics_file.is_open()) {
      summary.error = "cannot write metrics to " + RunMetricsPath(options.run_dir);
      return summary;
    }
  }
  const int64_t metrics_interval_ns = options.agent.metrics_interval_ms * 1'000'000;
  int64_t last_metrics_ns = NowNs();
  auto write_metrics = [&](int64_t steps_done, int64_t episodes_done, double recent_return) {
    last_metrics_ns = NowNs();
    const Json line = Json::Object{
        {"t", total_clock.ElapsedSeconds()},
        {"mode", "sync"},
        {"steps", steps_done},
        {"episodes", episodes_done},
        {"acted_by", Json::Object{{"executor", summary.acted_by_executor},
                                  {"planner", summary.acted_by_planner}}},
        {"deadline_misses", 0},
        {"act_latency_us", LatencyPercentilesJson(summary.act_latency)},
        {"planner_latency_us", LatencyPercentilesJson(summary.planner_latency)},
        {"train_latency_us", LatencyPercentilesJson(summary.train_latency)},
        {"planner_requests", summary.planner_labels},
        {"planner_drops", 0},
        {"queue_depth", 0},
        {"labels", summary.planner_labels},
        {"train_steps", learning.distiller().updates()},
        {"agreement", agreement.rate()},
        {"mean_kl", agreement.mean_kl()},
        {"recent_return", recent_return},
        {"last_loss", summary.final_loss},
        {"executor_version", slot.version()},
        {"logged", log ? log->records_written() : 0},
        {"beta", mixture.beta()},
    };
    metrics_file << line.Dump(-1) << '\n';
    metrics_file.flush();
    if (!metrics_file) fail("metrics", Status::Unavailable("write failed"));
  };
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
  int64_t episode = resumed.next_episode, episode_step = 0, steps = 0;
  double episode_return = 0.0;
  uint64_t decision_id = resumed.next_decision_id - 1;
  TrainingEpisodes episodes(options, resumed, *env);
  std::vector<uint8_t> legal;
  for (; steps < options.steps && summary.error.empty(); ++steps) {
    if (stop != nullptr && stop->requested()) {
      summary.interrupted = true;
      break;
    }
    // A remote env that stops answering (in the loop's step or a planner's simulation) ends
    // training like an error of the log: what was logged stays, the summary says why.
    try {
      DecisionRecord record;
      record.decision_id = ++decision_id;
      record.episode = episode;
      record.step = episode_step;
      const std::vector<float>& obs = episodes.observation();
      record.observation = obs;

      const int64_t t0 = NowNs();
      const std::span<const uint8_t> mask = LegalMask(*env, legal);
      record.legal.assign(mask.begin(), mask.end());
      ExecutorDecision exec = executor.Act(obs, record.legal);
      if (options.agent.sample_actions) executor.Sample(exec, sampling);
      const int64_t exec_ns = NowNs() - t0;
      ApplyExecutorDecision(exec, head, exec_ns, record);
      summary.executor_latency.Record(exec_ns);
      summary.act_latency.Record(exec_ns);

      PlanRequest request;
      request.observation = obs;
      request.env = env.get();
      request.seed = episodes.seeds().Next();
      request.episode = episode;
      request.step = episode_step;
      request.decision_id = record.decision_id;
      Result<PlanDecision> label = planner->Plan(request);
      if (!label.ok()) {
        fail("planner", label.status());
        break;
      }
      summary.planner_latency.Record(label->latency_ns);
      ApplyPlanDecision(std::move(label).value(), record);
      ++summary.planner_labels;
      PushAgreement(action_space, record, agreement);

      const double beta = mixture.beta();  // the β of this decision's draw
      const bool planner_acts = mixture.PlannerActs();
      record.acted_by = planner_acts ? Actor::kPlanner : Actor::kExecutor;
      ApplyBehaviour(planner_acts ? record.planner_action : exec.action, record.acted_by,
                     options.agent.sample_actions, beta, &record.planner_action, record);
      ++(planner_acts ? summary.acted_by_planner : summary.acted_by_executor);
      // The env moves on (to the next episode when this one ends): `obs` changes.
      const StepResult result = episodes.Step(planner_acts ? record.planner_action : exec.action);
      ApplyOutcome({result.reward, result.terminated, result.truncated}, record);
      if (log) {
        if (Status s = log->Append(record); !s.ok()) fail_log(s);
      }
      learning.Add(std::make_shared<const DecisionRecord>(std::move(record)));
      for (int64_t train_start = NowNs();; train_start = NowNs()) {
        std::optional<Distiller::TrainStats> stats = learning.TryTrainStep();
        if (!stats) break;
        summary.train_latency.Record(NowNs() - train_start);
        summary.final_loss = stats->loss;
        if (stats->snapshot) RequireOk(slot.Publish(std::move(stats->snapshot)));
        if (log && learning.distiller().updates() % kCheckpointEvery == 0) {
          if (Status s = log->Flush(); !s.ok()) fail_log(s);
          const Status s = learning.distiller().SaveCheckpoint(RunCheckpointPath(options.run_dir));
          if (!s.ok()) fail("checkpoint", s);
        }
      }
      episode_return += result.reward;
      ++episode_step;

      if (result.done()) {
        recent_returns.push_back(episode_return);
        if (static_cast<int>(recent_returns.size()) > kReturnWindow) recent_returns.pop_front();
        ++episode;
        episode_step = 0;
        episode_return = 0.0;
        mixture.EndEpisode();
      }
      if (options.curve_every > 0 && summary.planner_labels % options.curve_every == 0) {
        summary.curve.push_back(
            {summary.planner_labels, CurveReturn(options, *eval_env, executor)});
      }

      prog.step = steps + 1;
      prog.labels = summary.planner_labels;
      prog.episodes = episode;
      prog.beta = mixture.beta();
      prog.recent_return = Mean(recent_returns, episode_return);
      report(/*force=*/false);
      if (metrics_file.is_open() && NowNs() - last_metrics_ns >= metrics_interval_ns) {
        write_metrics(steps + 1, episode - resumed.next_episode, Mean(recent_returns, 0.0));
      }
    } catch (const EnvFailure& e) {
      fail("environment", Status::Unavailable(e.what()));
      break;
    }
  }
  report(/*force=*/true);
  if (metrics_file.is_open()) {
    write_metrics(steps, episode - resumed.next_episode, Mean(recent_returns, 0.0));
  }
  summary.steps = steps;
  summary.episodes = episode - resumed.next_episode;
  summary.recent_return = Mean(recent_returns, 0.0);
  summary.training_agreement = agreement.rate();
  summary.training_mean_kl = agreement.mean_kl();
  summary.distiller_updates = learning.distiller().updates();
  if (std::shared_ptr<const Snapshot> last = learning.FinalSnapshot()) {
    RequireOk(slot.Publish(std::move(last)));
  }
  summary.executor_version = slot.version();
  summary.train_seconds = train_clock.ElapsedSeconds();
  if (log) {
    if (!log_failed) {
      if (Status s = log->Close(); !s.ok()) fail_log(s);
    }
    summary.logged = log->records_written();
    if (summary.error.empty()) {
      const Status s = learning.distiller().SaveCheckpoint(RunCheckpointPath(options.run_dir));
      if (!s.ok()) fail("checkpoint", s);
    }
    if (summary.error.empty()) {
      if (Status s = SaveRunSnapshot(options, *slot.Current(), *env); !s.ok()) fail("snapshot", s);
    }
  }

  if (summary.error.empty()) {
    Evaluate(options, *env, executor, *planner, summary, reporter, total_clock, stop);
    FinishCurve(summary);
  }
  summary.total_seconds = total_clock.ElapsedSeconds();
  return summary;
}

}  // namespace apprentice
