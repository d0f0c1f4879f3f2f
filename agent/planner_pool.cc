#include "agent/planner_pool.h"

#include <algorithm>
#include <condition_variable>
#include <thread>

#include "agent/threads.h"
#include "core/clock.h"

namespace apprentice {

Status PlannerPool::Options::Validate() const {
  if (threads < 1 || threads > 256) {
    return Status::InvalidArgument("planner threads must be in [1, 256]");
  }
  if (stuck_ms < 1) return Status::InvalidArgument("the planner stuck time must be >= 1 ms");
  if (stop_timeout_ms < 0) return Status::InvalidArgument("the stop timeout must be >= 0 ms");
  return Status::Ok();
}

// What the workers share. Owned jointly by the pool and every worker thread, so that a worker
// abandoned inside a hung Plan() touches only memory it keeps alive.
struct PlannerPool::Shared {
  std::shared_ptr<PlanQueue> queue;
  std::vector<std::unique_ptr<Planner>> planners;   // one per worker, used by it alone
  // Per worker: max_batch() prepared tasks (one for planners that do not batch).
  std::vector<std::vector<std::unique_ptr<PlanTask>>> tasks;
  std::unique_ptr<std::atomic<int64_t>[]> busy_since;  // per worker: NowNs() at Plan(), or 0

  std::mutex exit_mu;
  std::condition_variable exit_cv;
  std::vector<bool> exited;  // guarded by exit_mu

  std::mutex sink_mu;
  LabelSink* sink = nullptr;  // guarded by sink_mu; null once the pool has stopped

  std::atomic<int64_t> errors{0};
  mutable std::mutex error_mu;
  std::string last_error;  // guarded by error_mu

  void Deliver(Label label) {
    std::lock_guard lock(sink_mu);
    if (sink != nullptr) sink->OnLabel(std::move(label));
  }
  void NoteError(const std::string& message) {
    errors.fetch_add(1);
    std::lock_guard lock(error_mu);
    last_error = message;
  }
};

PlannerPool::PlannerPool(Options options, std::shared_ptr<PlanQueue> queue,
                         const PlannerFactory& make_planner, int64_t observation_size,
                         const Env* prototype)
    : options_(std::move(options)), shared_(std::make_shared<Shared>()) {
  RequireOk(options_.Validate());
  Require(queue != nullptr, "PlannerPool needs a plan queue");
  Require(static_cast<bool>(make_planner), "PlannerPool needs a planner factory");
  shared_->queue = std::move(queue);
  const auto n = static_cast<size_t>(options_.threads);
  for (size_t i = 0; i < n; ++i) {
    Result<std::unique_ptr<Planner>> planner = make_planner();
    if (!planner.ok()) throw InvalidArgument(planner.status().message());
    Require(*planner != nullptr, "the planner factory returned no planner");
    const int64_t batch = std::clamp<int64_t>((*planner)->max_batch(), 1, kMaxBatch);
    shared_->planners.push_back(std::move(*planner));
    shared_->tasks.emplace_back();
    for (int64_t b = 0; b < batch; ++b) {
      shared_->tasks.back().push_back(std::make_unique<PlanTask>());
      shared_->tasks.back().back()->Prepare(observation_size, prototype);
    }
  }
  shared_->busy_since = std::make_unique<std::atomic<int64_t>[]>(n);
  for (size_t i = 0; i < n; ++i) shared_->busy_since[i].store(0);
  shared_->exited.assign(n, false);
}

PlannerPool::~PlannerPool() { Stop(); }

const Planner& PlannerPool::planner() const { return *shared_->planners.front(); }

void PlannerPool::Start(LabelSink* sink) {
  Require(!started_, "PlannerPool::Start: started already");
  Require(sink != nullptr, "PlannerPool::Start needs a label sink");
  started_ = true;
  {
    std::lock_guard lock(shared_->sink_mu);
    shared_->sink = sink;
  }
  for (size_t i = 0; i < shared_->planners.size(); ++i) {
    std::thread(WorkerMain, shared_, i, options_.nice).detach();  // joined through `exited`
  }
}

void PlannerPool::Stop() {
  if (stopped_) return;
  stopped_ = true;
  Shared& s = *shared_;
  s.queue->Close();
  if (started_) {
    std::unique_lock lock(s.exit_mu);
    s.exit_cv.wait_until(lock, AtNs(NowNs() + options_.stop_timeout_ms * 1'000'000), [&] {
      return std::all_of(s.exited.begin(), s.exited.end(), [](bool e) { return e; });
    });
    abandoned_ = std::count(s.exited.begin(), s.exited.end(), false);
  }
  // A worker still planning is left behind: it holds `shared_` alive and delivers nowhere.
  std::lock_guard lock(s.sink_mu);
  s.sink = nullptr;
}

void PlannerPool::WorkerMain(std::shared_ptr<Shared> shared, size_t index, int nice) {
  SetThreadNice(nice);
  Shared& s = *shared;
  std::vector<std::unique_ptr<PlanTask>>& tasks = s.tasks[index];
  Planner& planner = *s.planners[index];
  std::vector<PlanRequest> requests;
  requests.reserve(tasks.size());
  while (s.queue->Pop(*tasks[0])) {
    // A planner that batches takes what else waits now, up to its batch size.
    size_t n = 1;
    while (n < tasks.size() && s.queue->TryPop(*tasks[n])) ++n;
    requests.clear();
    for (size_t i = 0; i < n; ++i) requests.push_back(tasks[i]->ToPlanRequest());
    s.busy_since[index].store(NowNs(), std::memory_order_relaxed);
    std::vector<Result<PlanDecision>> results;
    std::string threw;
    try {
      if (n == 1) {
        results.push_back(planner.Plan(requests[0]));
      } else {
        results = planner.PlanBatch(requests);
      }
    } catch (const std::exception& e) {
      threw = std::string("planner threw: ") + e.what();
    } catch (...) {
      threw = "planner threw a non-standard exception";
    }
    s.busy_since[index].store(0, std::memory_order_relaxed);
    if (threw.empty() && results.size() != n) {
      threw = "planner answered " + std::to_string(results.size()) + " of " + std::to_string(n) +
              " requests";
    }
    if (!threw.empty()) results.assign(n, Status::Internal(threw));
    for (size_t i = 0; i < n; ++i) {
      const PlanTask& task = *tasks[i];
      Result<PlanDecision>& result = results[i];
      if (!result.ok()) s.NoteError("planner: " + result.status().message());
      Label label;
      label.decision_id = task.decision_id;
      label.episode = task.episode;
      label.step = task.step;
      label.urgent = task.urgent;
      label.status = result.status();
      if (result.ok()) label.decision = std::move(result).value();
      label.observation = task.observation;
      label.executor_action = task.executor_action;
      s.Deliver(std::move(label));
    }
  }
  {
    std::lock_guard lock(s.exit_mu);
    s.exited[index] = true;
  }
  s.exit_cv.notify_all();
}

int64_t PlannerPool::errors() const { return shared_->errors.load(std::memory_order_relaxed); }

int64_t PlannerPool::stuck() const {
  const int64_t now = NowNs();
  int64_t n = 0;
  for (size_t i = 0; i < shared_->planners.size(); ++i) {
    const int64_t since = shared_->busy_since[i].load(std::memory_order_relaxed);
    if (since != 0 && now - since > options_.stuck_ms * 1'000'000) ++n;
  }
  return n;
}

int64_t PlannerPool::abandoned() const { return abandoned_.load(std::memory_order_relaxed); }

std::string PlannerPool::last_error() const {
  std::lock_guard lock(shared_->error_mu);
  return shared_->last_error;
}

}  // namespace apprentice
