// End-to-end tests of the deterministic loop (mode "sync"): fixed seeds, so they never flake.
#include <gtest/gtest.h>

#include "runtime/run.h"

namespace apprentice {
namespace {

RunOptions Small(uint64_t seed) {
  RunOptions o;
  o.seed = seed;
  o.steps = 300;
  o.min_replay = 64;
  o.eval_episodes = 2;
  o.planner_eval_episodes = 1;
  o.planner_config.mcts.simulations = 32;
  return o;
}

TEST(RunSync, SameSeedGivesTheSameRunBitForBit) {
  const RunSummary a = RunSync(Small(3));
  const RunSummary b = RunSync(Small(3));
  EXPECT_EQ(a.final_loss, b.final_loss);
  EXPECT_EQ(a.executor_return, b.executor_return);
  EXPECT_EQ(a.planner_return, b.planner_return);
  EXPECT_EQ(a.training_agreement, b.training_agreement);
  EXPECT_EQ(a.agreement, b.agreement);
  EXPECT_EQ(a.episodes, b.episodes);
  EXPECT_EQ(a.planner_labels, 300);
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
  for (const char* key : {"\"env\":\"cartpole\"", "\"planner\":\"mcts\"", "\"seed\":1",
                          "\"planner_return\":", "\"executor_return\":", "\"agreement\":",
                          "\"planner_labels\":300", "\"executor_latency_us\":{\"p50\":",
                          "\"planner_latency_us\":{\"p50\":"}) {
    EXPECT_NE(json.find(key), std::string::npos) << key << " missing from " << json;
  }
}

TEST(RunSync, BadNamesAndMismatchedPlannersAreClearErrors) {
  RunOptions o = Small(1);
  o.env = "mars";
  EXPECT_THROW(
      {
        try {
          RunSync(o);
        } catch (const InvalidArgument& e) {
          EXPECT_NE(std::string(e.what()).find("unknown environment 'mars'"), std::string::npos);
          throw;
        }
      },
      InvalidArgument);
  o.env = "pendulum";
  EXPECT_THROW(RunSync(o), InvalidArgument);
  o = Small(1);
  o.steps = 0;
  EXPECT_THROW(RunSync(o), InvalidArgument);
  o = Small(1);
  o.replay_capacity = 100;
  o.min_replay = 200;
  EXPECT_NE(o.Validate().message().find("exceeds the replay capacity"), std::string::npos);
}

// The foundation's promise: the executor learns CartPole from planner labels, reaching at least
// 97 % of the planner's return, within the default label budget.
TEST(RunSync, ExecutorLearnsCartPoleFromPlannerLabels) {
  RunOptions o;  // the defaults of `apprentice run`
  o.seed = 1;
  const RunSummary s = RunSync(o);
  EXPECT_GE(s.planner_return, 475.0);
  EXPECT_GE(s.executor_return, 0.97 * s.planner_return);
  EXPECT_LE(s.planner_labels, 5000);  // the label budget of the design's targets
  EXPECT_GT(s.distiller_updates, 0);
  EXPECT_GT(s.executor_version, 0);
  EXPECT_GE(s.agreement, 0.8);
}

}  // namespace
}  // namespace apprentice
