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
    case LabelPolicy::kDisagreement: return "disagreement";
  }
  return "all";
}

Result<LabelPolicy> ParseLabelPolicy(std::string_view name) {
  for (LabelPolicy p : {LabelPolicy::kAll, LabelPolicy::kRandom, LabelPolicy::kUncertainty,
                        LabelPolicy::kDisagreement}) {
    if (LabelPolicyName(p) == name) return p;
  }
  return Status::InvalidArgument("unknown label policy '" + std::string(name) +
                                 "' (choose all|random|uncertainty|disagreement)");
}

Status LabelSelection::Validate() const {
  if (!(fraction > 0.0 && fraction <= 1.0)) {
    return Status::InvalidArgument("the labelled fraction must be in (0, 1]");
  }
  return Status::Ok();
}

size_t DisagreementBoard::Bin(const Action& executor_action, float confidence) {
  size_t action_class = 0;
  if (executor_action.is_discrete()) {
    action_class = static_cast<size_t>(
        std::clamp<int64_t>(executor_action.index(), 0, kActionClasses - 1));
  }
  int bin = kConfidenceBins - 1;
  const double doubt = 1.0 - static_cast<double>(confidence);
  if (std::isfinite(doubt) && doubt > 0.0) {
    bin = std::clamp(static_cast<int>(std::floor(-std::log2(doubt))), 0, kConfidenceBins - 1);
  } else if (!std::isfinite(doubt)) {
    bin = 0;
  }
  return action_class * kConfidenceBins + static_cast<size_t>(bin);
}

void DisagreementBoard::Record(const Action& executor_action, float confidence, bool disagreed) {
  // Decay by half every kHalfLife labels of the bin: x <- x * 2^(-1/kHalfLife) + new.
  static const float kKeep = static_cast<float>(std::exp2(-1.0 / kHalfLife));
  const size_t b = Bin(executor_action, confidence);
  disagreed_[b].store(disagreed_[b].load(std::memory_order_relaxed) * kKeep + (disagreed ? 1 : 0),
                      std::memory_order_relaxed);
  labelled_[b].store(labelled_[b].load(std::memory_order_relaxed) * kKeep + 1,
                     std::memory_order_relaxed);
}

double DisagreementBoard::Rate(const Action& executor_action, float confidence) const {
  const size_t b = Bin(executor_action, confidence);
  return (disagreed_[b].load(std::memory_order_relaxed) + 1.0) /
         (labelled_[b].load(std::memory_order_relaxed) + 2.0);
}

LabelSelector::LabelSelector(LabelSelection selection, uint64_t seed,
                             const DisagreementBoard* board)
    : selection_(selection), board_(board), rng_(seed) {
  RequireOk(selection_.Validate());
  Require(selection_.policy != LabelPolicy::kDisagreement || board_ != nullptr,
          "the disagreement label policy needs a DisagreementBoard");
  if (selection_.policy == LabelPolicy::kUncertainty ||
      selection_.policy == LabelPolicy::kDisagreement) {
    ring_.reserve(kWindow);
    sorted_.reserve(kWindow);
  }
}

bool LabelSelector::Select(const Action& executor_action, float confidence) {
  if (selection_.policy == LabelPolicy::kAll) return true;
  ++seen_;
  const bool wanted = Wanted(executor_action, confidence);
  // The budget is a ceiling: never more than `fraction` of the decisions seen, plus kSlack.
  if (!wanted || static_cast<double>(selected_ + 1) >
                     selection_.fraction * static_cast<double>(seen_) + kSlack) {
    return false;
  }
  ++selected_;
  return true;
}

bool LabelSelector::Wanted(const Action& executor_action, float confidence) {
  switch (selection_.policy) {
    case LabelPolicy::kAll: return true;
    case LabelPolicy::kRandom: return rng_.Uniform() < selection_.fraction;
    case LabelPolicy::kUncertainty:
      if (!std::isfinite(confidence)) return true;
      return InLowestShare(confidence, selection_.fraction);
    case LabelPolicy::kDisagreement: {
      // The highest rates first: the lowest 1 - rate. Every decision joins the recent scores,
      // also those drawn for exploration.
      const bool explore = rng_.Uniform() < kExplore * selection_.fraction;
      const auto score = static_cast<float>(1.0 - board_->Rate(executor_action, confidence));
      const bool chosen = InLowestShare(score, (1.0 - kExplore) * selection_.fraction);
      return explore || chosen;
    }
  }
  return true;
}

bool LabelSelector::InLowestShare(float score, double share) {
  // Its rank among the recent scores decides (ties ranked at random among themselves: a
  // saturated executor gives many equal confidences, and a bin many equal rates); then it joins
  // them.
  const auto lo = std::lower_bound(sorted_.begin(), sorted_.end(), score);
  const auto hi = std::upper_bound(lo, sorted_.end(), score);
  const double rank = static_cast<double>(lo - sorted_.begin()) +
                      rng_.Uniform() * static_cast<double>(hi - lo);
  const bool select = sorted_.empty() || rank < share * static_cast<double>(sorted_.size());
  if (ring_.size() < static_cast<size_t>(kWindow)) {
    ring_.push_back(score);
  } else {
    const float old = ring_[next_];
    sorted_.erase(std::lower_bound(sorted_.begin(), sorted_.end(), old));
    ring_[next_] = score;
    next_ = (next_ + 1) % static_cast<size_t>(kWindow);
  }
  sorted_.insert(std::upper_bound(sorted_.begin(), sorted_.end(), score), score);
  return select;
}

}  // namespace apprentice
