#include "core/policy.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>
#include <string>

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

double SampledProbability(std::span<const float> logits, int64_t a) {
  const float max = logits[static_cast<size_t>(Argmax(logits))];
  const float floor = max + kMinLogit;
  if (logits[static_cast<size_t>(a)] <= floor) return 0.0;
  double total = 0.0;
  for (const float l : logits) {
    if (l > floor) total += std::exp(static_cast<double>(l - max));
  }
  return std::exp(static_cast<double>(logits[static_cast<size_t>(a)] - max)) / total;
}

double GaussianLogDensity(std::span<const float> x, std::span<const float> mean,
                          std::span<const float> log_std) {
  double log_density = 0.0;
  for (size_t i = 0; i < x.size(); ++i) {
    const double z = (x[i] - mean[i]) / std::exp(static_cast<double>(log_std[i]));
    log_density += -0.5 * z * z - log_std[i] - 0.5 * std::log(2.0 * std::numbers::pi);
  }
  return log_density;
}

Status MaskLogits(std::span<float> logits, std::span<const uint8_t> legal) {
  if (legal.size() != logits.size()) {
    return Status::InvalidArgument("legal-move mask has " + std::to_string(legal.size()) +
                                   " entries; the policy has " + std::to_string(logits.size()) +
                                   " actions");
  }
  float max = -std::numeric_limits<float>::infinity();
  for (size_t i = 0; i < logits.size(); ++i) {
    if (legal[i] != 0) max = std::max(max, logits[i]);
  }
  if (max == -std::numeric_limits<float>::infinity()) {
    return Status::InvalidArgument("legal-move mask allows no action");
  }
  for (size_t i = 0; i < logits.size(); ++i) {
    if (legal[i] == 0) logits[i] = max + kMinLogit;
  }
  return Status::Ok();
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

double CategoricalKl(std::span<const float> p_logits, std::span<const float> q_logits) {
  Require(!p_logits.empty() && p_logits.size() == q_logits.size(),
          "CategoricalKl needs two non-empty logit vectors of the same size");
  // p from the core softmax; log p and log q as log-softmax in double, so that a probability
  // that underflows in float still has a finite log.
  std::vector<float> p(p_logits.size());
  Softmax(p_logits, p);
  auto log_normaliser = [](std::span<const float> logits) {
    const double max = *std::max_element(logits.begin(), logits.end());
    double sum = 0.0;
    for (float l : logits) sum += std::exp(static_cast<double>(l) - max);
    return max + std::log(sum);
  };
  const double lp = log_normaliser(p_logits);
  const double lq = log_normaliser(q_logits);
  double kl = 0.0;
  for (size_t i = 0; i < p.size(); ++i) {
    if (p[i] == 0.0f) continue;
    kl += p[i] * ((p_logits[i] - lp) - (q_logits[i] - lq));
  }
  return std::max(kl, 0.0);  // rounding can leave a tiny negative for identical distributions
}

double GaussianKl(std::span<const float> p_mean, std::span<const float> p_log_std,
                  std::span<const float> q_mean, std::span<const float> q_log_std) {
  Require(p_mean.size() == p_log_std.size() && p_mean.size() == q_mean.size() &&
              q_mean.size() == q_log_std.size(),
          "GaussianKl needs means and log-stds of the same size");
  double kl = 0.0;
  for (size_t i = 0; i < p_mean.size(); ++i) {
    const double var_p = std::exp(2.0 * p_log_std[i]);
    const double var_q = std::exp(2.0 * q_log_std[i]);
    const double d = static_cast<double>(p_mean[i]) - q_mean[i];
    kl +=
        (static_cast<double>(q_log_std[i]) - p_log_std[i]) + (var_p + d * d) / (2.0 * var_q) - 0.5;
  }
  return kl;
}

std::string_view ActorName(Actor actor) {
  return actor == Actor::kExecutor ? "executor" : "planner";
}

std::string_view BehaviourName(Behaviour behaviour) {
  switch (behaviour) {
    case Behaviour::kDeterministic: return "deterministic";
    case Behaviour::kStochastic: return "stochastic";
    case Behaviour::kUnknown: break;
  }
  return "unknown";
}

}  // namespace apprentice
