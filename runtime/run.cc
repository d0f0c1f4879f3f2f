#include "runtime/run.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/agreement.h"
#include "core/rng.h"
#include "core/seeds.h"
#include "env/registry.h"
#include "planner/registry.h"
#include "runtime/evaluation.h"
#include "runtime/run_common.h"

namespace apprentice {

std::vector<std::string> RunModeNames() {
  std::vector<std::string> names = {"sync"};
  for (Mode m : Modes()) names.emplace_back(ModeName(m));
  return names;
}

Status RunOptions::Validate() const {
  if (mode != "sync") {
    if (Result<Mode> m = ParseMode(mode); !m.ok()) {
      return Status::InvalidArgument("unknown mode '" + mode + "' (known: sync, " + ModeNames() +
                                     ")");
    }
    if (Status s = agent.Validate(); !s.ok()) return s;
  }
  if (!(std::isfinite(rate_hz) && rate_hz >= 0.0 && rate_hz <= 1e6)) {
    return Status::InvalidArgument("the loop rate must be in [0, 1000000] Hz");
  }
  if (!(std::isfinite(planner_delay_ms) && planner_delay_ms >= 0.0 && planner_delay_ms <= 3.6e6)) {
    return Status::InvalidArgument("the planner delay must be in [0, 3600000] ms");
  }
  if (steps < 1) return Status::InvalidArgument("steps must be >= 1");
  if (!nats_url.empty()) {
    if (mode == "sync") {
      return Status::InvalidArgument("planner workers and learners over NATS need an agent mode "
                                     "(reflex, ...), not sync");
    }
    if (!nats_planners && !nats_learner) {
      return Status::InvalidArgument("with NATS, the planners, the learner or both are elsewhere");
    }
    if (nats_learner && resume) {
      return Status::InvalidArgument("a run whose learner is elsewhere does not resume: the "
                                     "learner's own run directory holds the checkpoint");
    }
    if (nats_replicas < 1 || nats_replicas > 5) {
      return Status::InvalidArgument("NATS replicas: 1 to 5");
    }
    if (nats_wait_ms < 0) return Status::InvalidArgument("the NATS wait must not be negative");
    if (Status s = nats_security.Validate(); !s.ok()) return s;
  }
  if (resume && run_dir.empty()) return Status::InvalidArgument("resume needs a run directory");
  if (!(beta >= 0.0 && beta <= 1.0)) return Status::InvalidArgument("beta must be in [0, 1]");
  if (!(beta_decay >= 0.0 && beta_decay <= 1.0)) {
    return Status::InvalidArgument("beta decay must be in [0, 1]");
  }
  if (eval_episodes < 1) return Status::InvalidArgument("eval episodes must be >= 1");
  if (planner_eval_episodes < 0) {
    return Status::InvalidArgument("planner eval episodes must be >= 0");
  }
  if (curve_every < 0) return Status::InvalidArgument("the curve interval must be >= 0 labels");
  if (wake_early_us < 0 || wake_early_us > 1'000'000) {
    return Status::InvalidArgument("the early wake must be in [0, 1000000] us");
  }
  if (curve_episodes < 1) return Status::InvalidArgument("curve episodes must be >= 1");
  if (checkpoint_every_ms < 1) {
    return Status::InvalidArgument("the checkpoint interval must be >= 1 ms");
  }
  return run_internal::LearningOptionsFor(*this).Validate();
}

std::string DefaultPlannerFor(const Space& action_space) {
  return action_space.is_discrete() ? "mcts" : "mppi";
}

double RunSummary::normalised_return() const {
  const double span = planner_return - random_return;
  if (!(span > 0.0)) return std::numeric_limits<double>::quiet_NaN();
  return (executor_return - random_return) / span;
}

Json RunSummary::ToJson() const {
  Json::Array curve_points;
  for (const CurvePoint& p : curve) {
    curve_points.push_back(Json{{"labels", p.labels}, {"executor_return", p.executor_return}});
  }
  return Json::Object{
      {"env", env},
      {"env_options", env_options.ToJson()},
      {"planner", planner},
      {"planner_options", planner_options.ToJson()},
      {"mode", mode},
      {"seed", static_cast<int64_t>(seed)},
      {"replay_sampler", replay_sampler},
      {"steps", steps},
      {"episodes", episodes},
      {"planner_return", planner_return},
      {"planner_eval_episodes", planner_eval_episodes},
      {"executor_return", executor_return},
      {"executor_return_min", executor_return_min},
      {"eval_episodes", eval_episodes},
      {"random_return", random_return},
      {"random_episodes", random_episodes},
      {"normalised_return", std::isfinite(normalised_return()) ? Json(normalised_return()) : Json()},
      {"agreement", agreement},
      {"mean_kl", mean_kl},
      {"training_agreement", training_agreement},
      {"training_mean_kl", training_mean_kl},
      {"planner_labels", planner_labels},
      {"distiller_updates", distiller_updates},
      {"executor_version", executor_version},
      {"final_loss", final_loss},
      {"executor_latency_us", LatencyPercentilesJson(executor_latency)},
      {"planner_latency_us", LatencyPercentilesJson(planner_latency)},
      {"act_latency_us", LatencyPercentilesJson(act_latency)},
      {"train_latency_us", LatencyPercentilesJson(train_latency)},
      {"latency_histograms", Json::Object{{"act", LatencyBinsJson(act_latency)},
                                          {"executor", LatencyBinsJson(executor_latency)},
                                          {"planner", LatencyBinsJson(planner_latency)},
                                          {"train", LatencyBinsJson(train_latency)}}},
      {"acted_by", Json::Object{{"executor", acted_by_executor}, {"planner", acted_by_planner}}},
      {"deadline_misses", deadline_misses},
      {"planner_drops", planner_drops},
      {"planner_timeouts", planner_timeouts},
      {"planner_errors", planner_errors},
      {"planner_abandoned", planner_abandoned},
      {"loop_overruns", loop_overruns},
      {"rate_hz", rate_hz},
      {"recent_return", recent_return},
      {"curve", std::move(curve_points)},
      {"labels_to_target", labels_to_target},
      {"interrupted", interrupted},
      {"resumed_records", resumed_records},
      {"resumed_version", resumed_version},
      {"logged", logged},
      {"last_error", last_error},
      {"error", error},
      {"nats", nats},
      {"train_seconds", train_seconds},
      {"total_seconds", total_seconds},
  };
}

Status CheckRunnable(const RunOptions& options) {
  if (Status s = options.Validate(); !s.ok()) return s;
  Result<std::unique_ptr<Env>> env = MakeEnv(options.env, options.env_options);
  if (!env.ok()) return env.status();
  Result<std::unique_ptr<Planner>> planner = MakePlanner(options.planner, options.planner_options);
  if (!planner.ok()) return planner.status();
  if (Status s = (*planner)->CanTeach(**env); !s.ok()) {
    return Status::InvalidArgument("planner " + options.planner + " cannot teach on " +
                                   options.env + ": " + s.message());
  }
  if (Result<MlpSpec> spec = StudentSpec((*env)->observation_space(), (*env)->action_space(),
                                         options.distiller.hidden, options.distiller.activation);
      !spec.ok()) {
    return spec.status();
  }
  return Status::Ok();
}

Result<RunIdentity> IdentityOf(const RunOptions& options) {
  RunIdentity id;
  id.env = options.env;
  Result<OptionValues> env_options = Envs().Resolve(options.env, options.env_options);
  if (!env_options.ok()) return env_options.status();
  id.env_options = std::move(*env_options);
  id.planner = options.planner;
  Result<OptionValues> planner_options =
      ResolvePlannerOptions(options.planner, options.planner_options);
  if (!planner_options.ok()) return planner_options.status();
  id.planner_options = std::move(*planner_options);
  Result<std::unique_ptr<Env>> env = MakeEnv(options.env, options.env_options);
  if (!env.ok()) return env.status();
  id.observation_space = (*env)->observation_space().ToString();
  id.action_space = (*env)->action_space().ToString();
  id.hidden = options.distiller.hidden;
  return id;
}

RunSummary Run(const RunOptions& options, const ProgressCallback& progress, StopFlag* stop) {
  return options.mode == "sync" ? RunSync(options, progress, stop)
                                : RunAgentLoop(options, progress, stop);
}

// ---------------------------------------------------------------------------------------------
// Shared pieces (run_common.h)
// ---------------------------------------------------------------------------------------------

namespace run_internal {

Learning::Options LearningOptionsFor(const RunOptions& o) {
  Learning::Options l;
  l.replay_capacity = o.replay_capacity;
  l.sampler = o.replay_sampler;
  l.sampler_options = o.replay_options;
  l.min_replay = o.min_replay;
  l.updates_per_label = o.updates_per_step;
  l.distiller = o.distiller;
  l.seed = o.seed;
  return l;
}

std::string RunNote(const RunOptions& o) {
  return "apprentice run, mode " + o.mode + ", seed " + std::to_string(o.seed);
}

RunSummary StartSummary(const RunOptions& options) {
  RunSummary summary;
  summary.env = options.env;
  summary.planner = options.planner;
  summary.mode = options.mode;
  summary.seed = options.seed;
  summary.rate_hz = options.rate_hz;
  summary.replay_sampler = options.replay_sampler;
  if (Result<OptionValues> v = Envs().Resolve(options.env, options.env_options); v.ok()) {
    summary.env_options = std::move(*v);
  }
  if (Result<OptionValues> v = ResolvePlannerOptions(options.planner, options.planner_options);
      v.ok()) {
    summary.planner_options = std::move(*v);
  }
  return summary;
}

ResumeState LoadResume(const RunOptions& options) {
  if (!options.resume) return {};
  return LoadResumeState(options.run_dir, options.replay_capacity).ValueOrThrow();
}

namespace {

void EvaluateEpisodes(const RunOptions& options, Env& env, Executor& executor, Planner& planner,
                      RunSummary& summary, Reporter& reporter, const Stopwatch& clock,
                      StopFlag* stop) {
  Rng eval_seeds(StreamSeed(options.seed, SeedStream::kEvalEpisodes));
  Rng plan_seeds(StreamSeed(options.seed, SeedStream::kPlannerEval));
  auto report = [&](int64_t episodes) {
    reporter.prog.episodes = episodes;
    if (reporter.Due(false)) reporter.Send(clock.ElapsedSeconds());
  };

  reporter.prog.phase = "eval-executor";
  reporter.prog.agent = nullptr;
  double return_sum = 0.0;
  summary.executor_return_min = 1e300;
  int64_t done = 0;
  for (; done < options.eval_episodes; ++done) {
    const std::optional<double> ret = RunEpisode(
        env, eval_seeds.Next(),
        [&](std::span<const float> o, std::span<const uint8_t> legal) {
          const int64_t t0 = NowNs();
          const Action a = executor.Act(o, legal).action;
          summary.executor_latency.Record(NowNs() - t0);
          return a;
        },
        stop);
    if (!ret) break;
    return_sum += *ret;
    summary.executor_return_min = std::min(summary.executor_return_min, *ret);
    report(done + 1);
  }
  summary.eval_episodes = done;
  summary.executor_return = done > 0 ? return_sum / static_cast<double>(done) : 0.0;
  if (done == 0) summary.executor_return_min = 0.0;
  if (done < options.eval_episodes) {
    summary.interrupted = true;
    return;
  }

  reporter.prog.phase = "eval-planner";
  return_sum = 0.0;
  int64_t agree = 0, decisions = 0;
  double kl_sum = 0.0;
  int64_t kl_count = 0;
  done = 0;
  // Episode ids of their own, apart from the training episodes', so that a planner that warm
  // starts continues its plans within an evaluation episode and never across.
  constexpr int64_t kEvalEpisodeBase = int64_t{1} << 62;
  for (; done < options.planner_eval_episodes; ++done) {
    const std::optional<double> ret = RunEpisode(
        env, plan_seeds.Next(),
        [&](std::span<const float> o, std::span<const uint8_t> legal) {
          PlanRequest request;
          request.observation = o;
          request.env = &env;
          request.seed = plan_seeds.Next();
          request.episode = kEvalEpisodeBase + done;
          request.step = env.elapsed_steps();
          const PlanDecision d = planner.Plan(request).ValueOrThrow();
          summary.planner_latency.Record(d.latency_ns);
          const ExecutorDecision e = executor.Act(o, legal);
          agree += ActionsAgree(env.action_space(), e.action, d.action);
          const double kl = KlToHeadOutput(d.distribution, e.output);
          if (std::isfinite(kl)) {
            kl_sum += kl;
            ++kl_count;
          }
          ++decisions;
          return d.action;
        },
        stop);
    if (!ret) break;
    return_sum += *ret;
    report(done + 1);
  }
  summary.planner_eval_episodes = done;
  summary.planner_return = done > 0 ? return_sum / static_cast<double>(done) : 0.0;
  summary.agreement = decisions ? static_cast<double>(agree) / static_cast<double>(decisions) : 0.0;
  summary.mean_kl = kl_count ? kl_sum / static_cast<double>(kl_count) : 0.0;
  if (done < options.planner_eval_episodes) {
    summary.interrupted = true;
    return;
  }

  // The floor the executor is measured from: uniformly random actions, on the executor's
  // evaluation episodes.
  reporter.prog.phase = "eval-random";
  Rng random_seeds(StreamSeed(options.seed, SeedStream::kEvalEpisodes));
  Rng random_actions(StreamSeed(options.seed, SeedStream::kRandomPolicy));
  return_sum = 0.0;
  done = 0;
  for (; done < options.eval_episodes; ++done) {
    const std::optional<double> ret = RunEpisode(
        env, random_seeds.Next(),
        [&](std::span<const float>, std::span<const uint8_t> legal) {
          return UniformRandomAction(env.action_space(), random_actions, legal);
        },
        stop);
    if (!ret) break;
    return_sum += *ret;
    report(done + 1);
  }
  summary.random_episodes = done;
  summary.random_return = done > 0 ? return_sum / static_cast<double>(done) : 0.0;
  if (done < options.eval_episodes) summary.interrupted = true;
}

}  // namespace

void Evaluate(const RunOptions& options, Env& env, Executor& executor, Planner& planner,
              RunSummary& summary, Reporter& reporter, const Stopwatch& clock, StopFlag* stop) {
  try {
    EvaluateEpisodes(options, env, executor, planner, summary, reporter, clock, stop);
  } catch (const EnvFailure& e) {  // a remote env that stopped answering
    if (summary.error.empty()) summary.error = std::string("environment: ") + e.what();
  }
}

double CurveReturn(const RunOptions& options, Env& env, Executor& executor) {
  Rng seeds(StreamSeed(options.seed, SeedStream::kLearningCurve));
  double sum = 0.0;
  for (int64_t e = 0; e < options.curve_episodes; ++e) {
    sum += *RunEpisode(env, seeds.Next(),
                       [&](std::span<const float> o, std::span<const uint8_t> legal) {
                         return executor.Act(o, legal).action;
                       });
  }
  return sum / static_cast<double>(options.curve_episodes);
}

void FinishCurve(RunSummary& summary) {
  summary.labels_to_target = -1;
  if (summary.planner_eval_episodes == 0) return;
  // Returns can be negative (Pendulum): "97 % of the planner's" is measured from below.
  const double p = summary.planner_return;
  const double target = p >= 0 ? kCurveTarget * p : p / kCurveTarget;
  for (const CurvePoint& point : summary.curve) {
    if (point.executor_return >= target) {
      summary.labels_to_target = point.labels;
      return;
    }
  }
}

}  // namespace run_internal
}  // namespace apprentice
