#include "planner/mppi.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "planner/registry.h"

namespace apprentice {

Status MppiPlanner::Options::Validate() const {
  if (Status s = sampling.Validate("mppi"); !s.ok()) return s;
  if (!(temperature > 0.0 && std::isfinite(temperature))) {
    return Status::InvalidArgument("mppi temperature must be > 0");
  }
  return Status::Ok();
}

MppiPlanner::MppiPlanner(const Options& options)
    : SamplingPlanner((RequireOk(options.Validate()), options.sampling), "mppi"),
      options_(options) {}

void MppiPlanner::Refit() {
  const auto n = static_cast<int64_t>(returns_.size());
  double best = -std::numeric_limits<double>::infinity();
  double worst = std::numeric_limits<double>::infinity();
  for (const double r : returns_) {
    if (!std::isfinite(r)) continue;
    best = std::max(best, r);
    worst = std::min(worst, r);
  }
  if (!std::isfinite(best)) return;  // nothing ran to completion: the plan stays
  const double range = best - worst;
  weights_.assign(static_cast<size_t>(n), 0.0);
  double total = 0.0;
  for (int64_t k = 0; k < n; ++k) {
    if (!std::isfinite(returns_[k])) continue;
    weights_[k] = range > 0.0 ? std::exp(-(best - returns_[k]) / (options_.temperature * range))
                              : 1.0;
    total += weights_[k];
  }
  std::fill(nominal_.begin(), nominal_.end(), 0.0f);
  value_ = 0.0;
  for (int64_t k = 0; k < n; ++k) {
    if (weights_[k] == 0.0) continue;
    const double w = weights_[k] / total;
    weights_[k] = w;
    value_ += w * returns_[k];
    const std::span<const float> u = sample(k);
    for (size_t j = 0; j < nominal_.size(); ++j) nominal_[j] += static_cast<float>(w * u[j]);
  }
  for (int64_t i = 0; i < dims_; ++i) {
    double var = 0.0;
    for (int64_t k = 0; k < n; ++k) {
      if (weights_[k] == 0.0) continue;
      const double diff = sample(k)[i] - nominal_[i];
      var += weights_[k] * diff * diff;
    }
    spread_[i] = static_cast<float>(std::sqrt(var));
  }
}

APPRENTICE_REGISTER_PLANNER(MppiPlanner, "mppi",
                            "model-predictive path integral control on env clones, Box actions",
                            /*heavy=*/"iterations=1000000000");

}  // namespace apprentice
