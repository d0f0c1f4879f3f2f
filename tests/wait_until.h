// WaitUntil: concurrency tests wait on a condition with a timeout, never on a sleep being long
// enough.
#pragma once

#include <chrono>
#include <thread>

namespace apprentice {

// Polls `done` every millisecond for up to `timeout`; whether it became true.
template <class F>
bool WaitUntil(F&& done, std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

}  // namespace apprentice
