#include "replay/samplers/prioritized.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>
#include <string>

#include "replay/samplers/registry.h"

namespace apprentice {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

}  // namespace

SumTree::SumTree(int64_t capacity) : capacity_(capacity) {
  Require(capacity >= 1, "sum-tree capacity must be >= 1, got " + std::to_string(capacity));
  leaves_ = static_cast<int64_t>(std::bit_ceil(static_cast<uint64_t>(capacity)));
  sums_.assign(static_cast<size_t>(2 * leaves_), 0.0);
  mins_.assign(static_cast<size_t>(2 * leaves_), kInf);
}

void SumTree::Set(int64_t index, double value) {
  size_t i = static_cast<size_t>(leaves_ + index);
  double sum = value;
  double min = value > 0.0 ? value : kInf;
  sums_[i] = sum;
  mins_[i] = min;
  // Each parent is recomputed from its two children (not adjusted by a delta), so no rounding
  // error accumulates however often leaves change. The new child stays in a register and only the
  // siblings are loaded; their addresses do not depend on the sums, so the loads overlap.
  for (; i > 1; i >>= 1) {
    sum += sums_[i ^ 1];  // addition commutes: the same bits as left + right
    min = std::min(min, mins_[i ^ 1]);
    sums_[i >> 1] = sum;
    mins_[i >> 1] = min;
  }
}

int64_t SumTree::Find(double mass) const {
  const size_t leaves = static_cast<size_t>(leaves_);
  size_t i = 1;
  while (i < leaves) {
    const size_t left = 2 * i;
    const double left_sum = sums_[left];
    // Go right only when the mass lies past the left subtree and the right one has mass: by
    // induction every node visited has a non-zero sum, so the leaf found is non-zero.
    if (mass >= left_sum && sums_[left + 1] > 0.0) {
      mass -= left_sum;
      i = left + 1;
    } else {
      i = left;
    }
  }
  return static_cast<int64_t>(i - leaves);
}

int64_t SumTree::bytes() const {
  return static_cast<int64_t>((sums_.capacity() + mins_.capacity()) * sizeof(double));
}

Status PrioritizedSampler::Options::Validate() const {
  if (!(std::isfinite(alpha) && alpha >= 0.0)) {
    return Status::InvalidArgument("prioritized sampler alpha must be finite and >= 0, got " +
                                   std::to_string(alpha));
  }
  if (!(beta >= 0.0 && beta <= 1.0)) {
    return Status::InvalidArgument("prioritized sampler beta must be in [0, 1], got " +
                                   std::to_string(beta));
  }
  if (!(std::isfinite(min_priority) && min_priority > 0.0)) {
    return Status::InvalidArgument("prioritized sampler min_priority must be finite and > 0, got " +
                                   std::to_string(min_priority));
  }
  return Status::Ok();
}

PrioritizedSampler::PrioritizedSampler(Options options, int64_t capacity)
    : options_(options), tree_(capacity) {
  RequireOk(options_.Validate());
}

double PrioritizedSampler::Scale(double priority) const {
  const double p = std::max(priority, options_.min_priority);
  if (options_.alpha == 1.0) return p;
  if (options_.alpha == 0.0) return 1.0;
  if (options_.alpha == 0.5) return std::sqrt(p);
  return std::pow(p, options_.alpha);
}

void PrioritizedSampler::Sample(const Ring& ring, Rng& rng, std::span<int64_t> slots,
                                std::span<double> probabilities, std::span<float> weights) {
  const double total = tree_.total();
  const double min = tree_.min();
  const double beta = ring.beta;
  for (size_t i = 0; i < slots.size(); ++i) {
    const int64_t slot = tree_.Find(rng.Uniform() * total);
    const double q = tree_.Get(slot);
    slots[i] = slot;
    probabilities[i] = q / total;
    weights[i] = beta == 0.0 ? 1.0f : static_cast<float>(std::pow(min / q, beta));
  }
}

double PlannerExecutorDisagreement(const DecisionRecord& record) {
  if (!record.has_label) return 0.0;
  const Action& exec = record.executor_action;
  const Action& plan = record.planner_action;
  if (exec.is_discrete() && plan.is_discrete()) {
    const std::vector<float>& logits = record.planner.logits;
    const int64_t a = exec.index();
    if (record.planner.kind == PolicyKind::kCategorical && a >= 0 &&
        a < static_cast<int64_t>(logits.size())) {
      const float max_logit = *std::max_element(logits.begin(), logits.end());
      double sum = 0.0;
      for (float l : logits) sum += std::exp(static_cast<double>(l - max_logit));
      const double p =
          std::exp(static_cast<double>(logits[static_cast<size_t>(a)] - max_logit)) / sum;
      return std::clamp(1.0 - p, 0.0, 1.0);
    }
    return exec.index() == plan.index() ? 0.0 : 1.0;
  }
  if (!exec.is_discrete() && !plan.is_discrete()) {
    const auto x = exec.values();
    const auto y = plan.values();
    const size_t dims = std::min(x.size(), y.size());
    double sq = 0.0;
    for (size_t k = 0; k < dims; ++k) {
      const double d = static_cast<double>(x[k]) - static_cast<double>(y[k]);
      sq += d * d;
    }
    return std::sqrt(sq);
  }
  return 1.0;  // one discrete, one continuous: nothing in common
}

APPRENTICE_REGISTER_SAMPLER(PrioritizedSampler, "prioritized",
                            "proportional prioritised replay with importance weights");

}  // namespace apprentice
