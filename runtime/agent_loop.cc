// RunAgentLoop: the asynchronous modes (reflex, deadline, gated, planner, dagger) through an Agent
// with a LocalLearner; see runtime/run.h.
#include <sys/prctl.h>

#include <cmath>
#include <functional>
#include <memory>
#include <optional>

#include "agent/agent.h"
#include "agent/pacer.h"
#include "core/clock.h"
#include "env/registry.h"
#include "learner/local_learner.h"
#include "nats/nats_learner.h"
#include "nats/nats_plan_queue.h"
#include "nats/planner_worker.h"
#include "planner/registry.h"
#include "runtime/run.h"
#include "runtime/run_common.h"
#include "runtime/run_store.h"

namespace apprentice {
namespace {

using namespace run_internal;

// The agent options a run in an agent mode uses: options.agent, with the fields the run shares
// with the sync mode.
AgentOptions AgentOptionsFor(const RunOptions& o) {
  AgentOptions a = o.agent;
  a.mode = ParseMode(o.mode).ValueOrThrow();
  a.seed = o.seed;
  a.beta = o.beta;
  a.beta_decay = o.beta_decay;
  a.env_name = o.env;
  a.run_note = RunNote(o);
  if (!o.run_dir.empty()) {
    if (a.metrics_path.empty()) a.metrics_path = RunMetricsPath(o.run_dir);
    a.log_dir = RunLogDir(o.run_dir);
  }
  return a;
}

LocalLearner::Options LearnerOptionsFor(const RunOptions& o) {
  LocalLearner::Options l;
  l.learning = LearningOptionsFor(o);
  l.env_name = o.env;
  l.note = RunNote(o);
  l.nice = o.agent.background_nice;
  l.checkpoint_every_ms = o.checkpoint_every_ms;
  if (!o.run_dir.empty()) {
    l.checkpoint_path = RunCheckpointPath(o.run_dir);
    l.snapshot_path = RunSnapshotPath(o.run_dir);
  }
  return l;
}

}  // namespace

HostedAgent::HostedAgent(const RunOptions& options) : options_(options) {
  RequireOk(CheckRunnable(options));
  Require(options.mode != "sync", "an agent runs the agent modes, not sync");
  prototype_ = MakeEnv(options.env, options.env_options).ValueOrThrow();
  AgentSeams seams;
  const bool remote = !options.nats_url.empty();
  if (remote && options.nats_learner) {
    // The learner is `apprentice learner` elsewhere: records go to the run's stream, weights come
    // from its bucket (the agent starts from the learner's newest snapshot).
    NatsLearner::Options l;
    l.url = options.nats_url;
    l.run = options.nats_run;
    l.security = options.nats_security;
    l.replicas = options.nats_replicas;
    l.wait_ms = options.nats_wait_ms;
    Result<std::unique_ptr<NatsLearner>> learner = NatsLearner::Connect(l);
    Require(learner.ok(), learner.ok() ? "" : learner.status().message());
    nats_learner_ = std::move(*learner);
    seams.learner = nats_learner_.get();
  } else {
    learner_ = std::make_unique<LocalLearner>(LearnerOptionsFor(options),
                                              prototype_->observation_space(),
                                              prototype_->action_space());
    resumed_ = LoadResume(options);
    RestoreLearner(options, resumed_, *learner_);
    resumed_.labelled.clear();
    seams.learner = learner_.get();
  }
  if (!remote || !options.nats_planners) {
    seams.planners = [this] {
      return MakePlanner(options_.planner, options_.planner_options, options_.planner_delay_ms);
    };
  } else {
    // The planners are workers elsewhere: requests carry the env's state when they simulate.
    NatsPlanQueue::Options q;
    q.url = options.nats_url;
    q.run = options.nats_run;
    q.security = options.nats_security;
    q.replicas = options.nats_replicas;
    q.queue = options.agent.planner_queue;
    q.budget_ms = options.agent.planner_budget_ms;
    q.env_key = EnvKey(options.env, Envs().Resolve(options.env, options.env_options)
                                        .ValueOrThrow()
                                        .ToString());
    q.carry_state = MakePlanner(options.planner, options.planner_options)
                        .ValueOrThrow()
                        ->needs_env();
    Result<std::unique_ptr<NatsPlanQueue>> queue = NatsPlanQueue::Connect(
        q, prototype_->observation_space().flat_size(), prototype_.get());
    Require(queue.ok(), queue.ok() ? "" : queue.status().message());
    nats_queue_ = std::move(*queue);
    seams.plan_queue = nats_queue_;
  }
  agent_ = std::make_unique<Agent>(AgentOptionsFor(options), *prototype_, seams);
  if (nats_queue_) nats_queue_->SetLabelSink(&agent_->label_sink());
  if (options.resume) {
    agent_->SetFirstEpisode(resumed_.next_episode);
    agent_->SetFirstDecisionId(resumed_.next_decision_id);
    resumed_version_ = learner_->weights().Latest()->version();
  }
}

HostedAgent::~HostedAgent() {
  if (agent_) (void)agent_->Stop();
  if (nats_queue_) nats_queue_->SetLabelSink(nullptr);  // no label into a destroyed agent
  agent_.reset();  // before the learner it trains with
}

std::string HostedAgent::NatsCounters() const {
  std::string out;
  if (nats_queue_) {
    const NatsPlanQueue::Counters c = nats_queue_->counters();
    out = "published " + std::to_string(c.published) + ", not sent " +
          std::to_string(c.publish_errors) + ", labels " + std::to_string(c.labels) +
          ", bad labels " + std::to_string(c.bad_labels) + ", dropped after max deliveries " +
          std::to_string(c.dropped);
    if (c.requests_stored >= 0) out += ", requests stored " + std::to_string(c.requests_stored);
    if (c.labels_stored >= 0) {
      out += ", labels stored " + std::to_string(c.labels_stored) + " (unread " +
             std::to_string(c.labels_unread) + ", consumer restarted " +
             std::to_string(c.resubscribed) + ")";
    }
  }
  if (nats_learner_) {
    const NatsLearner::Counters c = nats_learner_->counters();
    const NatsWeights& w = nats_learner_->nats_weights();
    out += std::string(out.empty() ? "" : "; ") + "records stored " + std::to_string(c.stored) +
           " of " + std::to_string(c.added) + " (retries " + std::to_string(c.retries) +
           ", failed " + std::to_string(c.failed) + ", dropped " + std::to_string(c.dropped) +
           "), snapshots received " + std::to_string(w.updates()) + " (refused " +
           std::to_string(w.refused()) + ", first after " +
           std::to_string(std::llround(w.first_snapshot_ms())) + " ms, watch restarted " +
           std::to_string(w.rewatches()) + ")";
  }
  return out;
}

RunSummary RunAgentLoop(const RunOptions& options, const ProgressCallback& progress,
                        StopFlag* stop) {
  Require(options.mode != "sync", "RunAgentLoop runs the agent modes; use RunSync for sync");
  StopFlag never;
  StopFlag& stopper = stop != nullptr ? *stop : never;
  const Stopwatch total_clock;
  HostedAgent hosted(options);
  Agent& agent = hosted.agent();
  Env* env = &hosted.prototype();  // the agent only read it: the loop steps it

  RunSummary summary = StartSummary(options);
  summary.resumed_records = hosted.resumed().records;
  summary.resumed_version = hosted.resumed_version();
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
  const Stopwatch train_clock;
  agent.Start();
  // A fixed-rate loop sleeps to shortly before each tick, warms what act() reads, and spins to
  // the tick (agent/pacer.h).
  int64_t steps = 0;
  TrainingEpisodes episodes(options, hosted.resumed(), *env);
  std::optional<Pacer> pacer;
  if (options.rate_hz > 0) {
    Pacer::Options pacing;
    pacing.rate_hz = options.rate_hz;
    pacing.wake_early_us = options.wake_early_us;
    pacer.emplace(pacing);
  }
  const std::function<void()> warm = [&] { agent.Warm(episodes.observation()); };
  std::vector<uint8_t> legal;
  for (; steps < options.steps; ++steps) {
    if (stopper.requested() || (pacer && !pacer->Wait(warm, &stopper))) {
      summary.interrupted = true;
      break;
    }
    if (agent.failed()) break;  // the log cannot be written: Stop() reports why
    try {
      const AgentDecision d = agent.Act(episodes.observation(), env, LegalMask(*env, legal));
      const StepResult r = episodes.Step(d.action);
      agent.Observe(r.reward, r.terminated, r.truncated);
    } catch (const EnvFailure& e) {  // a remote env that stopped answering: stop cleanly
      summary.error = std::string("environment: ") + e.what();
      break;
    }
    if (pacer) pacer->EndStep();
    prog.step = steps + 1;
    report(/*force=*/false);
  }
  report(/*force=*/true);
  if (pacer) summary.loop_overruns = pacer->overruns();
  if (Status s = agent.Stop(); !s.ok() && summary.error.empty()) {  // drain, join, flush, save
    summary.error = s.message();
  }
  summary.train_seconds = train_clock.ElapsedSeconds();
  summary.nats = hosted.NatsCounters();

  const AgentMetrics m = agent.Metrics();
  summary.steps = steps;
  summary.episodes = m.episodes;
  summary.planner_labels = m.labels;
  summary.distiller_updates = m.train_steps;
  summary.executor_version = m.executor_version;
  summary.training_agreement = m.agreement;
  summary.training_mean_kl = m.mean_kl;
  summary.recent_return = m.recent_return;
  summary.final_loss = m.last_loss;
  summary.act_latency = m.act;
  summary.train_latency = m.train;
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

  if (summary.error.empty()) {  // after a stop request Evaluate() returns at once
    // Evaluation: the trained executor alone, and the planner without the artificial delay.
    std::unique_ptr<Planner> planner =
        MakePlanner(options.planner, options.planner_options).ValueOrThrow();
    Executor executor(agent.snapshot_slot(), env->action_space());
    Evaluate(options, *env, executor, *planner, summary, reporter, total_clock, stop);
  }
  // The planner latency that matters is the one the loop lived with.
  summary.planner_latency = training_planner_latency;
  summary.total_seconds = total_clock.ElapsedSeconds();
  return summary;
}

}  // namespace apprentice
