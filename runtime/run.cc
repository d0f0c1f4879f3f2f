#include "runtime/run.h"

#include <algorithm>
#include <deque>
#include <numeric>

#include "core/clock.h"
#include "core/rng.h"
#include "env/registry.h"
#include "executor/executor.h"
#include "replay/replay_buffer.h"

namespace apprentice {
namespace {

constexpr int64_t kAgreementWindow = 1000;
constexpr int kReturnWindow = 10;

// Fraction of true values among the last `capacity` pushed.
class RollingRate {
 public:
  explicit RollingRate(int64_t capacity) : bits_(static_cast<size_t>(capacity)) {}
  void Push(bool v) {
    if (count_ == static_cast<int64_t>(bits_.size())) ones_ -= bits_[next_];
    else ++count_;
    bits_[next_] = v;
    ones_ += v;
    next_ = (next_ + 1) % bits_.size();
  }
  double rate() const { return count_ ? static_cast<double>(ones_) / count_ : 0.0; }

 private:
  std::vector<uint8_t> bits_;
  size_t next_ = 0;
  int64_t count_ = 0, ones_ = 0;
};

Json Percentiles(const LatencyHistogram& h) {
  return Json::Object{{"p50", h.QuantileUs(0.5)}, {"p99", h.QuantileUs(0.99)},
                      {"max", h.max_ns() * 1e-3}};
}

}  // namespace

Status RunOptions::Validate() const {
  if (steps < 1) return Status::InvalidArgument("steps must be >= 1");
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

RunSummary RunSync(const RunOptions& options, const ProgressCallback& progress) {
  RequireOk(CheckRunnable(options));
  const Stopwatch total_clock;
  std::unique_ptr<Env> env = MakeEnv(options.env).ValueOrThrow();
  std::unique_ptr<Planner> planner =
      MakePlanner(options.planner, options.planner_config).ValueOrThrow();

  Distiller::Options distiller_options = options.distiller;
  distiller_options.seed = options.seed;
  Distiller distiller(distiller_options, env->observation_space(), env->action_space());
  SnapshotSlot slot(distiller.MakeSnapshot(/*version=*/0));
  Executor executor(slot, env->action_space());
  ReplayBuffer replay({options.replay_capacity});

  Rng train_seeds(options.seed);
  Rng eval_seeds(options.seed ^ 0xE7A1'5EED'0000'0001ULL);
  Rng mixture(options.seed ^ 0xB37A'0000'0000'0002ULL);
  Rng sampler(options.seed ^ 0x5A3B'0000'0000'0003ULL);

  RunSummary summary;
  summary.env = options.env;
  summary.planner = options.planner;
  summary.seed = options.seed;

  RollingRate agreement(kAgreementWindow);
  std::deque<double> recent_returns;
  std::vector<ReplayBuffer::RecordPtr> batch;
  RunProgress prog;
  prog.total_steps = options.steps;
  int64_t last_progress_ns = 0;
  auto report = [&](bool force) {
    if (!progress) return;
    const int64_t now = NowNs();
    if (!force && now - last_progress_ns < options.progress_interval_ns) return;
    last_progress_ns = now;
    prog.agreement = agreement.rate();
    prog.executor_version = slot.version();
    prog.elapsed_s = total_clock.ElapsedSeconds();
    progress(prog);
  };

  int64_t last_act_ns = 0;
  auto act = [&](std::span<const float> obs) {
    const int64_t t0 = NowNs();
    ExecutorDecision d = executor.Act(obs);
    last_act_ns = NowNs() - t0;
    summary.executor_latency.Record(last_act_ns);
    return d;
  };
  auto plan = [&](std::span<const float> obs, const Env& state) {
    PlanRequest request;
    request.observation = obs;
    request.env = &state;
    request.seed = train_seeds.Next();
    PlanDecision d = planner->Plan(request).ValueOrThrow();
    summary.planner_latency.Record(d.latency_ns);
    return d;
  };

  // ---- Training: DAgger with a decaying β-mixture. ----
  const Stopwatch train_clock;
  double beta = options.beta;
  int64_t episode = 0, episode_step = 0;
  double episode_return = 0.0;
  std::vector<float> obs;
  {
    auto first = env->Reset(train_seeds.Next());
    obs.assign(first.begin(), first.end());
  }
  for (int64_t step = 0; step < options.steps; ++step) {
    DecisionRecord record;
    record.episode = episode;
    record.step = episode_step;
    record.observation = obs;

    const ExecutorDecision exec = act(obs);
    record.executor_action = exec.action;
    record.executor_version = exec.version;
    record.executor_latency_ns = last_act_ns;

    PlanDecision label = plan(obs, *env);
    record.has_label = true;
    record.planner = std::move(label.distribution);
    record.planner_action = label.action;
    record.planner_value = static_cast<float>(label.value);
    record.planner_latency_ns = label.latency_ns;
    ++summary.planner_labels;
    agreement.Push(exec.action == label.action);

    const bool planner_acts = beta > 0.0 && mixture.Uniform() < beta;
    record.acted_by = planner_acts ? Actor::kPlanner : Actor::kExecutor;
    Action action = planner_acts ? label.action : exec.action;
    env->action_space().Clip(action);
    const StepResult result = env->Step(action);
    record.reward = static_cast<float>(result.reward);
    record.terminated = result.terminated;
    record.truncated = result.truncated;
    replay.Insert(std::move(record));
    episode_return += result.reward;
    ++episode_step;

    if (replay.size() >= options.min_replay) {
      for (int64_t u = 0; u < options.updates_per_step; ++u) {
        replay.SampleUniform(distiller.options().batch_size, sampler, batch);
        Distiller::TrainStats stats = distiller.Train(batch);
        summary.final_loss = stats.loss;
        if (stats.snapshot) RequireOk(slot.Publish(std::move(stats.snapshot)));
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

    prog.step = step + 1;
    prog.labels = summary.planner_labels;
    prog.episodes = episode;
    prog.beta = beta;
    prog.recent_return =
        recent_returns.empty()
            ? episode_return
            : std::accumulate(recent_returns.begin(), recent_returns.end(), 0.0) /
                  static_cast<double>(recent_returns.size());
    report(/*force=*/false);
  }
  report(/*force=*/true);
  summary.steps = options.steps;
  summary.episodes = episode;
  summary.training_agreement = agreement.rate();
  summary.distiller_updates = distiller.updates();
  // The final weights, when updates were made after the last publish.
  if (distiller.updates() % distiller.options().publish_every != 0) {
    RequireOk(slot.Publish(distiller.MakeSnapshot(slot.version() + 1)));
  }
  summary.executor_version = slot.version();
  summary.train_seconds = train_clock.ElapsedSeconds();

  // One evaluation episode on a fresh seed: `choose(observation)` picks every action.
  auto evaluate = [&](auto&& choose) {
    auto o = env->Reset(eval_seeds.Next());
    double ret = 0.0;
    for (;;) {
      Action a = choose(o);
      env->action_space().Clip(a);
      const StepResult r = env->Step(a);
      ret += r.reward;
      if (r.done()) return ret;
      o = r.observation;
    }
  };

  // ---- Evaluation: the executor alone. ----
  prog.phase = "eval-executor";
  double return_sum = 0.0;
  summary.executor_return_min = 1e300;
  for (int64_t e = 0; e < options.eval_episodes; ++e) {
    const double ret = evaluate([&](std::span<const float> o) { return act(o).action; });
    return_sum += ret;
    summary.executor_return_min = std::min(summary.executor_return_min, ret);
    prog.episodes = e + 1;
    report(/*force=*/false);
  }
  summary.eval_episodes = options.eval_episodes;
  summary.executor_return = return_sum / static_cast<double>(options.eval_episodes);

  // ---- Evaluation: the planner alone, and how often the final executor agrees with it. ----
  prog.phase = "eval-planner";
  return_sum = 0.0;
  int64_t agree = 0, decisions = 0;
  for (int64_t e = 0; e < options.planner_eval_episodes; ++e) {
    return_sum += evaluate([&](std::span<const float> o) {
      const PlanDecision d = plan(o, *env);
      agree += act(o).action == d.action;
      ++decisions;
      return d.action;
    });
    prog.episodes = e + 1;
    report(/*force=*/false);
  }
  summary.planner_eval_episodes = options.planner_eval_episodes;
  summary.planner_return = options.planner_eval_episodes
                               ? return_sum / static_cast<double>(options.planner_eval_episodes)
                               : 0.0;
  summary.agreement = decisions ? static_cast<double>(agree) / decisions : 0.0;
  summary.total_seconds = total_clock.ElapsedSeconds();
  return summary;
}

}  // namespace apprentice
