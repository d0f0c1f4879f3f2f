#include <gtest/gtest.h>

#include <cmath>

#include "core/rng.h"
#include "distiller/distiller.h"
#include "executor/executor.h"

namespace apprentice {
namespace {

using Batch = std::vector<std::shared_ptr<const DecisionRecord>>;

const Space kObs4 = Space::Box(-10.0f, 10.0f, {4});

// A labelled record whose teacher prefers action 1 when obs[0] > 0 (probability 0.9).
std::shared_ptr<const DecisionRecord> SignRecord(Rng& rng) {
  auto r = std::make_shared<DecisionRecord>();
  for (int i = 0; i < 4; ++i) r->observation.push_back(static_cast<float>(rng.Uniform(-1, 1)));
  const bool right = r->observation[0] > 0;
  const float probs[] = {right ? 0.1f : 0.9f, right ? 0.9f : 0.1f};
  r->has_label = true;
  r->planner = PolicyOutput::FromProbabilities(probs);
  r->planner_action = Action::Discrete(right ? 1 : 0);
  return r;
}

Batch SignBatch(Rng& rng, int n) {
  Batch b;
  for (int i = 0; i < n; ++i) b.push_back(SignRecord(rng));
  return b;
}

TEST(Distiller, SnapshotComputesWhatTorchComputes) {
  for (Activation act : {Activation::kTanh, Activation::kRelu}) {
    Distiller::Options o;
    o.activation = act;
    Distiller d(o, kObs4, Space::Discrete(2));
    Rng rng(1);
    for (int i = 0; i < 20; ++i) d.Train(SignBatch(rng, 32));  // move away from the init
    SnapshotSlot slot(d.MakeSnapshot(/*version=*/1));
    Executor exec(slot, Space::Discrete(2));
    for (int i = 0; i < 100; ++i) {
      float obs[4];
      for (float& v : obs) v = static_cast<float>(rng.Uniform(-3, 3));
      const auto reference = d.ReferenceForward(obs);
      const ExecutorDecision e = exec.Act(obs);
      ASSERT_EQ(reference.size(), e.output.size());
      for (size_t k = 0; k < reference.size(); ++k) EXPECT_NEAR(reference[k], e.output[k], 1e-5);
    }
  }
}

TEST(Distiller, GaussianSnapshotComputesWhatTorchComputes) {
  const Space box = Space::Box(-2.0f, 2.0f, {2});
  Distiller d({}, kObs4, box);
  EXPECT_EQ(d.spec().output(), 4);
  SnapshotSlot slot(d.MakeSnapshot(/*version=*/0));
  Executor exec(slot, box);
  Rng rng(2);
  for (int i = 0; i < 50; ++i) {
    float obs[4];
    for (float& v : obs) v = static_cast<float>(rng.Uniform(-3, 3));
    const auto reference = d.ReferenceForward(obs);
    const ExecutorDecision e = exec.Act(obs);
    for (size_t k = 0; k < reference.size(); ++k) EXPECT_NEAR(reference[k], e.output[k], 1e-5);
  }
}

TEST(Distiller, LearnsTheTeachersPreference) {
  Distiller::Options o;
  o.learning_rate = 1e-2;
  Distiller d(o, kObs4, Space::Discrete(2));
  Rng rng(3);
  double first_loss = 0, last_loss = 0;
  for (int i = 0; i < 300; ++i) {
    const auto stats = d.Train(SignBatch(rng, 64));
    if (i == 0) first_loss = stats.loss;
    last_loss = stats.loss;
  }
  EXPECT_LT(last_loss, first_loss);
  SnapshotSlot slot(d.MakeSnapshot(/*version=*/1));
  Executor exec(slot, Space::Discrete(2));
  int correct = 0;
  for (int i = 0; i < 500; ++i) {
    const auto r = SignRecord(rng);
    correct += exec.Act(r->observation).action == r->planner_action;
  }
  EXPECT_GE(correct, 475);
}

TEST(Distiller, GaussianHeadLearnsTheTeachersMean) {
  const Space box = Space::Box(-2.0f, 2.0f, {1});
  Distiller::Options o;
  o.learning_rate = 1e-2;
  Distiller d(o, kObs4, box);
  Rng rng(4);
  auto make = [&] {
    auto r = std::make_shared<DecisionRecord>();
    for (int i = 0; i < 4; ++i) r->observation.push_back(static_cast<float>(rng.Uniform(-1, 1)));
    const float mean[] = {r->observation[0]};
    const float log_std[] = {-1.0f};
    r->has_label = true;
    r->planner = PolicyOutput::Gaussian(mean, log_std);
    r->planner_action = Action::Continuous(mean);
    return r;
  };
  for (int i = 0; i < 400; ++i) {
    Batch b;
    for (int k = 0; k < 64; ++k) b.push_back(make());
    d.Train(b);
  }
  SnapshotSlot slot(d.MakeSnapshot(/*version=*/1));
  Executor exec(slot, box);
  double err = 0;
  for (int i = 0; i < 200; ++i) {
    const auto r = make();
    err += std::abs(exec.Act(r->observation).action.values()[0] - r->observation[0]);
  }
  EXPECT_LT(err / 200, 0.1);
}

// The loss, worked out by hand from the student's outputs before the update.
TEST(Distiller, CategoricalLossIsAlphaT2KlPlusHardCrossEntropy) {
  Distiller::Options o;
  o.temperature = 2.0;
  o.alpha = 0.3;
  Distiller d(o, kObs4, Space::Discrete(2));
  Rng rng(11);
  const Batch batch = SignBatch(rng, 3);
  double soft = 0, hard = 0;
  const double t = o.temperature;
  for (const auto& r : batch) {
    const auto z = d.ReferenceForward(r->observation);
    const auto& tl = r->planner.logits;
    const double zt = std::log(std::exp(z[0] / t) + std::exp(z[1] / t));
    const double tt = std::log(std::exp(tl[0] / t) + std::exp(tl[1] / t));
    for (int k = 0; k < 2; ++k) {
      const double log_p = tl[k] / t - tt, log_s = z[k] / t - zt;
      soft += std::exp(log_p) * (log_p - log_s);
    }
    const double z1 = std::log(std::exp(z[0]) + std::exp(z[1]));
    hard += -(z[r->planner_action.index()] - z1);
  }
  soft /= 3;
  hard /= 3;
  const auto stats = d.Train(batch);
  EXPECT_NEAR(stats.soft_loss, soft, 1e-5);
  EXPECT_NEAR(stats.hard_loss, hard, 1e-5);
  EXPECT_NEAR(stats.loss, o.alpha * t * t * soft + (1 - o.alpha) * hard, 1e-5);
}

TEST(Distiller, GaussianLossIsAlphaT2KlPlusHardNll) {
  Distiller::Options o;
  o.temperature = 3.0;
  o.alpha = 0.6;
  const Space box = Space::Box(-2.0f, 2.0f, {1});
  Distiller d(o, kObs4, box);
  Rng rng(12);
  Batch batch;
  for (int i = 0; i < 3; ++i) {
    auto r = std::make_shared<DecisionRecord>();
    for (int k = 0; k < 4; ++k) r->observation.push_back(static_cast<float>(rng.Uniform(-1, 1)));
    const float mean[] = {static_cast<float>(rng.Uniform(-1, 1))};
    const float log_std[] = {static_cast<float>(rng.Uniform(-1, 0))};
    const float action[] = {static_cast<float>(rng.Uniform(-2, 2))};
    r->has_label = true;
    r->planner = PolicyOutput::Gaussian(mean, log_std);
    r->planner_action = Action::Continuous(action);
    batch.push_back(r);
  }
  const double t = o.temperature;
  double soft = 0, hard = 0;
  for (const auto& r : batch) {
    const auto out = d.ReferenceForward(r->observation);  // mean, clamped log-std
    const double mu_s = out[0], ls_s = out[1];
    const double mu_t = r->planner.mean[0], ls_t = r->planner.log_std[0];
    const double var_t = t * std::exp(2 * ls_t), var_s = t * std::exp(2 * ls_s);
    soft += (ls_s - ls_t) + (var_t + (mu_t - mu_s) * (mu_t - mu_s)) / (2 * var_s) - 0.5;
    const double a = r->planner_action.values()[0];
    hard += 0.5 * std::pow((a - mu_s) / std::exp(ls_s), 2) + ls_s +
            0.5 * std::log(2 * 3.14159265358979323846);
  }
  soft /= 3;
  hard /= 3;
  const auto stats = d.Train(batch);
  EXPECT_NEAR(stats.soft_loss, soft, 1e-5);
  EXPECT_NEAR(stats.hard_loss, hard, 1e-5);
  EXPECT_NEAR(stats.loss, o.alpha * t * t * soft + (1 - o.alpha) * hard, 1e-4);
}

TEST(Distiller, SameSeedSameBatchesGiveIdenticalWeights) {
  auto train = [] {
    Distiller::Options o;
    o.seed = 42;
    Distiller d(o, kObs4, Space::Discrete(2));
    Rng rng(5);
    for (int i = 0; i < 30; ++i) d.Train(SignBatch(rng, 16));
    return d.MakeSnapshot(/*version=*/1)->params();
  };
  EXPECT_EQ(train(), train());
}

TEST(Distiller, PublishesASnapshotEveryKUpdates) {
  Distiller::Options o;
  o.publish_every = 3;
  Distiller d(o, kObs4, Space::Discrete(2));
  Rng rng(6);
  std::vector<int64_t> versions;
  for (int i = 0; i < 7; ++i) {
    const auto stats = d.Train(SignBatch(rng, 8));
    if (stats.snapshot) versions.push_back(stats.snapshot->version());
  }
  EXPECT_EQ(versions, (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(d.updates(), 7);
  EXPECT_EQ(d.published(), 2);
}

TEST(Distiller, RejectsRecordsWithoutLabelsOrWithTheWrongShape) {
  Distiller d({}, kObs4, Space::Discrete(2));
  Rng rng(7);
  auto unlabelled = std::make_shared<DecisionRecord>(*SignRecord(rng));
  unlabelled->has_label = false;
  EXPECT_THROW(d.Train(Batch{unlabelled}), InvalidArgument);
  auto short_obs = std::make_shared<DecisionRecord>(*SignRecord(rng));
  short_obs->observation.pop_back();
  EXPECT_THROW(d.Train(Batch{short_obs}), InvalidArgument);
  auto three_way = std::make_shared<DecisionRecord>(*SignRecord(rng));
  const float probs[] = {0.2f, 0.3f, 0.5f};
  three_way->planner = PolicyOutput::FromProbabilities(probs);
  EXPECT_THROW(d.Train(Batch{three_way}), InvalidArgument);
  auto nan_obs = std::make_shared<DecisionRecord>(*SignRecord(rng));
  nan_obs->observation[2] = NAN;
  EXPECT_THROW(d.Train(Batch{nan_obs}), InvalidArgument);
  auto inf_logit = std::make_shared<DecisionRecord>(*SignRecord(rng));
  inf_logit->planner.logits[0] = -INFINITY;
  EXPECT_THROW(d.Train(Batch{inf_logit}), InvalidArgument);
  EXPECT_EQ(d.updates(), 0);
}

TEST(Distiller, OptionsAreValidated) {
  Distiller::Options o;
  o.temperature = 0;
  EXPECT_FALSE(o.Validate().ok());
  o = {};
  o.alpha = 1.5;
  EXPECT_FALSE(o.Validate().ok());
  o = {};
  o.hidden = {64, 0};
  EXPECT_THROW(Distiller(o, kObs4, Space::Discrete(2)), InvalidArgument);
  EXPECT_THROW(Distiller({}, Space::Discrete(3), Space::Discrete(2)), InvalidArgument);
}

}  // namespace
}  // namespace apprentice
