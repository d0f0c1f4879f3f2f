// Spaces: the shape of observations and actions. Discrete(n) holds the integers 0..n-1;
// Box(low, high, shape) holds float arrays of `shape` with low <= x <= high elementwise
// (bounds may be infinite). Observations are always flat float arrays (Box); actions are
// Discrete or Box.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/action.h"
#include "core/status.h"

namespace apprentice {

class Space {
 public:
  // Discrete(n), n >= 1.
  static Space Discrete(int64_t n);
  // Box with per-element bounds; low.size() == high.size() == product(shape).
  static Space Box(std::vector<float> low, std::vector<float> high, std::vector<int64_t> shape);
  // Box with the same bounds for every element.
  static Space Box(float low, float high, std::vector<int64_t> shape);

  bool is_discrete() const { return discrete_; }
  // Discrete: the number of actions n.
  int64_t n() const { return n_; }
  // Box: bounds and shape.
  const std::vector<float>& low() const { return low_; }
  const std::vector<float>& high() const { return high_; }
  const std::vector<int64_t>& shape() const { return shape_; }
  // Number of floats in one element of a Box; 1 for Discrete.
  int64_t flat_size() const { return discrete_ ? 1 : static_cast<int64_t>(low_.size()); }

  // Ok if `action` is an element of this space, else an InvalidArgument naming what is wrong.
  Status Check(const Action& action) const;
  // Ok if `x` is a finite element of this Box (right size, within bounds).
  Status CheckObservation(std::span<const float> x) const;
  // Box: clips every component into [low, high] (NaN becomes low). Discrete: unchanged.
  void Clip(Action& action) const;

  // "Discrete(2)", "Box(-2, 2, (1,))" (bounds shown once when every element shares them), or
  // "Box([-4.8, -inf], [4.8, inf], (2,))". Numbers are the shortest text that reads back exactly.
  std::string ToString() const;
  // The space ToString() printed: InvalidArgument naming what does not parse. Sizes are whole
  // numbers; a space of more than 2^24 elements (or actions) is refused.
  static Result<Space> Parse(std::string_view text);

  friend bool operator==(const Space&, const Space&) = default;

 private:
  Space() = default;
  bool discrete_ = true;
  int64_t n_ = 0;
  std::vector<float> low_, high_;
  std::vector<int64_t> shape_;
};

}  // namespace apprentice
