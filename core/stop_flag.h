// StopFlag: a request to stop that long-running loops check between steps, and that a sleeping
// loop notices at once. Set by a signal handler's thread (apps/) or a test.
//
// Threading: any thread. requested() is one relaxed atomic load (cheap enough for every step);
// SleepUntil() waits on a condition variable, so Request() ends a sleep immediately instead of at
// the end of a control period.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>

#include "core/clock.h"

namespace apprentice {

class StopFlag {
 public:
  void Request() {
    {
      std::lock_guard lock(mu_);
      requested_.store(true, std::memory_order_release);
    }
    cv_.notify_all();
  }
  bool requested() const { return requested_.load(std::memory_order_relaxed); }

  // Sleeps until the steady clock reaches `ns` (in NowNs() time, core/clock.h) or a stop is
  // requested; returns false if stopped.
  bool SleepUntil(int64_t ns) {
    std::unique_lock lock(mu_);
    cv_.wait_until(lock, AtNs(ns), [this] { return requested_.load(std::memory_order_relaxed); });
    return !requested_.load(std::memory_order_relaxed);
  }

 private:
  std::atomic<bool> requested_{false};
  std::mutex mu_;
  std::condition_variable cv_;
};

}  // namespace apprentice
