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
