#include "core/policy.h"

#include <algorithm>
#include <cmath>

#include "core/decision.h"

namespace apprentice {

void Softmax(std::span<const float> logits, std::span<float> out, float temperature) {
  if (logits.empty()) return;
  const float inv_t = 1.0f / temperature;
  const float max = *std::max_element(logits.begin(), logits.end());
  float sum = 0.0f;
  for (size_t i = 0; i < logits.size(); ++i) {
    out[i] = std::exp((logits[i] - max) * inv_t);
    sum += out[i];
  }
  for (size_t i = 0; i < logits.size(); ++i) out[i] /= sum;
}

int64_t Argmax(std::span<const float> values) {
  if (values.empty()) return -1;
  return std::max_element(values.begin(), values.end()) - values.begin();
}

PolicyOutput PolicyOutput::FromProbabilities(std::span<const float> probs) {
  PolicyOutput p;
  p.kind = PolicyKind::kCategorical;
  p.logits.resize(probs.size());
  for (size_t i = 0; i < probs.size(); ++i) {
    p.logits[i] = probs[i] > 0.0f ? std::max(std::log(probs[i]), kMinLogit) : kMinLogit;
  }
  return p;
}

PolicyOutput PolicyOutput::FromLogits(std::span<const float> logits) {
  PolicyOutput p;
  p.kind = PolicyKind::kCategorical;
  p.logits.assign(logits.begin(), logits.end());
  return p;
}

PolicyOutput PolicyOutput::Gaussian(std::span<const float> mean, std::span<const float> log_std) {
  Require(mean.size() == log_std.size(), "Gaussian policy needs as many log-stds as means");
  PolicyOutput p;
  p.kind = PolicyKind::kGaussian;
  p.mean.assign(mean.begin(), mean.end());
  p.log_std.assign(log_std.begin(), log_std.end());
  return p;
}

std::vector<float> PolicyOutput::Probabilities(float temperature) const {
  Require(kind == PolicyKind::kCategorical, "Probabilities() needs a categorical policy output");
  std::vector<float> out(logits.size());
  Softmax(logits, out, temperature);
  return out;
}

Action PolicyOutput::Mode() const {
  if (kind == PolicyKind::kCategorical) return Action::Discrete(Argmax(logits));
  return Action::Continuous(mean);
}

Status PolicyOutput::CheckFits(const Space& action_space) const {
  if (action_space.is_discrete()) {
    if (kind != PolicyKind::kCategorical ||
        static_cast<int64_t>(logits.size()) != action_space.n()) {
      return Status::InvalidArgument("policy output does not fit " + action_space.ToString() +
                                     ": needs " + std::to_string(action_space.n()) + " logits");
    }
    return Status::Ok();
  }
  if (kind != PolicyKind::kGaussian ||
      static_cast<int64_t>(mean.size()) != action_space.flat_size() ||
      mean.size() != log_std.size()) {
    return Status::InvalidArgument("policy output does not fit " + action_space.ToString() +
                                   ": needs a Gaussian with " +
                                   std::to_string(action_space.flat_size()) + " components");
  }
  return Status::Ok();
}

std::string_view ActorName(Actor actor) {
  return actor == Actor::kExecutor ? "executor" : "planner";
}

}  // namespace apprentice
