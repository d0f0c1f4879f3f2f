// CemPlanner: the cross-entropy method for Box actions, on env clones. A SamplingPlanner
// (planner/sampling.h: sampling, rollouts, warm start, deadline, threads); its refit keeps the
// `elites` sequences of highest return and makes their per-step, per-component mean the new
// nominal and their std the new noise scale (floored at `min_noise`, a fraction of the
// half-range, so that the search never collapses to a point). The soft target's std is the
// elites' spread of the first action; the value is their mean return.
#pragma once

#include "planner/sampling.h"

namespace apprentice {

class CemPlanner final : public SamplingPlanner {
 public:
  struct Options {
    SamplingOptions sampling;
    int64_t elites = 8;       // sequences kept per iteration
    double min_noise = 0.05;  // the scale's floor, a fraction of the half-range
    void Declare(OptionBinder& b) {
      sampling.Declare(b);
      b.Int("elites", &elites, "best sequences refitted to per iteration", 1, 100'000);
      b.Double("min_noise", &min_noise, "floor of the refitted noise, a fraction of the half-range",
               0, 10);
    }
    Status Validate() const;
  };

  // Throws InvalidArgument if `options` do not validate.
  explicit CemPlanner(const Options& options);
  std::string name() const override { return "cem"; }
  const Options& options() const { return options_; }

 private:
  void Refit() override;

  const Options options_;
  std::vector<int64_t> order_;
};

}  // namespace apprentice
