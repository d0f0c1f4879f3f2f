// Small hand-written policies as executor snapshots, for off-policy estimates whose truth is
// known (bench/ope_study.cc, tests/ope_test.cc): no training, the same weights everywhere.
//
// CartPole (4 -> 1 -> 2, tanh): h = tanh(k . s); logits (-c h, c h): push right when k . s > 0,
// with softmax probability sigmoid(2 c h).
// Pendulum (3 -> 1 -> 2, tanh, Gaussian): h = tanh(k . o); mean m h, log-std `log_std`.
// Fraud (15 -> 1 -> 2, tanh): h = tanh(w . x + b) on the payment's features (fraud/features.h);
// logits (-c h, c h): decline when w . x + b > 0.
#pragma once

#include <array>
#include <memory>
#include <vector>

#include "executor/snapshot.h"

namespace apprentice::bench {

inline std::shared_ptr<const Snapshot> CartPoleController(std::array<float, 4> k, float c) {
  MlpSpec spec{4, {1}, 2, HeadKind::kCategorical, Activation::kTanh};
  const float params[] = {k[0], k[1], k[2], k[3], 0.0f, -c, c, 0.0f, 0.0f};
  return Snapshot::Create(spec, params, 1).ValueOrThrow();
}

inline std::shared_ptr<const Snapshot> PendulumController(std::array<float, 3> k, float m,
                                                          float log_std) {
  MlpSpec spec{3, {1}, 1, HeadKind::kGaussian, Activation::kTanh};
  const float params[] = {k[0], k[1], k[2], 0.0f, m, 0.0f, 0.0f, log_std};
  return Snapshot::Create(spec, params, 1).ValueOrThrow();
}

inline std::shared_ptr<const Snapshot> FraudController(std::array<float, 15> w, float b, float c) {
  MlpSpec spec{15, {1}, 2, HeadKind::kCategorical, Activation::kTanh};
  std::vector<float> params(w.begin(), w.end());
  params.insert(params.end(), {b, -c, c, 0.0f, 0.0f});
  return Snapshot::Create(spec, params, 1).ValueOrThrow();
}

}  // namespace apprentice::bench
