// Concurrency tests of the executor side of the runtime (agent/, torch-free): the bounded queue,
// and the Agent with a fake planner the test controls (slow, stuck, throwing) and a learner that
// records what reaches it. They wait on notifications or poll with timeouts; they never rely on
// a sleep being long enough. Run under TSan as well (APPRENTICE_SANITIZE=thread, label
// "concurrency").
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "agent/agent.h"
#include "agent/bounded_queue.h"
#include "agent/pacer.h"
#include "agent/plan_queue.h"
#include "core/clock.h"
#include "core/policy.h"
#include "executor/snapshot.h"
#include "replay/episode_log.h"
#include "tests/allocation_counter.h"
#include "tests/temp_files.h"
#include "tests/wait_until.h"

namespace apprentice {
namespace {

using namespace std::chrono_literals;


// ---------------------------------------------------------------------------------------------
// BoundedQueue
// ---------------------------------------------------------------------------------------------
TEST(BoundedQueue, PopsInFifoOrder) {
  BoundedQueue<int> q(4, Overflow::kDropOldest);
  for (int i = 1; i <= 3; ++i) {
    EXPECT_EQ(q.Push([&](int& slot) { slot = i; }, [](const int&) {}),
              BoundedQueue<int>::PushResult::kPushed);
  }
  EXPECT_EQ(q.size(), 3);
  for (int i = 1; i <= 3; ++i) {
    int got = 0;
    ASSERT_TRUE(q.Pop([&](int& slot) { got = slot; }));
    EXPECT_EQ(got, i);
  }
  EXPECT_FALSE(q.Pop([](int&) {}));
  EXPECT_EQ(q.size(), 0);
}

TEST(BoundedQueue, DropOldestHandsTheDroppedItemToTheCallerAndKeepsTheNewest) {
  BoundedQueue<int> q(3, Overflow::kDropOldest);
  std::vector<int> dropped;
  for (int i = 1; i <= 5; ++i) {
    q.Push([&](int& slot) { slot = i; }, [&](const int& old) { dropped.push_back(old); });
  }
  EXPECT_EQ(dropped, (std::vector<int>{1, 2}));
  std::vector<int> left;
  while (q.Pop([&](int& slot) { left.push_back(slot); })) {
  }
  EXPECT_EQ(left, (std::vector<int>{3, 4, 5}));
}

TEST(BoundedQueue, DropNewestRejectsWhenFull) {
  BoundedQueue<int> q(2, Overflow::kDropNewest);
  q.Push([](int& s) { s = 1; }, [](const int&) {});
  q.Push([](int& s) { s = 2; }, [](const int&) {});
  EXPECT_EQ(q.Push([](int& s) { s = 3; }, [](const int&) {}),
            BoundedQueue<int>::PushResult::kRejected);
  int got = 0;
  ASSERT_TRUE(q.Pop([&](int& s) { got = s; }));
  EXPECT_EQ(got, 1);
}

TEST(BoundedQueue, RejectsACapacityBelowTwo) {
  EXPECT_THROW(BoundedQueue<int>(0, Overflow::kDropOldest), InvalidArgument);
  EXPECT_THROW(BoundedQueue<int>(1, Overflow::kDropOldest), InvalidArgument);
}

TEST(BoundedQueue, TheSmallestQueueNeverOverwritesAnUnreadItem) {
  BoundedQueue<int> q(2, Overflow::kDropOldest);
  std::vector<int> dropped;
  for (int i = 1; i <= 5; ++i) {
    q.Push([&](int& slot) { slot = i; }, [&](const int& old) { dropped.push_back(old); });
  }
  EXPECT_EQ(dropped, (std::vector<int>{1, 2, 3}));
  std::vector<int> left;
  while (q.Pop([&](int& slot) { left.push_back(slot); })) {
  }
  EXPECT_EQ(left, (std::vector<int>{4, 5}));
}

// Three producers, three consumers, a small queue that overflows all the time: every item is
// popped exactly once or reported dropped exactly once (at most one per push), and items stay
// whole.
TEST(BoundedQueue, ConcurrentProducersAndConsumersSeeEveryItemOnceOrItsDrop) {
  struct Item {
    int64_t a = 0, b = 0;  // b == -a always: a torn copy would break it
  };
  constexpr int64_t kItems = 200'000;
  BoundedQueue<Item> q(8, Overflow::kDropOldest);
  std::atomic<bool> done{false};
  std::atomic<int64_t> torn{0};
  std::vector<std::vector<int64_t>> popped(3);
  std::vector<std::thread> consumers;
  for (int c = 0; c < 3; ++c) {
    consumers.emplace_back([&, c] {
      for (;;) {
        Item it;
        if (q.Pop([&](Item& slot) { it = slot; })) {
          if (it.b != -it.a) torn.fetch_add(1);
          popped[c].push_back(it.a);
        } else if (done.load()) {
          if (!q.Pop([&](Item& slot) { it = slot; })) break;
          popped[c].push_back(it.a);
        } else {
          std::this_thread::yield();
        }
      }
    });
  }
  constexpr int kProducers = 3;
  std::vector<std::vector<int64_t>> dropped(kProducers);
  std::atomic<int64_t> rejected{0}, multiple_drops{0};
  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&, p] {
      for (int64_t i = 1 + p; i <= kItems; i += kProducers) {
        int drops = 0;
        const auto r = q.Push([&](Item& slot) { slot = {i, -i}; },
                              [&](const Item& old) {
                                dropped[p].push_back(old.a);
                                ++drops;
                              });
        if (r == BoundedQueue<Item>::PushResult::kRejected) rejected.fetch_add(1);
        if (drops > 1) multiple_drops.fetch_add(1);
      }
    });
  }
  for (auto& t : producers) t.join();
  done.store(true);
  for (auto& t : consumers) t.join();
  EXPECT_EQ(torn.load(), 0);
  EXPECT_EQ(multiple_drops.load(), 0) << "a push dropped more than one item";
  std::vector<int64_t> all;
  for (auto& d : dropped) all.insert(all.end(), d.begin(), d.end());
  for (auto& p : popped) all.insert(all.end(), p.begin(), p.end());
  EXPECT_EQ(static_cast<int64_t>(all.size()) + rejected.load(), kItems);
  EXPECT_EQ(std::set<int64_t>(all.begin(), all.end()).size(), all.size()) << "an item twice";
  for (const auto& consumer : popped) {  // FIFO: each producer's items in order, per consumer
    for (int p = 0; p < kProducers; ++p) {
      std::vector<int64_t> mine;
      for (int64_t a : consumer) {
        if ((a - 1) % kProducers == p) mine.push_back(a);
      }
      EXPECT_TRUE(std::is_sorted(mine.begin(), mine.end()));
    }
  }
}

// ---------------------------------------------------------------------------------------------
// LocalPlanQueue
// ---------------------------------------------------------------------------------------------

// An env whose state cannot always be copied: CopyStateFrom fails for a `broken` source, and
// throws EnvFailure, as a remote env whose server died does, once `down` (shared by the clones)
// is set.
class BrittleEnv final : public Env {
 public:
  explicit BrittleEnv(bool broken = false, std::shared_ptr<std::atomic<bool>> down = nullptr)
      : broken_(broken), down_(std::move(down)) {}
  std::string name() const override { return "brittle"; }
  const Space& observation_space() const override {
    static const Space& space = *new Space(Space::Box(-1.0f, 1.0f, {1}));
    return space;
  }
  const Space& action_space() const override {
    static const Space& space = *new Space(Space::Discrete(2));
    return space;
  }
  int64_t max_episode_steps() const override { return 10; }
  std::span<const float> Reset(uint64_t) override { return obs_; }
  StepResult Step(const Action&) override { return {obs_, 0.0, false, false}; }
  std::unique_ptr<Env> Clone() const override { return std::make_unique<BrittleEnv>(*this); }
  Status CopyStateFrom(const Env& other) override {
    if (down_ != nullptr && down_->load()) throw EnvFailure("brittle: the server is gone");
    const auto& o = dynamic_cast<const BrittleEnv&>(other);
    if (o.broken_) return Status::InvalidArgument("brittle: this state cannot be copied");
    return Status::Ok();
  }
  int64_t elapsed_steps() const override { return 0; }

 private:
  bool broken_ = false;
  std::shared_ptr<std::atomic<bool>> down_;
  std::vector<float> obs_ = {0.0f};
};

// A request whose state cannot be copied is refused; the slot it had claimed is skipped by the
// workers instead of carrying an earlier request a second time.
TEST(LocalPlanQueue, ARequestWhoseStateCannotBeCopiedIsRefusedAndNeverServed) {
  const BrittleEnv good, broken(/*broken=*/true);
  LocalPlanQueue queue(4, Overflow::kDropOldest, 1, &good);
  const std::vector<float> obs = {0.5f};
  auto push = [&](uint64_t id, const Env& state) {
    PlanRequestView r;
    r.decision_id = id;
    r.observation = obs;
    r.state = &state;
    return queue.Push(r);
  };
  EXPECT_TRUE(push(1, good).queued);
  EXPECT_FALSE(push(2, broken).queued);
  EXPECT_TRUE(push(3, good).queued);
  PlanTask task;
  task.Prepare(1, &good);
  std::vector<uint64_t> served;
  std::thread closer([&] {
    EXPECT_TRUE(WaitUntil([&] { return queue.size() == 0; }));
    queue.Close();  // also when the wait failed: Pop() must not block the test
  });
  while (queue.Pop(task)) served.push_back(task.decision_id);
  closer.join();
  EXPECT_EQ(served, (std::vector<uint64_t>{1, 3}));
}

// An env that throws EnvFailure while a request is copied in (Push, on the loop's thread) or out
// (Pop, on a worker's) costs that request only: nothing throws out of the queue.
TEST(LocalPlanQueue, AnEnvThatThrowsWhileItsStateIsCopiedCostsOnlyThatRequest) {
  auto down = std::make_shared<std::atomic<bool>>(false);
  const BrittleEnv env(/*broken=*/false, down);
  LocalPlanQueue queue(4, Overflow::kDropOldest, 1, &env);
  const std::vector<float> obs = {0.5f};
  auto push = [&](uint64_t id) {
    PlanRequestView r;
    r.decision_id = id;
    r.observation = obs;
    r.state = &env;
    return queue.Push(r);
  };
  EXPECT_TRUE(push(1).queued);
  EXPECT_TRUE(push(2).queued);
  down->store(true);
  EXPECT_FALSE(push(3).queued);  // copying in throws: refused
  PlanTask task;
  task.Prepare(1, &env);
  EXPECT_FALSE(queue.TryPop(task));  // copying out throws: 1 and 2 are skipped, not served
  EXPECT_EQ(queue.size(), 0);
  down->store(false);
  EXPECT_TRUE(push(4).queued);
  ASSERT_TRUE(queue.TryPop(task));
  EXPECT_EQ(task.decision_id, 4u);
}

// ---------------------------------------------------------------------------------------------
// A planner the test controls.
// ---------------------------------------------------------------------------------------------
struct PlannerControl {
  std::mutex mu;
  std::condition_variable cv;
  bool open = true;    // guarded by mu: Plan() waits while false
  bool fail = false;   // guarded by mu: Plan() throws
  int entered = 0;     // guarded by mu
  int finished = 0;    // guarded by mu

  void Close() {
    std::lock_guard l(mu);
    open = false;
  }
  void Open() {
    {
      std::lock_guard l(mu);
      open = true;
    }
    cv.notify_all();
  }
  bool WaitEntered(int n) {
    std::unique_lock l(mu);
    return cv.wait_for(l, 20s, [&] { return entered >= n; });
  }
};

// Model-free: action 1 when obs[0] > 0, else 0, with probability 0.9.
class FakePlanner : public Planner {
 public:
  explicit FakePlanner(std::shared_ptr<PlannerControl> control) : control_(std::move(control)) {}
  std::string name() const override { return "fake"; }
  bool needs_env() const override { return false; }
  Status Supports(const Space& space) const override {
    return space.is_discrete() && space.n() == 2 ? Status::Ok()
                                                 : Status::InvalidArgument("fake: Discrete(2)");
  }
  Result<PlanDecision> Plan(const PlanRequest& request) override {
    const int64_t t0 = NowNs();
    bool fail = false;
    {
      std::unique_lock l(control_->mu);
      ++control_->entered;
      control_->cv.notify_all();
      control_->cv.wait(l, [&] { return control_->open; });
      fail = control_->fail;
    }
    if (fail) {
      {
        std::lock_guard l(control_->mu);
        ++control_->finished;
      }
      throw std::runtime_error("fake planner failure");
    }
    const int64_t a = request.observation[0] > 0.0f ? 1 : 0;
    PlanDecision d;
    d.distribution = PolicyOutput::FromProbabilities(a == 1 ? std::vector<float>{0.1f, 0.9f}
                                                            : std::vector<float>{0.9f, 0.1f});
    d.action = Action::Discrete(a);
    d.latency_ns = NowNs() - t0;
    {
      std::lock_guard l(control_->mu);
      ++control_->finished;
    }
    control_->cv.notify_all();
    return d;
  }

 private:
  std::shared_ptr<PlannerControl> control_;  // shared: an abandoned worker may outlive the test
};

// A learner that records what reaches it and publishes the snapshots the test gives it.
class RecordingLearner : public Learner {
 public:
  explicit RecordingLearner(std::shared_ptr<const Snapshot> initial) : weights_(std::move(initial)) {}
  void Start() override { started_.store(true); }
  void Add(std::shared_ptr<const DecisionRecord> record) override {
    std::lock_guard l(mu_);
    records_.push_back(std::move(record));
  }
  Status Stop() override {
    stopped_.store(true);
    return stop_status_;
  }
  WeightSource& weights() override { return weights_; }
  LearnerMetrics Metrics() const override {
    LearnerMetrics m;
    std::lock_guard l(mu_);
    m.records = static_cast<int64_t>(records_.size());
    return m;
  }

  std::vector<std::shared_ptr<const DecisionRecord>> records() const {
    std::lock_guard l(mu_);
    return records_;
  }
  void Publish(std::shared_ptr<const Snapshot> s) { weights_.Publish(std::move(s)); }
  void FailStopWith(Status s) { stop_status_ = std::move(s); }
  bool started() const { return started_.load(); }
  bool stopped() const { return stopped_.load(); }

 private:
  WeightBroadcast weights_;
  mutable std::mutex mu_;
  std::vector<std::shared_ptr<const DecisionRecord>> records_;
  std::atomic<bool> started_{false}, stopped_{false};
  Status stop_status_;
};

MlpSpec SmallSpec() {
  return StudentSpec(Space::Box(-1.0f, 1.0f, {4}), Space::Discrete(2), {16}, Activation::kTanh)
      .ValueOrThrow();
}

std::shared_ptr<const Snapshot> InitialSnapshot(int64_t version = 0) {
  return Snapshot::Create(SmallSpec(), InitialParameters(SmallSpec(), 7), version).ValueOrThrow();
}

// Weights that answer [0, log 3] whatever the observation: action 1 with confidence 0.75.
std::shared_ptr<const Snapshot> ThreeToOneSnapshot() {
  const MlpSpec spec = SmallSpec();
  std::vector<float> params(static_cast<size_t>(spec.ParameterCount()), 0.0f);
  params.back() = std::log(3.0f);
  return Snapshot::Create(spec, params, 1).ValueOrThrow();
}

AgentOptions SmallOptions(Mode mode) {
  AgentOptions o;
  o.mode = mode;
  o.seed = 7;
  o.deadline_us = 200'000;  // generous: a loaded (or sanitised) machine must not flake
  o.planner_wait_ms = 20'000;
  o.background_nice = 0;
  return o;
}

class AgentTest : public ::testing::Test {
 protected:
  std::unique_ptr<Agent> Make(const AgentOptions& o) {
    AgentSeams seams;
    seams.planners = [this] {
      return Result<std::unique_ptr<Planner>>(std::make_unique<FakePlanner>(control_));
    };
    seams.learner = &learner_;
    return std::make_unique<Agent>(o, Space::Box(-1.0f, 1.0f, {4}), Space::Discrete(2), seams);
  }
  // Observation i: obs[0] alternates sign so both actions occur.
  static std::vector<float> Obs(int64_t i) {
    const float s = (i % 2 == 0) ? 0.5f : -0.5f;
    return {s, 0.1f * static_cast<float>(i % 7) - 0.3f, 0.0f, 0.2f};
  }
  static bool Label(const DecisionRecord& r, int64_t action) {
    return r.has_label && r.planner_action == Action::Discrete(action);
  }
  std::set<int64_t> LabelledSteps() const {
    std::set<int64_t> steps;
    for (const auto& r : learner_.records()) steps.insert(r->step);
    return steps;
  }

  std::shared_ptr<PlannerControl> control_ = std::make_shared<PlannerControl>();
  RecordingLearner learner_{InitialSnapshot()};
};

TEST_F(AgentTest, ReflexExecutorActsAndEveryLabelReachesTheLearner) {
  auto agent = Make(SmallOptions(Mode::kReflex));
  agent->Start();
  EXPECT_TRUE(learner_.started());
  constexpr int kSteps = 40;
  for (int i = 0; i < kSteps; ++i) {
    const auto obs = Obs(i);
    const AgentDecision d = agent->Act(obs);
    EXPECT_EQ(d.acted_by, Actor::kExecutor);
    EXPECT_EQ(d.id, static_cast<uint64_t>(i + 1));
    EXPECT_EQ(d.episode, i / 10);
    EXPECT_EQ(d.step, i % 10);
    agent->Observe(1.0, /*terminated=*/i % 10 == 9, /*truncated=*/false);
  }
  // The planner answers at once: every request is labelled (the queue never overflows).
  ASSERT_TRUE(WaitUntil([&] { return agent->Metrics().labels == kSteps; }));
  ASSERT_TRUE(agent->Stop().ok());
  EXPECT_TRUE(learner_.stopped());
  const AgentMetrics m = agent->Metrics();
  EXPECT_EQ(m.steps, kSteps);
  EXPECT_EQ(m.episodes, 4);
  EXPECT_DOUBLE_EQ(m.recent_return, 10.0);
  EXPECT_EQ(m.acted_by_executor, kSteps);
  EXPECT_EQ(m.acted_by_planner, 0);
  EXPECT_EQ(m.planner_requests, kSteps);
  EXPECT_EQ(m.planner_drops, 0);
  EXPECT_EQ(m.decisions, kSteps);
  EXPECT_EQ(m.agreement_samples, kSteps);
  EXPECT_EQ(m.planner_errors, 0);
  EXPECT_EQ(m.act.count(), kSteps);
  const auto records = learner_.records();
  ASSERT_EQ(records.size(), static_cast<size_t>(kSteps));
  for (const auto& r : records) {
    // Joined by decision id: the label belongs to the decision's own observation.
    EXPECT_EQ(r->decision_id, static_cast<uint64_t>(r->episode * 10 + r->step + 1));
    EXPECT_TRUE(Label(*r, r->observation[0] > 0 ? 1 : 0));
    EXPECT_EQ(r->executor.logits.size(), 2u);  // the executor's full output is recorded
  }
}

TEST_F(AgentTest, QueueOverflowDropsTheOldestRequestsAndCountsThem) {
  AgentOptions o = SmallOptions(Mode::kReflex);
  o.planner_queue = 4;
  auto agent = Make(o);
  control_->Close();
  agent->Start();
  agent->Act(Obs(0));
  agent->Observe(0.0, false, false);
  ASSERT_TRUE(control_->WaitEntered(1));  // the worker holds request 1 inside Plan()
  for (int i = 1; i < 20; ++i) {
    agent->Act(Obs(i));
    agent->Observe(0.0, false, false);
  }
  // 19 more requests into 4 slots: 15 dropped, the newest 4 kept.
  EXPECT_EQ(agent->Metrics().planner_drops, 15);
  EXPECT_EQ(agent->Metrics().queue_depth, 4);
  control_->Open();
  ASSERT_TRUE(WaitUntil([&] { return agent->Metrics().labels == 5; }));
  ASSERT_TRUE(agent->Stop().ok());
  // The kept labels are request 1 and the newest four (steps 16..19).
  EXPECT_EQ(LabelledSteps(), (std::set<int64_t>{0, 16, 17, 18, 19}));
}

TEST_F(AgentTest, ALabelArrivingAfterItsEpisodeEndedStillReachesTheLog) {
  TempDir dir;
  AgentOptions o = SmallOptions(Mode::kReflex);
  o.log_dir = dir.str();
  auto agent = Make(o);
  control_->Close();
  agent->Start();
  agent->Act(Obs(0));
  agent->Observe(1.0, /*terminated=*/true, /*truncated=*/false);  // episode 0 ends
  ASSERT_TRUE(control_->WaitEntered(1));
  agent->Act(Obs(1));  // episode 1 goes on
  agent->Observe(1.0, false, false);
  control_->Open();
  ASSERT_TRUE(WaitUntil([&] { return agent->Metrics().labels == 2; }));
  ASSERT_TRUE(agent->Stop().ok());
  EXPECT_EQ(agent->Metrics().logged, 2);
  const EpisodeLogContents log = ReadEpisodeLog(dir.str()).ValueOrThrow();
  ASSERT_EQ(log.records.size(), 2u);
  bool saw_first = false;
  for (const DecisionRecord& r : log.records) {
    if (r.episode != 0) continue;
    saw_first = true;
    EXPECT_TRUE(r.terminated);
    EXPECT_TRUE(Label(r, 1));
    EXPECT_FLOAT_EQ(r.reward, 1.0f);
    EXPECT_EQ(r.decision_id, 1u);
  }
  EXPECT_TRUE(saw_first);
}

// Several callers on their own threads, each with an arbiter; outcomes reported late, from other
// threads, in another order: every record carries its own observation, label and outcome.
TEST_F(AgentTest, ConcurrentCallersAndLateOutcomesAreJoinedByDecisionId) {
  TempDir dir;
  AgentOptions o = SmallOptions(Mode::kReflex);
  o.planner_queue = 4096;
  o.log_dir = dir.str();
  auto agent = Make(o);
  agent->Start();
  constexpr int kCallers = 4, kEach = 200;
  std::mutex mu;
  std::vector<std::pair<uint64_t, double>> outcomes;  // id, reward = a function of the obs
  std::vector<std::thread> callers;
  for (int c = 0; c < kCallers; ++c) {
    callers.emplace_back([&, c] {
      Arbiter& arbiter = agent->OpenArbiter();
      for (int i = 0; i < kEach; ++i) {
        std::vector<float> obs = Obs(i);
        obs[3] = static_cast<float>(c) + 0.001f * static_cast<float>(i);  // identifies the call
        const AgentDecision d = arbiter.Decide(obs);
        std::lock_guard l(mu);
        outcomes.emplace_back(d.id, static_cast<double>(obs[3]));
      }
    });
  }
  for (auto& t : callers) t.join();
  std::reverse(outcomes.begin(), outcomes.end());  // reported in another order
  std::thread reporter([&] {
    for (const auto& [id, reward] : outcomes) {
      while (!agent->Report(id, {reward, true, false}).ok()) std::this_thread::yield();
    }
  });
  reporter.join();
  ASSERT_TRUE(WaitUntil([&] { return agent->Metrics().labels == kCallers * kEach; }));
  ASSERT_TRUE(agent->Stop().ok());
  const EpisodeLogContents log = ReadEpisodeLog(dir.str()).ValueOrThrow();
  ASSERT_EQ(log.records.size(), static_cast<size_t>(kCallers * kEach));
  std::set<uint64_t> ids;
  for (const DecisionRecord& r : log.records) {
    ids.insert(r.decision_id);
    EXPECT_FLOAT_EQ(r.reward, r.observation[3]) << "outcome joined to another decision";
    EXPECT_TRUE(r.terminated);
    EXPECT_TRUE(Label(r, r.observation[0] > 0 ? 1 : 0)) << "label joined to another decision";
  }
  EXPECT_EQ(ids.size(), log.records.size());
  EXPECT_EQ(agent->Metrics().missing_outcomes, 0);
  EXPECT_EQ(agent->Metrics().orphan_outcomes, 0);
}

TEST_F(AgentTest, ShutdownWhileRequestsAreInFlightReturnsAndLeavesAStuckWorkerBehind) {
  AgentOptions o = SmallOptions(Mode::kReflex);
  o.stop_timeout_ms = 50;
  o.planner_threads = 2;
  auto agent = Make(o);
  control_->Close();  // both workers will hang inside Plan()
  agent->Start();
  for (int i = 0; i < 10; ++i) {
    agent->Act(Obs(i));
    agent->Observe(0.0, false, false);
  }
  ASSERT_TRUE(control_->WaitEntered(2));
  const int64_t t0 = NowNs();
  ASSERT_TRUE(agent->Stop().ok());
  EXPECT_LT(NowNs() - t0, 20'000'000'000) << "Stop() must not wait for a hung planner";
  const AgentMetrics m = agent->Metrics();
  EXPECT_EQ(m.planner_abandoned, 2);
  EXPECT_EQ(m.labels, 0);
  EXPECT_EQ(m.steps, 10);
  agent.reset();     // the agent is gone; the abandoned workers still hold their shared state
  control_->Open();  // they finish, deliver nowhere, and exit
  ASSERT_TRUE(WaitUntil([&] {
    std::lock_guard l(control_->mu);
    return control_->finished == 2;
  }));
}

TEST_F(AgentTest, APlannerThatThrowsNeverStopsTheExecutorAndIsCounted) {
  AgentOptions o = SmallOptions(Mode::kDeadline);
  auto agent = Make(o);
  {
    std::lock_guard l(control_->mu);
    control_->fail = true;
  }
  agent->Start();
  for (int i = 0; i < 10; ++i) {
    const AgentDecision d = agent->Act(Obs(i));
    EXPECT_EQ(d.acted_by, Actor::kExecutor);  // the planner failed: the executor answered
    agent->Observe(0.0, false, false);
  }
  ASSERT_TRUE(agent->Stop().ok());
  const AgentMetrics m = agent->Metrics();
  EXPECT_EQ(m.planner_errors, 10);
  EXPECT_EQ(m.acted_by_executor, 10);
  EXPECT_EQ(m.labels, 0);
  EXPECT_NE(m.last_error.find("fake planner failure"), std::string::npos) << m.last_error;
}

TEST_F(AgentTest, AHungPlannerIsReportedStuckAndTheDeadlineModeFallsBackToTheExecutor) {
  AgentOptions o = SmallOptions(Mode::kDeadline);
  o.deadline_us = 5'000;
  o.planner_stuck_ms = 10;
  o.stop_timeout_ms = 10;
  auto agent = Make(o);
  control_->Close();
  agent->Start();
  for (int i = 0; i < 5; ++i) {
    const AgentDecision d = agent->Act(Obs(i));
    EXPECT_EQ(d.acted_by, Actor::kExecutor);
    agent->Observe(0.0, false, false);
  }
  ASSERT_TRUE(WaitUntil([&] { return agent->Metrics().planner_stuck == 1; }));
  EXPECT_EQ(agent->Metrics().planner_timeouts, 5);
  ASSERT_TRUE(agent->Stop().ok());
  agent.reset();
  control_->Open();
  ASSERT_TRUE(WaitUntil([&] {
    std::lock_guard l(control_->mu);
    return control_->finished >= 1;
  }));
}

TEST_F(AgentTest, DeadlinePlannerAndDaggerModesLetAnAnsweringPlannerAct) {
  for (Mode mode : {Mode::kDeadline, Mode::kPlanner, Mode::kDagger}) {
    AgentOptions o = SmallOptions(mode);
    o.beta = 1.0;  // dagger: the planner always acts
    o.beta_decay = 1.0;
    auto agent = Make(o);
    agent->Start();
    for (int i = 0; i < 6; ++i) {
      const auto obs = Obs(i);
      const AgentDecision d = agent->Act(obs);
      EXPECT_EQ(d.acted_by, Actor::kPlanner) << ModeName(mode);
      EXPECT_EQ(d.action, Action::Discrete(obs[0] > 0 ? 1 : 0)) << ModeName(mode);
      agent->Observe(0.0, false, false);
    }
    ASSERT_TRUE(agent->Stop().ok());
    const AgentMetrics m = agent->Metrics();
    EXPECT_EQ(m.acted_by_planner, 6) << ModeName(mode);
    EXPECT_EQ(m.labels, 6) << ModeName(mode);
  }
}

// The executor's confidence is 0.75 on every state: a gate below it trusts the executor, a gate
// above it asks the planner, at every threshold between 0 and 1.
TEST_F(AgentTest, GatedModeAsksThePlannerExactlyWhenConfidenceIsBelowTheGate) {
  for (double gate : {0.0, 0.5, 0.74, 0.76, 0.9, 1.0}) {
    AgentOptions o = SmallOptions(Mode::kGated);
    o.gate_confidence = gate;
    StaticWeights weights(ThreeToOneSnapshot());
    AgentSeams seams;
    seams.planners = [this] {
      return Result<std::unique_ptr<Planner>>(std::make_unique<FakePlanner>(control_));
    };
    seams.weights = &weights;
    Agent agent(o, Space::Box(-1.0f, 1.0f, {4}), Space::Discrete(2), seams);
    agent.Start();
    for (int i = 0; i < 6; ++i) {
      const AgentDecision d = agent.Act(Obs(i));
      EXPECT_NEAR(d.confidence, 0.75f, 1e-6);
      EXPECT_EQ(d.acted_by, d.confidence < gate ? Actor::kPlanner : Actor::kExecutor) << gate;
      agent.Observe(0.0, false, false);
    }
    ASSERT_TRUE(agent.Stop().ok());
    EXPECT_EQ(agent.Metrics().acted_by_planner, gate > 0.75 ? 6 : 0) << gate;
  }
}

TEST_F(AgentTest, DaggerBetaDecaysAfterEveryEpisode) {
  AgentOptions o = SmallOptions(Mode::kDagger);
  o.beta = 0.5;
  o.beta_decay = 0.5;
  o.planner_queue = 4096;
  auto agent = Make(o);
  agent->Start();
  constexpr int kEpisodes = 6, kSteps = 400;
  std::vector<int> planner_acts(kEpisodes);
  for (int e = 0; e < kEpisodes; ++e) {
    EXPECT_DOUBLE_EQ(agent->default_arbiter().beta(), 0.5 * std::pow(0.5, e));
    for (int i = 0; i < kSteps; ++i) {
      planner_acts[e] += agent->Act(Obs(i)).acted_by == Actor::kPlanner;
      agent->Observe(0.0, false, /*truncated=*/i == kSteps - 1);
    }
  }
  ASSERT_TRUE(agent->Stop().ok());
  // Binomial(400, β): 200 ± 40, then 100 ± 30, ...; the last episode's β is 1/64.
  EXPECT_NEAR(planner_acts[0], 200, 40);
  EXPECT_NEAR(planner_acts[1], 100, 30);
  EXPECT_LE(planner_acts[5], 20);
  EXPECT_GT(planner_acts[0], planner_acts[2]);
}

TEST_F(AgentTest, DaggerWithBetaZeroLetsTheExecutorAct) {
  AgentOptions o = SmallOptions(Mode::kDagger);
  o.beta = 0.0;
  auto agent = Make(o);
  agent->Start();
  for (int i = 0; i < 6; ++i) {
    EXPECT_EQ(agent->Act(Obs(i)).acted_by, Actor::kExecutor);
    agent->Observe(0.0, false, false);
  }
}

// The learner publishes while the caller acts as fast as it can: every decision's version is
// one the source published, versions never go back, and the loop ends up on the newest weights.
TEST_F(AgentTest, HotSwapUnderLoadNeverGoesBackAndReachesTheNewestSnapshot) {
  auto agent = Make(SmallOptions(Mode::kReflex));
  agent->Start();
  std::atomic<bool> done{false};
  std::thread publisher([&] {
    for (int64_t v = 1; v <= 50; ++v) {
      learner_.Publish(InitialSnapshot(v));
      std::this_thread::sleep_for(1ms);
    }
    done.store(true);
  });
  int64_t last_version = 0, steps = 0;
  const int64_t until = NowNs() + 20'000'000'000LL;
  while (NowNs() < until) {
    const AgentDecision d = agent->Act(Obs(steps));
    EXPECT_GE(d.executor_version, last_version);
    last_version = d.executor_version;
    agent->Observe(0.0, steps % 50 == 49, false);
    ++steps;
    if (done.load() && last_version == 50) break;
  }
  publisher.join();
  EXPECT_EQ(last_version, 50);
  EXPECT_EQ(agent->Metrics().executor_version, 50);
  ASSERT_TRUE(agent->Stop().ok());
}

TEST_F(AgentTest, ReflexActTakesNoAllocationOnceWarm) {
  auto agent = Make(SmallOptions(Mode::kReflex));
  agent->Start();
  const auto obs = Obs(0);
  for (int i = 0; i < 100; ++i) {  // warm: every queue and inbox slot has been written once
    agent->Act(obs);
    agent->Observe(0.0, false, false);
  }
  const int64_t before = AllocationsOnThisThread();
  for (int i = 0; i < 1000; ++i) {
    agent->Act(obs);
    agent->Observe(0.0, i % 100 == 99, false);
  }
  EXPECT_EQ(AllocationsOnThisThread() - before, 0);
  ASSERT_TRUE(agent->Stop().ok());
}

TEST_F(AgentTest, MisuseIsAClearErrorAndRecordsNothing) {
  auto agent = Make(SmallOptions(Mode::kReflex));
  EXPECT_THROW(agent->Act(Obs(0)), InvalidArgument);  // not started
  agent->Start();
  const std::vector<float> wrong_size = {1.0f, 2.0f};
  EXPECT_THROW(agent->Act(wrong_size), InvalidArgument);
  EXPECT_THROW(agent->Observe(0.0, false, false), InvalidArgument);  // nothing to observe
  agent->Act(Obs(0));
  EXPECT_THROW(agent->Act(Obs(1)), InvalidArgument);  // observe first
  agent->Observe(0.0, false, false);
  EXPECT_EQ(agent->Report(999, {}).code(), StatusCode::kInvalidArgument);  // no such decision
  ASSERT_TRUE(agent->Stop().ok());
  EXPECT_EQ(agent->Metrics().steps, 1);
  EXPECT_THROW(agent->Act(Obs(0)), InvalidArgument);  // stopped
  EXPECT_EQ(agent->Report(1, {}).code(), StatusCode::kUnavailable);
  ASSERT_TRUE(agent->Stop().ok());  // idempotent
}

TEST_F(AgentTest, AFailedLearnerStopIsTheAgentsStopError) {
  auto agent = Make(SmallOptions(Mode::kReflex));
  agent->Start();
  learner_.FailStopWith(Status::Unavailable("cannot write distiller.ckpt: No space left"));
  const Status s = agent->Stop();
  EXPECT_EQ(s.code(), StatusCode::kUnavailable);
  EXPECT_NE(s.message().find("No space left"), std::string::npos);
  EXPECT_EQ(agent->Stop().message(), s.message());  // idempotent, same answer
}

TEST_F(AgentTest, InvalidOptionsAndMissingSeamsAreRejectedWithTheirReason) {
  AgentOptions o = SmallOptions(Mode::kReflex);
  o.planner_threads = 0;
  try {
    Make(o);
    FAIL() << "accepted zero planner threads";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("planner threads"), std::string::npos) << e.what();
  }
  AgentSeams none;
  none.planners = [this] {
    return Result<std::unique_ptr<Planner>>(std::make_unique<FakePlanner>(control_));
  };
  try {
    Agent agent(SmallOptions(Mode::kReflex), Space::Box(-1.0f, 1.0f, {4}), Space::Discrete(2),
                none);
    FAIL() << "accepted an agent without weights";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("learner or a weight source"), std::string::npos);
  }
  EXPECT_FALSE(ParseMode("fast").ok());
  EXPECT_EQ(ParseMode("gated").value(), Mode::kGated);
}

TEST_F(AgentTest, WritesMetricsAsJsonLinesAndAppendsToAnEarlierFile) {
  TempFile file("agent_metrics.jsonl");
  { std::ofstream(file.path()) << "{\"earlier\":true}\n"; }
  AgentOptions o = SmallOptions(Mode::kReflex);
  o.metrics_path = file.path();
  o.metrics_interval_ms = 5;
  auto agent = Make(o);
  agent->Start();
  for (int i = 0; i < 20; ++i) {
    agent->Act(Obs(i));
    agent->Observe(1.0, false, false);
  }
  ASSERT_TRUE(WaitUntil([&] { return agent->Metrics().labels > 0; }));
  ASSERT_TRUE(agent->Stop().ok());
  std::ifstream in(file.path());
  std::string line, first, last;
  int lines = 0;
  while (std::getline(in, line)) {
    if (lines++ == 0) first = line;
    EXPECT_EQ(line.front(), '{');
    EXPECT_EQ(line.back(), '}');
    last = line;
  }
  EXPECT_EQ(first, "{\"earlier\":true}");  // a resumed run keeps the lines of the earlier one
  EXPECT_GE(lines, 3);
  for (const char* key : {"\"act_latency_us\"", "\"planner_drops\"", "\"deadline_misses\"",
                          "\"agreement\"", "\"mean_kl\"", "\"labels_per_s\"", "\"queue_depth\"",
                          "\"p90\"", "\"decision_drops\""}) {
    EXPECT_NE(last.find(key), std::string::npos) << key << " in " << last;
  }
  EXPECT_NE(last.find("\"steps\":20"), std::string::npos) << last;
}

// ---------------------------------------------------------------------------------------------
// Joins in any order: labels, decisions and outcomes by decision id, every wait bounded
// ---------------------------------------------------------------------------------------------

// An Act()'s decision reaches the collector at Observe(). A caller that observes long after the
// label came (past the collector's 1 s label wait) still gets one record: label and outcome.
TEST_F(AgentTest, ALabelArrivingLongBeforeItsDecisionIsJoinedIntoOneRecord) {
  TempDir dir;
  AgentOptions o = SmallOptions(Mode::kReflex);
  o.log_dir = dir.str();
  o.metrics_interval_ms = 10;
  auto agent = Make(o);
  agent->Start();
  agent->Act(Obs(0));
  ASSERT_TRUE(WaitUntil([&] {
    std::lock_guard l(control_->mu);
    return control_->finished == 1;
  }));
  std::this_thread::sleep_for(1500ms);  // the observation comes late (a lower bound, not a race)
  agent->Observe(2.0, /*terminated=*/true, /*truncated=*/false);
  ASSERT_TRUE(WaitUntil([&] { return agent->Metrics().logged == 1; }));
  ASSERT_TRUE(agent->Stop().ok());
  const AgentMetrics m = agent->Metrics();
  EXPECT_EQ(m.labels, 1);
  EXPECT_EQ(m.orphan_labels, 0);
  EXPECT_EQ(m.missing_labels, 0);
  const EpisodeLogContents log = ReadEpisodeLog(dir.str()).ValueOrThrow();
  ASSERT_EQ(log.records.size(), 1u) << "the label and its decision were logged apart";
  EXPECT_TRUE(Label(log.records[0], 1));
  EXPECT_FLOAT_EQ(log.records[0].reward, 2.0f);
  EXPECT_TRUE(log.records[0].terminated);
}

// A label whose decision does not come within the wait teaches alone (not logged: a log record
// is a decision); the decision, when it comes, is logged at once without waiting for that label.
TEST_F(AgentTest, ALabelWhoseDecisionNeverCameTeachesAloneAndTheLateDecisionDoesNotWait) {
  TempDir dir;
  AgentOptions o = SmallOptions(Mode::kReflex);
  o.log_dir = dir.str();
  o.metrics_interval_ms = 10;
  o.outcome_wait_ms = 0;  // labels then wait the collector's 1 s label wait for their decision
  auto agent = Make(o);
  agent->Start();
  agent->Act(Obs(0));
  ASSERT_TRUE(WaitUntil([&] { return agent->Metrics().orphan_labels == 1; }));
  EXPECT_EQ(agent->Metrics().labels, 1);
  EXPECT_EQ(agent->Metrics().agreement_samples, 0);  // no executor output to compare with
  ASSERT_EQ(learner_.records().size(), 1u);
  EXPECT_TRUE(Label(*learner_.records()[0], 1));
  EXPECT_EQ(learner_.records()[0]->observation, Obs(0));
  agent->Observe(1.0, /*terminated=*/true, /*truncated=*/false);
  ASSERT_TRUE(WaitUntil([&] { return agent->Metrics().logged == 1; }));  // before Stop()
  ASSERT_TRUE(agent->Stop().ok());
  EXPECT_EQ(agent->Metrics().missing_labels, 0);
  const EpisodeLogContents log = ReadEpisodeLog(dir.str()).ValueOrThrow();
  ASSERT_EQ(log.records.size(), 1u);
  EXPECT_FALSE(log.records[0].has_label);
  EXPECT_FLOAT_EQ(log.records[0].reward, 1.0f);
}

// Two callers share a two-slot queue. Caller A's pushes drop caller B's request before B has
// observed (its decision is not at the collector yet): B's decision, when it comes, is logged at
// once instead of waiting outcome_wait_ms for a label that will not come.
TEST_F(AgentTest, ARequestDroppedBeforeItsDecisionArrivedDoesNotHoldThatDecisionBack) {
  TempDir dir;
  AgentOptions o = SmallOptions(Mode::kReflex);
  o.planner_queue = 2;
  o.log_dir = dir.str();
  o.metrics_interval_ms = 10;
  auto agent = Make(o);
  control_->Close();
  agent->Start();
  Arbiter& b = agent->OpenArbiter();
  agent->Act(Obs(0));  // id 1: the worker takes it and waits inside Plan()
  agent->Observe(0.0, false, false);
  ASSERT_TRUE(control_->WaitEntered(1));
  agent->Act(Obs(1));  // id 2: queued
  agent->Observe(0.0, false, false);
  b.Act(Obs(2));       // id 3: queued; B observes later
  agent->Act(Obs(3));  // id 4 drops id 2, whose decision is at the collector
  agent->Observe(0.0, false, false);
  agent->Act(Obs(4));  // id 5 drops id 3, whose decision is not
  agent->Observe(0.0, false, false);
  b.Observe(1.0, /*terminated=*/true, /*truncated=*/false);
  EXPECT_EQ(agent->Metrics().planner_drops, 2);
  control_->Open();
  ASSERT_TRUE(WaitUntil([&] { return agent->Metrics().labels == 3; }));
  ASSERT_TRUE(WaitUntil([&] { return agent->Metrics().logged == 5; }))
      << "a decision waits for the label of a dropped request";
  ASSERT_TRUE(agent->Stop().ok());
  EXPECT_EQ(agent->Metrics().missing_labels, 0);
  std::set<uint64_t> labelled;
  for (const auto& r : learner_.records()) labelled.insert(r->decision_id);
  EXPECT_EQ(labelled, (std::set<uint64_t>{1, 4, 5}));
}

// The urgent queue holds 16 requests: the 17th waiting caller's push drops the oldest, whose
// caller is told at once (it acts with the executor) instead of waiting out planner_wait_ms.
TEST_F(AgentTest, AnUrgentRequestDroppedFromAFullQueueReleasesItsCallerAtOnce) {
  AgentOptions o = SmallOptions(Mode::kPlanner);
  o.planner_wait_ms = 60'000;
  auto agent = Make(o);
  control_->Close();
  agent->Start();
  std::vector<std::thread> callers;
  auto call = [&](int i) {
    Arbiter& arbiter = agent->OpenArbiter();
    callers.emplace_back([&arbiter, i] { (void)arbiter.Decide(Obs(i)); });
  };
  call(0);
  ASSERT_TRUE(control_->WaitEntered(1));  // the worker holds the first request
  for (int i = 1; i <= static_cast<int>(LocalPlanQueue::kUrgentCapacity) + 1; ++i) call(i);
  ASSERT_TRUE(WaitUntil([&] { return agent->Metrics().acted_by_executor == 1; }))
      << "the caller of the dropped request still waits";
  EXPECT_EQ(agent->Metrics().acted_by_planner, 0);
  control_->Open();
  for (auto& t : callers) t.join();
  ASSERT_TRUE(agent->Stop().ok());
  const AgentMetrics m = agent->Metrics();
  EXPECT_EQ(m.planner_drops, 1);
  EXPECT_EQ(m.planner_timeouts, 0);
  EXPECT_EQ(m.acted_by_planner, LocalPlanQueue::kUrgentCapacity + 1);
}

// A label as a planner elsewhere would send it: action 1 when obs[0] > 0, else 0.
apprentice::Label RemoteLabel(uint64_t id, const std::vector<float>& observation) {
  apprentice::Label label;
  label.decision_id = id;
  const int64_t a = observation[0] > 0.0f ? 1 : 0;
  label.decision.distribution = PolicyOutput::FromProbabilities(
      a == 1 ? std::vector<float>{0.2f, 0.8f} : std::vector<float>{0.8f, 0.2f});
  label.decision.action = Action::Discrete(a);
  label.observation = observation;
  return label;
}

// A plan queue served outside the agent (as a network queue would be): the test pops requests
// and delivers labels through Agent::label_sink(); waiting callers get them, and so does the
// learner.
TEST_F(AgentTest, PlannersOutsideTheAgentDeliverLabelsThroughItsLabelSink) {
  auto queue = std::make_shared<LocalPlanQueue>(64, Overflow::kDropOldest, 4, nullptr);
  AgentSeams seams;
  seams.plan_queue = queue;
  seams.learner = &learner_;
  Agent agent(SmallOptions(Mode::kDeadline), Space::Box(-1.0f, 1.0f, {4}), Space::Discrete(2),
              seams);
  agent.Start();
  std::thread remote([&] {  // delivers every label twice, as a retrying network client might
    PlanTask task;
    task.Prepare(4, nullptr);
    while (queue->Pop(task)) {
      apprentice::Label label = RemoteLabel(task.decision_id, task.observation);
      label.episode = task.episode;
      label.step = task.step;
      label.executor_action = task.executor_action;
      agent.label_sink().OnLabel(label);
      agent.label_sink().OnLabel(std::move(label));
    }
  });
  for (int i = 0; i < 6; ++i) {
    const auto obs = Obs(i);
    const AgentDecision d = agent.Act(obs);
    EXPECT_EQ(d.acted_by, Actor::kPlanner);
    EXPECT_EQ(d.action, Action::Discrete(obs[0] > 0 ? 1 : 0));
    agent.Observe(0.0, false, false);
  }
  ASSERT_TRUE(WaitUntil([&] { return agent.Metrics().duplicate_labels == 6; }));
  ASSERT_TRUE(agent.Stop().ok());  // closes the queue: the remote loop ends
  remote.join();
  EXPECT_EQ(agent.Metrics().labels, 6);
  ASSERT_EQ(learner_.records().size(), 6u) << "a label delivered twice taught twice";
  for (const auto& r : learner_.records()) EXPECT_TRUE(Label(*r, r->observation[0] > 0 ? 1 : 0));
}

// Labels for decisions that never come: at most `inbox` of them wait; past that the oldest teach
// alone at once instead of piling up for outcome_wait_ms.
TEST_F(AgentTest, AtMostInboxLabelsWaitForTheirDecisionAndTheOldestTeachAlone) {
  AgentOptions o = SmallOptions(Mode::kReflex);
  o.inbox = 4;
  auto agent = Make(o);
  agent->Start();
  for (uint64_t id = 1000; id < 1010; ++id) agent->label_sink().OnLabel(RemoteLabel(id, Obs(0)));
  ASSERT_TRUE(WaitUntil([&] { return agent->Metrics().orphan_labels == 6; }));
  std::vector<uint64_t> first;
  for (const auto& r : learner_.records()) first.push_back(r->decision_id);
  EXPECT_EQ(first, (std::vector<uint64_t>{1000, 1001, 1002, 1003, 1004, 1005}));
  ASSERT_TRUE(agent->Stop().ok());  // the four still waiting teach alone too
  EXPECT_EQ(agent->Metrics().orphan_labels, 10);
  EXPECT_EQ(agent->Metrics().labels, 10);
}

// ---------------------------------------------------------------------------------------------
// Lifecycle and weights
// ---------------------------------------------------------------------------------------------

class RefusingWeights final : public WeightBroadcast {
 public:
  using WeightBroadcast::WeightBroadcast;
  int Subscribe(Callback) override { throw std::runtime_error("subscription refused"); }
};

TEST_F(AgentTest, AStartThatFailsStopsWhatItStartedAndLeavesTheAgentStopped) {
  RefusingWeights weights(InitialSnapshot());
  AgentSeams seams;
  seams.planners = [this] {
    return Result<std::unique_ptr<Planner>>(std::make_unique<FakePlanner>(control_));
  };
  seams.learner = &learner_;
  seams.weights = &weights;
  Agent agent(SmallOptions(Mode::kReflex), Space::Box(-1.0f, 1.0f, {4}), Space::Discrete(2),
              seams);
  EXPECT_THROW(agent.Start(), std::runtime_error);
  EXPECT_TRUE(learner_.started());
  EXPECT_TRUE(learner_.stopped()) << "the learner was started and left running";
  EXPECT_THROW(agent.Act(Obs(0)), InvalidArgument);
  EXPECT_TRUE(agent.Stop().ok());
}

TEST_F(AgentTest, AnObservationAfterStopIsCountedAsALostDecision) {
  auto agent = Make(SmallOptions(Mode::kReflex));
  agent->Start();
  agent->Act(Obs(0));
  ASSERT_TRUE(agent->Stop().ok());
  agent->Observe(1.0, false, false);  // completes the caller's step; the record is lost
  EXPECT_EQ(agent->Metrics().decision_drops, 1);
  EXPECT_EQ(agent->Metrics().steps, 1);
}

TEST_F(AgentTest, OnlyNewerSnapshotsAreServedAndARefusedOneIsReported) {
  auto agent = Make(SmallOptions(Mode::kReflex));
  agent->Start();
  learner_.Publish(InitialSnapshot(5));
  EXPECT_EQ(agent->snapshot_slot().version(), 5);
  learner_.Publish(InitialSnapshot(3));  // older: skipped
  EXPECT_EQ(agent->snapshot_slot().version(), 5);
  const MlpSpec wider = StudentSpec(Space::Box(-1.0f, 1.0f, {4}), Space::Discrete(2), {32},
                                    Activation::kTanh)
                            .ValueOrThrow();
  learner_.Publish(Snapshot::Create(wider, InitialParameters(wider, 1), 6).ValueOrThrow());
  EXPECT_EQ(agent->snapshot_slot().version(), 5);
  const AgentMetrics m = agent->Metrics();
  EXPECT_EQ(m.weight_errors, 1);
  EXPECT_NE(m.last_error.find("weights:"), std::string::npos) << m.last_error;
  ASSERT_TRUE(agent->Stop().ok());
}

// ---------------------------------------------------------------------------------------------
// Pacer
// ---------------------------------------------------------------------------------------------

// The label budget: about `fraction` of the decisions go to the teacher; with the uncertainty
// policy, the least confident ones, even when many confidences are equal.
TEST(LabelSelector, SelectsTheBudgetedShareAndUncertaintyPicksTheLeastConfident) {
  Rng rng(5);
  for (LabelPolicy policy : {LabelPolicy::kRandom, LabelPolicy::kUncertainty}) {
    LabelSelector selector({policy, 0.05}, 9);
    int selected = 0;
    double conf_selected = 0, conf_other = 0;
    constexpr int kN = 40'000;
    for (int i = 0; i < kN; ++i) {
      const auto confidence = static_cast<float>(0.5 + 0.5 * rng.Uniform());
      if (selector.Select(Action::Discrete(0), confidence)) {
        ++selected;
        conf_selected += confidence;
      } else {
        conf_other += confidence;
      }
    }
    const double share = static_cast<double>(selected) / kN;
    EXPECT_NEAR(share, 0.05, 0.01) << LabelPolicyName(policy);
    const double mean_selected = conf_selected / selected, mean_other = conf_other / (kN - selected);
    if (policy == LabelPolicy::kUncertainty) {
      EXPECT_LT(mean_selected, 0.56);  // the lowest 5 % of U(0.5, 1)
    } else {
      EXPECT_NEAR(mean_selected, mean_other, 0.02);
    }
  }
  // A saturated executor: every confidence 1. Still about the budget, not everything.
  LabelSelector saturated({LabelPolicy::kUncertainty, 0.05}, 3);
  int selected = 0;
  for (int i = 0; i < 20'000; ++i) selected += saturated.Select(Action::Discrete(0), 1.0f) ? 1 : 0;
  EXPECT_NEAR(selected / 20'000.0, 0.05, 0.01);
  LabelSelector all({LabelPolicy::kAll, 1.0}, 1);
  EXPECT_TRUE(all.Select(Action::Discrete(1), 0.99f));
  EXPECT_FALSE(LabelSelection({LabelPolicy::kRandom, 0.0}).Validate().ok());
  EXPECT_EQ(*ParseLabelPolicy("uncertainty"), LabelPolicy::kUncertainty);
  EXPECT_EQ(*ParseLabelPolicy("disagreement"), LabelPolicy::kDisagreement);
  EXPECT_FALSE(ParseLabelPolicy("oracle").ok());
}

// The disagreement policy spends the budget where the teacher's recent labels differed from the
// executor: here the executor's rare action 1, which the teacher overrules half the time, while
// it agrees with 99 % of action 0. A tenth of the budget still goes at random.
TEST(LabelSelector, DisagreementLabelsTheKindOfDecisionTheTeacherRecentlyOverruled) {
  DisagreementBoard board;
  EXPECT_DOUBLE_EQ(board.Rate(Action::Discrete(3), 0.7f), 0.5);  // nothing known yet
  LabelSelector selector({LabelPolicy::kDisagreement, 0.05}, 4, &board);
  Rng rng(8);
  constexpr int kN = 60'000;
  int selected = 0, selected_rare = 0, rare = 0;
  for (int i = 0; i < kN; ++i) {
    const bool is_rare = rng.Uniform() < 0.05;
    rare += is_rare ? 1 : 0;
    const Action action = Action::Discrete(is_rare ? 1 : 0);
    const auto confidence = static_cast<float>(0.9 + 0.1 * rng.Uniform());
    if (!selector.Select(action, confidence)) continue;
    ++selected;
    selected_rare += is_rare ? 1 : 0;
    board.Record(action, confidence, rng.Uniform() < (is_rare ? 0.5 : 0.01));  // the label
  }
  EXPECT_NEAR(static_cast<double>(selected) / kN, 0.05, 0.01);
  // About 5 % of the decisions are action 1; of the labelled ones, most.
  EXPECT_NEAR(static_cast<double>(rare) / kN, 0.05, 0.01);
  EXPECT_GT(static_cast<double>(selected_rare) / selected, 0.6);
  EXPECT_GT(board.Rate(Action::Discrete(1), 0.95f), 0.3);
  EXPECT_LT(board.Rate(Action::Discrete(0), 0.95f), 0.1);
}

// Through an agent: background requests follow the budget; the rest are counted as unselected.
TEST_F(AgentTest, TheLabelBudgetDecidesWhichDecisionsThePlannerLabels) {
  AgentOptions o = SmallOptions(Mode::kReflex);
  o.labels = {LabelPolicy::kRandom, 0.25};
  o.planner_queue = 4096;
  AgentSeams seams;
  seams.planners = [this] {
    return Result<std::unique_ptr<Planner>>(std::make_unique<FakePlanner>(control_));
  };
  StaticWeights weights(InitialSnapshot());
  seams.weights = &weights;
  Agent agent(o, Space::Box(-1.0f, 1.0f, {4}), Space::Discrete(2), seams);
  agent.Start();
  for (int i = 0; i < 2'000; ++i) {
    agent.Act(Obs(i));
    agent.Observe(0.0, false, false);
  }
  ASSERT_TRUE(agent.Stop().ok());
  const AgentMetrics m = agent.Metrics();
  EXPECT_EQ(m.planner_requests + m.unselected, 2'000);
  EXPECT_NEAR(static_cast<double>(m.planner_requests) / 2'000.0, 0.25, 0.04);
}

// A crowd: 8 agents a tick, one batched executor call, VectorEnv's next-step autoreset (an agent
// whose episode ended sits the next tick out), every decision logged once with its own episode
// and step, a sampled share of them labelled.
TEST_F(AgentTest, ACrowdDecidesForEveryAgentAndLogsEachDecisionOnce) {
  TempDir dir;
  AgentOptions o = SmallOptions(Mode::kReflex);
  o.labels = {LabelPolicy::kRandom, 0.5};
  o.planner_queue = 4096;
  o.log_dir = dir.str();
  auto agent = Make(o);
  agent->Start();
  constexpr int64_t kAgents = 8, kTicks = 30;
  Crowd& crowd = agent->OpenCrowd(kAgents);
  EXPECT_EQ(crowd.size(), kAgents);
  std::vector<float> obs(kAgents * 4);
  std::vector<double> rewards(kAgents, 1.0);
  std::vector<uint8_t> terminated(kAgents, 0), truncated(kAgents, 0);
  Executor reference(agent->snapshot_slot(), Space::Discrete(2));
  int64_t recorded = 0, requested = 0;
  for (int64_t t = 0; t < kTicks; ++t) {
    for (int64_t i = 0; i < kAgents; ++i) {
      const auto row = Obs(t * kAgents + i);
      std::copy(row.begin(), row.end(), obs.begin() + i * 4);
    }
    const Crowd::Tick tick = crowd.Act(obs);
    ASSERT_EQ(tick.actions.size(), static_cast<size_t>(kAgents));
    for (int64_t i = 0; i < kAgents; ++i) {  // what one Act() per agent would choose
      EXPECT_EQ(tick.actions[i], reference.Act(std::span<const float>(obs).subspan(i * 4, 4)).action);
    }
    recorded += tick.decisions;
    requested += tick.plan_requests;
    EXPECT_THROW(crowd.Act(obs), InvalidArgument);  // Observe() first
    for (int64_t i = 0; i < kAgents; ++i) terminated[i] = 0;
    // Agent 0's episode ends on ticks 2, 5, 8, ..., 29; the others' never end.
    if (t % 3 == 2) terminated[0] = 1;
    crowd.Observe(rewards, terminated, truncated);
  }
  EXPECT_THROW(crowd.Observe(rewards, terminated, truncated), InvalidArgument);
  EXPECT_THROW(crowd.Act(std::span<const float>(obs).first(4)), InvalidArgument);
  ASSERT_TRUE(WaitUntil([&] { return agent->Metrics().labels == requested; }));
  ASSERT_TRUE(agent->Stop().ok());
  // Agent 0 sits out the tick after each end (3, 6, ..., 27): 21 of its 30 ticks are decisions.
  EXPECT_EQ(recorded, (kAgents - 1) * kTicks + 21);
  const AgentMetrics m = agent->Metrics();
  EXPECT_EQ(m.steps, recorded);
  EXPECT_EQ(m.planner_requests, requested);
  EXPECT_EQ(m.planner_requests + m.unselected, recorded);
  EXPECT_NEAR(static_cast<double>(requested) / static_cast<double>(recorded), 0.5, 0.12);
  const EpisodeLogContents log = ReadEpisodeLog(dir.str()).ValueOrThrow();
  ASSERT_EQ(static_cast<int64_t>(log.records.size()), recorded);
  std::set<uint64_t> ids;
  std::map<int64_t, std::set<int64_t>> steps_by_episode;  // (records are logged as completed)
  int64_t labelled = 0;
  for (const DecisionRecord& r : log.records) {
    ids.insert(r.decision_id);
    steps_by_episode[r.episode].insert(r.step);
    labelled += r.has_label;
  }
  for (const auto& [episode, steps] : steps_by_episode) {  // steps 0..k-1, each once
    EXPECT_EQ(*steps.rbegin(), static_cast<int64_t>(steps.size()) - 1) << "episode " << episode;
  }
  EXPECT_EQ(static_cast<int64_t>(ids.size()), recorded);
  EXPECT_EQ(labelled, requested);
  // Agent 0's 10 episodes (3 steps, then 2 each) and one unfinished episode for each other.
  EXPECT_EQ(steps_by_episode.size(), 10u + (kAgents - 1));
  EXPECT_EQ(m.episodes, 10);
}

TEST_F(AgentTest, ACrowdNeedsReflexMode) {
  auto agent = Make(SmallOptions(Mode::kDeadline));
  EXPECT_THROW(agent->OpenCrowd(4), InvalidArgument);
}

// The behaviour policy's probability of the action sent, for every way of acting.
TEST(Behaviour, ApplyBehaviourCoversEveryWayOfActing) {
  const float logits[] = {1.0f, 2.0f, 0.5f};
  ExecutorDecision e;
  e.action = Action::Discrete(1);
  e.output = logits;
  DecisionRecord r;
  ApplyExecutorDecision(e, HeadKind::kCategorical, 100, r);
  std::vector<float> p(3);
  Softmax(logits, p);

  ApplyBehaviour(e.action, Actor::kExecutor, /*sampled=*/false, 0.0, nullptr, r);
  EXPECT_EQ(r.behaviour, Behaviour::kDeterministic);
  ApplyBehaviour(Action::Discrete(1), Actor::kPlanner, false, 0.0, nullptr, r);
  EXPECT_EQ(r.behaviour, Behaviour::kDeterministic);
  // Sampled: log softmax of the action drawn (here a draw of action 2).
  ApplyBehaviour(Action::Discrete(2), Actor::kExecutor, true, 0.0, nullptr, r);
  EXPECT_EQ(r.behaviour, Behaviour::kStochastic);
  EXPECT_NEAR(r.behaviour_log_prob, std::log(p[2]), 1e-6);
  // A β-mixture (β = 0.25) of the planner's choice (0) and a greedy executor (1).
  const Action planner = Action::Discrete(0);
  ApplyBehaviour(planner, Actor::kPlanner, false, 0.25, &planner, r);
  EXPECT_NEAR(r.behaviour_log_prob, std::log(0.25), 1e-6);
  ApplyBehaviour(e.action, Actor::kExecutor, false, 0.25, &planner, r);
  EXPECT_NEAR(r.behaviour_log_prob, std::log(0.75), 1e-6);
  // ... and of a sampling executor: 0.25 [a = 0] + 0.75 p(a).
  ApplyBehaviour(planner, Actor::kPlanner, true, 0.25, &planner, r);
  EXPECT_NEAR(r.behaviour_log_prob, std::log(0.25 + 0.75 * p[0]), 1e-6);
  // The planner's choice unknown at decision time (the agent's dagger mode): unknown.
  ApplyBehaviour(e.action, Actor::kExecutor, false, 0.25, nullptr, r);
  EXPECT_EQ(r.behaviour, Behaviour::kUnknown);

  // Gaussian: the density of the action sent under N(mean, exp(log_std)^2), per component.
  const float head[] = {0.5f, -1.0f, std::log(0.2f), std::log(2.0f)};  // means, then log-stds
  ExecutorDecision g;
  g.action = Action::Continuous(std::vector<float>{0.7f, 1.0f});
  g.output = head;
  DecisionRecord c;
  ApplyExecutorDecision(g, HeadKind::kGaussian, 100, c);
  ApplyBehaviour(g.action, Actor::kExecutor, true, 0.0, nullptr, c);
  const double want = (-0.5 * 1.0 - std::log(0.2) - 0.5 * std::log(2 * M_PI)) +
                      (-0.5 * 1.0 - std::log(2.0) - 0.5 * std::log(2 * M_PI));
  EXPECT_EQ(c.behaviour, Behaviour::kStochastic);
  EXPECT_NEAR(c.behaviour_log_prob, want, 1e-5);
  ApplyBehaviour(g.action, Actor::kExecutor, false, 0.0, nullptr, c);
  EXPECT_EQ(c.behaviour, Behaviour::kDeterministic);
  // Under a β-mixture the executor's draw has density (1 − β) N(a); the planner's action is a
  // point mass, unknown.
  ApplyBehaviour(g.action, Actor::kExecutor, true, 0.5, &g.action, c);
  EXPECT_EQ(c.behaviour, Behaviour::kStochastic);
  EXPECT_NEAR(c.behaviour_log_prob, want + std::log(0.5), 1e-5);
  ApplyBehaviour(g.action, Actor::kPlanner, true, 0.5, &g.action, c);
  EXPECT_EQ(c.behaviour, Behaviour::kUnknown);
  ApplyBehaviour(g.action, Actor::kExecutor, false, 0.5, &g.action, c);
  EXPECT_EQ(c.behaviour, Behaviour::kUnknown);
}

// An agent whose executor samples its actions logs each decision's log-probability; a greedy one
// logs its decisions as deterministic.
TEST_F(AgentTest, TheLogCarriesTheBehaviourPolicysProbability) {
  for (const bool sample : {true, false}) {
    TempDir dir;
    AgentOptions o = SmallOptions(Mode::kReflex);
    o.sample_actions = sample;
    o.log_dir = dir.str();
    o.labels = {LabelPolicy::kRandom, 0.01};
    auto agent = Make(o);
    agent->Start();
    for (int i = 0; i < 200; ++i) {
      agent->Act(Obs(i));
      agent->Observe(0.0, i % 20 == 19, false);
    }
    ASSERT_TRUE(agent->Stop().ok());
    const EpisodeLogContents log = ReadEpisodeLog(dir.str()).ValueOrThrow();
    ASSERT_EQ(log.records.size(), 200u);
    EXPECT_EQ(log.segments.at(0).metadata.record_revision, kEpisodeLogRecordRevision);
    for (const DecisionRecord& r : log.records) {
      if (!sample) {
        EXPECT_EQ(r.behaviour, Behaviour::kDeterministic);
        continue;
      }
      ASSERT_EQ(r.behaviour, Behaviour::kStochastic);
      const std::vector<float> p = r.executor.Probabilities();
      EXPECT_NEAR(r.behaviour_log_prob, std::log(p[static_cast<size_t>(r.executor_action.index())]),
                  1e-5);
    }
  }
}

// Decisions whose feedback never comes do not pile up: past max_pending the oldest is logged at
// once, long before the outcome wait, and a later outcome for it is not lost when a lookup knows
// the decision (the service's journal).
TEST(AgentPending, PastMaxPendingTheOldestStopWaitingAndLateOutcomesJoinThroughTheLookup) {
  StaticWeights weights(InitialSnapshot());
  AgentSeams seams;
  seams.weights = &weights;
  std::atomic<int> lookups{0};
  seams.decisions = [&](uint64_t id) -> Result<std::optional<DecisionRecord>> {
    ++lookups;
    DecisionRecord r;
    r.decision_id = id;
    r.observation = {0, 0, 0, 0};
    return std::optional<DecisionRecord>(r);
  };
  AgentOptions o;
  o.max_pending = 10;
  o.outcome_wait_ms = 600'000;  // far longer than the test
  Agent agent(o, Space::Box(-1.0f, 1.0f, {4}), Space::Discrete(2), seams);
  agent.Start();
  std::vector<uint64_t> ids;
  const std::vector<float> obs = {0.1f, -0.2f, 0.3f, 0.0f};
  for (int i = 0; i < 100; ++i) ids.push_back(agent.default_arbiter().Decide(obs).id);
  ASSERT_TRUE(WaitUntil([&] { return agent.Metrics().missing_outcomes == 90; }));
  // The first decision left memory: its outcome is joined through the lookup.
  Outcome outcome;
  outcome.reward = 1.0;
  ASSERT_TRUE(agent.Report(ids.front(), outcome).ok());
  ASSERT_TRUE(WaitUntil([&] { return agent.Metrics().late_joins == 1; }));
  EXPECT_EQ(lookups.load(), 1);
  EXPECT_EQ(agent.Metrics().orphan_outcomes, 0);
  ASSERT_TRUE(agent.Stop().ok());
  EXPECT_EQ(agent.Metrics().missing_outcomes, 100);
}

TEST(Pacer, WarmsOncePerTickAndCountsOverruns) {
  Pacer::Options o;
  o.rate_hz = 1000;
  o.wake_early_us = 100;
  Pacer pacer(o);
  int warmed = 0;
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(pacer.Wait([&] { ++warmed; }, nullptr));
    pacer.EndStep();
  }
  EXPECT_EQ(warmed, 20);
  // A lower bound only: 20 ticks of 1 ms cannot pass in less than 19 ms.
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 19ms);
  const int64_t before = pacer.overruns();
  ASSERT_TRUE(pacer.Wait(nullptr, nullptr));
  std::this_thread::sleep_for(5ms);  // the step runs past the next tick
  pacer.EndStep();
  EXPECT_EQ(pacer.overruns(), before + 1);
}

TEST(Pacer, WithoutAnEarlyWakeItSleepsToTheTickAndDoesNotWarm) {
  Pacer::Options o;
  o.rate_hz = 500;
  o.wake_early_us = 0;
  Pacer pacer(o);
  int warmed = 0;
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(pacer.Wait([&] { ++warmed; }, nullptr));
    pacer.EndStep();
  }
  EXPECT_EQ(warmed, 0);
}

TEST(Pacer, AStopRequestEndsTheSleep) {
  Pacer::Options o;
  o.rate_hz = 0.1;  // a tick every 10 s
  Pacer pacer(o);
  StopFlag stop;
  ASSERT_TRUE(pacer.Wait(nullptr, &stop));  // the first tick is now
  pacer.EndStep();
  std::thread stopper([&] {
    std::this_thread::sleep_for(20ms);
    stop.Request();
  });
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_FALSE(pacer.Wait(nullptr, &stop));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);  // not the 10 s of a period
  stopper.join();
  EXPECT_THROW(Pacer(Pacer::Options{0.0, 50, 3000}), InvalidArgument);
}

}  // namespace
}  // namespace apprentice
