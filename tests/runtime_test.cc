// End-to-end tests of the runs: the deterministic loop (mode "sync", fixed seeds, so they never
// flake), an agent-mode run that must learn, stop requests at any phase, run directories (lock,
// identity, resume checks).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "replay/episode_log.h"
#include "runtime/run.h"
#include "runtime/run_report.h"
#include "runtime/run_store.h"
#include "tests/temp_files.h"

namespace apprentice {
namespace {

RunOptions Small(uint64_t seed) {
  RunOptions o;
  o.seed = seed;
  o.steps = 300;
  o.min_replay = 64;
  o.eval_episodes = 2;
  o.planner_eval_episodes = 1;
  o.planner_options = {{"simulations", "32"}};
  return o;
}

TEST(RunSync, SameSeedGivesTheSameRunBitForBit) {
  const RunSummary a = RunSync(Small(3));
  const RunSummary b = RunSync(Small(3));
  EXPECT_EQ(a.final_loss, b.final_loss);
  EXPECT_EQ(a.executor_return, b.executor_return);
  EXPECT_EQ(a.planner_return, b.planner_return);
  EXPECT_EQ(a.training_agreement, b.training_agreement);
  EXPECT_EQ(a.training_mean_kl, b.training_mean_kl);
  EXPECT_EQ(a.agreement, b.agreement);
  EXPECT_EQ(a.episodes, b.episodes);
  EXPECT_EQ(a.planner_labels, 300);
  EXPECT_EQ(a.distiller_updates, b.distiller_updates);
  const RunSummary c = RunSync(Small(4));
  EXPECT_NE(a.final_loss, c.final_loss);
}

TEST(RunSync, ReportsProgressAndTheStableSummaryKeys) {
  RunOptions o = Small(1);
  o.progress_interval_ns = 0;
  int64_t calls = 0, last_step = 0;
  const RunSummary s = RunSync(o, [&](const RunProgress& p) {
    ++calls;
    if (std::string_view(p.phase) == "train") last_step = p.step;
  });
  EXPECT_GT(calls, 300);
  EXPECT_EQ(last_step, 300);
  const std::string json = s.ToJson().Dump(-1);
  for (const char* key :
       {"\"env\":\"cartpole\"", "\"planner\":\"mcts\"", "\"seed\":1", "\"planner_return\":",
        "\"executor_return\":", "\"agreement\":", "\"mean_kl\":", "\"planner_labels\":300",
        "\"executor_latency_us\":{\"p50\":", "\"planner_latency_us\":{\"p50\":",
        "\"planner_options\":{\"simulations\":\"32\",\"exploration\":\"1\"",
        "\"env_options\":{\"max_episode_steps\":\"500\"}", "\"replay_sampler\":\"uniform\"",
        "\"error\":\"\"", "\"interrupted\":false"}) {
    EXPECT_NE(json.find(key), std::string::npos) << key << " missing from " << json;
  }
}

TEST(RunSync, BadNamesOptionsAndMismatchedPlannersAreClearErrors) {
  RunOptions o = Small(1);
  o.env = "mars";
  try {
    RunSync(o);
    FAIL() << "ran on an unknown env";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("unknown environment 'mars'"), std::string::npos);
  }
  o.env = "pendulum";
  EXPECT_THROW(RunSync(o), InvalidArgument);
  o = Small(1);
  o.steps = 0;
  EXPECT_THROW(RunSync(o), InvalidArgument);
  o = Small(1);
  o.planner_options = {{"simulations", "0"}};
  EXPECT_EQ(CheckRunnable(o).message(), "planner mcts: simulations: 0 is out of range [1, 100000000]");
  o = Small(1);
  o.planner = "lqr";
  o.planner_options = {};
  o.env = "pendulum";
  EXPECT_NE(CheckRunnable(o).message().find("planner lqr cannot teach on pendulum"),
            std::string::npos);
  o = Small(1);
  o.replay_capacity = 100;
  o.min_replay = 200;
  EXPECT_NE(o.Validate().message().find("exceeds the replay capacity"), std::string::npos);
}

// The foundation's promise: the executor learns CartPole from planner labels, reaching at least
// 97 % of the planner's return, within the label budget of the design's targets (5000).
TEST(RunSync, ExecutorLearnsCartPoleFromPlannerLabelsWithinTheBudget) {
  RunOptions o;  // the defaults of `apprentice run`
  o.seed = 1;
  o.curve_every = 500;
  const RunSummary s = RunSync(o);
  EXPECT_GE(s.planner_return, 475.0);
  EXPECT_GE(s.executor_return, 0.97 * s.planner_return);
  EXPECT_EQ(s.planner_labels, 4000);
  ASSERT_EQ(s.curve.size(), 8u);
  EXPECT_EQ(s.curve.front().labels, 500);
  EXPECT_GT(s.labels_to_target, 0) << "the learning curve never reached 97 % of the planner";
  EXPECT_LE(s.labels_to_target, 4000);
  EXPECT_GT(s.distiller_updates, 0);
  EXPECT_GT(s.executor_version, 0);
  EXPECT_GE(s.agreement, 0.75);
}

// Agent mode: a reflex run (the executor always acts, the planner labels in the background,
// the learner trains on its own thread) reaches the planner's return. LQR is deterministic and
// fast, so almost every state is labelled; the loop runs at 4 kHz for 5 s, long enough for the
// learner whatever the thread interleaving.
TEST(RunAgentLoop, ReflexRunReachesThePlannersReturn) {
  RunOptions o;
  o.mode = "reflex";
  o.planner = "lqr";
  o.seed = 2;
  o.steps = 20'000;
  o.rate_hz = 4000;
  o.agent.planner_queue = 256;
  o.agent.background_nice = 0;
  o.eval_episodes = 10;
  o.planner_eval_episodes = 3;
  const RunSummary s = RunAgentLoop(o);
  EXPECT_TRUE(s.error.empty()) << s.error;
  EXPECT_EQ(s.planner_return, 500.0);
  EXPECT_GE(s.executor_return, 0.95 * s.planner_return)
      << "labels " << s.planner_labels << ", updates " << s.distiller_updates;
  EXPECT_EQ(s.acted_by_executor, 20'000);
  EXPECT_GT(s.planner_labels, 1000);
}

TEST(RunSync, AStopRequestedDuringEvaluationEndsItAndSaysSo) {
  RunOptions o = Small(1);
  o.eval_episodes = 50;
  o.progress_interval_ns = 0;
  StopFlag stop;
  int64_t eval_calls_after_stop = 0;
  const RunSummary s = RunSync(
      o,
      [&](const RunProgress& p) {
        if (stop.requested()) ++eval_calls_after_stop;
        if (std::string_view(p.phase) == "eval-executor" && p.episodes == 3) stop.Request();
      },
      &stop);
  EXPECT_TRUE(s.interrupted);
  EXPECT_EQ(s.eval_episodes, 3);
  EXPECT_EQ(s.planner_eval_episodes, 0);
  EXPECT_EQ(s.planner_labels, 300);  // training had finished
  EXPECT_EQ(eval_calls_after_stop, 0);
}

TEST(RunAgentLoop, AStopRequestEndsARateLimitedLoopWithoutWaitingAPeriod) {
  RunOptions o;
  o.mode = "reflex";
  o.planner = "lqr";
  o.steps = 1'000'000;
  o.rate_hz = 0.5;  // one step every two seconds
  o.eval_episodes = 1;
  StopFlag stop;
  std::thread stopper([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    stop.Request();
  });
  const auto t0 = std::chrono::steady_clock::now();
  const RunSummary s = RunAgentLoop(o, nullptr, &stop);
  const auto took = std::chrono::steady_clock::now() - t0;
  stopper.join();
  EXPECT_TRUE(s.interrupted);
  EXPECT_LE(s.steps, 1);
  // Generous: a loaded machine must not flake; a whole period would be 2 s per step.
  EXPECT_LT(took, std::chrono::seconds(10));
}

// ---------------------------------------------------------------------------------------------
// Run directories
// ---------------------------------------------------------------------------------------------

TEST(RunDirectory, ASecondRunCannotOpenADirectoryInUse) {
  TempDir dir;
  Result<RunDirectory> first = RunDirectory::Open(dir.str());
  ASSERT_TRUE(first.ok()) << first.status().message();
  Result<RunDirectory> second = RunDirectory::Open(dir.str());
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(second.status().message().find("in use by another apprentice run (pid " +
                                           std::to_string(::getpid()) + ")"),
            std::string::npos)
      << second.status().message();
  first = Status::Unavailable("released");  // closes the lock
  EXPECT_TRUE(RunDirectory::Open(dir.str()).ok());
}

TEST(RunDirectory, ResumeRefusesADirectoryMadeForAnotherEnvOrPlanner) {
  TempDir dir;
  RunOptions o = Small(1);
  o.run_dir = dir.str();
  const RunIdentity cartpole_mcts = IdentityOf(o).ValueOrThrow();
  RunDirectory run = RunDirectory::Open(dir.str()).ValueOrThrow();
  EXPECT_EQ(run.CheckResumable(cartpole_mcts).code(), StatusCode::kNotFound);  // no logs yet
  ASSERT_TRUE(run.WriteIdentity(cartpole_mcts).ok());
  std::filesystem::create_directories(RunLogDir(dir.str()));
  EXPECT_TRUE(run.CheckResumable(cartpole_mcts).ok());

  o.planner = "lqr";
  o.planner_options = {};
  const Status other_planner = run.CheckResumable(IdentityOf(o).ValueOrThrow());
  EXPECT_EQ(other_planner.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(other_planner.message().find("was made for env cartpole"), std::string::npos)
      << other_planner.message();
  EXPECT_NE(other_planner.message().find("planner mcts"), std::string::npos);
  EXPECT_NE(other_planner.message().find("this run asks for env cartpole"), std::string::npos);

  o = Small(1);
  o.env_options = {{"max_episode_steps", "200"}};
  EXPECT_FALSE(run.CheckResumable(IdentityOf(o).ValueOrThrow()).ok());
  o = Small(1);
  o.distiller.hidden = {32};
  EXPECT_FALSE(run.CheckResumable(IdentityOf(o).ValueOrThrow()).ok());
  o = Small(1);
  o.planner_options = {{"simulations", "64"}};  // planner options may change on resume
  EXPECT_TRUE(run.CheckResumable(IdentityOf(o).ValueOrThrow()).ok());
}

TEST(RunDirectory, AResumedSyncRunContinuesItsLogsAndCheckpoint) {
  TempDir dir;
  RunOptions o = Small(5);
  o.planner = "lqr";
  o.planner_options = {};
  o.run_dir = dir.str();
  const RunSummary first = RunSync(o);
  ASSERT_TRUE(first.error.empty()) << first.error;
  EXPECT_EQ(first.logged, 300);
  o.resume = true;
  o.steps = 100;
  const RunSummary second = RunSync(o);
  ASSERT_TRUE(second.error.empty()) << second.error;
  EXPECT_EQ(second.resumed_records, 300);
  EXPECT_EQ(second.logged, 100);
  const ResumeState state = LoadResumeState(dir.str(), 1'000'000).ValueOrThrow();
  EXPECT_EQ(state.records, 400);
  EXPECT_EQ(state.next_decision_id, 401u);  // the resumed run went on numbering decisions
  EXPECT_TRUE(state.has_checkpoint);
  const EpisodeLogContents log = ReadEpisodeLog(RunLogDir(dir.str())).ValueOrThrow();
  std::set<uint64_t> ids;
  for (const DecisionRecord& r : log.records) ids.insert(r.decision_id);
  EXPECT_EQ(ids.size(), 400u) << "a decision id appears twice in the run's log";
  EXPECT_EQ(LoadResumeState(dir.str(), 10).ValueOrThrow().labelled.size(), 10u);
  // The resumed run started from the checkpoint: it did not publish from version 0 again.
  EXPECT_GT(second.executor_version, first.executor_version);
}

TEST(RunStore, ResolvesARunDirectoryToItsLogs) {
  TempDir dir;
  EXPECT_EQ(ResolveLogPath(dir.str()), dir.str());  // no logs/: as given
  std::filesystem::create_directories(RunLogDir(dir.str()));
  EXPECT_EQ(ResolveLogPath(dir.str()), RunLogDir(dir.str()));
  EXPECT_EQ(ResolveLogPath(RunLogDir(dir.str())), RunLogDir(dir.str()));
}

TEST(RunReport, ASyncRunDirectoryGivesItsSeriesAndNamesWhatItCouldNotRead) {
  TempDir dir;
  RunOptions o = Small(6);
  o.planner = "lqr";
  o.planner_options = {};
  o.run_dir = dir.str();
  o.agent.metrics_interval_ms = 10;
  const RunSummary s = RunSync(o);
  ASSERT_TRUE(s.error.empty()) << s.error;
  // Sync runs write metrics lines too; the last one at the last step.
  std::ifstream metrics(RunMetricsPath(dir.str()));
  std::string line, last;
  int64_t lines = 0;
  while (std::getline(metrics, line)) {
    ++lines;
    last = line;
  }
  ASSERT_GE(lines, 1);
  EXPECT_NE(last.find("\"mode\":\"sync\",\"steps\":300,"), std::string::npos) << last;
  std::ofstream(RunMetricsPath(dir.str()), std::ios::app) << "{not json\n";
  std::ofstream(dir.str() + "/summary.json") << s.ToJson().Dump(2);

  RunReportOptions options;
  options.max_points = 50;
  int64_t progress = 0;
  const Json r = LoadRunReport(dir.str(), options, [&](int64_t n) { progress = n; }).ValueOrThrow();
  EXPECT_EQ(progress, 300);
  EXPECT_EQ(r.Find("log")->Find("records")->AsInt(), 300);
  EXPECT_EQ(r.Find("metrics")->Find("lines")->AsInt(), lines);
  EXPECT_EQ(r.Find("metrics")->Find("bad_lines")->AsInt(), 1);
  const Json& agreement = *r.Find("log")->Find("agreement");
  EXPECT_EQ(agreement.Find("x")->AsArray().size(), 50u);  // 300 labelled, thinned to 50
  EXPECT_EQ(agreement.Find("x")->AsArray().back().AsNumber(), 299.0);
  // Every complete episode's return, by who acted; CartPole's reward is 1 a step.
  double steps_in_episodes = 0.0;
  for (const char* key : {"executor_episode_returns", "planner_episode_returns"}) {
    for (const Json& y : r.Find("log")->Find(key)->Find("y")->AsArray()) steps_in_episodes += y.AsNumber();
  }
  EXPECT_GT(steps_in_episodes, 0.0);
  EXPECT_LE(steps_in_episodes, 300.0);
  const Json& train = *r.Find("histograms")->Find("train");
  int64_t updates = 0;
  for (const Json& c : train.Find("count")->AsArray()) updates += c.AsInt();
  EXPECT_EQ(updates, s.distiller_updates);
  const Json::Array& problems = r.Find("problems")->AsArray();
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_NE(problems[0].AsString().find("metrics.jsonl line"), std::string::npos);

  EXPECT_EQ(LoadRunReport(dir.str() + "/missing").status().code(), StatusCode::kNotFound);
  TempDir empty;
  EXPECT_EQ(LoadRunReport(empty.str()).status().code(), StatusCode::kInvalidArgument);
}

TEST(RunReport, ThinningKeepsBothEndsInOrder) {
  EXPECT_TRUE(ThinIndices(0, 10).empty());
  EXPECT_EQ(ThinIndices(3, 10), (std::vector<int64_t>{0, 1, 2}));
  const std::vector<int64_t> t = ThinIndices(1'000'001, 11);
  ASSERT_EQ(t.size(), 11u);
  EXPECT_EQ(t.front(), 0);
  EXPECT_EQ(t[5], 500'000);
  EXPECT_EQ(t.back(), 1'000'000);
}

}  // namespace
}  // namespace apprentice
