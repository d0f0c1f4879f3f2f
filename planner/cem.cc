#include "planner/cem.h"

#include <algorithm>
#include <cmath>

#include "planner/registry.h"

namespace apprentice {

Status CemPlanner::Options::Validate() const {
  if (Status s = sampling.Validate("cem"); !s.ok()) return s;
  if (elites < 1 || elites > sampling.samples) {
    return Status::InvalidArgument("cem elites must be in [1, samples]");
  }
  if (!(min_noise >= 0.0 && min_noise <= 10.0)) {
    return Status::InvalidArgument("cem min_noise must be in [0, 10]");
  }
  return Status::Ok();
}

CemPlanner::CemPlanner(const Options& options)
    : SamplingPlanner((RequireOk(options.Validate()), options.sampling), "cem"),
      options_(options) {}

void CemPlanner::Refit() {
  // The sequences that ran, best first (ties: lower index first, so the order is deterministic).
  order_.clear();
  for (int64_t k = 0; k < static_cast<int64_t>(returns_.size()); ++k) {
    if (std::isfinite(returns_[k])) order_.push_back(k);
  }
  if (order_.empty()) return;  // nothing ran to completion: the plan stays
  const auto elites = std::min<size_t>(static_cast<size_t>(options_.elites), order_.size());
  std::partial_sort(order_.begin(), order_.begin() + static_cast<std::ptrdiff_t>(elites),
                    order_.end(), [&](int64_t a, int64_t b) {
                      return returns_[a] > returns_[b] || (returns_[a] == returns_[b] && a < b);
                    });
  value_ = 0.0;
  for (size_t e = 0; e < elites; ++e) value_ += returns_[order_[e]];
  value_ /= static_cast<double>(elites);
  for (size_t j = 0; j < nominal_.size(); ++j) {
    double mean = 0.0, sq = 0.0;
    for (size_t e = 0; e < elites; ++e) mean += sample(order_[e])[j];
    mean /= static_cast<double>(elites);
    for (size_t e = 0; e < elites; ++e) {
      const double diff = sample(order_[e])[j] - mean;
      sq += diff * diff;
    }
    const auto i = static_cast<int64_t>(j) % dims_;
    const double floor = options_.min_noise * half_range_[i];
    nominal_[j] = static_cast<float>(mean);
    scale_[j] = static_cast<float>(std::max(std::sqrt(sq / static_cast<double>(elites)), floor));
  }
  for (int64_t i = 0; i < dims_; ++i) spread_[i] = scale_[i];
}

APPRENTICE_REGISTER_PLANNER(CemPlanner, "cem",
                            "cross-entropy method on env clones, Box actions",
                            /*heavy=*/"iterations=1000000000");

}  // namespace apprentice
