// The library behind `apprentice inspect`, `eval` and `distill` (runtime/offline.h), on episode
// logs written here with EpisodeLogWriter: CartPole episodes labelled by the LQR planner.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <string>
#include <vector>

#include "core/rng.h"
#include "env/registry.h"
#include "planner/registry.h"
#include "replay/episode_log.h"
#include "runtime/offline.h"
#include "tests/temp_files.h"

namespace apprentice {
namespace {

namespace fs = std::filesystem;


// What WriteCartPoleLog wrote, to compare with what the readers report.
struct Written {
  int64_t records = 0, labelled = 0, by_planner = 0, episodes = 0, complete = 0;
  std::vector<double> complete_returns;
};

// Writes `steps` CartPole records to `dir`: the LQR planner labels every `label_every`-th step;
// it acts with probability `beta`, a uniformly random action otherwise. The last episode is
// left incomplete unless it happens to end on the last step. executor_version = step / 100.
Written WriteCartPoleLog(const std::string& dir, int64_t steps, uint64_t seed, double beta,
                         int64_t label_every = 1, int64_t segment_bytes = 64 << 10) {
  std::unique_ptr<Env> env = MakeEnv("cartpole").ValueOrThrow();
  std::unique_ptr<Planner> planner = MakePlanner("lqr", {}).ValueOrThrow();
  EpisodeLogWriter::Options options;
  options.directory = dir;
  options.segment_bytes = segment_bytes;
  EpisodeLogWriter writer =
      EpisodeLogWriter::Open(options, {env->name(), env->observation_space().ToString(),
                                       env->action_space().ToString(), "offline_test"})
          .ValueOrThrow();
  Written w;
  Rng rng(seed);
  auto first = env->Reset(rng.Next());
  std::vector<float> obs(first.begin(), first.end());
  int64_t episode = 0, step = 0;
  double ret = 0.0;
  for (int64_t s = 0; s < steps; ++s) {
    DecisionRecord r;
    r.episode = episode;
    r.step = step;
    r.observation = obs;
    PlanRequest request;
    request.observation = obs;
    request.env = env.get();
    const PlanDecision d = planner->Plan(request).ValueOrThrow();
    if (s % label_every == 0) {
      r.has_label = true;
      r.planner = d.distribution;
      r.planner_action = d.action;
      ++w.labelled;
    }
    r.executor_action = Action::Discrete(static_cast<int64_t>(rng.Below(2)));
    r.executor_version = s / 100;
    const bool planner_acts = rng.Uniform() < beta;
    r.acted_by = planner_acts ? Actor::kPlanner : Actor::kExecutor;
    w.by_planner += planner_acts;
    const StepResult result = env->Step(planner_acts ? d.action : r.executor_action);
    r.reward = static_cast<float>(result.reward);
    r.terminated = result.terminated;
    r.truncated = result.truncated;
    EXPECT_TRUE(writer.Append(r).ok());
    ++w.records;
    ret += result.reward;
    ++step;
    if (result.done()) {
      w.complete_returns.push_back(ret);
      ++episode;
      step = 0;
      ret = 0.0;
      auto next = env->Reset(rng.Next());
      obs.assign(next.begin(), next.end());
    } else {
      obs.assign(result.observation.begin(), result.observation.end());
    }
  }
  EXPECT_TRUE(writer.Close().ok());
  w.complete = static_cast<int64_t>(w.complete_returns.size());
  w.episodes = episode + (step > 0 ? 1 : 0);
  return w;
}

// A snapshot of the given shape with small deterministic weights.
std::shared_ptr<const Snapshot> MakeSnapshot(int64_t input, int64_t actions, HeadKind head) {
  MlpSpec spec;
  spec.input = input;
  spec.hidden = {8};
  spec.actions = actions;
  spec.head = head;
  std::vector<float> params(static_cast<size_t>(spec.ParameterCount()));
  Rng rng(7);
  for (float& p : params) p = static_cast<float>(rng.Uniform(-0.5, 0.5));
  return Snapshot::Create(spec, params, /*version=*/3).ValueOrThrow();
}

// ---------------------------------------------------------------------------------------------

TEST(OfflineInspect, CountsRecordsEpisodesReturnsAndVersions) {
  TempDir dir;
  const Written w = WriteCartPoleLog(dir / "logs", /*steps=*/700, /*seed=*/1, /*beta=*/0.3,
                                     /*label_every=*/2);
  const LogInspection in = InspectEpisodeLog(dir / "logs").ValueOrThrow();
  const EpisodeLogSummary& s = in.summary;
  EXPECT_EQ(s.records, w.records);
  EXPECT_EQ(s.labelled, w.labelled);
  EXPECT_EQ(s.acted_by_planner, w.by_planner);
  EXPECT_EQ(s.acted_by_executor, w.records - w.by_planner);
  EXPECT_EQ(static_cast<int64_t>(s.episodes.size()), w.episodes);
  EXPECT_EQ(s.complete_episodes(), w.complete);
  EXPECT_GT(s.segments.size(), 1u);  // rotation happened: the count spans segments
  EXPECT_TRUE(s.damage.empty());
  ASSERT_TRUE(in.has_executor_versions);
  EXPECT_EQ(in.executor_version_min, 0);
  EXPECT_EQ(in.executor_version_max, 6);
  ASSERT_GT(w.complete, 0);
  EXPECT_DOUBLE_EQ(in.min_complete_return(),
                   *std::min_element(w.complete_returns.begin(), w.complete_returns.end()));
  EXPECT_DOUBLE_EQ(in.max_complete_return(),
                   *std::max_element(w.complete_returns.begin(), w.complete_returns.end()));
  int64_t labelled = 0;
  for (int64_t n : in.episode_labelled) labelled += n;
  EXPECT_EQ(labelled, w.labelled);

  const std::string json = in.ToJson().Dump(-1);
  for (const char* key :
       {"\"records\":", "\"labelled\":", "\"executor_version_min\":", "\"executor_version_max\":",
        "\"complete_episodes\":", "\"incomplete_episodes\":", "\"min_complete_return\":",
        "\"episode_list\":", "\"damage\":"}) {
    EXPECT_NE(json.find(key), std::string::npos) << key;
  }
}

TEST(OfflineInspect, EmptyLogHasNoVersionsAndNullReturns) {
  TempDir dir;
  fs::create_directories(dir / "logs");
  const LogInspection in = InspectEpisodeLog(dir / "logs").ValueOrThrow();
  EXPECT_EQ(in.summary.records, 0);
  EXPECT_FALSE(in.has_executor_versions);
  EXPECT_TRUE(std::isnan(in.min_complete_return()));
  const std::string json = in.ToJson().Dump(-1);
  EXPECT_NE(json.find("\"executor_version_min\":null"), std::string::npos) << json;
  EXPECT_NE(json.find("\"mean_complete_return\":null"), std::string::npos) << json;
}

TEST(OfflineInspect, MissingPathIsNotFound) {
  TempDir dir;
  const Result<LogInspection> in = InspectEpisodeLog(dir / "no-such-log");
  ASSERT_FALSE(in.ok());
  EXPECT_EQ(in.status().code(), StatusCode::kNotFound);
}

TEST(OfflineInspect, DamageIsReportedAndIntactRecordsKept) {
  TempDir dir;
  const Written w = WriteCartPoleLog(dir / "logs", 300, 2, 1.0, 1, /*segment_bytes=*/1 << 20);
  const std::string segment = dir / "logs/segment-000000.alog";
  {
    std::fstream f(segment, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(fs::file_size(segment) / 2));
    f.write("\xff\xfe\xfd\xfc", 4);
  }
  const LogInspection in = InspectEpisodeLog(dir / "logs").ValueOrThrow();
  ASSERT_EQ(in.summary.damage.size(), 1u);
  EXPECT_EQ(in.summary.damage[0].file, segment);
  EXPECT_GT(in.summary.damage[0].bytes, 0);
  EXPECT_GE(in.summary.records, w.records - 2);  // the damaged record(s) only
  EXPECT_LT(in.summary.records, w.records);

  // Evaluation goes on over the intact records and reports the same damage.
  const LogEvaluation ev =
      EvaluateOnLog(dir / "logs", MakeSnapshot(4, 2, HeadKind::kCategorical)).ValueOrThrow();
  EXPECT_EQ(ev.records, in.summary.records);
  EXPECT_EQ(ev.damage.size(), 1u);
}

// ---------------------------------------------------------------------------------------------

TEST(OfflineScore, CategoricalKlIsZeroForEqualAndMatchesTheFormula) {
  const float a[] = {0.3f, -1.0f, 2.0f};
  EXPECT_NEAR(CategoricalKl(a, a), 0.0, 1e-9);
  const float shifted[] = {10.3f, 9.0f, 12.0f};  // the same distribution
  EXPECT_NEAR(CategoricalKl(a, shifted), 0.0, 1e-6);
  const float p[] = {0.0f, 0.0f};                      // (0.5, 0.5)
  const float q[] = {std::log(0.9f), std::log(0.1f)};  // (0.9, 0.1)
  const double want = 0.5 * std::log(0.5 / 0.9) + 0.5 * std::log(0.5 / 0.1);
  EXPECT_NEAR(CategoricalKl(p, q), want, 1e-6);
  const float certain[] = {kMinLogit, 0.0f};
  const float extreme[] = {0.0f, -200.0f};  // q(1) underflows in float; the log stays finite
  EXPECT_TRUE(std::isfinite(CategoricalKl(certain, extreme)));
  EXPECT_GT(CategoricalKl(certain, extreme), 100.0);
}

TEST(OfflineScore, GaussianKlMatchesTheFormula) {
  const float m1[] = {0.0f}, s1[] = {0.0f};            // N(0, 1)
  const float m2[] = {1.0f}, s2[] = {std::log(2.0f)};  // N(1, 4)
  const double want = std::log(2.0) + (1.0 + 1.0) / (2.0 * 4.0) - 0.5;
  EXPECT_NEAR(GaussianKl(m1, s1, m2, s2), want, 1e-6);
  EXPECT_NEAR(GaussianKl(m2, s2, m2, s2), 0.0, 1e-9);
}

TEST(OfflineScore, SnapshotThatDoesNotFitTheLogIsRefusedWithBothSizes) {
  TempDir dir;
  WriteCartPoleLog(dir / "logs", 50, 3, 1.0);
  const DecisionRecord first = FirstLabelledRecord(dir / "logs").ValueOrThrow().value();

  PolicyScorer wrong_input(MakeSnapshot(3, 2, HeadKind::kCategorical));
  const Status s1 = wrong_input.CheckFits(first);
  EXPECT_EQ(s1.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s1.message().find("observations of 3 floats, but the log's have 4"), std::string::npos)
      << s1.message();

  PolicyScorer wrong_actions(MakeSnapshot(4, 3, HeadKind::kCategorical));
  const Status s2 = wrong_actions.CheckFits(first);
  EXPECT_NE(s2.message().find("categorical head over 3 actions"), std::string::npos)
      << s2.message();
  EXPECT_NE(s2.message().find("2 logits"), std::string::npos) << s2.message();

  PolicyScorer gaussian(MakeSnapshot(4, 2, HeadKind::kGaussian));
  EXPECT_FALSE(gaussian.CheckFits(first).ok());

  const Result<LogEvaluation> ev =
      EvaluateOnLog(dir / "logs", MakeSnapshot(3, 2, HeadKind::kCategorical));
  ASSERT_FALSE(ev.ok());
  EXPECT_EQ(ev.status().code(), StatusCode::kInvalidArgument);
}

TEST(OfflineScore, GaussianHeadsGetAgreementWithinTheToleranceKlAndRmse) {
  auto r = std::make_shared<DecisionRecord>();
  r->observation = {0.1f, 0.2f, 0.3f};
  r->has_label = true;
  const float mean[] = {0.5f}, log_std[] = {-1.0f};
  r->planner = PolicyOutput::Gaussian(mean, log_std);
  r->planner_action = Action::Continuous(mean);
  const std::vector<std::shared_ptr<const DecisionRecord>> records = {r, r};
  const auto snapshot = MakeSnapshot(3, 1, HeadKind::kGaussian);
  const PolicyScore s = ScoreRecords(records, snapshot).ValueOrThrow();
  EXPECT_EQ(s.decisions, 2);
  // Without an action space the head's Box is unbounded: the tolerance is absolute (0.05).
  PolicyScorer scorer(snapshot);
  const float policy_mean = scorer.Act(r->observation).values()[0];
  EXPECT_EQ(s.agreement(), std::abs(policy_mean - 0.5f) <= 0.05f ? 1.0 : 0.0);
  // Within a Box(-2, 2) the tolerance is 5 % of the range, 0.2.
  const Space box = Space::Box(-2.0f, 2.0f, {1});
  const PolicyScore in_box = ScoreRecords(records, snapshot, &box).ValueOrThrow();
  EXPECT_EQ(in_box.agreement(),
            std::abs(std::clamp(policy_mean, -2.0f, 2.0f) - 0.5f) <= 0.2f ? 1.0 : 0.0);
  EXPECT_TRUE(std::isfinite(s.mean_kl()));
  EXPECT_GE(s.mean_kl(), 0.0);
  EXPECT_TRUE(std::isfinite(s.action_rmse()));
}

TEST(OfflineRollout, ChecksTheEnvAndIsDeterministic) {
  const auto snapshot = MakeSnapshot(4, 2, HeadKind::kCategorical);
  const RolloutResult a = Rollout(snapshot, "cartpole", 3, /*seed=*/5).ValueOrThrow();
  const RolloutResult b = Rollout(snapshot, "cartpole", 3, /*seed=*/5).ValueOrThrow();
  ASSERT_EQ(a.returns.size(), 3u);
  EXPECT_EQ(a.returns, b.returns);
  for (double r : a.returns) {  // CartPole pays 1 per step, for 1 to 500 steps
    EXPECT_EQ(r, std::floor(r));
    EXPECT_GE(r, 1.0);
    EXPECT_LE(r, 500.0);
  }
  EXPECT_DOUBLE_EQ(a.mean(), (a.returns[0] + a.returns[1] + a.returns[2]) / 3.0);
  EXPECT_EQ(a.min(), *std::min_element(a.returns.begin(), a.returns.end()));
  EXPECT_EQ(a.max(), *std::max_element(a.returns.begin(), a.returns.end()));
  // Another seed, other episodes (the untrained policy's returns depend on the start).
  const RolloutResult c = Rollout(snapshot, "cartpole", 3, /*seed=*/6).ValueOrThrow();
  EXPECT_NE(a.returns, c.returns);

  const Result<RolloutResult> pendulum = Rollout(snapshot, "pendulum", 1, 1);
  ASSERT_FALSE(pendulum.ok());
  EXPECT_EQ(pendulum.status().code(), StatusCode::kInvalidArgument);
  const Result<RolloutResult> mars = Rollout(snapshot, "mars", 1, 1);
  ASSERT_FALSE(mars.ok());
  EXPECT_EQ(mars.status().code(), StatusCode::kNotFound);
}

// ---------------------------------------------------------------------------------------------

TEST(OfflineDistill, SplitIsByEpisodeDisjointAndDeterministic) {
  std::vector<std::shared_ptr<const DecisionRecord>> records;
  for (int64_t e = 0; e < 20; ++e) {
    for (int64_t s = 0; s < 5; ++s) {
      auto r = std::make_shared<DecisionRecord>();
      r->episode = e;
      r->step = s;
      records.push_back(r);
    }
  }
  const EpisodeSplit a = SplitByEpisode(records, 0.2, 1);
  const EpisodeSplit b = SplitByEpisode(records, 0.2, 1);
  EXPECT_EQ(a.holdout_episodes, b.holdout_episodes);
  EXPECT_EQ(a.holdout_episodes.size(), 4u);
  EXPECT_EQ(a.train_episodes.size(), 16u);
  EXPECT_EQ(a.holdout.size(), 20u);
  EXPECT_EQ(a.train.size(), 80u);
  const std::set<int64_t> held(a.holdout_episodes.begin(), a.holdout_episodes.end());
  for (const auto& r : a.train) EXPECT_FALSE(held.contains(r->episode));
  for (const auto& r : a.holdout) EXPECT_TRUE(held.contains(r->episode));

  bool differs = false;
  for (uint64_t seed = 2; seed < 10 && !differs; ++seed) {
    differs = SplitByEpisode(records, 0.2, seed).holdout_episodes != a.holdout_episodes;
  }
  EXPECT_TRUE(differs);
  EXPECT_TRUE(SplitByEpisode(records, 0.0, 1).holdout.empty());
  EXPECT_EQ(SplitByEpisode(records, 0.01, 1).holdout_episodes.size(), 1u);  // at least one
  EXPECT_EQ(SplitByEpisode(records, 0.99, 1).train_episodes.size(), 1u);    // never all
}

TEST(OfflineDistill, ReadLabelledLogKeepsLabelsAndInfersSpaces) {
  TempDir dir;
  const Written w = WriteCartPoleLog(dir / "logs", 200, 4, 1.0, /*label_every=*/3);
  const LabelledLog log = ReadLabelledLog(dir / "logs").ValueOrThrow();
  EXPECT_EQ(log.records_read, w.records);
  EXPECT_EQ(static_cast<int64_t>(log.records.size()), w.labelled);
  EXPECT_EQ(log.observation_space.flat_size(), 4);
  EXPECT_EQ(log.action_space, Space::Discrete(2));
  EXPECT_EQ(log.metadata.env, "cartpole");
  EXPECT_EQ(log.metadata.run, "offline_test");
}

TEST(OfflineDistill, LogWithoutLabelsOrWithOneEpisodeIsRefused) {
  TempDir dir;
  WriteCartPoleLog(dir / "unlabelled", 20, 5, 1.0, /*label_every=*/1000);  // labels step 0 only
  const LabelledLog one = ReadLabelledLog(dir / "unlabelled").ValueOrThrow();
  ASSERT_EQ(one.records.size(), 1u);
  OfflineDistillOptions options;
  options.updates = 1;
  const Result<OfflineDistillResult> r = DistillOffline(one, options);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("at least 2"), std::string::npos) << r.status().message();
  options.holdout = 0.0;
  EXPECT_TRUE(DistillOffline(one, options).ok());

  fs::create_directories(dir / "empty");
  const Result<LabelledLog> empty = ReadLabelledLog(dir / "empty");
  ASSERT_FALSE(empty.ok());
  EXPECT_NE(empty.status().message().find("no labelled records"), std::string::npos);
}

// The target of `apprentice distill` on a CartPole log of ~3000 LQR labels with its defaults:
// >= 95 % agreement on held-out episodes, and a return >= 475 when the result acts alone.
TEST(OfflineDistill, LearnsLqrFromALogAndGeneralisesToHeldOutEpisodes) {
  TempDir dir;
  WriteCartPoleLog(dir / "logs", 3000, 6, /*beta=*/0.8);
  const LabelledLog log = ReadLabelledLog(dir / "logs").ValueOrThrow();
  OfflineDistillOptions options;  // the command's defaults
  int progress_calls = 0;
  const OfflineDistillResult r = DistillOffline(log, options, [&](const OfflineDistillProgress& p) {
                                   ++progress_calls;
                                   EXPECT_LE(p.update, p.total_updates);
                                 }).ValueOrThrow();
  EXPECT_GE(progress_calls, 1);
  EXPECT_FALSE(r.split.holdout_episodes.empty());
  EXPECT_EQ(r.updates, options.epochs * r.updates_per_epoch);
  EXPECT_EQ(r.split.train.size() + r.split.holdout.size(), log.records.size());
  EXPECT_GE(r.holdout.agreement(), 0.95) << "held-out agreement";
  EXPECT_LT(r.holdout.mean_kl(), 0.1);
  const RolloutResult rollout = Rollout(r.snapshot, "cartpole", 10, 1).ValueOrThrow();
  EXPECT_GE(rollout.mean(), 475.0);

  // The evaluation of the log with the result agrees with the held-out and training scores.
  const LogEvaluation ev = EvaluateOnLog(dir / "logs", r.snapshot).ValueOrThrow();
  EXPECT_EQ(ev.overall.decisions, r.train.decisions + r.holdout.decisions);
  EXPECT_EQ(ev.overall.agreed, r.train.agreed + r.holdout.agreed);
  int64_t decisions = 0;
  for (const EpisodeScore& e : ev.episodes) decisions += e.score.decisions;
  EXPECT_EQ(decisions, ev.overall.decisions);
}

TEST(OfflineDistill, SameSeedGivesTheSameWeights) {
  TempDir dir;
  WriteCartPoleLog(dir / "logs", 600, 7, 1.0);
  const LabelledLog log = ReadLabelledLog(dir / "logs").ValueOrThrow();
  OfflineDistillOptions options;
  options.updates = 30;
  const OfflineDistillResult a = DistillOffline(log, options).ValueOrThrow();
  const OfflineDistillResult b = DistillOffline(log, options).ValueOrThrow();
  EXPECT_EQ(a.updates, 30);
  EXPECT_EQ(a.snapshot->params(), b.snapshot->params());
  options.seed = 2;
  const OfflineDistillResult c = DistillOffline(log, options).ValueOrThrow();
  EXPECT_NE(a.snapshot->params(), c.snapshot->params());
}

TEST(OfflineDistill, TrainsGaussianHeadsFromContinuousLabels) {
  // A continuous teacher: action = clip(-obs[0], -2, 2), in four episodes.
  LabelledLog log;
  Rng rng(3);
  for (int64_t i = 0; i < 400; ++i) {
    auto r = std::make_shared<DecisionRecord>();
    r->episode = i / 100;
    r->step = i % 100;
    for (int k = 0; k < 3; ++k) r->observation.push_back(static_cast<float>(rng.Uniform(-1, 1)));
    r->has_label = true;
    const float mean[] = {-r->observation[0]}, log_std[] = {-1.0f};
    r->planner = PolicyOutput::Gaussian(mean, log_std);
    r->planner_action = Action::Continuous(mean);
    log.records.push_back(r);
  }
  log.observation_space = Space::Box(-1.0f, 1.0f, {3});
  log.action_space = Space::Box(-2.0f, 2.0f, {1});
  OfflineDistillOptions options;
  options.updates = 300;
  const OfflineDistillResult r = DistillOffline(log, options).ValueOrThrow();
  EXPECT_EQ(r.snapshot->spec().head, HeadKind::kGaussian);
  EXPECT_EQ(r.split.holdout_episodes.size(), 1u);
  EXPECT_LT(r.holdout.action_rmse(), 0.2);
  EXPECT_GT(r.holdout.agreement(), 0.5);  // within 0.2 (5 % of the Box's range) of the label
  EXPECT_TRUE(std::isfinite(r.holdout.mean_kl()));
  // A Gaussian snapshot rolls out in a continuous env of the same shape.
  EXPECT_TRUE(Rollout(r.snapshot, "pendulum", 1, 1).ok());
}

}  // namespace
}  // namespace apprentice
