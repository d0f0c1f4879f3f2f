// RollingRate: the fraction of true values among the last `capacity` pushed (e.g. the agreement
// between executor and planner over the last 1000 labels). O(1) per push, no allocation after
// construction. Not thread-safe: one owner.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace apprentice {

class RollingRate {
 public:
  explicit RollingRate(int64_t capacity) : bits_(static_cast<size_t>(capacity)) {}
  void Push(bool v) {
    if (count_ == static_cast<int64_t>(bits_.size())) {
      ones_ -= bits_[next_];
    } else {
      ++count_;
    }
    bits_[next_] = v;
    ones_ += v;
    next_ = (next_ + 1) % bits_.size();
  }
  double rate() const { return count_ ? static_cast<double>(ones_) / count_ : 0.0; }
  int64_t count() const { return count_; }

 private:
  std::vector<uint8_t> bits_;
  size_t next_ = 0;
  int64_t count_ = 0, ones_ = 0;
};

}  // namespace apprentice
