#include "core/agreement.h"

#include <cmath>
#include <limits>

namespace apprentice {

double AgreementScale(const Space& action_space, size_t i) {
  const double range = static_cast<double>(action_space.high()[i]) - action_space.low()[i];
  return std::isfinite(range) ? range : 1.0;
}

bool ActionsAgree(const Space& action_space, const Action& a, const Action& b, double tolerance) {
  if (a.is_discrete() != b.is_discrete()) return false;
  if (a.is_discrete()) return a.index() == b.index();
  const auto x = a.values();
  const auto y = b.values();
  if (x.size() != y.size() || action_space.is_discrete() ||
      static_cast<int64_t>(x.size()) != action_space.flat_size()) {
    return false;
  }
  for (size_t i = 0; i < x.size(); ++i) {
    const double d = std::abs(static_cast<double>(x[i]) - y[i]);
    if (!(d <= tolerance * AgreementScale(action_space, i))) return false;  // NaN disagrees
  }
  return true;
}

double KlToHeadOutput(const PolicyOutput& p, std::span<const float> q) {
  constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
  if (p.kind == PolicyKind::kCategorical) {
    if (p.logits.empty() || p.logits.size() != q.size()) return kNaN;
    return CategoricalKl(p.logits, q);
  }
  const size_t d = p.mean.size();
  if (d == 0 || p.log_std.size() != d || q.size() != 2 * d) return kNaN;
  return GaussianKl(p.mean, p.log_std, q.subspan(0, d), q.subspan(d, d));
}

double PolicyKl(const PolicyOutput& p, const PolicyOutput& q) {
  constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
  if (p.kind != q.kind) return kNaN;
  if (p.kind == PolicyKind::kCategorical) return KlToHeadOutput(p, q.logits);
  if (q.mean.size() != p.mean.size() || q.log_std.size() != q.mean.size()) return kNaN;
  return GaussianKl(p.mean, p.log_std, q.mean, q.log_std);
}

float GaussianConfidence(const Space& action_space, std::span<const float> log_std,
                         double tolerance) {
  if (action_space.is_discrete()) return 1.0f;
  double confidence = 1.0;
  for (size_t i = 0; i < log_std.size() && i < action_space.low().size(); ++i) {
    const double std = std::exp(static_cast<double>(log_std[i]));
    confidence *= std::erf(tolerance * AgreementScale(action_space, i) / (std * std::sqrt(2.0)));
  }
  return static_cast<float>(confidence);
}

float CategoricalConfidence(std::span<const float> logits, int64_t best) {
  const float max = logits[best];
  float sum = 1.0f;  // exp(max - max)
  for (int64_t k = 0; k < static_cast<int64_t>(logits.size()); ++k) {
    if (k != best) sum += std::exp(logits[k] - max);
  }
  return 1.0f / sum;
}

float OutputConfidence(const Space& action_space, const PolicyOutput& output) {
  if (output.kind == PolicyKind::kGaussian) {
    if (output.log_std.empty()) return std::numeric_limits<float>::quiet_NaN();
    return GaussianConfidence(action_space, output.log_std);
  }
  if (output.logits.empty()) return std::numeric_limits<float>::quiet_NaN();
  return CategoricalConfidence(output.logits, Argmax(output.logits));
}

AgreementWindow::AgreementWindow(int64_t capacity)
    : agree_(static_cast<size_t>(capacity)), kl_(static_cast<size_t>(capacity)) {
  Require(capacity >= 1, "an agreement window needs a capacity >= 1");
}

void AgreementWindow::Push(bool agree, double kl) {
  const bool full = count_ == static_cast<int64_t>(agree_.size());
  if (full) {
    agreed_ -= agree_[next_];
    if (std::isfinite(kl_[next_])) {
      kl_sum_ -= kl_[next_];
      --kl_count_;
    }
  } else {
    ++count_;
  }
  agree_[next_] = agree;
  kl_[next_] = std::isfinite(kl) ? kl : std::numeric_limits<double>::quiet_NaN();
  agreed_ += agree;
  if (std::isfinite(kl)) {
    kl_sum_ += kl;
    ++kl_count_;
  }
  next_ = (next_ + 1) % agree_.size();
  if (next_ == 0) {  // once per lap: a fresh sum, so rounding never accumulates
    kl_sum_ = 0.0;
    for (int64_t i = 0; i < count_; ++i) {
      if (std::isfinite(kl_[static_cast<size_t>(i)])) kl_sum_ += kl_[static_cast<size_t>(i)];
    }
  }
}

double AgreementWindow::rate() const {
  return count_ ? static_cast<double>(agreed_) / static_cast<double>(count_) : 0.0;
}

double AgreementWindow::mean_kl() const {
  return kl_count_ ? kl_sum_ / static_cast<double>(kl_count_)
                   : std::numeric_limits<double>::quiet_NaN();
}

}  // namespace apprentice
