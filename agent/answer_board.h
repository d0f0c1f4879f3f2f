// AnswerBoard: callers waiting for the planner's answer to one of their own decisions (the
// deadline, gated, planner and dagger modes), and the labels that answer them. Labels reach the
// board by decision id, whatever thread or machine planned them.
//
//   caller: Expect(waiter, id) ── push the urgent request ── Wait(waiter, until) ─┐
//   label router (any thread): Offer(label) ──▶ the waiter registered for its id ──┘
//   a push that dropped a queued request: Cancel(its id) ──▶ its waiter, if any ────┘
//
// Threading: any thread. Offer() and Cancel() cost one load when nobody waits.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <unordered_map>

#include "agent/plan_queue.h"
#include "core/action.h"

namespace apprentice {

class AnswerBoard {
 public:
  // One caller's place on the board; reused for every wait of that caller.
  struct Waiter {
    std::mutex mu;
    std::condition_variable cv;
    uint64_t id = 0;        // guarded by mu
    bool answered = false;  // guarded by mu
    bool ok = false;        // guarded by mu
    Action action;          // guarded by mu
  };
  struct Answer {
    bool answered = false;  // a label for the id arrived in time
    bool ok = false;        // ... and it held a decision (not an error)
    Action action;
  };

  // Registers `waiter` for decision `id`; call before the request can be answered.
  void Expect(Waiter& waiter, uint64_t id);
  // Blocks until the answer for the expected id arrives or NowNs() reaches `until_ns`, then
  // unregisters the waiter.
  Answer Wait(Waiter& waiter, int64_t until_ns);
  // Hands `label` to the waiter registered for its decision id, if any.
  void Offer(const Label& label);
  // Tells the waiter registered for `id`, if any, that no answer will come (its request was
  // dropped): it stops waiting with answered && !ok. Allocates nothing.
  void Cancel(uint64_t id);

 private:
  void Deliver(uint64_t id, const Action* action);  // action null: no answer will come

  std::mutex mu_;
  std::unordered_map<uint64_t, Waiter*> waiting_;  // guarded by mu_
  std::atomic<int64_t> count_{0};                  // waiting_.size()
};

}  // namespace apprentice
