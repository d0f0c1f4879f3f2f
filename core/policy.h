// PolicyOutput: a policy's full decision over an action space.
//
// - Categorical (Discrete(n)): `logits` holds n unnormalised log-probabilities. A planner that
//   produces probabilities (e.g. MCTS visit counts) stores log(p), floored at kMinLogit for p = 0.
// - Gaussian (Box with d components): `mean` and `log_std` hold d values each.
#pragma once

#include <span>
#include <vector>

#include "core/action.h"
#include "core/space.h"

namespace apprentice {

enum class PolicyKind : uint8_t { kCategorical, kGaussian };

// log-probability used for an action of probability 0 (softmax(kMinLogit) ~ 1e-13).
inline constexpr float kMinLogit = -30.0f;

struct PolicyOutput {
  PolicyKind kind = PolicyKind::kCategorical;
  std::vector<float> logits;   // categorical
  std::vector<float> mean;     // gaussian
  std::vector<float> log_std;  // gaussian

  static PolicyOutput FromProbabilities(std::span<const float> probs);
  static PolicyOutput FromLogits(std::span<const float> logits);
  static PolicyOutput Gaussian(std::span<const float> mean, std::span<const float> log_std);

  bool empty() const { return logits.empty() && mean.empty(); }
  // Categorical: softmax(logits / temperature). Throws InvalidArgument for a Gaussian.
  std::vector<float> Probabilities(float temperature = 1.0f) const;
  // The most likely action: argmax of the logits (lowest index on ties), or the mean.
  Action Mode() const;
  // Ok if this output fits `action_space` (kind and size).
  Status CheckFits(const Space& action_space) const;
};

// KL(p || q) of two categorical distributions given by logits (softmax at temperature 1), in
// nats; both spans must have the same non-zero size.
double CategoricalKl(std::span<const float> p_logits, std::span<const float> q_logits);
// KL(N(p_mean, exp(p_log_std)^2) || N(q_mean, exp(q_log_std)^2)), summed over components.
double GaussianKl(std::span<const float> p_mean, std::span<const float> p_log_std,
                  std::span<const float> q_mean, std::span<const float> q_log_std);

// softmax(logits / temperature) written into `out` (same size). Numerically stable.
void Softmax(std::span<const float> logits, std::span<float> out, float temperature = 1.0f);
// Index of the largest element (lowest index on ties); -1 for an empty span.
int64_t Argmax(std::span<const float> values);

// The probability that a draw from softmax(logits) (Executor::Sample) is index `a`, where an entry
// kMinLogit or more below the largest (a masked action) has probability 0. `a` must be in range.
double SampledProbability(std::span<const float> logits, int64_t a);
// log N(x; mean, diag(exp(log_std))^2): the log-density of `x`, summed over components (all
// three spans of the same size).
double GaussianLogDensity(std::span<const float> x, std::span<const float> mean,
                          std::span<const float> log_std);

// Legal-move masks (board games): one byte per action of a Discrete(n) space, nonzero where the
// action is legal in the current state. An empty mask means every action is legal.
//
// Masks `logits` in place: every illegal entry becomes kMinLogit below the largest legal logit,
// so that softmax gives it probability ~1e-13 (the convention for "impossible" everywhere,
// PolicyOutput) and the argmax is a legal action. InvalidArgument, logits unchanged, when the
// sizes differ or no action is legal. No allocation.
Status MaskLogits(std::span<float> logits, std::span<const uint8_t> legal);

}  // namespace apprentice
