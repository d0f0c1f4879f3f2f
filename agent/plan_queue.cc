#include "agent/plan_queue.h"

#include <algorithm>
#include <chrono>
#include <exception>
#include <string>
#include <typeinfo>

namespace apprentice {

namespace {

// Env::CopyStateFrom for a queue: a remote env that stopped answering throws EnvFailure, which
// must not escape a queue operation (it would leave a claimed slot or end a worker thread). The
// loop that owns the env meets the same failure on its next step and stops cleanly.
Status CopyState(Env& to, const Env& from) {
  try {
    return to.CopyStateFrom(from);
  } catch (const std::exception& e) {
    return Status::Internal(std::string("copying the environment's state: ") + e.what());
  }
}

}  // namespace

void PlanTask::Prepare(int64_t observation_size, const Env* prototype) {
  observation.reserve(static_cast<size_t>(observation_size));
  env = prototype != nullptr ? prototype->Clone() : nullptr;
}

Status PlanTask::Assign(const PlanRequestView& request) {
  if ((request.state != nullptr) != (env != nullptr)) {
    return Status::InvalidArgument(env != nullptr ? "the planner needs the environment's state"
                                                  : "this queue carries no environment state");
  }
  if (env != nullptr) {
    if (Status s = CopyState(*env, *request.state); !s.ok()) return s;
  }
  decision_id = request.decision_id;
  episode = request.episode;
  step = request.step;
  observation.assign(request.observation.begin(), request.observation.end());
  seed = request.seed;
  deadline_ns = request.deadline_ns;
  executor_action = request.executor_action;
  urgent = request.urgent;
  return Status::Ok();
}

bool PlanTask::CopyFrom(const PlanTask& other) {
  if (env != nullptr && other.env != nullptr && !CopyState(*env, *other.env).ok()) return false;
  decision_id = other.decision_id;
  episode = other.episode;
  step = other.step;
  observation.assign(other.observation.begin(), other.observation.end());
  seed = other.seed;
  deadline_ns = other.deadline_ns;
  executor_action = other.executor_action;
  urgent = other.urgent;
  return true;
}

PlanRequest PlanTask::ToPlanRequest() const {
  PlanRequest r;
  r.observation = observation;
  r.env = env.get();
  r.seed = seed;
  r.deadline_ns = deadline_ns;
  r.episode = episode;
  r.step = step;
  r.decision_id = decision_id;
  return r;
}

LocalPlanQueue::LocalPlanQueue(int64_t capacity, Overflow overflow, int64_t observation_size,
                               const Env* prototype)
    : urgent_(kUrgentCapacity, Overflow::kDropOldest,
              [&](PlanTask& t) { t.Prepare(observation_size, prototype); }),
      background_(capacity, overflow,
                  [&](PlanTask& t) { t.Prepare(observation_size, prototype); }),
      env_type_(prototype != nullptr ? &typeid(*prototype) : nullptr) {}

PlanQueue::PushResult LocalPlanQueue::Push(const PlanRequestView& request) {
  PushResult result;
  if (closed_.load(std::memory_order_relaxed)) return result;
  // Checked before a slot is claimed, so that Assign() cannot fail inside Push().
  const bool state_fits = request.state == nullptr
                              ? env_type_ == nullptr
                              : env_type_ != nullptr && typeid(*request.state) == *env_type_;
  if (!state_fits) return result;
  BoundedQueue<PlanTask>& queue = request.urgent ? urgent_ : background_;
  bool assigned = true;
  const auto pushed = queue.Push(
      [&](PlanTask& t) {
        // A state the env cannot take (CopyStateFrom failed) leaves a tombstone that workers
        // skip: the slot is claimed already and must not carry an earlier request again.
        assigned = t.Assign(request).ok();
        if (!assigned) t.decision_id = 0;
      },
      [&](const PlanTask& dropped) { result.dropped_id = dropped.decision_id; });
  if (pushed == BoundedQueue<PlanTask>::PushResult::kRejected || !assigned) return result;
  result.queued = true;
  if (request.urgent) {
    { std::lock_guard lock(wake_mu_); }  // a worker between its check and its wait gets this
    wake_cv_.notify_one();
  }
  return result;
}

bool LocalPlanQueue::PopNow(PlanTask& task) {
  auto copy = [&](PlanTask& queued) {
    // A tombstone (see Push) has nothing to copy; a state that cannot be copied is skipped too.
    if (queued.decision_id == 0 || !task.CopyFrom(queued)) task.decision_id = 0;
  };
  while (urgent_.Pop(copy) || background_.Pop(copy)) {
    if (task.decision_id != 0) return true;
  }
  return false;
}

bool LocalPlanQueue::Pop(PlanTask& task) {
  int64_t poll_ns = kMinPollNs;
  while (!closed_.load(std::memory_order_acquire)) {
    if (PopNow(task)) return true;
    std::unique_lock lock(wake_mu_);
    if (closed_.load() || urgent_.size() > 0) continue;
    wake_cv_.wait_for(lock, std::chrono::nanoseconds(poll_ns));
    poll_ns = std::min(2 * poll_ns, kMaxPollNs);
  }
  return false;
}

bool LocalPlanQueue::TryPop(PlanTask& task) {
  return !closed_.load(std::memory_order_acquire) && PopNow(task);
}

void LocalPlanQueue::Close() {
  {
    std::lock_guard lock(wake_mu_);
    closed_.store(true);
  }
  wake_cv_.notify_all();
}

void LocalPlanQueue::Warm() {
  // The slot, the observation's buffer and the env state it copies into (fixed after Prepare).
  background_.PrefetchForPush();
  const PlanTask& next = background_.NextItem();
  __builtin_prefetch(&next, /*rw=*/1);
  __builtin_prefetch(next.observation.data(), 1);
  if (next.env != nullptr) {
    const auto* env = reinterpret_cast<const char*>(next.env.get());
    for (int line = 0; line < 4; ++line) __builtin_prefetch(env + 64 * line, 1);
  }
}

int64_t LocalPlanQueue::size() const { return urgent_.size() + background_.size(); }

}  // namespace apprentice
