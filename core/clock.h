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
