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
//
// Either way the budget is a ceiling: a decision is not selected when that would take the share
// selected so far above `fraction` (plus a slack of kSlack decisions).
//
// Threading: one per arbiter, used by its thread alone. Select() allocates nothing.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "core/rng.h"
#include "core/status.h"

namespace apprentice {

enum class LabelPolicy : uint8_t { kAll, kRandom, kUncertainty };
std::string_view LabelPolicyName(LabelPolicy policy);
Result<LabelPolicy> ParseLabelPolicy(std::string_view name);  // "all", "random", "uncertainty"

struct LabelSelection {
  LabelPolicy policy = LabelPolicy::kAll;
  double fraction = 1.0;  // the share of decisions labelled (random, uncertainty)
  Status Validate() const;
};

class LabelSelector {
 public:
  static constexpr int64_t kWindow = 2'048;
  static constexpr double kSlack = 16.0;

  LabelSelector(LabelSelection selection, uint64_t seed);
  // Whether the decision with this executor confidence is to be labelled. Never more than
  // `fraction` of the decisions seen so far, plus kSlack (the budget is a ceiling).
  bool Select(float confidence);

 private:
  bool Wanted(float confidence);  // the policy's choice, before the ceiling

  const LabelSelection selection_;
  Rng rng_;
  std::vector<float> ring_;    // the last kWindow confidences, in arrival order (a ring)
  std::vector<float> sorted_;  // the same, sorted
  size_t next_ = 0;
  int64_t seen_ = 0, selected_ = 0;
};

}  // namespace apprentice
