// The learner: the training step both loops share (Learning: rate limit, prioritised replay with
// importance weights and priority updates) and the trainer actor (LocalLearner: a thread that
// sleeps in the rate limiter, publishes snapshots, saves its files and reports failures).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "agent/agent.h"
#include "core/rng.h"
#include "executor/executor.h"
#include "learner/learning.h"
#include "learner/local_learner.h"
#include "tests/temp_files.h"
#include "tests/wait_until.h"

namespace apprentice {
namespace {

using namespace std::chrono_literals;

const Space kObs = Space::Box(-1.0f, 1.0f, {4});
const Space kActions = Space::Discrete(2);

// The teacher prefers action 1 when obs[0] > 0.
std::shared_ptr<const DecisionRecord> Labelled(Rng& rng, int64_t step = 0) {
  auto r = std::make_shared<DecisionRecord>();
  r->step = step;
  for (int i = 0; i < 4; ++i) r->observation.push_back(static_cast<float>(rng.Uniform(-1, 1)));
  const bool right = r->observation[0] > 0;
  const float probs[] = {right ? 0.05f : 0.95f, right ? 0.95f : 0.05f};
  r->has_label = true;
  r->planner = PolicyOutput::FromProbabilities(probs);
  r->planner_action = Action::Discrete(right ? 1 : 0);
  r->executor_action = Action::Discrete(0);
  return r;
}

Learning::Options Small() {
  Learning::Options o;
  o.min_replay = 16;
  o.updates_per_label = 2.0;
  o.distiller.hidden = {16};
  o.distiller.batch_size = 8;
  o.distiller.publish_every = 5;
  o.seed = 3;
  return o;
}


// ---------------------------------------------------------------------------------------------
// Learning: the shared training step
// ---------------------------------------------------------------------------------------------

TEST(Learning, TrainsAtTheRateLimitOnceMinReplayLabelsAreIn) {
  Learning learning(Small(), kObs, kActions);
  Rng rng(1);
  auto train_all = [&] {
    int n = 0;
    while (learning.TryTrainStep()) ++n;
    return n;
  };
  for (int i = 0; i < 15; ++i) learning.Add(Labelled(rng));
  EXPECT_EQ(train_all(), 0);  // below min_replay
  learning.Add(Labelled(rng));
  EXPECT_EQ(train_all(), 1);  // at min_replay: one batch of slack
  for (int i = 0; i < 10; ++i) learning.Add(Labelled(rng));
  EXPECT_EQ(train_all(), 20);  // two updates per label past min_replay
  EXPECT_EQ(learning.distiller().updates(), 21);
}

TEST(Learning, ZeroUpdatesPerLabelNeverTrains) {
  Learning::Options o = Small();
  o.updates_per_label = 0.0;
  Learning learning(o, kObs, kActions);
  Rng rng(1);
  for (int i = 0; i < 100; ++i) learning.Add(Labelled(rng));
  EXPECT_FALSE(learning.TryTrainStep());
  EXPECT_EQ(learning.distiller().updates(), 0);
}

TEST(Learning, RestoredRecordsFillTheReplayButEarnNoUpdates) {
  Learning learning(Small(), kObs, kActions);
  Rng rng(1);
  std::vector<std::shared_ptr<const DecisionRecord>> old;
  for (int i = 0; i < 100; ++i) old.push_back(Labelled(rng));
  ASSERT_TRUE(learning.Restore("", old).ok());
  EXPECT_EQ(learning.replay().size(), 100);
  int n = 0;
  while (learning.TryTrainStep()) ++n;
  EXPECT_EQ(n, 1);  // the slack batch only
  learning.Add(Labelled(rng));
  while (learning.TryTrainStep()) ++n;
  EXPECT_EQ(n, 3);
}

// Prioritised replay: records the student gets wrong keep high priorities and are drawn more
// often than the ones it has learned; every step updates the priorities of what it drew.
// A late ground-truth label: the record comes again with its decision id and replaces the one
// in the replay (no new insert, no new updates); once evicted, the id is a new record again.
TEST(Learning, ARecordWithTheIdOfOneInTheReplayReplacesItInPlace) {
  Learning::Options o = Small();
  o.replay_capacity = 20;
  Learning learning(o, kObs, kActions);
  Rng rng(9);
  std::vector<std::shared_ptr<const DecisionRecord>> originals;
  for (uint64_t id = 1; id <= 20; ++id) {
    auto r = std::make_shared<DecisionRecord>(*Labelled(rng));
    r->decision_id = id;
    originals.push_back(r);
    learning.Add(r);
  }
  auto corrected = std::make_shared<DecisionRecord>(*originals[4]);  // decision 5
  corrected->has_truth = true;
  corrected->truth = Action::Discrete(1 - corrected->planner_action.index());
  learning.Add(corrected);
  EXPECT_EQ(learning.replaced(), 1);
  EXPECT_EQ(learning.replay().inserted(), 20);
  EXPECT_EQ(learning.replay().size(), 20);
  std::vector<std::shared_ptr<const DecisionRecord>> drawn;
  ASSERT_TRUE(learning.replay().SampleUniform(2000, rng, drawn));
  int fives = 0;
  for (const auto& r : drawn) {
    if (r->decision_id != 5) continue;
    ++fives;
    EXPECT_TRUE(r->has_truth);
  }
  EXPECT_GT(fives, 0);
  // Decision 1 is evicted by a 21st record; its correction is then a record of its own.
  auto next = std::make_shared<DecisionRecord>(*Labelled(rng));
  next->decision_id = 21;
  learning.Add(next);
  auto late = std::make_shared<DecisionRecord>(*originals[0]);
  late->has_truth = true;
  late->truth = Action::Discrete(0);
  learning.Add(late);
  EXPECT_EQ(learning.replaced(), 1);
  EXPECT_EQ(learning.replay().inserted(), 22);
  // A truth found later without the planner's label (from the service's journal) keeps the
  // stored label and adds the truth.
  DecisionRecord truth_only;
  truth_only.decision_id = 10;
  truth_only.observation = originals[9]->observation;
  truth_only.has_truth = true;
  truth_only.truth = Action::Discrete(1);
  truth_only.reward = 3.0f;
  learning.Add(std::make_shared<const DecisionRecord>(truth_only));
  EXPECT_EQ(learning.replaced(), 2);
  ASSERT_TRUE(learning.replay().SampleUniform(4000, rng, drawn));
  int tens = 0;
  for (const auto& r : drawn) {
    if (r->decision_id != 10) continue;
    ++tens;
    EXPECT_TRUE(r->has_label);
    EXPECT_EQ(r->planner.logits, originals[9]->planner.logits);
    EXPECT_TRUE(r->has_truth);
    EXPECT_EQ(r->truth, Action::Discrete(1));
    EXPECT_EQ(r->reward, 3.0f);
  }
  EXPECT_GT(tens, 0);
}

TEST(Learning, PrioritisedReplayUpdatesPrioritiesFromTheLossAndWeightsTheBatch) {
  Learning::Options o = Small();
  o.sampler = "prioritized";
  o.sampler_options = {{"alpha", "1"}, {"beta", "1"}};
  o.replay_capacity = 64;
  o.min_replay = 16;
  o.updates_per_label = 1000;
  Learning learning(o, kObs, kActions);
  Rng rng(5);
  // 32 consistent records (obs[0] > 0 -> 1) and 32 that contradict each other at one point.
  for (int i = 0; i < 32; ++i) learning.Add(Labelled(rng, /*step=*/0));
  for (int i = 0; i < 32; ++i) {
    auto r = std::make_shared<DecisionRecord>();
    r->step = 1;
    r->observation = {0.5f, 0.5f, 0.5f, 0.5f};
    const float probs[] = {i % 2 ? 0.99f : 0.01f, i % 2 ? 0.01f : 0.99f};
    r->has_label = true;
    r->planner = PolicyOutput::FromProbabilities(probs);
    r->planner_action = Action::Discrete(i % 2 ? 0 : 1);
    r->executor_action = Action::Discrete(0);
    learning.Add(r);
  }
  for (int i = 0; i < 300; ++i) ASSERT_TRUE(learning.TryTrainStep());
  EXPECT_EQ(learning.priority_updates(), 300 * o.distiller.batch_size);
  Rng draw(9);
  ReplayBuffer::SampleBatch batch;
  ASSERT_TRUE(learning.replay().Sample(4000, draw, batch));
  std::map<int64_t, int> drawn;
  float min_weight_hard = 1.0f, min_weight_easy = 1.0f;
  for (size_t i = 0; i < batch.size(); ++i) {
    ++drawn[batch.records[i]->step];
    float& w = batch.records[i]->step == 1 ? min_weight_hard : min_weight_easy;
    w = std::min(w, batch.weights[i]);
  }
  // The contradicting half can never be learned: it keeps most of the probability mass.
  EXPECT_GT(drawn[1], 2 * drawn[0]);
  // ... and its draws are weighted down to correct the bias.
  EXPECT_LT(min_weight_hard, min_weight_easy);
}

// ---------------------------------------------------------------------------------------------
// LocalLearner: the trainer actor
// ---------------------------------------------------------------------------------------------

LocalLearner::Options LearnerOptions() {
  LocalLearner::Options o;
  o.learning = Small();
  return o;
}

TEST(LocalLearner, TrainsOnItsThreadAndPublishesIncreasingVersions) {
  LocalLearner learner(LearnerOptions(), kObs, kActions);
  std::mutex mu;
  std::vector<int64_t> versions;
  const int id = learner.weights().Subscribe([&](std::shared_ptr<const Snapshot> s) {
    std::lock_guard l(mu);
    versions.push_back(s->version());
  });
  EXPECT_EQ(learner.weights().Latest()->version(), 0);
  learner.Start();
  Rng rng(2);
  for (int i = 0; i < 200; ++i) learner.Add(Labelled(rng));
  ASSERT_TRUE(WaitUntil([&] { return learner.Metrics().train_steps >= 50; }));
  ASSERT_TRUE(learner.Stop().ok());
  learner.weights().Unsubscribe(id);
  const LearnerMetrics m = learner.Metrics();
  EXPECT_EQ(m.records, 200);
  EXPECT_EQ(m.train_errors, 0) << m.last_error;
  // The rate limit: one slack batch plus two per label past min_replay (16).
  EXPECT_LE(m.train_steps, 1 + 2 * (200 - 16));
  const int64_t latest = learner.weights().Latest()->version();
  std::lock_guard l(mu);
  ASSERT_FALSE(versions.empty());
  EXPECT_TRUE(std::is_sorted(versions.begin(), versions.end()));
  EXPECT_EQ(versions.back(), latest);
}

TEST(LocalLearner, ZeroUpdatesPerLabelNeverTrainsOnItsThreadEither) {
  LocalLearner::Options o = LearnerOptions();
  o.learning.updates_per_label = 0.0;
  LocalLearner learner(o, kObs, kActions);
  learner.Start();
  Rng rng(6);
  for (int i = 0; i < 200; ++i) learner.Add(Labelled(rng));
  std::this_thread::sleep_for(50ms);
  ASSERT_TRUE(learner.Stop().ok());
  EXPECT_EQ(learner.Metrics().train_steps, 0);
  EXPECT_EQ(learner.weights().Latest()->version(), 0);
}

TEST(LocalLearner, WithoutLabelsItSleepsAndStopsAtOnce) {
  LocalLearner learner(LearnerOptions(), kObs, kActions);
  learner.Start();
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(learner.Metrics().train_steps, 0);
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(learner.Stop().ok());
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);  // woken by the limiter's Cancel()
}

TEST(LocalLearner, SavesItsFilesAtStopAndReportsWhenItCannot) {
  TempDir dir;
  LocalLearner::Options o = LearnerOptions();
  o.checkpoint_path = dir.str() + "/distiller.ckpt";
  o.snapshot_path = dir.str() + "/executor.snap";
  {
    LocalLearner learner(o, kObs, kActions);
    learner.Start();
    Rng rng(3);
    for (int i = 0; i < 40; ++i) learner.Add(Labelled(rng));
    ASSERT_TRUE(WaitUntil([&] { return learner.Metrics().train_steps > 0; }));
    ASSERT_TRUE(learner.Stop().ok());
    EXPECT_TRUE(std::filesystem::exists(o.checkpoint_path));
    EXPECT_TRUE(std::filesystem::exists(o.snapshot_path));
  }
  o.checkpoint_path = dir.str() + "/no/such/dir/distiller.ckpt";
  LocalLearner learner(o, kObs, kActions);
  learner.Start();
  const Status s = learner.Stop();
  EXPECT_EQ(s.code(), StatusCode::kUnavailable);
  EXPECT_NE(s.message().find("no/such/dir"), std::string::npos) << s.message();
  EXPECT_EQ(learner.Stop().message(), s.message());  // idempotent
}

TEST(LocalLearner, RestoresACheckpointAndPublishesItsWeights) {
  TempDir dir;
  LocalLearner::Options o = LearnerOptions();
  o.checkpoint_path = dir.str() + "/distiller.ckpt";
  int64_t saved_version = 0;
  {
    LocalLearner learner(o, kObs, kActions);
    learner.Start();
    Rng rng(4);
    for (int i = 0; i < 100; ++i) learner.Add(Labelled(rng));
    ASSERT_TRUE(WaitUntil([&] { return learner.Metrics().train_steps >= 20; }));
    ASSERT_TRUE(learner.Stop().ok());
    saved_version = learner.weights().Latest()->version();
  }
  ASSERT_GT(saved_version, 0);
  LocalLearner resumed(LearnerOptions(), kObs, kActions);
  ASSERT_TRUE(resumed.Restore(o.checkpoint_path, {}).ok());
  EXPECT_GE(resumed.weights().Latest()->version(), saved_version - 1);
  EXPECT_GT(resumed.weights().Latest()->version(), 0);
}

// ---------------------------------------------------------------------------------------------
// Ground truth through the whole loop: Agent (collector) -> LocalLearner -> executor
// ---------------------------------------------------------------------------------------------

// The teacher: action 1 when obs[0] > 0 (probability 0.95).
class SignTeacher final : public Planner {
 public:
  std::string name() const override { return "sign"; }
  bool needs_env() const override { return false; }
  Status Supports(const Space& action_space) const override {
    return action_space.is_discrete() ? Status::Ok() : Status::InvalidArgument("Discrete only");
  }
  Result<PlanDecision> Plan(const PlanRequest& request) override {
    const bool right = request.observation[0] > 0;
    const float probs[] = {right ? 0.05f : 0.95f, right ? 0.95f : 0.05f};
    PlanDecision d;
    d.distribution = PolicyOutput::FromProbabilities(probs);
    d.action = Action::Discrete(right ? 1 : 0);
    return d;
  }
};

// Decisions served one by one (Decide), each followed by feedback whose ground truth says action
// 1 when obs[1] > 0: where the truth differs from the teacher the executor follows the truth;
// without the truth in the feedback it follows the teacher. Returns the share of the states
// where the two differ on which the final executor chose the truth.
double FollowsTheTruthWhereItDiffers(bool send_truth) {
  LocalLearner::Options lo;
  lo.learning.min_replay = 64;
  lo.learning.updates_per_label = 1.0;
  lo.learning.distiller.hidden = {32};
  lo.learning.distiller.batch_size = 32;
  lo.learning.distiller.learning_rate = 1e-2;
  lo.learning.distiller.alpha = 0.1;  // soft 0.1 * T^2 = 0.4, hard 0.9
  lo.learning.distiller.publish_every = 20;
  lo.learning.seed = 5;
  LocalLearner learner(lo, kObs, kActions);
  AgentOptions ao;
  ao.planner_queue = 4096;
  // Every outcome is reported at once, so the wait only matters on a machine slow enough (a
  // sanitizer build under load) to let a decision's wait run out before its outcome is read:
  // generous, so that it never does.
  ao.outcome_wait_ms = 30'000;
  ao.background_nice = 0;
  AgentSeams seams;
  seams.planners = [] { return Result<std::unique_ptr<Planner>>(std::make_unique<SignTeacher>()); };
  seams.learner = &learner;
  Agent agent(ao, kObs, kActions, seams);
  agent.Start();
  Rng rng(6);
  constexpr int kDecisions = 2000;
  for (int i = 0; i < kDecisions; ++i) {
    float obs[4];
    for (float& v : obs) v = static_cast<float>(rng.Uniform(-1, 1));
    const AgentDecision d = agent.default_arbiter().Decide(obs);
    Outcome outcome;
    outcome.has_truth = send_truth;
    outcome.truth = Action::Discrete(obs[1] > 0 ? 1 : 0);
    EXPECT_TRUE(agent.Report(d.id, outcome).ok());
  }
  const int64_t expected_steps = kDecisions - lo.learning.min_replay - 1;
  EXPECT_TRUE(WaitUntil([&] { return learner.Metrics().train_steps >= expected_steps; },
                        std::chrono::seconds(120)));
  EXPECT_TRUE(agent.Stop().ok());
  const AgentMetrics m = agent.Metrics();
  EXPECT_EQ(m.ground_truth, send_truth ? kDecisions : 0);
  SnapshotSlot slot(learner.weights().Latest());
  Executor executor(slot, kActions);
  int differ = 0, follows = 0;
  for (int i = 0; i < 2000; ++i) {
    float obs[4];
    for (float& v : obs) v = static_cast<float>(rng.Uniform(-1, 1));
    const int64_t truth = obs[1] > 0 ? 1 : 0, teacher = obs[0] > 0 ? 1 : 0;
    if (truth == teacher) continue;
    ++differ;
    follows += executor.Act(obs).action.index() == truth;
  }
  return static_cast<double>(follows) / differ;
}

TEST(GroundTruth, TheExecutorFollowsTheGroundTruthWhereItDiffersFromTheTeacher) {
  const double with_truth = FollowsTheTruthWhereItDiffers(/*send_truth=*/true);
  const double without = FollowsTheTruthWhereItDiffers(/*send_truth=*/false);
  std::printf("where truth and teacher differ, the executor chose the truth: %.3f with ground "
              "truth feedback, %.3f without\n", with_truth, without);
  EXPECT_GT(with_truth, 0.8);
  EXPECT_LT(without, 0.2);
}

}  // namespace
}  // namespace apprentice
