// Small helpers for the runtime's threads.
#pragma once

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>

namespace apprentice {

// Adds one to a counter that a single thread writes and any thread reads: a relaxed load and
// store, no read-modify-write (no locked instruction on the writer's path).
inline void BumpOneWriter(std::atomic<int64_t>& counter) {
  counter.store(counter.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
}

// Lowers the calling thread's priority (Linux: nice applies per thread), so that background work
// yields to the control loop on a busy machine. Best effort: a failure (a container that forbids
// it) leaves the default priority. 0 changes nothing.
inline void SetThreadNice(int nice) {
  if (nice == 0) return;
  (void)setpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid)), nice);
}

}  // namespace apprentice
