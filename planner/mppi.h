// MppiPlanner: model-predictive path integral control (Williams et al.) for Box actions, on env
// clones. A SamplingPlanner (planner/sampling.h: sampling, rollouts, warm start, deadline,
// threads); its refit is the path-integral average
//
//   w_k = exp(-(R_max - R_k) / (temperature * (R_max - R_min)))  (normalised to sum 1)
//   nominal <- sum_k w_k * u_k
//
// over the sequences u_k that ran, R_k their returns. The temperature is a fraction of this
// iteration's spread of returns, so that one value serves tasks whose rewards differ in scale:
// 0.1 weighs a sequence 1/e^10 below the best when it is the worst. Equal returns weigh equally.
// The soft target's std is the weighted spread of the first actions around the new nominal,
// sqrt(sum_k w_k (u_k0 - nominal_0)^2); the value is sum_k w_k R_k.
#pragma once

#include "planner/sampling.h"

namespace apprentice {

class MppiPlanner final : public SamplingPlanner {
 public:
  struct Options {
    SamplingOptions sampling;
    double temperature = 0.1;  // a fraction of the spread of returns (above)
    void Declare(OptionBinder& b) {
      sampling.Declare(b);
      b.Double("temperature", &temperature,
               "path-integral temperature, a fraction of the spread of returns", 1e-6, 1e6);
    }
    Status Validate() const;
  };

  // Throws InvalidArgument if `options` do not validate.
  explicit MppiPlanner(const Options& options);
  std::string name() const override { return "mppi"; }
  const Options& options() const { return options_; }

 private:
  void Refit() override;

  const Options options_;
  std::vector<double> weights_;
};

}  // namespace apprentice
