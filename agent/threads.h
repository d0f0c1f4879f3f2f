// Small helpers for the runtime's threads.
#pragma once

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace apprentice {

// Lowers the calling thread's priority (Linux: nice applies per thread), so that background work
// yields to the control loop on a busy machine. Best effort: a failure (a container that forbids
// it) leaves the default priority. 0 changes nothing.
inline void SetThreadNice(int nice) {
  if (nice == 0) return;
  (void)setpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid)), nice);
}

}  // namespace apprentice
