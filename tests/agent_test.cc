// Concurrency tests of the asynchronous runtime: the bounded request queue, and the Agent with a
// fake planner the test controls (slow, stuck, throwing). They wait on notifications or poll
// with timeouts; they never rely on a sleep being long enough. Run under TSan as well
// (APPRENTICE_SANITIZE=thread, label "concurrency").
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <new>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "core/clock.h"
#include "core/policy.h"
#include "runtime/agent.h"
#include "runtime/bounded_queue.h"
#include "tests/allocation_counter.h"

namespace apprentice {
namespace {

using namespace std::chrono_literals;

// Polls `done` every millisecond for up to `timeout`.
template <class F>
bool WaitUntil(F&& done, std::chrono::milliseconds timeout = 20s) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

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

TEST(BoundedQueue, RejectsAZeroCapacity) {
  EXPECT_THROW(BoundedQueue<int>(0, Overflow::kDropOldest), InvalidArgument);
}

// One producer, three consumers, a small queue that overflows all the time: every item is
// popped exactly once or reported dropped exactly once, and items stay whole.
TEST(BoundedQueue, ConcurrentConsumersSeeEveryItemOnceOrItsDrop) {
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
  std::vector<int64_t> dropped;
  int64_t rejected = 0;
  for (int64_t i = 1; i <= kItems; ++i) {
    const auto r = q.Push([&](Item& slot) { slot = {i, -i}; },
                          [&](const Item& old) { dropped.push_back(old.a); });
    if (r == BoundedQueue<Item>::PushResult::kRejected) ++rejected;
  }
  done.store(true);
  for (auto& t : consumers) t.join();
  EXPECT_EQ(torn.load(), 0);
  std::vector<int64_t> all = dropped;
  for (auto& p : popped) all.insert(all.end(), p.begin(), p.end());
  EXPECT_EQ(static_cast<int64_t>(all.size()) + rejected, kItems);
  EXPECT_EQ(std::set<int64_t>(all.begin(), all.end()).size(), all.size()) << "an item twice";
  for (auto& p : popped) EXPECT_TRUE(std::is_sorted(p.begin(), p.end())) << "FIFO per consumer";
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

AgentOptions SmallOptions(Mode mode) {
  AgentOptions o;
  o.mode = mode;
  o.seed = 7;
  o.deadline_us = 200'000;  // generous: a loaded (or sanitised) machine must not flake
  o.planner_wait_ms = 20'000;
  o.min_replay = 8;
  o.distiller.hidden = {16};
  o.distiller.batch_size = 8;
  o.distiller.publish_every = 5;
  o.background_nice = 0;
  return o;
}

class AgentTest : public ::testing::Test {
 protected:
  std::unique_ptr<Agent> Make(const AgentOptions& o) {
    return std::make_unique<Agent>(o, Space::Box(-1.0f, 1.0f, {4}), Space::Discrete(2), [this] {
      return Result<std::unique_ptr<Planner>>(std::make_unique<FakePlanner>(control_));
    });
  }
  // Observation i: obs[0] alternates sign so both actions occur.
  static std::vector<float> Obs(int64_t i) {
    const float s = (i % 2 == 0) ? 0.5f : -0.5f;
    return {s, 0.1f * static_cast<float>(i % 7) - 0.3f, 0.0f, 0.2f};
  }
  static bool Label(const DecisionRecord& r, int64_t action) {
    return r.has_label && r.planner_action == Action::Discrete(action);
  }

  std::shared_ptr<PlannerControl> control_ = std::make_shared<PlannerControl>();
};

TEST_F(AgentTest, ReflexExecutorActsAndEveryLabelReachesTheReplay) {
  auto agent = Make(SmallOptions(Mode::kReflex));
  agent->Start();
  constexpr int kSteps = 40;
  for (int i = 0; i < kSteps; ++i) {
    const auto obs = Obs(i);
    const AgentDecision d = agent->Act(obs);
    EXPECT_EQ(d.acted_by, Actor::kExecutor);
    EXPECT_EQ(d.id, static_cast<uint64_t>(i + 1));
    agent->Observe(1.0, /*terminated=*/i % 10 == 9, /*truncated=*/false);
  }
  // The planner answers at once: every request is labelled (the queue never overflows).
  ASSERT_TRUE(WaitUntil([&] { return agent->Metrics().labels == kSteps; }));
  agent->Stop();
  const AgentMetrics m = agent->Metrics();
  EXPECT_EQ(m.steps, kSteps);
  EXPECT_EQ(m.episodes, 4);
  EXPECT_DOUBLE_EQ(m.recent_return, 10.0);
  EXPECT_EQ(m.acted_by_executor, kSteps);
  EXPECT_EQ(m.acted_by_planner, 0);
  EXPECT_EQ(m.planner_requests, kSteps);
  EXPECT_EQ(m.planner_drops, 0);
  EXPECT_EQ(agent->replay().size(), kSteps);
  EXPECT_EQ(m.agreement_samples, kSteps);
  EXPECT_EQ(m.planner_errors, 0);
  EXPECT_EQ(m.act.count(), kSteps);
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
  agent->Stop();
  EXPECT_EQ(agent->replay().size(), 5);
  // The kept labels are request 1 and the newest four (steps 16..19).
  Rng rng(1);
  std::vector<ReplayBuffer::RecordPtr> all;
  agent->replay().SampleUniform(200, rng, all);
  std::set<int64_t> steps;
  for (const auto& r : all) steps.insert(r->step);
  EXPECT_EQ(steps, (std::set<int64_t>{0, 16, 17, 18, 19}));
}

TEST_F(AgentTest, ALabelArrivingAfterItsEpisodeEndedStillReachesTheReplay) {
  auto agent = Make(SmallOptions(Mode::kReflex));
  control_->Close();
  agent->Start();
  agent->Act(Obs(0));
  agent->Observe(1.0, /*terminated=*/true, /*truncated=*/false);  // episode 0 ends
  ASSERT_TRUE(control_->WaitEntered(1));
  agent->Act(Obs(1));  // episode 1 goes on
  agent->Observe(1.0, false, false);
  control_->Open();
  ASSERT_TRUE(WaitUntil([&] { return agent->Metrics().labels == 2; }));
  agent->Stop();
  Rng rng(1);
  std::vector<ReplayBuffer::RecordPtr> all;
  agent->replay().SampleUniform(50, rng, all);
  bool saw_first = false;
  for (const auto& r : all) {
    if (r->episode == 0) {
      saw_first = true;
      EXPECT_TRUE(r->terminated);
      EXPECT_TRUE(Label(*r, 1));
      EXPECT_FLOAT_EQ(r->reward, 1.0f);
    }
  }
  EXPECT_TRUE(saw_first);
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
  agent->Stop();
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
  agent->Stop();
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
  agent->Stop();
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
    agent->Stop();
    const AgentMetrics m = agent->Metrics();
    EXPECT_EQ(m.acted_by_planner, 6) << ModeName(mode);
    EXPECT_EQ(m.labels, 6) << ModeName(mode);
  }
}

TEST_F(AgentTest, GatedModeAsksThePlannerOnlyWhenTheExecutorIsUnsure) {
  for (double gate : {0.0, 1.0}) {
    AgentOptions o = SmallOptions(Mode::kGated);
    o.gate_confidence = gate;
    auto agent = Make(o);
    agent->Start();
    for (int i = 0; i < 6; ++i) {
      const AgentDecision d = agent->Act(Obs(i));
      // Confidence is always <= 1 and > 0: gate 0 trusts the executor, gate 1 (almost) never.
      EXPECT_EQ(d.acted_by, gate == 0.0 ? Actor::kExecutor : Actor::kPlanner);
      agent->Observe(0.0, false, false);
    }
    agent->Stop();
  }
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

// The distiller publishes while the caller acts as fast as it can: every decision's version is
// one the slot published, versions never go back, and the loop ends up on the newest weights.
TEST_F(AgentTest, HotSwapUnderLoadNeverGoesBackAndReachesTheNewestSnapshot) {
  AgentOptions o = SmallOptions(Mode::kReflex);
  o.planner_queue = 1024;
  o.updates_per_label = 4.0;
  auto agent = Make(o);
  agent->Start();
  int64_t last_version = 0, steps = 0;
  const int64_t until = NowNs() + 20'000'000'000LL;
  while (agent->Metrics().executor_version < 5 && NowNs() < until) {
    const auto obs = Obs(steps);
    const AgentDecision d = agent->Act(obs);
    EXPECT_GE(d.executor_version, last_version);
    last_version = d.executor_version;
    agent->Observe(0.0, steps % 50 == 49, false);
    ++steps;
  }
  EXPECT_GE(agent->Metrics().executor_version, 5);
  agent->Stop();
  const AgentMetrics m = agent->Metrics();
  EXPECT_EQ(m.train_errors, 0) << m.last_error;
  EXPECT_GT(m.train_steps, 0);
  // After stop the final weights are published; a new act would use them.
  EXPECT_GE(agent->snapshot_slot().version(), last_version);
}

TEST_F(AgentTest, ReflexActTakesNoAllocationOnceWarm) {
  auto agent = Make(SmallOptions(Mode::kReflex));
  agent->Start();
  const auto obs = Obs(0);
  for (int i = 0; i < 100; ++i) {  // warm: every queue and step slot has been written once
    agent->Act(obs);
    agent->Observe(0.0, false, false);
  }
  const int64_t before = AllocationsOnThisThread();
  for (int i = 0; i < 1000; ++i) {
    agent->Act(obs);
    agent->Observe(0.0, i % 100 == 99, false);
  }
  EXPECT_EQ(AllocationsOnThisThread() - before, 0);
  agent->Stop();
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
  agent->Stop();
  EXPECT_EQ(agent->Metrics().steps, 1);
  EXPECT_THROW(agent->Act(Obs(0)), InvalidArgument);  // stopped
  agent->Stop();  // idempotent
}

TEST_F(AgentTest, InvalidOptionsAreRejectedWithTheirReason) {
  AgentOptions o = SmallOptions(Mode::kReflex);
  o.planner_threads = 0;
  try {
    Make(o);
    FAIL() << "accepted zero planner threads";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("planner threads"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(ParseMode("fast").ok());
  EXPECT_EQ(ParseMode("gated").value(), Mode::kGated);
}

TEST_F(AgentTest, WritesMetricsAsJsonLines) {
  const std::string path =
      (std::filesystem::temp_directory_path() / "apprentice_agent_metrics.jsonl").string();
  AgentOptions o = SmallOptions(Mode::kReflex);
  o.metrics_path = path;
  o.metrics_interval_ms = 5;
  auto agent = Make(o);
  agent->Start();
  for (int i = 0; i < 20; ++i) {
    agent->Act(Obs(i));
    agent->Observe(1.0, false, false);
  }
  ASSERT_TRUE(WaitUntil([&] { return agent->Metrics().labels > 0; }));
  agent->Stop();
  std::ifstream in(path);
  std::string line, last;
  int lines = 0;
  while (std::getline(in, line)) {
    ++lines;
    EXPECT_EQ(line.front(), '{');
    EXPECT_EQ(line.back(), '}');
    last = line;
  }
  EXPECT_GE(lines, 2);
  for (const char* key : {"\"act_latency_us\"", "\"planner_drops\"", "\"deadline_misses\"",
                          "\"agreement\"", "\"labels_per_s\"", "\"queue_depth\"", "\"p90\""}) {
    EXPECT_NE(last.find(key), std::string::npos) << key << " in " << last;
  }
  EXPECT_NE(last.find("\"steps\":20"), std::string::npos) << last;
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace apprentice
