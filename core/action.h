// Action: what an agent does in one step, discrete (an index) or continuous (a vector of floats).
//
// Fixed capacity and no heap storage, so actions are built and copied on the per-step path
// without allocation. Continuous actions have at most kMaxActionDims components.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <span>
#include <string>

#include "core/status.h"

namespace apprentice {

inline constexpr int kMaxActionDims = 32;

class Action {
 public:
  Action() = default;  // Discrete(0)
  // Copies only the components in use: an action is copied several times per step, and the
  // fixed-capacity array would make every copy touch 144 bytes.
  Action(const Action& other) { CopyFrom(other); }
  Action& operator=(const Action& other) {
    CopyFrom(other);
    return *this;
  }

  static Action Discrete(int64_t index) {
    Action a;
    a.discrete_ = true;
    a.index_ = index;
    return a;
  }
  // Copies `values`; throws InvalidArgument if it has more than kMaxActionDims entries.
  static Action Continuous(std::span<const float> values) {
    if (values.size() > static_cast<size_t>(kMaxActionDims)) {  // the message only when failing
      throw InvalidArgument("continuous action has " + std::to_string(values.size()) +
                            " components; at most " + std::to_string(kMaxActionDims) +
                            " are supported");
    }
    Action a;
    a.discrete_ = false;
    a.dims_ = static_cast<uint8_t>(values.size());
    std::copy(values.begin(), values.end(), a.values_.begin());
    return a;
  }

  bool is_discrete() const { return discrete_; }
  int64_t index() const { return index_; }
  std::span<const float> values() const { return {values_.data(), dims_}; }
  std::span<float> mutable_values() { return {values_.data(), dims_}; }
  int dims() const { return dims_; }

  std::string ToString() const;
  friend bool operator==(const Action& a, const Action& b) {
    if (a.discrete_ != b.discrete_) return false;
    if (a.discrete_) return a.index_ == b.index_;
    return std::equal(a.values().begin(), a.values().end(), b.values().begin(), b.values().end());
  }

 private:
  void CopyFrom(const Action& other) {
    discrete_ = other.discrete_;
    dims_ = other.dims_;
    index_ = other.index_;
    std::copy_n(other.values_.begin(), other.dims_, values_.begin());
  }

  bool discrete_ = true;
  uint8_t dims_ = 0;
  int64_t index_ = 0;
  std::array<float, kMaxActionDims> values_{};
};

}  // namespace apprentice
