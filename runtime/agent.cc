#include "runtime/agent.h"

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <deque>
#include <fstream>
#include <optional>
#include <thread>
#include <typeinfo>
#include <unordered_map>
#include <vector>

#include "core/clock.h"
#include "executor/snapshot_file.h"
#include "replay/episode_log.h"
#include "runtime/rolling_rate.h"

namespace apprentice {
namespace asio = boost::asio;

namespace {

constexpr int64_t kAgreementWindow = 1000;
constexpr int64_t kCollectorPollNs = 2'000'000;
constexpr int64_t kTrainerIdleNs = 1'000'000;
constexpr int64_t kEarlyLabelMaxAgeNs = 1'000'000'000;
// A wait for the planner ends this long before the deadline (at most a quarter of it): waking a
// thread from a condition variable takes tens of microseconds, plus the kernel's timer slack.
constexpr int64_t kWakeReserveNs = 150'000;

// Lowers the calling thread's priority (Linux: nice applies per thread).
void SetThreadNice(int nice) {
  if (nice == 0) return;
  // Best effort: a failure (e.g. a container that forbids it) leaves the default priority.
  (void)setpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid)), nice);
}

// A per-request seed, independent of the order in which workers take requests.
uint64_t RequestSeed(uint64_t seed, uint64_t id) {
  uint64_t z = seed ^ (id * 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

std::chrono::steady_clock::time_point AtNs(int64_t ns) {
  return std::chrono::steady_clock::time_point(std::chrono::nanoseconds(ns));
}

Json Percentiles(const LatencyHistogram& h) {
  return Json::Object{{"p50", h.QuantileUs(0.5)},
                      {"p90", h.QuantileUs(0.9)},
                      {"p99", h.QuantileUs(0.99)},
                      {"max", static_cast<double>(h.max_ns()) * 1e-3}};
}

// One plan request. Slots of the request queue, the urgent slot and every worker hold one,
// preallocated, and requests are copied between them without allocating.
struct PlanTask {
  uint64_t id = 0;
  std::vector<float> observation;
  std::unique_ptr<Env> env;  // the state to plan from; null for planners that need none
  uint64_t seed = 0;
  int64_t deadline_ns = 0;
  Action executor_action;
  bool urgent = false;

  // Copies `from` into this task's buffers (the env by CopyStateFrom: no allocation).
  void CopyFrom(const PlanTask& from) {
    id = from.id;
    observation.assign(from.observation.begin(), from.observation.end());
    if (env != nullptr && from.env != nullptr) (void)env->CopyStateFrom(*from.env);
    seed = from.seed;
    deadline_ns = from.deadline_ns;
    executor_action = from.executor_action;
    urgent = from.urgent;
  }
};

// What a worker hands the collector for every request it finished.
struct Label {
  uint64_t id = 0;
  bool ok = false;
  PlanDecision decision;
  std::vector<float> observation;
  Action executor_action;
  int64_t arrived_ns = 0;
};

// One observed step, from the caller to the collector.
struct StepEntry {
  uint64_t id = 0;
  bool requested = false;        // a plan request for this step is queued or being planned
  uint64_t dropped_request = 0;  // a request this step's Act() pushed out of the queue; 0 = none
  DecisionRecord record;         // without the planner's part
};

}  // namespace

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

std::string ModeNames() { return "reflex, deadline, gated, planner, dagger"; }

Result<Mode> ParseMode(std::string_view name) {
  for (Mode m : {Mode::kReflex, Mode::kDeadline, Mode::kGated, Mode::kPlanner, Mode::kDagger}) {
    if (ModeName(m) == name) return m;
  }
  return Status::InvalidArgument("unknown mode '" + std::string(name) + "' (known: " +
                                 ModeNames() + ")");
}

Status AgentOptions::Validate() const {
  auto bad = [](const std::string& m) { return Status::InvalidArgument(m); };
  if (deadline_us < 1) return bad("the deadline must be >= 1 us");
  if (!(gate_confidence >= 0.0 && gate_confidence <= 1.0)) {
    return bad("the gate confidence must be in [0, 1]");
  }
  if (planner_wait_ms < 1) return bad("the planner wait must be >= 1 ms");
  if (!(beta >= 0.0 && beta <= 1.0)) return bad("beta must be in [0, 1]");
  if (!(beta_decay >= 0.0 && beta_decay <= 1.0)) return bad("beta decay must be in [0, 1]");
  if (planner_threads < 1 || planner_threads > 256) {
    return bad("planner threads must be in [1, 256]");
  }
  if (planner_queue < 1 || planner_queue > 1'000'000) {
    return bad("the planner queue must hold [1, 1000000] requests");
  }
  if (planner_budget_ms < 0) return bad("the planner budget must be >= 0 ms");
  if (planner_stuck_ms < 1) return bad("the planner stuck time must be >= 1 ms");
  if (stop_timeout_ms < 0) return bad("the stop timeout must be >= 0 ms");
  if (step_buffer < 1 || step_buffer > 10'000'000) {
    return bad("the step buffer must hold [1, 10000000] steps");
  }
  if (Status s = ReplayBuffer::Options{replay_capacity}.Validate(); !s.ok()) return s;
  if (min_replay < 1) return bad("min replay must be >= 1");
  if (min_replay > replay_capacity) {
    return bad("min replay (" + std::to_string(min_replay) + ") exceeds the replay capacity (" +
               std::to_string(replay_capacity) + "): training would never start");
  }
  if (!(updates_per_label >= 0.0 && updates_per_label <= 1e6)) {
    return bad("updates per label must be in [0, 1000000]");
  }
  if (background_nice < 0 || background_nice > 19) {
    return bad("the background nice value must be in [0, 19]");
  }
  if (metrics_interval_ms < 1) return bad("the metrics interval must be >= 1 ms");
  if (checkpoint_every_ms < 1) return bad("the checkpoint interval must be >= 1 ms");
  return distiller.Validate();
}

Json AgentMetrics::ToJson(const AgentMetrics* previous) const {
  Json::Object o{
      {"t", elapsed_s},
      {"mode", std::string(ModeName(mode))},
      {"steps", steps},
      {"episodes", episodes},
      {"acted_by", Json::Object{{"executor", acted_by_executor}, {"planner", acted_by_planner}}},
      {"deadline_misses", deadline_misses},
      {"act_latency_us", Percentiles(act)},
      {"planner_latency_us", Percentiles(planner)},
      {"train_latency_us", Percentiles(train)},
      {"planner_requests", planner_requests},
      {"planner_drops", planner_drops},
      {"planner_timeouts", planner_timeouts},
      {"planner_errors", planner_errors},
      {"planner_stuck", planner_stuck},
      {"planner_abandoned", planner_abandoned},
      {"queue_depth", queue_depth},
      {"queue_capacity", queue_capacity},
      {"labels", labels},
      {"train_steps", train_steps},
      {"train_errors", train_errors},
      {"agreement", agreement},
      {"agreement_samples", agreement_samples},
      {"recent_return", recent_return},
      {"last_loss", last_loss},
      {"executor_version", executor_version},
      {"step_drops", step_drops},
      {"logged", logged},
      {"log_errors", log_errors},
      {"last_error", last_error},
  };
  if (previous != nullptr && elapsed_s > previous->elapsed_s) {
    const double dt = elapsed_s - previous->elapsed_s;
    o.emplace_back("labels_per_s", static_cast<double>(labels - previous->labels) / dt);
    o.emplace_back("train_steps_per_s",
                   static_cast<double>(train_steps - previous->train_steps) / dt);
  }
  return o;
}

// ---------------------------------------------------------------------------------------------
// Planner pool: the request queue, the urgent slot and the workers' shared state. Owned jointly
// by the Agent and every worker thread, so that a worker abandoned inside a hung Plan() touches
// only memory it keeps alive.
// ---------------------------------------------------------------------------------------------
struct Agent::Pool {
  Pool(int64_t capacity, Overflow overflow, const std::function<void(PlanTask&)>& init)
      : queue(capacity, overflow, init) {
    init(urgent_task);
  }

  // Wakes one sleeping worker (no syscall when none sleeps). Any thread; no lock.
  void Wake() {
    epoch.fetch_add(1);
    if (sleepers.load() > 0) epoch.notify_one();
  }

  // Worker: takes the urgent request, if one waits. The flag keeps the common case lock-free.
  bool TakeUrgent(PlanTask& out) {
    if (!urgent_flag.load(std::memory_order_acquire)) return false;
    std::lock_guard lock(urgent_mu);
    if (!urgent_pending) return false;
    out.CopyFrom(urgent_task);
    urgent_pending = false;
    urgent_flag.store(false, std::memory_order_release);
    return true;
  }

  // Worker: hands the caller waiting for `id` its answer (ignored once the caller gave up).
  void Answer(uint64_t id, const Result<PlanDecision>& result) {
    std::lock_guard lock(urgent_mu);
    if (waiting_id != id) return;
    answered_id = id;
    answer_ok = result.ok();
    if (result.ok()) answer_action = result->action;
    urgent_cv.notify_all();
  }

  // Worker: passes a finished request to the collector, unless the agent has stopped.
  void Deliver(Label label) {
    std::lock_guard lock(sink_mu);
    if (sink) sink(std::move(label));
  }

  void NoteError(const std::string& message) {
    errors.fetch_add(1);
    std::lock_guard lock(error_mu);
    last_error = message;
  }

  BoundedQueue<PlanTask> queue;

  // The urgent slot: one request the caller is waiting for; a newer one replaces it.
  std::mutex urgent_mu;
  std::condition_variable urgent_cv;
  PlanTask urgent_task;          // guarded by urgent_mu
  bool urgent_pending = false;   // guarded by urgent_mu: urgent_task waits for a worker
  uint64_t waiting_id = 0;       // guarded by urgent_mu: the id the caller waits for
  uint64_t answered_id = 0;      // guarded by urgent_mu
  bool answer_ok = false;        // guarded by urgent_mu
  Action answer_action;          // guarded by urgent_mu
  std::atomic<bool> urgent_flag{false};

  std::atomic<uint32_t> epoch{0};  // bumped on every new request and on close
  std::atomic<int> sleepers{0};
  std::atomic<bool> closed{false};

  std::vector<std::unique_ptr<Planner>> planners;        // one per worker, used by it alone
  std::vector<std::unique_ptr<PlanTask>> worker_tasks;   // one per worker
  std::unique_ptr<std::atomic<int64_t>[]> busy_since;    // per worker: NowNs() at Plan(), or 0

  std::atomic<int64_t> requests{0}, drops{0}, timeouts{0}, errors{0};

  std::mutex exit_mu;
  std::condition_variable exit_cv;
  std::vector<bool> exited;  // guarded by exit_mu

  std::mutex sink_mu;
  std::function<void(Label)> sink;  // guarded by sink_mu; null once the agent stops

  mutable std::mutex error_mu;
  std::string last_error;  // guarded by error_mu
};

// ---------------------------------------------------------------------------------------------
// Collector: joins steps and labels into records (runs on its io_context's one thread).
// ---------------------------------------------------------------------------------------------
struct Agent::Collector {
  Collector(Agent& a, int64_t capacity, const std::function<void(StepEntry&)>& init)
      : agent(a),
        work(asio::make_work_guard(io)),
        poll_timer(io),
        metrics_timer(io),
        steps(capacity, Overflow::kDropNewest, init),
        agreement_window(kAgreementWindow) {}

  void Poll() {
    if (stopping) return;  // a tick that completed before the cancel must not re-arm
    DrainSteps();
    FlushOldEarlyLabels(NowNs() - kEarlyLabelMaxAgeNs);
    poll_timer.expires_after(std::chrono::nanoseconds(kCollectorPollNs));
    poll_timer.async_wait([this](const boost::system::error_code& ec) {
      if (!ec) Poll();
    });
  }

  void WriteMetricsLine() {
    if (!metrics_file.is_open()) return;
    const AgentMetrics now = agent.Metrics();
    metrics_file << now.ToJson(have_previous ? &previous : nullptr).Dump(/*indent=*/-1) << '\n';
    metrics_file.flush();
    previous = now;
    have_previous = true;
  }

  void MetricsTick() {
    if (stopping) return;
    if (episode_log) Check(episode_log->Flush(), "episode log");
    WriteMetricsLine();
    metrics_timer.expires_after(std::chrono::milliseconds(agent.options_.metrics_interval_ms));
    metrics_timer.async_wait([this](const boost::system::error_code& ec) {
      if (!ec) MetricsTick();
    });
  }

  void DrainSteps() {
    StepEntry entry;
    while (steps.Pop([&](StepEntry& e) {
      entry.id = e.id;
      entry.requested = e.requested;
      entry.dropped_request = e.dropped_request;
      entry.record = e.record;
    })) {
      if (entry.dropped_request != 0) FinishUnlabelled(entry.dropped_request);
      if (!entry.requested) {
        Finish(std::move(entry.record));
        continue;
      }
      auto early_it = early.find(entry.id);
      if (early_it != early.end()) {
        Label label = std::move(early_it->second);
        early.erase(early_it);
        if (label.ok) Merge(entry.record, label);
        Finish(std::move(entry.record));
      } else {
        waiting.emplace(entry.id, std::move(entry.record));
      }
    }
  }

  void OnLabel(Label label) {
    if (label.ok) planner_latency.Record(label.decision.latency_ns);
    auto it = waiting.find(label.id);
    if (it == waiting.end()) {
      label.arrived_ns = NowNs();
      early.emplace(label.id, std::move(label));
      return;
    }
    DecisionRecord record = std::move(it->second);
    waiting.erase(it);
    if (label.ok) Merge(record, label);
    Finish(std::move(record));
  }

  static void Merge(DecisionRecord& record, Label& label) {
    record.has_label = true;
    record.planner = std::move(label.decision.distribution);
    record.planner_action = label.decision.action;
    record.planner_value = static_cast<float>(label.decision.value);
    record.planner_latency_ns = label.decision.latency_ns;
  }

  void FinishUnlabelled(uint64_t id) {
    auto it = waiting.find(id);
    if (it == waiting.end()) return;
    DecisionRecord record = std::move(it->second);
    waiting.erase(it);
    Finish(std::move(record));
  }

  // Labels whose step never came (the step buffer overflowed): the label alone still teaches.
  void FlushOldEarlyLabels(int64_t older_than_ns) {
    for (auto it = early.begin(); it != early.end();) {
      if (it->second.arrived_ns > older_than_ns) {
        ++it;
        continue;
      }
      Label& label = it->second;
      if (label.ok) {
        DecisionRecord record;
        record.episode = -1;  // unknown: the step was lost
        record.step = -1;
        record.observation = std::move(label.observation);
        record.executor_action = label.executor_action;
        Merge(record, label);
        Finish(std::move(record));
      }
      it = early.erase(it);
    }
  }

  void Check(const Status& s, const char* what) {
    if (s.ok()) return;
    log_errors.fetch_add(1, std::memory_order_relaxed);
    std::lock_guard lock(error_mu);
    last_error = std::string(what) + ": " + s.message();
  }

  // Every observed step ends here, labelled or not.
  void Finish(DecisionRecord record) {
    if (episode_log) {
      Check(episode_log->Append(record), "episode log");
      logged.fetch_add(1, std::memory_order_relaxed);
    }
    if (!record.has_label) return;
    agreement_window.Push(record.executor_action == record.planner_action);
    agreement.store(agreement_window.rate(), std::memory_order_relaxed);
    agreement_samples.store(agreement_window.count(), std::memory_order_relaxed);
    agent.replay_->Insert(std::move(record));
    labels.fetch_add(1, std::memory_order_release);
  }

  // After the workers have stopped: every step and label still held becomes a record.
  void FinalDrain() {
    DrainSteps();
    FlushOldEarlyLabels(INT64_MAX);
    for (auto& [id, record] : waiting) Finish(std::move(record));
    waiting.clear();
  }

  Agent& agent;
  asio::io_context io;
  asio::executor_work_guard<asio::io_context::executor_type> work;
  asio::steady_timer poll_timer, metrics_timer;
  std::thread thread;
  BoundedQueue<StepEntry> steps;  // caller → collector

  // Collector thread only.
  bool stopping = false;
  std::unordered_map<uint64_t, DecisionRecord> waiting;  // observed, label may still come
  std::unordered_map<uint64_t, Label> early;             // labelled, step not seen yet
  RollingRate agreement_window;
  std::ofstream metrics_file;
  std::optional<EpisodeLogWriter> episode_log;
  AgentMetrics previous;
  bool have_previous = false;

  // Written by the collector thread, read by any.
  SharedLatencyHistogram planner_latency;
  std::atomic<int64_t> labels{0}, agreement_samples{0}, logged{0}, log_errors{0};
  std::atomic<double> agreement{0.0};
  mutable std::mutex error_mu;
  std::string last_error;  // guarded by error_mu
};

// ---------------------------------------------------------------------------------------------
// Trainer: the distiller's actor (runs on its io_context's one thread).
// ---------------------------------------------------------------------------------------------
struct Agent::Trainer {
  Trainer(Agent& a, std::unique_ptr<Distiller> d)
      : agent(a),
        distiller(std::move(d)),
        work(asio::make_work_guard(io)),
        timer(io),
        sampler(a.options_.seed ^ 0x5A3B'0000'0000'0003ULL) {}

  void TrainSome() {
    if (stopping) return;
    const int64_t labels = agent.collector_->labels.load(std::memory_order_acquire);
    const bool ready = agent.replay_->size() >= agent.options_.min_replay;
    const auto allowed =
        ready ? static_cast<int64_t>(std::floor(static_cast<double>(labels) *
                                                agent.options_.updates_per_label))
              : 0;
    if (steps.load(std::memory_order_relaxed) >= allowed) {
      timer.expires_after(std::chrono::nanoseconds(kTrainerIdleNs));
      timer.async_wait([this](const boost::system::error_code& ec) {
        if (!ec) TrainSome();
      });
      return;
    }
    agent.replay_->Sample(distiller->options().batch_size, sampler, drawn);
    batch.assign(drawn.records.begin(), drawn.records.end());
    const int64_t t0 = NowNs();
    try {
      Distiller::TrainStats stats = distiller->Train(batch);
      latency.Record(NowNs() - t0);
      last_loss.store(stats.loss, std::memory_order_relaxed);
      if (stats.snapshot) RequireOk(agent.slot_->Publish(std::move(stats.snapshot)));
    } catch (const std::exception& e) {
      errors.fetch_add(1);
      std::lock_guard lock(error_mu);
      last_error = std::string("distiller: ") + e.what();
    }
    steps.fetch_add(1, std::memory_order_relaxed);
    if (!agent.options_.checkpoint_path.empty() &&
        NowNs() - last_checkpoint_ns > agent.options_.checkpoint_every_ms * 1'000'000) {
      SaveFiles();
    }
    asio::post(io, [this] { TrainSome(); });
  }

  // The distiller checkpoint and the executor snapshot file, when configured.
  void SaveFiles() {
    last_checkpoint_ns = NowNs();
    const AgentOptions& o = agent.options_;
    Status s = Status::Ok();
    if (!o.checkpoint_path.empty()) s = distiller->SaveCheckpoint(o.checkpoint_path);
    if (s.ok() && !o.snapshot_path.empty()) {
      SnapshotFileInfo info;
      info.env = o.env_name;
      info.observation_space = agent.observation_space_.ToString();
      info.action_space = agent.action_space_.ToString();
      info.note = "apprentice agent, mode " + std::string(ModeName(o.mode));
      s = SaveSnapshot(*agent.slot_->Current(), info, o.snapshot_path);
    }
    if (!s.ok()) {
      errors.fetch_add(1);
      std::lock_guard lock(error_mu);
      last_error = "checkpoint: " + s.message();
    }
  }

  // The final weights, when updates were made after the last publish.
  void PublishFinal() {
    if (distiller->updates() % distiller->options().publish_every == 0) return;
    const Status s = agent.slot_->Publish(distiller->MakeSnapshot(agent.slot_->version() + 1));
    if (!s.ok()) {
      std::lock_guard lock(error_mu);
      last_error = "distiller: " + s.message();
    }
  }

  Agent& agent;
  std::unique_ptr<Distiller> distiller;  // trainer thread once started
  asio::io_context io;
  asio::executor_work_guard<asio::io_context::executor_type> work;
  asio::steady_timer timer;
  std::thread thread;
  bool stopping = false;  // trainer thread
  int64_t last_checkpoint_ns = NowNs();  // trainer thread
  Rng sampler;            // trainer thread
  ReplayBuffer::SampleBatch drawn;              // trainer thread
  std::vector<ReplayBuffer::RecordPtr> batch;  // trainer thread

  SharedLatencyHistogram latency;
  std::atomic<int64_t> steps{0}, errors{0};
  std::atomic<double> last_loss{0.0};
  mutable std::mutex error_mu;
  std::string last_error;  // guarded by error_mu
};

// The step between Act() and Observe() (caller's thread).
struct Agent::PendingStep {
  uint64_t id = 0;
  bool requested = false;
  uint64_t dropped_request = 0;
  DecisionRecord record;
};

void Agent::WorkerMain(std::shared_ptr<Pool> pool_ptr, size_t index, int nice) {
  SetThreadNice(nice);
  Pool& pool = *pool_ptr;
  PlanTask& task = *pool.worker_tasks[index];
  Planner& planner = *pool.planners[index];
  while (!pool.closed.load(std::memory_order_acquire)) {
    const uint32_t epoch = pool.epoch.load();
    const bool urgent = pool.TakeUrgent(task);
    if (!urgent && !pool.queue.Pop([&](PlanTask& queued) { task.CopyFrom(queued); })) {
      pool.sleepers.fetch_add(1);
      if (!pool.closed.load() && pool.epoch.load() == epoch) pool.epoch.wait(epoch);
      pool.sleepers.fetch_sub(1);
      continue;
    }
    PlanRequest request;
    request.observation = task.observation;
    request.env = task.env.get();
    request.seed = task.seed;
    request.deadline_ns = task.deadline_ns;
    pool.busy_since[index].store(NowNs(), std::memory_order_relaxed);
    Result<PlanDecision> result = Status::Internal("not planned");
    try {
      result = planner.Plan(request);
    } catch (const std::exception& e) {
      result = Status::Internal(std::string("planner threw: ") + e.what());
    } catch (...) {
      result = Status::Internal("planner threw a non-standard exception");
    }
    pool.busy_since[index].store(0, std::memory_order_relaxed);
    if (!result.ok()) pool.NoteError("planner: " + result.status().message());
    if (task.urgent) pool.Answer(task.id, result);

    Label label;
    label.id = task.id;
    label.ok = result.ok();
    if (result.ok()) label.decision = std::move(result).value();
    label.observation = task.observation;
    label.executor_action = task.executor_action;
    pool.Deliver(std::move(label));
  }
  {
    std::lock_guard lock(pool.exit_mu);
    pool.exited[index] = true;
  }
  pool.exit_cv.notify_all();
}

// ---------------------------------------------------------------------------------------------
// Agent
// ---------------------------------------------------------------------------------------------
Agent::Agent(AgentOptions options, const Env& prototype, const PlannerFactory& make_planner)
    : Agent(std::move(options), prototype.observation_space(), prototype.action_space(),
            &prototype, make_planner) {}

Agent::Agent(AgentOptions options, const Space& observation_space, const Space& action_space,
             const PlannerFactory& make_planner)
    : Agent(std::move(options), observation_space, action_space, nullptr, make_planner) {}

Agent::Agent(AgentOptions options, const Space& observation_space, const Space& action_space,
             const Env* prototype, const PlannerFactory& make_planner)
    : options_(std::move(options)),
      observation_space_(observation_space),
      action_space_(action_space),
      start_ns_(NowNs()),
      wake_reserve_ns_(std::min<int64_t>(kWakeReserveNs, options_.deadline_us * 1000 / 4)),
      beta_(options_.beta),
      mixture_(options_.seed ^ 0xB37A'0000'0000'0002ULL),
      pending_(std::make_unique<PendingStep>()) {
  RequireOk(options_.Validate());
  Require(static_cast<bool>(make_planner), "Agent needs a planner factory");
  Require(!observation_space_.is_discrete(), "Agent: the observation space must be a Box");

  // Planners first: they decide whether requests carry an env.
  std::vector<std::unique_ptr<Planner>> planners;
  for (int64_t i = 0; i < options_.planner_threads; ++i) {
    Result<std::unique_ptr<Planner>> planner = make_planner();
    if (!planner.ok()) throw InvalidArgument("Agent: " + planner.status().message());
    Require(*planner != nullptr, "Agent: the planner factory returned no planner");
    RequireOk((*planner)->Supports(action_space_));
    planners.push_back(std::move(*planner));
  }
  needs_env_ = planners.front()->needs_env();
  if (prototype != nullptr) env_type_ = &typeid(*prototype);
  Require(!needs_env_ || prototype != nullptr,
          "Agent: planner " + planners.front()->name() +
              " plans on an environment model; construct the Agent with a prototype env");

  Distiller::Options distiller_options = options_.distiller;
  distiller_options.seed = options_.seed;
  auto distiller =
      std::make_unique<Distiller>(distiller_options, observation_space_, action_space_);
  slot_ = std::make_unique<SnapshotSlot>(distiller->MakeSnapshot(/*version=*/0));
  executor_ = std::make_unique<Executor>(*slot_, action_space_);
  replay_ = std::make_unique<ReplayBuffer>(
      ReplayOptionsFor(options_.replay_capacity, options_.replay_sampler));

  const auto obs_size = static_cast<size_t>(observation_space_.flat_size());
  auto init_task = [&](PlanTask& t) {
    t.observation.reserve(obs_size);
    if (needs_env_) t.env = prototype->Clone();
  };
  pool_ = std::make_shared<Pool>(options_.planner_queue, options_.planner_overflow, init_task);
  pool_->planners = std::move(planners);
  pool_->busy_since = std::make_unique<std::atomic<int64_t>[]>(pool_->planners.size());
  for (size_t i = 0; i < pool_->planners.size(); ++i) {
    pool_->worker_tasks.push_back(std::make_unique<PlanTask>());
    init_task(*pool_->worker_tasks.back());
    pool_->busy_since[i].store(0);
  }
  pool_->exited.assign(pool_->planners.size(), false);

  collector_ = std::make_unique<Collector>(
      *this, options_.step_buffer, [&](StepEntry& e) { e.record.observation.reserve(obs_size); });
  trainer_ = std::make_unique<Trainer>(*this, std::move(distiller));
  pending_->record.observation.reserve(obs_size);

  if (!options_.log_dir.empty()) {
    EpisodeLogWriter::Options log_options;
    log_options.directory = options_.log_dir;
    Result<EpisodeLogWriter> log = EpisodeLogWriter::Open(
        log_options, {options_.env_name, observation_space_.ToString(), action_space_.ToString(),
                      std::string(ModeName(options_.mode))});
    if (!log.ok()) throw InvalidArgument("Agent: " + log.status().message());
    collector_->episode_log.emplace(std::move(log).value());
  }
  if (!options_.metrics_path.empty()) {
    collector_->metrics_file.open(options_.metrics_path, std::ios::out | std::ios::trunc);
    Require(collector_->metrics_file.is_open(),
            "Agent: cannot write metrics to " + options_.metrics_path);
  }
}

Agent::~Agent() { Stop(); }

Status Agent::Restore(const std::string& checkpoint_path,
                      std::span<const std::shared_ptr<const DecisionRecord>> labelled,
                      int64_t first_episode) {
  Require(phase_ == Phase::kCreated, "Agent::Restore: call it before Start()");
  if (first_episode < 0) return Status::InvalidArgument("the first episode must be >= 0");
  Distiller& distiller = *trainer_->distiller;
  if (!checkpoint_path.empty()) {
    if (Status s = distiller.LoadCheckpoint(checkpoint_path); !s.ok()) return s;
    if (Status s = slot_->Publish(distiller.MakeSnapshot(distiller.published())); !s.ok()) {
      return s;
    }
  }
  for (const auto& record : labelled) replay_->Insert(record);
  episode_ = first_episode;
  return Status::Ok();
}

void Agent::Start() {
  Require(phase_ == Phase::kCreated, "Agent::Start: the agent was started already");
  const int nice = options_.background_nice;
  pool_->sink = [this](Label label) {
    asio::post(collector_->io, [this, l = std::move(label)]() mutable {
      collector_->OnLabel(std::move(l));
    });
  };
  for (size_t i = 0; i < pool_->planners.size(); ++i) {
    std::thread(WorkerMain, pool_, i, nice).detach();  // joined through pool_->exited
  }
  collector_->Poll();
  collector_->MetricsTick();
  collector_->thread = std::thread([this, nice] {
    SetThreadNice(nice);
    collector_->io.run();
  });
  asio::post(trainer_->io, [this] { trainer_->TrainSome(); });
  trainer_->thread = std::thread([this, nice] {
    SetThreadNice(nice);
    trainer_->io.run();
  });
  phase_ = Phase::kActing;
}

AgentDecision Agent::Act(std::span<const float> observation, const Env* state) {
  if (phase_ != Phase::kActing) {
    throw InvalidArgument(phase_ == Phase::kObserving ? "Agent::Act: Observe() the previous step first"
                          : phase_ == Phase::kCreated ? "Agent::Act: Start() the agent first"
                                                      : "Agent::Act: the agent has stopped");
  }
  if (needs_env_ && (state == nullptr || typeid(*state) != *env_type_)) {
    throw InvalidArgument(state == nullptr
                              ? "Agent::Act: the planner plans on the environment: pass its state"
                              : "Agent::Act: the state is a " + state->name() +
                                    " env, not the kind the agent was built with");
  }
  const int64_t t0 = NowNs();
  const ExecutorDecision exec = executor_->Act(observation);  // checks the size
  const int64_t exec_ns = NowNs() - t0;
  const uint64_t id = next_id_++;

  bool ask_now = false;
  int64_t wait_until = 0;
  const int64_t deadline = t0 + options_.deadline_us * 1000;
  switch (options_.mode) {
    case Mode::kReflex: break;
    case Mode::kDeadline:
      ask_now = true;
      wait_until = deadline - wake_reserve_ns_;
      break;
    case Mode::kGated:
      ask_now = exec.confidence < options_.gate_confidence;
      wait_until = deadline - wake_reserve_ns_;
      break;
    case Mode::kPlanner:
      ask_now = true;
      wait_until = t0 + options_.planner_wait_ms * 1'000'000;
      break;
    case Mode::kDagger:
      ask_now = beta_ > 0.0 && mixture_.Uniform() < beta_;
      wait_until = t0 + options_.planner_wait_ms * 1'000'000;
      break;
  }

  PendingStep& step = *pending_;
  step.id = id;
  step.requested = true;
  step.dropped_request = 0;
  auto fill = [&](PlanTask& t) {
    t.id = id;
    t.observation.assign(observation.begin(), observation.end());
    if (needs_env_) (void)t.env->CopyStateFrom(*state);  // same type: checked above
    t.seed = RequestSeed(options_.seed, id);
    t.executor_action = exec.action;
    t.urgent = ask_now;
  };
  Pool& pool = *pool_;
  pool.requests.fetch_add(1, std::memory_order_relaxed);

  Action action = exec.action;
  Actor acted_by = Actor::kExecutor;
  if (ask_now) {
    {
      std::lock_guard lock(pool.urgent_mu);
      if (pool.urgent_pending) {  // the previous urgent request was never taken: replace it
        step.dropped_request = pool.urgent_task.id;
        pool.drops.fetch_add(1, std::memory_order_relaxed);
      }
      fill(pool.urgent_task);
      pool.urgent_task.deadline_ns = wait_until;
      pool.urgent_pending = true;
      pool.waiting_id = id;
      pool.urgent_flag.store(true, std::memory_order_release);
    }
    pool.Wake();
    std::unique_lock lock(pool.urgent_mu);
    pool.urgent_cv.wait_until(lock, AtNs(wait_until), [&] { return pool.answered_id == id; });
    if (pool.answered_id == id && pool.answer_ok) {
      action = pool.answer_action;
      acted_by = Actor::kPlanner;
    } else if (pool.answered_id != id) {
      pool.timeouts.fetch_add(1, std::memory_order_relaxed);
    }
    pool.waiting_id = 0;
  } else {
    const int64_t budget_ns = options_.planner_budget_ms * 1'000'000;
    const auto pushed = pool.queue.Push(
        [&](PlanTask& t) {
          fill(t);
          t.deadline_ns = budget_ns > 0 ? t0 + budget_ns : 0;
        },
        [&](const PlanTask& dropped) { step.dropped_request = dropped.id; });
    if (pushed == BoundedQueue<PlanTask>::PushResult::kRejected) {
      step.requested = false;
      pool.drops.fetch_add(1, std::memory_order_relaxed);
    } else {
      if (pushed == BoundedQueue<PlanTask>::PushResult::kReplacedOldest) {
        pool.drops.fetch_add(1, std::memory_order_relaxed);
      }
      pool.Wake();
    }
  }

  DecisionRecord& r = step.record;
  r.episode = episode_;
  r.step = episode_step_;
  r.observation.assign(observation.begin(), observation.end());
  r.executor_action = exec.action;
  r.executor_version = exec.version;
  r.executor_latency_ns = exec_ns;
  r.acted_by = acted_by;

  AgentDecision d;
  d.action = action;
  d.acted_by = acted_by;
  d.executor_version = exec.version;
  d.confidence = exec.confidence;
  d.id = id;
  d.latency_ns = NowNs() - t0;
  d.deadline_missed = d.latency_ns > options_.deadline_us * 1000;
  act_latency_.Record(d.latency_ns);
  auto bump = [](std::atomic<int64_t>& a) {  // single writer: no read-modify-write needed
    a.store(a.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  };
  if (d.deadline_missed) bump(deadline_misses_);
  bump(acted_by == Actor::kPlanner ? acted_planner_ : acted_executor_);
  phase_ = Phase::kObserving;
  return d;
}

void Agent::Observe(double reward, bool terminated, bool truncated) {
  if (phase_ != Phase::kObserving) {
    throw InvalidArgument(phase_ == Phase::kActing ? "Agent::Observe: no Act() to observe"
                                                   : "Agent::Observe: the agent is not running");
  }
  PendingStep& step = *pending_;
  step.record.reward = static_cast<float>(reward);
  step.record.terminated = terminated;
  step.record.truncated = truncated;
  const auto pushed = collector_->steps.Push(
      [&](StepEntry& e) {
        e.id = step.id;
        e.requested = step.requested;
        e.dropped_request = step.dropped_request;
        e.record = step.record;
      },
      [](const StepEntry&) {});
  auto bump = [](std::atomic<int64_t>& a) {
    a.store(a.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  };
  if (pushed == BoundedQueue<StepEntry>::PushResult::kRejected) bump(step_drops_);
  bump(steps_);
  episode_return_ += reward;
  ++episode_step_;
  if (terminated || truncated) {
    const int64_t e = episodes_.load(std::memory_order_relaxed);
    returns_[e % kReturnWindow].store(episode_return_, std::memory_order_relaxed);
    episodes_.store(e + 1, std::memory_order_release);
    ++episode_;
    episode_step_ = 0;
    episode_return_ = 0.0;
    beta_ *= options_.beta_decay;
  }
  phase_ = Phase::kActing;
}

void Agent::Stop() {
  std::lock_guard stop_lock(stop_mu_);
  if (phase_ == Phase::kStopped) return;
  const bool started = phase_ != Phase::kCreated;
  phase_ = Phase::kStopped;
  if (!started) return;

  // 1. Workers: no new requests; each finishes the plan it is in, up to the stop timeout.
  Pool& pool = *pool_;
  pool.closed.store(true);
  pool.epoch.fetch_add(1);
  pool.epoch.notify_all();
  {
    std::unique_lock lock(pool.exit_mu);
    pool.exit_cv.wait_until(lock, AtNs(NowNs() + options_.stop_timeout_ms * 1'000'000), [&] {
      return std::all_of(pool.exited.begin(), pool.exited.end(), [](bool e) { return e; });
    });
    abandoned_ = std::count(pool.exited.begin(), pool.exited.end(), false);
  }
  {
    // A worker still planning is left behind: it holds the pool alive and delivers nowhere.
    std::lock_guard lock(pool.sink_mu);
    pool.sink = nullptr;
  }

  // 2. Collector: every step and label still held becomes a record; then it stops.
  asio::post(collector_->io, [this] {
    collector_->FinalDrain();
    if (collector_->episode_log) collector_->Check(collector_->episode_log->Close(), "episode log");
    collector_->stopping = true;
    collector_->poll_timer.cancel();
    collector_->metrics_timer.cancel();
    collector_->work.reset();
  });
  collector_->thread.join();

  // 3. Distiller: finishes its step and publishes its final weights.
  asio::post(trainer_->io, [this] {
    trainer_->stopping = true;
    trainer_->timer.cancel();
    trainer_->PublishFinal();
    if (!options_.checkpoint_path.empty() || !options_.snapshot_path.empty()) {
      trainer_->SaveFiles();
    }
    trainer_->work.reset();
  });
  trainer_->thread.join();

  // 4. The last metrics line (both threads are joined: this thread owns the file now).
  collector_->WriteMetricsLine();
  collector_->metrics_file.close();
}

AgentMetrics Agent::Metrics() const {
  AgentMetrics m;
  m.mode = options_.mode;
  m.elapsed_s = static_cast<double>(NowNs() - start_ns_) * 1e-9;
  m.steps = steps_.load(std::memory_order_relaxed);
  m.episodes = episodes_.load(std::memory_order_acquire);
  m.acted_by_executor = acted_executor_.load(std::memory_order_relaxed);
  m.acted_by_planner = acted_planner_.load(std::memory_order_relaxed);
  m.deadline_misses = deadline_misses_.load(std::memory_order_relaxed);
  m.step_drops = step_drops_.load(std::memory_order_relaxed);
  const int64_t window = std::min<int64_t>(m.episodes, kReturnWindow);
  double sum = 0.0;
  for (int64_t i = 0; i < window; ++i) sum += returns_[i].load(std::memory_order_relaxed);
  m.recent_return = window > 0 ? sum / static_cast<double>(window) : 0.0;
  m.act = act_latency_.Snapshot();

  const Pool& pool = *pool_;
  m.planner_requests = pool.requests.load(std::memory_order_relaxed);
  m.planner_drops = pool.drops.load(std::memory_order_relaxed);
  m.planner_timeouts = pool.timeouts.load(std::memory_order_relaxed);
  m.planner_errors = pool.errors.load(std::memory_order_relaxed);
  m.queue_depth = pool.queue.size();
  m.queue_capacity = pool.queue.capacity();
  const int64_t now = NowNs();
  for (size_t i = 0; i < pool.planners.size(); ++i) {
    const int64_t since = pool.busy_since[i].load(std::memory_order_relaxed);
    if (since != 0 && now - since > options_.planner_stuck_ms * 1'000'000) ++m.planner_stuck;
  }
  m.planner_abandoned = abandoned_.load(std::memory_order_relaxed);

  m.labels = collector_->labels.load(std::memory_order_relaxed);
  m.logged = collector_->logged.load(std::memory_order_relaxed);
  m.log_errors = collector_->log_errors.load(std::memory_order_relaxed);
  m.agreement = collector_->agreement.load(std::memory_order_relaxed);
  m.agreement_samples = collector_->agreement_samples.load(std::memory_order_relaxed);
  m.planner = collector_->planner_latency.Snapshot();

  m.train_steps = trainer_->steps.load(std::memory_order_relaxed);
  m.train_errors = trainer_->errors.load(std::memory_order_relaxed);
  m.last_loss = trainer_->last_loss.load(std::memory_order_relaxed);
  m.train = trainer_->latency.Snapshot();
  m.executor_version = slot_->version();
  {
    std::lock_guard lock(trainer_->error_mu);
    m.last_error = trainer_->last_error;
  }
  {
    std::lock_guard lock(collector_->error_mu);
    if (!collector_->last_error.empty()) m.last_error = collector_->last_error;
  }
  {
    std::lock_guard lock(pool.error_mu);
    if (!pool.last_error.empty()) m.last_error = pool.last_error;
  }
  return m;
}

}  // namespace apprentice
