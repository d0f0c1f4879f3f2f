// PrioritizedSampler: proportional prioritised replay (Schaul et al. 2016) over a sum-tree.
//
// A record of priority p is drawn with probability P(i) = q_i / sum_j q_j, where
// q = max(p, min_priority)^alpha (alpha = 0: uniform, alpha = 1: proportional). Its
// importance-sampling weight corrects the bias, normalised by the largest weight any stored record
// could get (so weights lie in (0, 1] and only ever scale the loss down):
//
//     w_i = (N * P(i))^-beta / max_j (N * P(j))^-beta = (q_min / q_i)^beta.
//
// Priorities are what the caller says they are: the executor–planner disagreement at insert
// (PlannerExecutorDisagreement below), the last training loss after a step (UpdatePriorities),
// or any other non-negative, finite number.
//
// Not thread-safe (see interface.h: the ReplayBuffer serialises calls). All memory is allocated
// at construction: a sum-tree and a min-tree of 2L doubles each, L = capacity rounded up to a
// power of two. OnInsert and OnUpdate are O(log L); a draw is O(log L) plus one pow for its
// weight (none when beta = 0).
#pragma once

#include <vector>

#include "core/decision.h"
#include "core/options.h"
#include "replay/samplers/interface.h"

namespace apprentice {

// SumTree: a complete binary tree over `capacity` leaves in flat arrays (node 1 the root, node
// i's children 2i and 2i+1, leaf k at node L + k). Each inner node holds the sum of its subtree's
// leaves; a parallel array holds the smallest non-zero leaf of each subtree. Leaves start at 0.
// Not thread-safe.
class SumTree {
 public:
  // Throws InvalidArgument unless capacity >= 1.
  explicit SumTree(int64_t capacity);

  // Sets leaf `index` in [0, capacity) to `value` (finite, >= 0). O(log L).
  void Set(int64_t index, double value);
  double Get(int64_t index) const { return sums_[static_cast<size_t>(leaves_ + index)]; }

  // Sum of all leaves.
  double total() const { return sums_[1]; }
  // Smallest non-zero leaf; +infinity when every leaf is 0.
  double min() const { return mins_[1]; }

  // The leaf whose prefix interval [sum of leaves before it, that + its value) contains `mass`,
  // for mass in [0, total()). Never returns a zero leaf (rounding at a boundary falls to the
  // non-empty side). Requires total() > 0.
  int64_t Find(double mass) const;

  int64_t capacity() const { return capacity_; }
  int64_t bytes() const;

 private:
  int64_t capacity_;
  int64_t leaves_;            // L: a power of two >= capacity_
  std::vector<double> sums_;  // 2L; [0] unused
  std::vector<double> mins_;  // 2L; [0] unused; +inf stands for "no non-zero leaf"
};

class PrioritizedSampler final : public Sampler {
 public:
  struct Options {
    double alpha = 0.6;          // priority exponent; 0 = uniform
    double beta = 0.4;           // importance-sampling exponent in [0, 1]; 1 = full correction
    double min_priority = 1e-6;  // priorities below this count as this, so none is never drawn
    void Declare(OptionBinder& b) {
      b.Double("alpha", &alpha, "priority exponent (0: uniform, 1: proportional)", 0, 100);
      b.Double("beta", &beta, "importance-sampling exponent (1: full correction)", 0, 1);
      b.Double("min_priority", &min_priority, "priorities below this count as this", 1e-300,
               1e300);
    }
    Status Validate() const;
  };

  // Throws InvalidArgument if `options` do not validate or capacity < 1.
  PrioritizedSampler(Options options, int64_t capacity);

  void OnInsert(int64_t slot, double priority) override { tree_.Set(slot, Scale(priority)); }
  void OnUpdate(int64_t slot, double priority) override { tree_.Set(slot, Scale(priority)); }
  // Uses ring.beta as the importance-sampling exponent.
  void Sample(const Ring& ring, Rng& rng, std::span<int64_t> slots, std::span<double> probabilities,
              std::span<float> weights) override;

  std::string_view name() const override { return "prioritized"; }
  double initial_beta() const override { return options_.beta; }
  bool uses_priorities() const override { return true; }
  int64_t bytes() const override { return tree_.bytes(); }

  const SumTree& tree() const { return tree_; }

 private:
  double Scale(double priority) const;  // max(priority, min_priority)^alpha

  const Options options_;
  SumTree tree_;
};

// How much the executor's choice departs from the planner's label, in [0, 1] for discrete actions:
// - categorical planner output and a discrete executor action in range: 1 - P_planner(executor's
//   action) under softmax(logits), so agreeing with a confident planner scores near 0;
// - discrete actions otherwise: 0 if they are equal, 1 if not;
// - continuous actions: the Euclidean distance between the executor's and the planner's action.
// 0 for a record without a label. Allocation-free; plug it into ReplayBuffer::Options's
// initial_priority to prioritise the states where the executor is still wrong.
double PlannerExecutorDisagreement(const DecisionRecord& record);

}  // namespace apprentice
