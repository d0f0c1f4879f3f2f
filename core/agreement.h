// Agreement and confidence: one definition for every action space, used online (the collector's
// rolling agreement), in the deterministic sync loop, and offline (`apprentice eval`, `distill`).
//
// Agreement of two actions a (the executor's) and b (the planner's):
// - Discrete(n): a == b (top-1).
// - Box(low, high): every component i within the tolerance of the other,
//       |a_i - b_i| <= tolerance * scale_i,   scale_i = high_i - low_i (the component's range),
//   or scale_i = 1 when a bound is infinite (the difference is then absolute). The default
//   tolerance is kBoxAgreementTolerance = 5 % of the range: on Pendulum's torque in [-2, 2],
//   0.2 N·m.
// Agreement is reported together with the mean KL(planner || executor) of the two full outputs
// (categorical: softmax at temperature 1; Gaussian: summed over components), in nats.
//
// Confidence of the executor in its own decision, what `gated` mode compares with its threshold:
// - categorical head: the probability of the chosen action, softmax(logits)[argmax];
// - Gaussian head: the probability that an action drawn from the head's N(mean, std²) agrees with
//   the mean under the rule above, prod_i erf(tolerance * scale_i / (std_i * sqrt(2))). A sharp
//   Gaussian (std well below the tolerance) is confident; a wide one is not.
//
// Functions are pure and allocation-free. AgreementWindow has one owner (not thread-safe).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "core/action.h"
#include "core/policy.h"
#include "core/space.h"

namespace apprentice {

inline constexpr double kBoxAgreementTolerance = 0.05;

// The scale of component i of a Box: its range, or 1 when a bound is infinite.
double AgreementScale(const Space& action_space, size_t i);

// Whether `a` and `b` agree under the rule above. Actions of different kinds or sizes never
// agree.
bool ActionsAgree(const Space& action_space, const Action& a, const Action& b,
                  double tolerance = kBoxAgreementTolerance);

// KL(p || q), in nats, where q is a policy head's raw output: n logits for a categorical p, or d
// means followed by d log-stds for a Gaussian p. NaN when the sizes or kinds do not fit.
double KlToHeadOutput(const PolicyOutput& p, std::span<const float> q_output);
// KL(p || q) of two policy outputs of the same kind and size; NaN when they do not fit.
double PolicyKl(const PolicyOutput& p, const PolicyOutput& q);

// The categorical head's confidence (above) from its logits and their argmax `best`:
// softmax(logits)[best], in float, exactly as the executor computes it. No allocation.
float CategoricalConfidence(std::span<const float> logits, int64_t best);
// The Gaussian head's confidence (above) from its log-stds.
float GaussianConfidence(const Space& action_space, std::span<const float> log_std,
                         double tolerance = kBoxAgreementTolerance);

// The confidence (above) of a recorded executor output: softmax(logits)[argmax], or the
// Gaussian's from its log-stds. NaN for an empty output.
float OutputConfidence(const Space& action_space, const PolicyOutput& output);

// The share of agreements and the mean KL over the last `capacity` pushes. O(1) per push, no
// allocation after construction.
class AgreementWindow {
 public:
  explicit AgreementWindow(int64_t capacity = 1000);
  // `kl` may be NaN (not known): it is then left out of the mean.
  void Push(bool agree, double kl);
  double rate() const;     // 0 when empty
  double mean_kl() const;  // NaN when no finite KL is in the window
  int64_t count() const { return count_; }

 private:
  std::vector<uint8_t> agree_;
  std::vector<double> kl_;
  size_t next_ = 0;
  int64_t count_ = 0, agreed_ = 0, kl_count_ = 0;
  double kl_sum_ = 0.0;
};

}  // namespace apprentice
