#include "agent/answer_board.h"

#include "core/clock.h"

namespace apprentice {

void AnswerBoard::Expect(Waiter& waiter, uint64_t id) {
  {
    std::lock_guard lock(waiter.mu);
    waiter.id = id;
    waiter.answered = false;
    waiter.ok = false;
  }
  std::lock_guard lock(mu_);
  waiting_[id] = &waiter;
  count_.store(static_cast<int64_t>(waiting_.size()), std::memory_order_release);
}

AnswerBoard::Answer AnswerBoard::Wait(Waiter& waiter, int64_t until_ns) {
  Answer answer;
  uint64_t id = 0;
  {
    std::unique_lock lock(waiter.mu);
    waiter.cv.wait_until(lock, AtNs(until_ns), [&] { return waiter.answered; });
    answer.answered = waiter.answered;
    answer.ok = waiter.ok;
    answer.action = waiter.action;
    id = waiter.id;
  }
  std::lock_guard lock(mu_);
  waiting_.erase(id);
  count_.store(static_cast<int64_t>(waiting_.size()), std::memory_order_release);
  return answer;
}

void AnswerBoard::Offer(const Label& label) {
  Deliver(label.decision_id, label.status.ok() ? &label.decision.action : nullptr);
}

void AnswerBoard::Cancel(uint64_t id) { Deliver(id, nullptr); }

void AnswerBoard::Deliver(uint64_t id, const Action* action) {
  if (count_.load(std::memory_order_acquire) == 0) return;
  std::lock_guard lock(mu_);
  auto it = waiting_.find(id);
  if (it == waiting_.end()) return;
  Waiter& waiter = *it->second;
  std::lock_guard waiter_lock(waiter.mu);
  if (waiter.id != id) return;
  waiter.answered = true;
  waiter.ok = action != nullptr;
  if (waiter.ok) waiter.action = *action;
  waiter.cv.notify_all();
}

}  // namespace apprentice
