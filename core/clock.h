// Monotonic time in nanoseconds, for latencies and deadlines.
#pragma once

#include <chrono>
#include <cstdint>

namespace apprentice {

inline int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// The steady_clock time point at NowNs() time `ns`, for waits with a deadline.
inline std::chrono::steady_clock::time_point AtNs(int64_t ns) {
  return std::chrono::steady_clock::time_point(std::chrono::nanoseconds(ns));
}

// The longest wait an option may ask for: waits are added to NowNs() in nanoseconds, and a year
// stays well inside int64.
inline constexpr int64_t kMaxWaitMs = 365LL * 24 * 3600 * 1000;

// Measures the time since construction or the last Restart().
class Stopwatch {
 public:
  Stopwatch() : start_(NowNs()) {}
  void Restart() { start_ = NowNs(); }
  int64_t ElapsedNs() const { return NowNs() - start_; }
  double ElapsedSeconds() const { return static_cast<double>(ElapsedNs()) * 1e-9; }

 private:
  int64_t start_;
};

}  // namespace apprentice
