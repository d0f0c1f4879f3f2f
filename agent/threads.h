// Small helpers for the runtime's threads.
#pragma once

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <utility>

namespace apprentice {

// Adds one to a counter that a single thread writes and any thread reads: a relaxed load and
// store, no read-modify-write (no locked instruction on the writer's path).
inline void BumpOneWriter(std::atomic<int64_t>& counter, int64_t by = 1) {
  counter.store(counter.load(std::memory_order_relaxed) + by, std::memory_order_relaxed);
}

// The returns of the last kWindow episodes: one thread adds (the caller's), any thread reads.
class RecentReturns {
 public:
  static constexpr int kWindow = 10;
  void Add(double episode_return) {
    const int64_t e = episodes_.load(std::memory_order_relaxed);
    returns_[e % kWindow].store(episode_return, std::memory_order_relaxed);
    episodes_.store(e + 1, std::memory_order_release);
  }
  int64_t episodes() const { return episodes_.load(std::memory_order_acquire); }
  // The mean of the last (up to) kWindow returns, and how many it averages.
  std::pair<double, int64_t> Mean() const {
    const int64_t window = std::min<int64_t>(episodes(), kWindow);
    double sum = 0.0;
    for (int64_t i = 0; i < window; ++i) sum += returns_[i].load(std::memory_order_relaxed);
    return {window > 0 ? sum / static_cast<double>(window) : 0.0, window};
  }

 private:
  std::atomic<int64_t> episodes_{0};
  std::atomic<double> returns_[kWindow] = {};
};

// Lowers the calling thread's priority (Linux: nice applies per thread), so that background work
// yields to the control loop on a busy machine. Best effort: a failure (a container that forbids
// it) leaves the default priority. 0 changes nothing.
inline void SetThreadNice(int nice) {
  if (nice == 0) return;
  (void)setpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid)), nice);
}

}  // namespace apprentice
