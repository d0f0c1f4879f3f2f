#include "agent/agent.h"

#include <algorithm>

#include "core/clock.h"

namespace apprentice {
namespace {

// A wait for the planner ends this long before the deadline (at most a quarter of it): waking a
// thread from a condition variable takes tens of microseconds, plus the kernel's timer slack.
constexpr int64_t kWakeReserveNs = 150'000;

}  // namespace

std::span<const Mode> Modes() {
  static constexpr Mode kModes[] = {Mode::kReflex, Mode::kDeadline, Mode::kGated,
                                    Mode::kPlanner, Mode::kDagger};
  return kModes;
}

std::string_view ModeName(Mode mode) {
  switch (mode) {
    case Mode::kReflex: return "reflex";
    case Mode::kDeadline: return "deadline";
    case Mode::kGated: return "gated";
    case Mode::kPlanner: return "planner";
    case Mode::kDagger: return "dagger";
  }
  return "?";
}

std::string ModeNames() {
  std::string names;
  for (Mode m : Modes()) names.append(names.empty() ? "" : ", ").append(ModeName(m));
  return names;
}

Result<Mode> ParseMode(std::string_view name) {
  for (Mode m : Modes()) {
    if (ModeName(m) == name) return m;
  }
  return Status::InvalidArgument("unknown mode '" + std::string(name) + "' (known: " +
                                 ModeNames() + ")");
}

Status AgentOptions::Validate() const {
  auto bad = [](const std::string& m) { return Status::InvalidArgument(m); };
  if (deadline_us < 1) return bad("the deadline must be >= 1 us");
  if (Status s = labels.Validate(); !s.ok()) return s;
  if (!(gate_confidence >= 0.0 && gate_confidence <= 1.0)) {
    return bad("the gate confidence must be in [0, 1]");
  }
  if (planner_wait_ms < 1) return bad("the planner wait must be >= 1 ms");
  if (!(beta >= 0.0 && beta <= 1.0)) return bad("beta must be in [0, 1]");
  if (!(beta_decay >= 0.0 && beta_decay <= 1.0)) return bad("beta decay must be in [0, 1]");
  if (planner_queue < 2 || planner_queue > 1'000'000) {
    return bad("the planner queue must hold [2, 1000000] requests");
  }
  if (planner_budget_ms < 0) return bad("the planner budget must be >= 0 ms");
  for (const auto& [value, what] :
       {std::pair{deadline_us / 1000, "the deadline"}, {planner_wait_ms, "the planner wait"},
        {planner_budget_ms, "the planner budget"}, {planner_stuck_ms, "the planner stuck time"},
        {stop_timeout_ms, "the stop timeout"}, {outcome_wait_ms, "the outcome wait"},
        {metrics_interval_ms, "the metrics interval"}}) {
    if (value > kMaxWaitMs) return bad(std::string(what) + " must be at most a year");
  }
  PlannerPool::Options pool{planner_threads, planner_stuck_ms, stop_timeout_ms, 0};
  if (Status s = pool.Validate(); !s.ok()) return s;
  Collector::Options collector;
  collector.inbox = inbox;
  collector.outcome_wait_ms = outcome_wait_ms;
  collector.max_pending = max_pending;
  collector.metrics_interval_ms = metrics_interval_ms;
  if (Status s = collector.Validate(); !s.ok()) return s;
  if (background_nice < 0 || background_nice > 19) {
    return bad("the background nice value must be in [0, 19]");
  }
  return Status::Ok();
}

Json AgentMetrics::ToJson(const AgentMetrics* previous) const {
  Json::Object o{
      {"t", elapsed_s},
      {"mode", std::string(ModeName(mode))},
      {"steps", steps},
      {"episodes", episodes},
      {"acted_by", Json::Object{{"executor", acted_by_executor}, {"planner", acted_by_planner}}},
      {"deadline_misses", deadline_misses},
      {"act_latency_us", LatencyPercentilesJson(act)},
      {"planner_latency_us", LatencyPercentilesJson(planner)},
      {"train_latency_us", LatencyPercentilesJson(train)},
      {"planner_requests", planner_requests},
      {"unselected", unselected},
      {"planner_drops", planner_drops},
      {"planner_timeouts", planner_timeouts},
      {"planner_errors", planner_errors},
      {"planner_stuck", planner_stuck},
      {"planner_abandoned", planner_abandoned},
      {"queue_depth", queue_depth},
      {"queue_capacity", queue_capacity},
      {"decisions", decisions},
      {"decision_drops", decision_drops},
      {"outcome_drops", outcome_drops},
      {"orphan_outcomes", orphan_outcomes},
      {"ground_truth", ground_truth},
      {"late_joins", late_joins},
      {"missing_outcomes", missing_outcomes},
      {"orphan_labels", orphan_labels},
      {"missing_labels", missing_labels},
      {"duplicate_labels", duplicate_labels},
      {"weight_errors", weight_errors},
      {"labels", labels},
      {"train_steps", train_steps},
      {"train_errors", train_errors},
      {"agreement", agreement},
      {"mean_kl", mean_kl},
      {"agreement_samples", agreement_samples},
      {"recent_return", recent_return},
      {"last_loss", last_loss},
      {"executor_version", executor_version},
      {"logged", logged},
      {"last_error", last_error},
      {"error", error},
  };
  if (previous != nullptr && elapsed_s > previous->elapsed_s) {
    const double dt = elapsed_s - previous->elapsed_s;
    o.emplace_back("labels_per_s", static_cast<double>(labels - previous->labels) / dt);
    o.emplace_back("train_steps_per_s",
                   static_cast<double>(train_steps - previous->train_steps) / dt);
  }
  return o;
}

Agent::Agent(AgentOptions options, const Env& prototype, AgentSeams seams)
    : Agent(std::move(options), prototype.observation_space(), prototype.action_space(),
            &prototype, std::move(seams)) {}

Agent::Agent(AgentOptions options, const Space& observation_space, const Space& action_space,
             AgentSeams seams)
    : Agent(std::move(options), observation_space, action_space, nullptr, std::move(seams)) {}

Agent::Agent(AgentOptions options, const Space& observation_space, const Space& action_space,
             const Env* prototype, AgentSeams seams)
    : options_(std::move(options)),
      observation_space_(observation_space),
      action_space_(action_space),
      start_ns_(NowNs()),
      wake_reserve_ns_(std::min<int64_t>(kWakeReserveNs, options_.deadline_us * 1000 / 4)),
      learner_(seams.learner) {
  RequireOk(options_.Validate());
  Require(!observation_space_.is_discrete(), "Agent: the observation space must be a Box");
  weights_ = seams.weights != nullptr ? seams.weights
                                      : learner_ != nullptr ? &learner_->weights() : nullptr;
  Require(weights_ != nullptr, "Agent: give a learner or a weight source (AgentSeams)");
  has_teacher_ = static_cast<bool>(seams.planners) || seams.plan_queue != nullptr;
  Require(has_teacher_ || options_.mode == Mode::kReflex,
          "Agent: mode " + std::string(ModeName(options_.mode)) +
              " asks the planner, but the agent has none (AgentSeams: a planner factory or a "
              "plan queue served elsewhere)");
  if (prototype != nullptr) env_type_ = &typeid(*prototype);
  const int64_t obs_size = observation_space_.flat_size();

  // The planners decide whether requests carry the env's state.
  std::unique_ptr<Planner> probe;
  if (seams.planners) {
    Result<std::unique_ptr<Planner>> made = seams.planners();
    if (!made.ok()) throw InvalidArgument("Agent: " + made.status().message());
    Require(*made != nullptr, "Agent: the planner factory returned no planner");
    probe = std::move(made).value();
    needs_env_ = probe->needs_env();
    Require(!needs_env_ || prototype != nullptr,
            "Agent: planner " + probe->name() +
                " plans on an environment model; construct the Agent with a prototype env");
    RequireOk(prototype != nullptr ? probe->CanTeach(*prototype)
                                   : probe->CanTeachSpaces(observation_space_, action_space_));
  } else {
    needs_env_ = prototype != nullptr;
  }

  slot_ = std::make_unique<SnapshotSlot>(weights_->Latest());
  if (seams.plan_queue != nullptr) {
    queue_ = seams.plan_queue;
  } else if (has_teacher_) {
    queue_ = std::make_shared<LocalPlanQueue>(options_.planner_queue,
                                                  options_.planner_overflow, obs_size,
                                                  needs_env_ ? prototype : nullptr);
  }
  if (seams.planners) {
    PlannerPool::Options pool;
    pool.threads = options_.planner_threads;
    pool.stuck_ms = options_.planner_stuck_ms;
    pool.stop_timeout_ms = options_.stop_timeout_ms;
    pool.nice = options_.background_nice;
    pool_ = std::make_unique<PlannerPool>(pool, queue_, seams.planners, obs_size,
                                          needs_env_ ? prototype : nullptr);
  }

  Collector::Options collector;
  collector.inbox = options_.inbox;
  collector.observation_size = obs_size;
  collector.output_size = slot_->spec().output();
  collector.outcome_wait_ms = options_.outcome_wait_ms;
  collector.max_pending = options_.max_pending;
  collector.log_dir = options_.log_dir;
  collector.log_metadata = {options_.env_name, observation_space_.ToString(),
                            action_space_.ToString(),
                            options_.run_note.empty() ? "apprentice agent, mode " +
                                                            std::string(ModeName(options_.mode))
                                                      : options_.run_note};
  collector.metrics_path = options_.metrics_path;
  collector.metrics_interval_ms = options_.metrics_interval_ms;
  collector.nice = options_.background_nice;
  collector.find_decision = std::move(seams.decisions);
  collector.disagreement = &disagreement_;
  try {
    collector_ = std::make_unique<Collector>(collector, action_space_, learner_,
                                             [this] { return MetricsLine(); });
  } catch (const InvalidArgument& e) {
    throw InvalidArgument(std::string("Agent: ") + e.what());
  }
  arbiters_.push_back(std::make_unique<Arbiter>(*this, 0));
  default_arbiter_ = arbiters_.front().get();
}

Agent::~Agent() { (void)Stop(); }

void Agent::SetFirstEpisode(int64_t first) {
  Require(state_.load() == kCreated, "Agent::SetFirstEpisode: call it before Start()");
  Require(first >= 0, "Agent::SetFirstEpisode: the first episode must be >= 0");
  next_episode_.store(first);
}

void Agent::SetFirstDecisionId(uint64_t first) {
  Require(state_.load() == kCreated, "Agent::SetFirstDecisionId: call it before Start()");
  Require(first >= 1, "Agent::SetFirstDecisionId: decision ids start at 1");
  next_id_.store(first);
}

void Agent::Start() {
  Require(state_.load() == kCreated, "Agent::Start: the agent was started already");
  bool learner_started = false;
  try {
    if (learner_ != nullptr) {
      learner_->Start();
      learner_started = true;
    }
    subscription_ = weights_->Subscribe(
        [this](std::shared_ptr<const Snapshot> snapshot) { Adopt(std::move(snapshot)); });
    Adopt(weights_->Latest());  // what was published between construction and the subscription
    collector_->Start();
    if (pool_) pool_->Start(this);
  } catch (...) {
    // Whatever started is stopped again; the agent is then stopped (Act() refuses).
    if (pool_) pool_->Stop();
    if (queue_) queue_->Close();
    Status status = collector_->Stop();
    if (subscription_ != 0) weights_->Unsubscribe(subscription_);
    if (learner_started) {
      const Status s = learner_->Stop();
      if (status.ok()) status = s;
    }
    {
      std::lock_guard stop_lock(stop_mu_);
      stop_status_ = status;  // what a later Stop() returns
      state_.store(kStopped);
    }
    throw;
  }
  state_.store(kRunning, std::memory_order_release);
}

void Agent::Adopt(std::shared_ptr<const Snapshot> snapshot) {
  std::lock_guard lock(adopt_mu_);
  if (snapshot == nullptr || snapshot->version() <= slot_->version()) return;  // not newer
  if (Status s = slot_->Publish(std::move(snapshot)); !s.ok()) {
    weight_errors_.fetch_add(1, std::memory_order_relaxed);
    std::lock_guard error_lock(weights_error_mu_);
    weights_error_ = "weights: " + s.message();
  }
}

AgentDecision Agent::Act(std::span<const float> observation, const Env* state,
                         std::span<const uint8_t> legal) {
  return default_arbiter_->Act(observation, state, legal);
}

void Agent::Observe(double reward, bool terminated, bool truncated) {
  default_arbiter_->Observe(reward, terminated, truncated);
}

Arbiter& Agent::OpenArbiter() {
  std::lock_guard lock(arbiters_mu_);
  Require(arbiters_.size() + crowds_.size() < static_cast<size_t>(SnapshotSlot::kMaxReaders),
          "Agent::OpenArbiter: at most " + std::to_string(SnapshotSlot::kMaxReaders) +
              " arbiters and crowds");
  arbiters_.push_back(std::make_unique<Arbiter>(*this, static_cast<int>(arbiters_.size())));
  return *arbiters_.back();
}

Crowd& Agent::OpenCrowd(int64_t agents) {
  Require(options_.mode == Mode::kReflex,
          "Agent::OpenCrowd: a crowd acts in reflex mode only, not " +
              std::string(ModeName(options_.mode)));
  std::lock_guard lock(arbiters_mu_);
  Require(arbiters_.size() + crowds_.size() < static_cast<size_t>(SnapshotSlot::kMaxReaders),
          "Agent::OpenCrowd: at most " + std::to_string(SnapshotSlot::kMaxReaders) +
              " arbiters and crowds");
  crowds_.push_back(std::make_unique<Crowd>(*this, static_cast<int>(crowds_.size()), agents));
  return *crowds_.back();
}

Status Agent::Report(uint64_t id, const Outcome& outcome) {
  if (!running()) return Status::Unavailable("Agent::Report: the agent is not running");
  if (id == 0 || id >= next_id_.load(std::memory_order_relaxed)) {
    return Status::InvalidArgument("Agent::Report: no decision " + std::to_string(id));
  }
  const auto sent = collector_->Inbox().Push(
      [&](CollectorItem& item) {
        item.kind = CollectorItem::Kind::kOutcome;
        item.id = id;
        item.outcome = outcome;
      },
      [](const CollectorItem&) {});
  if (sent == BoundedQueue<CollectorItem>::PushResult::kRejected) {
    report_drops_.fetch_add(1, std::memory_order_relaxed);
    return Status::Unavailable("Agent::Report: the collector's inbox is full");
  }
  return Status::Ok();
}

void Agent::OnLabel(Label label) {
  answers_.Offer(label);
  collector_->OnLabel(std::move(label));
}

Status Agent::Stop() {
  std::lock_guard stop_lock(stop_mu_);
  const int was = state_.exchange(kStopped);
  if (was == kStopped) return stop_status_;
  if (was == kCreated) {
    stop_status_ = collector_->Stop();
    return stop_status_;
  }
  // 1. Workers: no new requests; each finishes the plan it is in, up to the stop timeout.
  if (pool_) pool_->Stop();
  if (queue_) queue_->Close();
  // 2. Collector: every decision, outcome and label still held becomes a record; the log closes.
  Status status = collector_->Stop();
  // 3. Learner: finishes its step, publishes its final weights, saves its files.
  if (learner_ != nullptr) {
    const Status s = learner_->Stop();
    if (status.ok()) status = s;
  }
  weights_->Unsubscribe(subscription_);
  // 4. The last metrics line (every thread has ended or stopped publishing).
  collector_->WriteFinalMetricsLine();
  stop_status_ = status;
  return status;
}

AgentMetrics Agent::Metrics() const {
  AgentMetrics m;
  m.mode = options_.mode;
  m.elapsed_s = static_cast<double>(NowNs() - start_ns_) * 1e-9;
  double return_sum = 0.0;
  int64_t return_count = 0;
  ArbiterCounters total;
  const auto add_returns = [&](std::pair<double, int64_t> recent) {
    return_sum += recent.first * static_cast<double>(recent.second);
    return_count += recent.second;
  };
  {
    std::lock_guard lock(arbiters_mu_);
    for (const auto& a : arbiters_) {
      total += a->counters();
      m.act.Merge(a->act_latency());
      add_returns(a->recent_return());
    }
    for (const auto& crowd : crowds_) {  // its ticks are not decisions: no act latency
      total += crowd->counters();
      add_returns(crowd->recent_return());
    }
  }
  m.steps = total.steps;
  m.episodes = total.episodes;
  m.acted_by_executor = total.acted_by_executor;
  m.acted_by_planner = total.acted_by_planner;
  m.deadline_misses = total.deadline_misses;
  m.planner_requests = total.planner_requests;
  m.planner_drops = total.planner_drops;
  m.planner_timeouts = total.planner_timeouts;
  m.decision_drops = total.decision_drops;
  m.unselected = total.unselected;
  m.outcome_drops = report_drops_.load(std::memory_order_relaxed);
  m.recent_return = return_count > 0 ? return_sum / static_cast<double>(return_count) : 0.0;

  if (pool_) {
    m.planner_errors = pool_->errors();
    m.planner_stuck = pool_->stuck();
    m.planner_abandoned = pool_->abandoned();
  }
  m.queue_depth = queue_ ? queue_->size() : 0;
  m.queue_capacity = queue_ ? queue_->capacity() : 0;

  const Collector& c = *collector_;
  m.decisions = c.decisions();
  m.orphan_outcomes = c.orphan_outcomes();
  m.ground_truth = c.truths();
  m.late_joins = c.late_joins();
  m.missing_outcomes = c.missing_outcomes();
  m.orphan_labels = c.orphan_labels();
  m.missing_labels = c.missing_labels();
  m.duplicate_labels = c.duplicate_labels();
  m.weight_errors = weight_errors_.load(std::memory_order_relaxed);
  m.labels = c.labels();
  m.logged = c.logged();
  m.agreement = c.agreement();
  m.mean_kl = c.mean_kl();
  m.agreement_samples = c.agreement_samples();
  m.planner = c.planner_latency();
  m.executor_version = slot_->version();

  // The errors of each part, the rarer ones first: a later part's error, if any, is shown.
  std::string last_error;
  {
    std::lock_guard lock(weights_error_mu_);
    last_error = weights_error_;
  }
  if (learner_ != nullptr) {
    const LearnerMetrics l = learner_->Metrics();
    m.train_steps = l.train_steps;
    m.train_errors = l.train_errors;
    m.last_loss = l.last_loss;
    m.train = l.train;
    if (!l.last_error.empty()) last_error = l.last_error;
  }
  if (std::string e = c.last_error(); !e.empty()) last_error = e;
  if (pool_) {
    if (std::string e = pool_->last_error(); !e.empty()) last_error = e;
  }
  m.last_error = last_error;
  m.error = c.error().message();
  return m;
}

std::string Agent::MetricsLine() {
  const AgentMetrics now = Metrics();
  std::string line = now.ToJson(have_previous_ ? &previous_metrics_ : nullptr).Dump(/*indent=*/-1);
  previous_metrics_ = now;
  have_previous_ = true;
  return line;
}

}  // namespace apprentice
