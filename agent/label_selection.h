// LabelSelector: which decisions the teacher labels when it can label only some of them (a label
// budget: a slow teacher, or one that costs money per call). Background plan requests of the
// reflex, gated and deadline modes go through it; a request whose answer a caller waits for
// always goes.
//
//   all          every decision (the default)
//   random       each decision with probability `fraction`
//   uncertainty  the decisions the executor is least sure of: a decision is labelled when its
//                confidence is below the `fraction`-quantile of the last kWindow decisions'
//                confidences (so about `fraction` of them are, whatever the confidences are)
//   disagreement the decisions of the kind the teacher has recently disagreed with most: each
//                decision falls in a bin of its executor action and confidence (DisagreementBoard)
//                whose rate of disagreement with the teacher's recent labels is its score; a
//                decision is labelled when its score is in the top `fraction` of the last
//                kWindow decisions' scores. A tenth of the budget goes to decisions drawn at
//                random, so that the rate of every bin stays current.
//
// Either way the budget is a ceiling: a decision is not selected when that would take the share
// selected so far above `fraction` (plus a slack of kSlack decisions).
//
// Threading: one per arbiter, used by its thread alone. Select() allocates nothing.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <string_view>
#include <vector>

#include "core/action.h"
#include "core/rng.h"
#include "core/status.h"

namespace apprentice {

enum class LabelPolicy : uint8_t { kAll, kRandom, kUncertainty, kDisagreement };
std::string_view LabelPolicyName(LabelPolicy policy);
// "all", "random", "uncertainty", "disagreement"
Result<LabelPolicy> ParseLabelPolicy(std::string_view name);

struct LabelSelection {
  LabelPolicy policy = LabelPolicy::kAll;
  double fraction = 1.0;  // the share of decisions labelled (every policy but all)
  Status Validate() const;
};

// How often the teacher's label has differed from the executor's action lately, by the kind of
// executor decision: its action (Discrete: each of the first kActionClasses - 1 indices apart,
// the others together; Box: one class) and its confidence c, binned by the halvings of 1 - c
// (bin k: 1 - c in (2^-(k+1), 2^-k], the last bin everything above; fine where a trained
// executor's confidences crowd, near 1). A bin's counts decay by half every kHalfLife labels
// that fall in it, so that it follows the executor as it learns. A bin's rate is
// (disagreed + 1) / (labelled + 2): 0.5 before any label.
//
// Threading: Record() on one thread (the collector's), Rate() on any (relaxed atomics: a rate a
// few labels stale is fine). Allocation-free.
class DisagreementBoard {
 public:
  static constexpr int kActionClasses = 8;
  static constexpr int kConfidenceBins = 10;
  static constexpr double kHalfLife = 256.0;

  void Record(const Action& executor_action, float confidence, bool disagreed);
  double Rate(const Action& executor_action, float confidence) const;

 private:
  static size_t Bin(const Action& executor_action, float confidence);
  static constexpr size_t kBins = static_cast<size_t>(kActionClasses * kConfidenceBins);
  std::array<std::atomic<float>, kBins> disagreed_{};
  std::array<std::atomic<float>, kBins> labelled_{};
};

class LabelSelector {
 public:
  static constexpr int64_t kWindow = 2'048;
  static constexpr double kSlack = 16.0;
  static constexpr double kExplore = 0.1;  // disagreement: the share of the budget drawn at random

  // `board` (disagreement; it must outlive the selector) holds the teacher's recent disagreement.
  LabelSelector(LabelSelection selection, uint64_t seed, const DisagreementBoard* board = nullptr);
  // Whether the decision with this executor action and confidence is to be labelled. Never more
  // than `fraction` of the decisions seen so far, plus kSlack (the budget is a ceiling).
  bool Select(const Action& executor_action, float confidence);

 private:
  bool Wanted(const Action& executor_action, float confidence);  // before the ceiling
  // Whether `score` ranks in the lowest `share` of the recent scores; then it joins them.
  bool InLowestShare(float score, double share);

  const LabelSelection selection_;
  const DisagreementBoard* board_;
  Rng rng_;
  std::vector<float> ring_;    // the last kWindow scores, in arrival order (a ring)
  std::vector<float> sorted_;  // the same, sorted
  size_t next_ = 0;
  int64_t seen_ = 0, selected_ = 0;
};

}  // namespace apprentice
