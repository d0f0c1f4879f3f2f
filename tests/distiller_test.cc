#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>

#include "core/crc32c.h"
#include "core/rng.h"
#include "core/seeds.h"
#include "distiller/distiller.h"
#include "executor/executor.h"
#include "executor/snapshot_file.h"
#include "tests/temp_files.h"

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

// Feature distillation: feature_weight * mean_j (P h - f)_j^2 per record with teacher features,
// with h the student's last hidden layer and P the projection initialised as documented
// (uniform +-1/sqrt(width) from the seed's kFeatureProjection stream, weights then biases).
TEST(Distiller, FeatureLossIsTheProjectedHiddenLayersSquaredErrorToTheTeachersFeatures) {
  Distiller::Options o;
  o.hidden = {3};
  o.temperature = 2.0;
  o.alpha = 0.3;
  o.feature_weight = 0.5;
  o.seed = 7;
  Distiller d(o, kObs4, Space::Discrete(2));
  Rng rng(12);
  Batch batch = SignBatch(rng, 3);
  const std::vector<std::vector<float>> features = {{0.5f, -1.0f}, {}, {2.0f, 0.25f}};
  for (size_t i = 0; i < batch.size(); ++i) {
    auto r = std::make_shared<DecisionRecord>(*batch[i]);
    r->teacher_features = features[i];
    batch[i] = r;
  }
  // The student's hidden layer from its initial weights (W1 [3 x 4], b1, W2, b2).
  const MlpSpec spec{4, {3}, 2, HeadKind::kCategorical, Activation::kTanh};
  const std::vector<float> w = InitialParameters(spec, o.seed);
  Rng projection_rng(StreamSeed(o.seed, SeedStream::kFeatureProjection));
  const double bound = 1.0 / std::sqrt(3.0);
  float p[2][3], pb[2];
  for (auto& row : p) {
    for (float& v : row) v = static_cast<float>(projection_rng.Uniform(-bound, bound));
  }
  for (float& v : pb) v = static_cast<float>(projection_rng.Uniform(-bound, bound));
  double featured_sum = 0.0;
  for (size_t i = 0; i < batch.size(); ++i) {
    if (features[i].empty()) continue;
    double h[3];
    for (int k = 0; k < 3; ++k) {
      double z = w[12 + k];
      for (int j = 0; j < 4; ++j) z += w[k * 4 + j] * batch[i]->observation[j];
      h[k] = std::tanh(z);
    }
    double squared = 0.0;
    for (int f = 0; f < 2; ++f) {
      double y = pb[f];
      for (int k = 0; k < 3; ++k) y += p[f][k] * h[k];
      squared += (y - features[i][f]) * (y - features[i][f]);
    }
    featured_sum += squared / 2.0;
  }
  const auto stats = d.Train(batch);
  EXPECT_NEAR(stats.feature_loss, featured_sum / 2.0, 1e-5);  // two records carry features
  const double t = o.temperature, a = o.alpha;
  EXPECT_NEAR(stats.loss,
              a * t * t * stats.soft_loss + (1 - a) * stats.hard_loss + 0.5 * featured_sum / 3.0,
              1e-5);
  // A record's priority includes its feature term.
  EXPECT_GT(stats.priorities[0], 0.0);

  // Off: the same batch trains as without features.
  o.feature_weight = 0.0;
  Distiller off(o, kObs4, Space::Discrete(2));
  const auto plain = off.Train(batch);
  EXPECT_EQ(plain.feature_loss, 0.0);
  EXPECT_NEAR(plain.loss, a * t * t * plain.soft_loss + (1 - a) * plain.hard_loss, 1e-6);

  // Features of another width than before, or two widths in a batch, are refused.
  o.feature_weight = 0.5;
  Distiller strict(o, kObs4, Space::Discrete(2));
  strict.Train(batch);
  Batch wider = batch;
  auto r = std::make_shared<DecisionRecord>(*batch[0]);
  r->teacher_features = {1.0f, 2.0f, 3.0f};
  wider[0] = r;
  EXPECT_THROW(strict.Train(wider), InvalidArgument);
}

TEST(Distiller, FeatureDistillationTeachesTheHiddenLayerTheTeachersFeatures) {
  Distiller::Options o;
  o.hidden = {16};
  o.feature_weight = 1.0;
  Distiller d(o, kObs4, Space::Discrete(2));
  Rng rng(13);
  Batch batch = SignBatch(rng, 64);
  for (auto& b : batch) {
    auto r = std::make_shared<DecisionRecord>(*b);
    r->teacher_features = {r->observation[0] - r->observation[1], 0.5f * r->observation[2]};
    b = r;
  }
  const double first = d.Train(batch).feature_loss;
  double last = first;
  for (int i = 0; i < 300; ++i) last = d.Train(batch).feature_loss;
  EXPECT_LT(last, 0.1 * first) << first << " -> " << last;
}

// Importance weights scale each record's loss; the per-record priorities are the records' own
// losses (categorical), so their mean is the unweighted loss.
TEST(Distiller, ImportanceWeightsScaleEachRecordsLossAndPrioritiesAreTheRecordLosses) {
  Distiller::Options o;
  o.temperature = 2.0;
  o.alpha = 0.3;
  Rng rng(13);
  const Batch batch = SignBatch(rng, 4);
  Distiller plain(o, kObs4, Space::Discrete(2));
  Distiller ones(o, kObs4, Space::Discrete(2));
  Distiller halves(o, kObs4, Space::Discrete(2));
  Distiller skewed(o, kObs4, Space::Discrete(2));
  const auto a = plain.Train(batch);
  const float w1[] = {1, 1, 1, 1}, w_half[] = {0.5f, 0.5f, 0.5f, 0.5f}, w_skew[] = {1, 0, 0, 0};
  const auto b = ones.Train(batch, w1);
  const auto c = halves.Train(batch, w_half);
  const auto d = skewed.Train(batch, w_skew);
  ASSERT_EQ(a.priorities.size(), 4u);
  double mean = 0;
  for (double p : a.priorities) {
    EXPECT_GE(p, 0.0);
    mean += p / 4;
  }
  EXPECT_NEAR(a.loss, mean, 1e-5);
  EXPECT_NEAR(b.loss, a.loss, 1e-5);
  EXPECT_NEAR(c.loss, 0.5 * a.loss, 1e-5);
  EXPECT_NEAR(d.loss, a.priorities[0] / 4, 1e-5);  // only the first record counts
  EXPECT_EQ(b.priorities, a.priorities);  // priorities are before weighting
  // Bad weights: one per record, finite and >= 0.
  const float three[] = {1, 1, 1}, negative[] = {1, -1, 1, 1};
  EXPECT_THROW(plain.Train(batch, three), InvalidArgument);
  EXPECT_THROW(plain.Train(batch, negative), InvalidArgument);
}

TEST(Distiller, GaussianPrioritiesAreNonNegativeWhereTheNllIsNot) {
  const Space box = Space::Box(-2.0f, 2.0f, {1});
  Distiller d({}, kObs4, box);
  Batch batch;
  auto r = std::make_shared<DecisionRecord>();
  r->observation = {0.1f, 0.2f, 0.3f, 0.4f};
  const float mean[] = {0.0f}, log_std[] = {-4.0f};
  r->has_label = true;
  r->planner = PolicyOutput::Gaussian(mean, log_std);
  r->planner_action = Action::Continuous(mean);
  batch.push_back(r);
  for (int i = 0; i < 300; ++i) d.Train(batch);  // a sharp student: its NLL goes negative
  const auto stats = d.Train(batch);
  EXPECT_LT(stats.hard_loss, 0.0);
  ASSERT_EQ(stats.priorities.size(), 1u);
  EXPECT_GE(stats.priorities[0], 0.0);
  EXPECT_TRUE(std::isfinite(stats.priorities[0]));
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

// The teacher prefers action 1 when obs[0] > 0; reality (the ground truth) says action 1 when
// obs[1] > 0. With the truth as the hard label the student follows reality where the two differ.
TEST(Distiller, GroundTruthIsTheHardLabelAndWinsWhereItDiffersFromTheTeacher) {
  auto agreement_with_truth_where_they_differ = [](bool with_truth) {
    Distiller::Options o;
    o.learning_rate = 1e-2;
    o.alpha = 0.1;  // soft term 0.1 * T^2 = 0.4, hard term 0.9
    Distiller d(o, kObs4, Space::Discrete(2));
    Rng rng(21);
    auto make = [&](bool truth) {
      auto r = std::make_shared<DecisionRecord>(*SignRecord(rng));
      r->has_truth = truth;
      r->truth = Action::Discrete(r->observation[1] > 0 ? 1 : 0);
      return r;
    };
    for (int i = 0; i < 400; ++i) {
      Batch b;
      for (int k = 0; k < 64; ++k) b.push_back(make(with_truth));
      d.Train(b);
    }
    SnapshotSlot slot(d.MakeSnapshot(/*version=*/1));
    Executor exec(slot, Space::Discrete(2));
    int differ = 0, follows_truth = 0;
    for (int i = 0; i < 2000; ++i) {
      const auto r = make(true);
      if (r->truth == r->planner_action) continue;
      ++differ;
      follows_truth += exec.Act(r->observation).action == r->truth;
    }
    return static_cast<double>(follows_truth) / differ;
  };
  EXPECT_GT(agreement_with_truth_where_they_differ(/*with_truth=*/true), 0.85);
  // The same records without their truth: the student follows the teacher instead.
  EXPECT_LT(agreement_with_truth_where_they_differ(/*with_truth=*/false), 0.15);
}

// A record with ground truth and no planner label trains the hard term alone: its loss is the
// cross-entropy of the truth, worked out by hand.
TEST(Distiller, GroundTruthWithoutAPlannerLabelTrainsTheHardTermAlone) {
  Distiller::Options o;
  o.alpha = 0.3;
  Distiller d(o, kObs4, Space::Discrete(2));
  Rng rng(22);
  Batch batch;
  double hard = 0;
  for (int i = 0; i < 3; ++i) {
    auto r = std::make_shared<DecisionRecord>();
    for (int k = 0; k < 4; ++k) r->observation.push_back(static_cast<float>(rng.Uniform(-1, 1)));
    r->has_truth = true;
    r->truth = Action::Discrete(i % 2);
    const auto z = d.ReferenceForward(r->observation);
    hard += -(z[static_cast<size_t>(i % 2)] - std::log(std::exp(z[0]) + std::exp(z[1])));
    batch.push_back(r);
  }
  hard /= 3;
  const auto stats = d.Train(batch);
  EXPECT_EQ(stats.soft_loss, 0.0);
  EXPECT_NEAR(stats.hard_loss, hard, 1e-5);
  EXPECT_NEAR(stats.loss, (1 - o.alpha) * hard, 1e-5);
  // A truth that does not fit the action space is refused.
  auto wrong = std::make_shared<DecisionRecord>(*batch[0]);
  wrong->truth = Action::Discrete(5);
  EXPECT_THROW(d.Train(Batch{wrong}), InvalidArgument);
  EXPECT_EQ(d.updates(), 1);
}

// Legal-move masks: the teacher's mass sits on legal moves, and the masked loss neither
// rewards nor punishes the student's illegal logits (an unmasked student would be pushed away
// from action 0 everywhere; a masked one is not: where action 0 is legal it learns it).
TEST(Distiller, MaskedLossIgnoresIllegalActionsAndRefusesAnIllegalHardLabel) {
  const auto record = [](float x, std::vector<uint8_t> legal, float p0, float p1, float p2) {
    auto r = std::make_shared<DecisionRecord>();
    r->observation = {x, 0.0f, 0.0f, 0.0f};
    r->legal = std::move(legal);
    const float probs[] = {p0, p1, p2};
    r->has_label = true;
    r->planner = PolicyOutput::FromProbabilities(probs);
    r->planner_action = r->planner.Mode();
    return r;
  };
  Distiller::Options o;
  o.learning_rate = 1e-2;
  o.alpha = 1.0;  // the soft term alone: its optimum is the teacher's distribution
  Distiller d(o, kObs4, Space::Discrete(3));
  for (int i = 0; i < 300; ++i) {
    Batch b;
    // x = 1: action 0 is illegal; the teacher prefers 2. x = -1: every action legal; the teacher
    // prefers 0.
    for (int k = 0; k < 8; ++k) b.push_back(record(1.0f, {0, 1, 1}, 0.0f, 0.2f, 0.8f));
    for (int k = 0; k < 8; ++k) b.push_back(record(-1.0f, {1, 1, 1}, 0.8f, 0.1f, 0.1f));
    const auto stats = d.Train(b);
    ASSERT_TRUE(std::isfinite(stats.loss));
  }
  SnapshotSlot slot(d.MakeSnapshot(1));
  Executor exec(slot, Space::Discrete(3));
  const float right[] = {1.0f, 0.0f, 0.0f, 0.0f}, left[] = {-1.0f, 0.0f, 0.0f, 0.0f};
  EXPECT_EQ(exec.Act(right, std::vector<uint8_t>{0, 1, 1}).action, Action::Discrete(2));
  EXPECT_EQ(exec.Act(left).action, Action::Discrete(0));
  // The soft target over the legal moves is matched: p(2) / p(1) near 4.
  const ExecutorDecision masked = exec.Act(right, std::vector<uint8_t>{0, 1, 1});
  EXPECT_NEAR(masked.output[2] - masked.output[1], std::log(4.0f), 0.5f);

  Batch bad = {record(1.0f, {0, 1, 1}, 0.9f, 0.05f, 0.05f)};  // its mode, 0, is illegal
  EXPECT_THROW(d.Train(bad), InvalidArgument);
  Batch wrong_size = {record(1.0f, {1, 1}, 0.1f, 0.1f, 0.8f)};
  EXPECT_THROW(d.Train(wrong_size), InvalidArgument);
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

// ---------------------------------------------------------------------------------------------
// Snapshot files and checkpoints
// ---------------------------------------------------------------------------------------------


std::vector<float> Weights(const Distiller& d) { return d.MakeSnapshot(/*version=*/0)->params(); }

// Bit-for-bit equality (== would equate 0.0f and -0.0f).
bool SameBits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// Labelled records for a Gaussian head on kObs4 with `dims` action components.
Batch GaussianBatch(Rng& rng, int n, int64_t dims) {
  Batch b;
  for (int i = 0; i < n; ++i) {
    auto r = std::make_shared<DecisionRecord>();
    for (int k = 0; k < 4; ++k) r->observation.push_back(static_cast<float>(rng.Uniform(-1, 1)));
    std::vector<float> mean, log_std;
    for (int64_t k = 0; k < dims; ++k) {
      mean.push_back(static_cast<float>(rng.Uniform(-1, 1)));
      log_std.push_back(static_cast<float>(rng.Uniform(-1, 0)));
    }
    r->has_label = true;
    r->planner = PolicyOutput::Gaussian(mean, log_std);
    r->planner_action = Action::Continuous(mean);
    b.push_back(r);
  }
  return b;
}

TEST(DistillerFiles, SavedSnapshotLoadsWithoutTorchAndMatchesReferenceForward) {
  for (const Space& action_space : {Space::Discrete(2), Space::Box(-2.0f, 2.0f, {2})}) {
    SCOPED_TRACE(action_space.ToString());
    Distiller::Options o;
    o.activation = action_space.is_discrete() ? Activation::kTanh : Activation::kRelu;
    Distiller d(o, kObs4, action_space);
    Rng rng(31);
    for (int i = 0; i < 10; ++i) {
      d.Train(action_space.is_discrete() ? SignBatch(rng, 16) : GaussianBatch(rng, 16, 2));
    }
    const TempFile temp("distilled.apsnap");
    const std::string& path = temp.path();
    const SnapshotFileInfo info{.env = "test",
                                .observation_space = kObs4.ToString(),
                                .action_space = action_space.ToString(),
                                .note = ""};
    ASSERT_TRUE(SaveSnapshot(*d.MakeSnapshot(/*version=*/4), info, path).ok());

    auto loaded = LoadSnapshot(path);
    ASSERT_TRUE(loaded.ok()) << loaded.status().message();
    EXPECT_EQ(loaded->snapshot->version(), 4);
    EXPECT_EQ(loaded->snapshot->spec(), d.spec());
    EXPECT_EQ(loaded->info, info);
    SnapshotSlot slot(loaded->snapshot);
    Executor exec(slot, action_space);
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

// Train N updates, save, train M more (W1); a fresh distiller loads the checkpoint and trains
// on the same M batches (W2): W1 and W2 agree bit for bit, and so do the losses and publishes.
TEST(DistillerFiles, ResumingFromACheckpointIsBitIdentical) {
  struct Case {
    Space action_space;
    int n;  // updates before the checkpoint (0: Adam has no state yet)
  };
  for (const Case& c : {Case{Space::Discrete(2), 11}, Case{Space::Discrete(2), 0},
                        Case{Space::Box(-2.0f, 2.0f, {2}), 9}}) {
    SCOPED_TRACE(c.action_space.ToString() + ", N = " + std::to_string(c.n));
    Distiller::Options o;
    o.publish_every = 4;
    o.seed = 5;
    Rng rng(32);
    auto batch = [&] {
      return c.action_space.is_discrete() ? SignBatch(rng, 16) : GaussianBatch(rng, 16, 2);
    };
    Distiller first(o, kObs4, c.action_space);
    for (int i = 0; i < c.n; ++i) first.Train(batch());
    const TempFile temp("resume.apck");
    const std::string& path = temp.path();
    ASSERT_TRUE(first.SaveCheckpoint(path).ok());
    EXPECT_FALSE(FileExists(path + ".tmp"));
    const std::vector<float> at_save = Weights(first);

    std::vector<Batch> later;
    for (int i = 0; i < 7; ++i) later.push_back(batch());
    std::vector<double> losses1, losses2;
    std::vector<int64_t> versions1, versions2;
    for (const Batch& b : later) {
      const auto stats = first.Train(b);
      losses1.push_back(stats.loss);
      if (stats.snapshot) versions1.push_back(stats.snapshot->version());
    }

    Distiller::Options fresh_options = o;
    fresh_options.seed = 99;  // a different initialisation, overwritten by the checkpoint
    Distiller second(fresh_options, kObs4, c.action_space);
    const Status loaded = second.LoadCheckpoint(path);
    ASSERT_TRUE(loaded.ok()) << loaded.message();
    EXPECT_EQ(second.updates(), c.n);
    EXPECT_EQ(second.published(), c.n / o.publish_every);
    EXPECT_TRUE(SameBits(Weights(second), at_save));
    for (const Batch& b : later) {
      const auto stats = second.Train(b);
      losses2.push_back(stats.loss);
      if (stats.snapshot) versions2.push_back(stats.snapshot->version());
    }
    EXPECT_TRUE(SameBits(Weights(second), Weights(first)));
    EXPECT_EQ(losses2, losses1);
    EXPECT_EQ(versions2, versions1);
    EXPECT_EQ(second.updates(), first.updates());
    EXPECT_EQ(second.published(), first.published());
  }
}

TEST(DistillerFiles, CheckpointOfAnotherSpecIsRejectedAndChangesNothing) {
  Distiller::Options o;
  Distiller saver(o, kObs4, Space::Discrete(2));
  Rng rng(33);
  saver.Train(SignBatch(rng, 8));
  const TempFile temp("other_spec.apck");
  const std::string& path = temp.path();
  ASSERT_TRUE(saver.SaveCheckpoint(path).ok());

  Distiller::Options narrow = o;
  narrow.hidden = {32};
  Distiller other(narrow, kObs4, Space::Discrete(2));
  const std::vector<float> before = Weights(other);
  const Status s = other.LoadCheckpoint(path);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("4-64-64-2 tanh categorical"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("4-32-2 tanh categorical"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find(path), std::string::npos) << s.message();
  EXPECT_TRUE(SameBits(Weights(other), before));
  EXPECT_EQ(other.updates(), 0);

  Distiller relu_student(
      [&] {
        Distiller::Options relu = o;
        relu.activation = Activation::kRelu;
        return relu;
      }(),
      kObs4, Space::Discrete(2));
  EXPECT_EQ(relu_student.LoadCheckpoint(path).code(), StatusCode::kInvalidArgument);
  Distiller three_actions(o, kObs4, Space::Discrete(3));
  EXPECT_EQ(three_actions.LoadCheckpoint(path).code(), StatusCode::kInvalidArgument);
  Distiller gaussian(o, kObs4, Space::Box(-1.0f, 1.0f, {2}));
  EXPECT_EQ(gaussian.LoadCheckpoint(path).code(), StatusCode::kInvalidArgument);
}

TEST(DistillerFiles, DamagedMissingOrForeignCheckpointsAreErrorsAndChangeNothing) {
  Distiller::Options o;
  o.hidden = {8};
  Distiller saver(o, kObs4, Space::Discrete(2));
  Rng rng(34);
  for (int i = 0; i < 3; ++i) saver.Train(SignBatch(rng, 8));
  const TempFile good_temp("good.apck");
  const std::string& good = good_temp.path();
  ASSERT_TRUE(saver.SaveCheckpoint(good).ok());
  const std::vector<uint8_t> file = ReadBytes(good);
  ASSERT_GT(file.size(), 24u);

  Distiller d(o, kObs4, Space::Discrete(2));
  d.Train(SignBatch(rng, 8));
  const std::vector<float> before = Weights(d);
  auto unchanged = [&] { return SameBits(Weights(d), before) && d.updates() == 1; };

  const Status missing = d.LoadCheckpoint(TempFile("missing.apck").path());
  EXPECT_EQ(missing.code(), StatusCode::kNotFound);

  // A snapshot file is not a checkpoint.
  const TempFile snapshot_temp("snapshot.apsnap");
  const std::string& snapshot_path = snapshot_temp.path();
  ASSERT_TRUE(SaveSnapshot(*saver.MakeSnapshot(1), {}, snapshot_path).ok());
  const Status foreign = d.LoadCheckpoint(snapshot_path);
  EXPECT_EQ(foreign.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(foreign.message().find("not a distiller checkpoint"), std::string::npos)
      << foreign.message();

  const TempFile temp("damaged.apck");
  const std::string& path = temp.path();
  // Truncations: every length through the header, then spread over the archive.
  for (size_t size = 0; size < file.size(); size += size < 64 ? 1 : 97) {
    WriteBytes(path, std::span<const uint8_t>(file).first(size));
    EXPECT_FALSE(d.LoadCheckpoint(path).ok()) << "truncated to " << size;
  }
  // Flips: every header byte, then spread over the archive, and the last byte.
  for (size_t i = 0; i < file.size(); i += i < 24 ? 1 : 61) {
    std::vector<uint8_t> damaged = file;
    damaged[i] ^= static_cast<uint8_t>(1u << (i % 8));
    WriteBytes(path, damaged);
    EXPECT_FALSE(d.LoadCheckpoint(path).ok()) << "byte " << i;
  }
  std::vector<uint8_t> last = file;
  last.back() ^= 0xFF;
  WriteBytes(path, last);
  EXPECT_NE(d.LoadCheckpoint(path).message().find("checksum mismatch"), std::string::npos);
  std::vector<uint8_t> version2 = file;
  version2[4] = 2;
  WriteBytes(path, version2);
  EXPECT_NE(d.LoadCheckpoint(path).message().find("format version 2"), std::string::npos);

  // An archive LibTorch cannot read, behind a valid header and checksum.
  std::vector<uint8_t> garbage(file.begin(), file.begin() + 24);
  for (int i = 0; i < 1000; ++i) garbage.push_back(static_cast<uint8_t>(rng.Next()));
  const uint64_t length = garbage.size() - 24;
  for (int i = 0; i < 8; ++i)
    garbage[8 + static_cast<size_t>(i)] = static_cast<uint8_t>(length >> (8 * i));
  const uint32_t crc = Crc32c(std::span<const uint8_t>(garbage).subspan(24));
  for (int i = 0; i < 4; ++i)
    garbage[16 + static_cast<size_t>(i)] = static_cast<uint8_t>(crc >> (8 * i));
  WriteBytes(path, garbage);
  const Status unreadable = d.LoadCheckpoint(path);
  EXPECT_EQ(unreadable.code(), StatusCode::kDataLoss);
  EXPECT_NE(unreadable.message().find("LibTorch cannot read"), std::string::npos)
      << unreadable.message();

  EXPECT_TRUE(unchanged());
  ASSERT_TRUE(d.LoadCheckpoint(good).ok());
  EXPECT_TRUE(SameBits(Weights(d), Weights(saver)));
  EXPECT_EQ(d.updates(), 3);
}

TEST(DistillerFiles, SaveCheckpointReportsAnUnwritablePath) {
  Distiller d({}, kObs4, Space::Discrete(2));
  const Status s = d.SaveCheckpoint(::testing::TempDir() + "no_such_directory_4712/c.apck");
  EXPECT_EQ(s.code(), StatusCode::kUnavailable);
}

}  // namespace
}  // namespace apprentice
