#include "agent/label_selection.h"

#include <algorithm>
#include <cmath>
#include <string>

namespace apprentice {

std::string_view LabelPolicyName(LabelPolicy policy) {
  switch (policy) {
    case LabelPolicy::kAll: return "all";
    case LabelPolicy::kRandom: return "random";
    case LabelPolicy::kUncertainty: return "uncertainty";
  }
  return "all";
}

Result<LabelPolicy> ParseLabelPolicy(std::string_view name) {
  for (LabelPolicy p : {LabelPolicy::kAll, LabelPolicy::kRandom, LabelPolicy::kUncertainty}) {
    if (LabelPolicyName(p) == name) return p;
  }
  return Status::InvalidArgument("unknown label policy '" + std::string(name) +
                                 "' (choose all|random|uncertainty)");
}

Status LabelSelection::Validate() const {
  if (!(fraction > 0.0 && fraction <= 1.0)) {
    return Status::InvalidArgument("the labelled fraction must be in (0, 1]");
  }
  return Status::Ok();
}

LabelSelector::LabelSelector(LabelSelection selection, uint64_t seed)
    : selection_(selection), rng_(seed) {
  RequireOk(selection_.Validate());
  if (selection_.policy == LabelPolicy::kUncertainty) {
    ring_.reserve(kWindow);
    sorted_.reserve(kWindow);
  }
}

bool LabelSelector::Select(float confidence) {
  if (selection_.policy == LabelPolicy::kAll) return true;
  ++seen_;
  const bool wanted = Wanted(confidence);
  // The budget is a ceiling: never more than `fraction` of the decisions seen, plus kSlack.
  if (!wanted || static_cast<double>(selected_ + 1) >
                     selection_.fraction * static_cast<double>(seen_) + kSlack) {
    return false;
  }
  ++selected_;
  return true;
}

bool LabelSelector::Wanted(float confidence) {
  if (selection_.policy == LabelPolicy::kRandom) return rng_.Uniform() < selection_.fraction;
  if (!std::isfinite(confidence)) return true;
  // Its rank among the recent confidences decides (ties ranked at random among themselves: a
  // saturated executor gives many equal confidences); then it joins them.
  const auto lo = std::lower_bound(sorted_.begin(), sorted_.end(), confidence);
  const auto hi = std::upper_bound(lo, sorted_.end(), confidence);
  const double rank = static_cast<double>(lo - sorted_.begin()) +
                      rng_.Uniform() * static_cast<double>(hi - lo);
  const bool select =
      sorted_.empty() || rank < selection_.fraction * static_cast<double>(sorted_.size());
  if (ring_.size() < static_cast<size_t>(kWindow)) {
    ring_.push_back(confidence);
  } else {
    const float old = ring_[next_];
    sorted_.erase(std::lower_bound(sorted_.begin(), sorted_.end(), old));
    ring_[next_] = confidence;
    next_ = (next_ + 1) % static_cast<size_t>(kWindow);
  }
  sorted_.insert(std::upper_bound(sorted_.begin(), sorted_.end(), confidence), confidence);
  return select;
}

}  // namespace apprentice
