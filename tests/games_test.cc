// Board games and the many-agent path: Connect Four's rules, legal-move masks through the
// executor (Act, ActBatch, Sample), MCTS with masks and alternating turns, the grid world of the
// NPC demo, and an Agent playing Connect Four whose log keeps every mask. An illegal action is
// never chosen, over many random positions.
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "agent/agent.h"
#include "agent/weights.h"
#include "core/policy.h"
#include "core/rng.h"
#include "env/connect_four.h"
#include "env/grid_world.h"
#include "env/vector_env.h"
#include "executor/executor.h"
#include "executor/snapshot.h"
#include "planner/mcts.h"
#include "replay/episode_log.h"
#include "tests/temp_files.h"
#include "tests/wait_until.h"

namespace apprentice {
namespace {

// Plays `columns` from an empty board.
ConnectFour Play(std::initializer_list<int> columns) {
  ConnectFour game;
  game.Reset(0);
  for (const int c : columns) game.Step(Action::Discrete(c));
  return game;
}

std::vector<uint8_t> Legal(const Env& env) {
  std::vector<uint8_t> legal;
  const std::span<const uint8_t> mask = LegalMask(env, legal);
  return {mask.begin(), mask.end()};
}

// Random positions reached by random legal play from random openings, each still running.
std::vector<ConnectFour> RandomPositions(int count, uint64_t seed) {
  Rng rng(seed);
  std::vector<ConnectFour> out;
  while (static_cast<int>(out.size()) < count) {
    ConnectFour game;
    game.Reset(rng.Next());
    const auto moves = static_cast<int>(rng.Below(40));
    bool over = false;
    for (int m = 0; m < moves && !over; ++m) {
      int c;
      do {
        c = static_cast<int>(rng.Below(7));
      } while (!game.legal(c));
      over = game.Step(Action::Discrete(c)).done();
    }
    if (!over) out.push_back(game);
  }
  return out;
}

std::shared_ptr<const Snapshot> RandomConnectFourSnapshot(uint64_t seed) {
  const ConnectFour game;
  const MlpSpec spec = StudentSpec(game.observation_space(), game.action_space(), {64, 64},
                                   Activation::kRelu)
                           .ValueOrThrow();
  std::vector<float> params = InitialParameters(spec, seed);
  // Large output biases towards the rightmost columns: full columns there must still lose.
  for (int c = 0; c < 7; ++c) params[params.size() - 7 + c] = 2.0f * static_cast<float>(c);
  return Snapshot::Create(spec, params, 1).ValueOrThrow();
}

TEST(ConnectFour, StonesFallAndTheObservationIsTheMoversView) {
  ConnectFour game = Play({3});
  const auto obs = game.Reset(0);
  EXPECT_EQ(obs.size(), 126u);
  // An empty board: no stones; every column playable at row 0.
  for (int cell = 0; cell < 84; ++cell) EXPECT_EQ(obs[cell], 0.0f) << cell;
  for (int cell = 0; cell < 42; ++cell) EXPECT_EQ(obs[84 + cell], cell < 7 ? 1.0f : 0.0f) << cell;
  const StepResult r = game.Step(Action::Discrete(3));
  EXPECT_EQ(r.reward, 0.0);
  EXPECT_FALSE(r.done());
  // Player 1 moves next: the stone of player 0 is the opponent's (plane 1), bottom row, column 3.
  EXPECT_EQ(r.observation[3], 0.0f);
  EXPECT_EQ(r.observation[42 + 3], 1.0f);
  const StepResult r2 = game.Step(Action::Discrete(3));  // stacks on top: row 1
  EXPECT_EQ(r2.observation[3], 1.0f);                     // player 0 to move: its own stone
  EXPECT_EQ(r2.observation[42 + 7 + 3], 1.0f);
  EXPECT_EQ(r2.observation[84 + 14 + 3], 1.0f);  // column 3 plays at row 2 next
  EXPECT_EQ(r2.observation[84 + 3], 0.0f);
  EXPECT_EQ(game.ToString().substr(5 * 8), "...X...\n");
  EXPECT_TRUE(game.alternating_turns());
}

TEST(ConnectFour, FourInARowWinsInEveryDirection) {
  // Horizontal: X plays 0,1,2,3; O plays 0,1,2 on top.
  ConnectFour h = Play({0, 0, 1, 1, 2, 2});
  EXPECT_TRUE(h.WinningMove(3));
  StepResult r = h.Step(Action::Discrete(3));
  EXPECT_EQ(r.reward, 1.0);
  EXPECT_TRUE(r.terminated);
  EXPECT_FALSE(r.truncated);
  // Vertical.
  ConnectFour v = Play({0, 1, 0, 1, 0, 1});
  EXPECT_TRUE(v.WinningMove(0));
  EXPECT_FALSE(v.WinningMove(2));
  // Diagonal /: X at (0,0) (1,1) (2,2) (3,3).
  ConnectFour d = Play({0, 1, 1, 2, 2, 3, 2, 3, 3, 6});
  EXPECT_TRUE(d.WinningMove(3));
  // Diagonal \: X at (3,0) (2,1) (1,2) (0,3).
  ConnectFour e = Play({3, 2, 2, 1, 1, 0, 1, 0, 0, 6});
  EXPECT_TRUE(e.WinningMove(0));
  // No wrap-around between columns: stones at the top of column 0 and the bottom of column 1
  // are not a line.
  ConnectFour w = Play({6, 0, 6, 0, 6, 0, 5, 1, 5, 1, 5, 1});
  EXPECT_FALSE(w.WinningMove(2));
}

TEST(ConnectFour, AFullColumnIsMaskedAndRefusedAndAFullBoardIsADraw) {
  ConnectFour game = Play({0, 0, 0, 0, 0, 0});
  EXPECT_EQ(Legal(game), (std::vector<uint8_t>{0, 1, 1, 1, 1, 1, 1}));
  const std::string before = game.ToString();
  EXPECT_THROW(game.Step(Action::Discrete(0)), InvalidArgument);
  EXPECT_EQ(game.ToString(), before);  // refused: nothing changed
  // A drawn game: columns filled in an order that never lines up four.
  ConnectFour full;
  full.Reset(0);
  const int order[] = {0, 1, 0, 1, 0, 1, 1, 0, 1, 0, 1, 0, 2, 3, 2, 3, 2, 3, 3, 2, 3,
                       2, 3, 2, 4, 5, 4, 5, 4, 5, 5, 4, 5, 4, 5, 4, 6, 6, 6, 6, 6, 6};
  StepResult r;
  for (const int c : order) r = full.Step(Action::Discrete(c));
  EXPECT_EQ(full.moves(), 42);
  EXPECT_TRUE(r.terminated);
  EXPECT_EQ(r.reward, 0.0);
  EXPECT_THROW(full.Step(Action::Discrete(0)), InvalidArgument);
}

TEST(ConnectFour, RandomOpeningsDifferBySeedAndNeverEndTheGame) {
  ConnectFour::Options o;
  o.opening = 6;
  ConnectFour a(o), b(o);
  std::set<std::string> boards;
  for (uint64_t seed = 0; seed < 50; ++seed) {
    a.Reset(seed);
    b.Reset(seed);
    EXPECT_EQ(a.ToString(), b.ToString());
    EXPECT_EQ(a.moves(), 6);
    boards.insert(a.ToString());
  }
  EXPECT_GT(boards.size(), 40u);
  o.opening = 7;
  EXPECT_FALSE(o.Validate().ok());
}

TEST(LegalMasks, MaskLogitsKeepsTheArgmaxLegalAndRefusesBadMasks) {
  std::vector<float> logits = {5.0f, 1.0f, 3.0f};
  const std::vector<uint8_t> legal = {0, 1, 1};
  ASSERT_TRUE(MaskLogits(logits, legal).ok());
  EXPECT_EQ(Argmax(logits), 2);
  EXPECT_FLOAT_EQ(logits[0], 3.0f + kMinLogit);
  std::vector<float> probs(3);
  Softmax(logits, probs);
  EXPECT_LT(probs[0], 1e-12f);
  EXPECT_FALSE(MaskLogits(logits, std::vector<uint8_t>{0, 0, 0}).ok());
  EXPECT_FALSE(MaskLogits(logits, std::vector<uint8_t>{1, 1}).ok());
}

TEST(LegalMasks, TheExecutorNeverChoosesAnIllegalMoveOverManyRandomPositions) {
  SnapshotSlot slot(RandomConnectFourSnapshot(3));
  const ConnectFour prototype;
  Executor executor(slot, prototype.action_space());
  Executor batch_executor(slot, prototype.action_space());
  const std::vector<ConnectFour> positions = RandomPositions(2000, 11);
  std::vector<float> observations;
  std::vector<uint8_t> masks;
  Rng rng(5);
  int64_t restricted = 0;
  for (const ConnectFour& p : positions) {
    const std::vector<float> obs(p.observation().begin(), p.observation().end());
    const std::vector<uint8_t> legal = Legal(p);
    restricted += std::count(legal.begin(), legal.end(), 0) > 0;
    ExecutorDecision d = executor.Act(obs, legal);
    ASSERT_TRUE(p.legal(static_cast<int>(d.action.index()))) << p.ToString();
    for (int s = 0; s < 20; ++s) {
      ExecutorDecision sampled = d;
      executor.Sample(sampled, rng);
      ASSERT_TRUE(p.legal(static_cast<int>(sampled.action.index()))) << p.ToString();
    }
    observations.insert(observations.end(), obs.begin(), obs.end());
    masks.insert(masks.end(), legal.begin(), legal.end());
  }
  EXPECT_GT(restricted, 200);  // many positions do have a full column
  // The batch path: the same actions as one Act() per row.
  std::vector<Action> actions(positions.size());
  std::vector<float> outputs(positions.size() * 7);
  batch_executor.ActBatch(observations, actions, outputs, {}, masks);
  for (size_t i = 0; i < positions.size(); ++i) {
    const auto obs = std::span<const float>(observations).subspan(i * 126, 126);
    const auto legal = std::span<const uint8_t>(masks).subspan(i * 7, 7);
    EXPECT_EQ(actions[i], executor.Act(obs, legal).action) << i;
    ASSERT_TRUE(positions[i].legal(static_cast<int>(actions[i].index())));
  }
  // Bad masks: the wrong size, or no legal move.
  EXPECT_THROW(executor.Act(std::span<const float>(observations).first(126),
                            std::vector<uint8_t>{1, 1}),
               InvalidArgument);
  EXPECT_THROW(executor.Act(std::span<const float>(observations).first(126),
                            std::vector<uint8_t>(7, 0)),
               InvalidArgument);
}

PlanDecision PlanOn(const Env& env, int64_t simulations, uint64_t seed = 1) {
  MctsPlanner::Options o;
  o.simulations = simulations;
  MctsPlanner mcts(o);
  PlanRequest request;
  request.env = &env;
  request.seed = seed;
  return mcts.Plan(request).ValueOrThrow();
}

TEST(MctsOnBoardGames, TakesTheWinAndBlocksTheOpponentsWin) {
  // X to move with three in a row on the bottom: column 3 wins.
  EXPECT_EQ(PlanOn(Play({0, 0, 1, 1, 2, 2}), 2000).action, Action::Discrete(3));
  // O to move; X threatens 0-1-2-(3): O must block at 3.
  const PlanDecision block = PlanOn(Play({0, 6, 1, 6, 2}), 4000);
  EXPECT_EQ(block.action, Action::Discrete(3));
  // The value is the mover's: positive when it can win now.
  EXPECT_GT(PlanOn(Play({0, 0, 1, 1, 2, 2}), 2000).value, 0.5);
}

TEST(MctsOnBoardGames, NeverPlansAnIllegalMoveAndGivesItProbabilityZero) {
  const std::vector<ConnectFour> positions = RandomPositions(150, 21);
  for (const ConnectFour& p : positions) {
    const PlanDecision d = PlanOn(p, 200, p.moves() + 1);
    ASSERT_TRUE(p.legal(static_cast<int>(d.action.index())));
    const std::vector<float> probs = d.distribution.Probabilities();
    for (int c = 0; c < 7; ++c) {
      if (!p.legal(c)) {
        EXPECT_LT(probs[static_cast<size_t>(c)], 1e-9f) << p.ToString();
      }
    }
  }
}

TEST(GridWorld, TheGoalIsReachableAndWallsBlock) {
  GridWorld::Options o;
  o.walls = 0.35;
  GridWorld world(o);
  for (uint64_t seed = 0; seed < 50; ++seed) {
    world.Reset(seed);
    const int64_t path = world.ShortestPath();
    ASSERT_GT(path, 0) << world.ToString();
    // Walking the shortest path reaches the goal with reward 1: follow the BFS greedily.
    StepResult r;
    for (int64_t step = 0; step < path; ++step) {
      int64_t best = -1;
      for (int64_t a = 0; a < 4 && best < 0; ++a) {
        GridWorld probe = world;
        const StepResult pr = probe.Step(Action::Discrete(a));
        if (pr.terminated || probe.ShortestPath() == path - step - 1) best = a;
      }
      ASSERT_GE(best, 0);
      r = world.Step(Action::Discrete(best));
    }
    EXPECT_TRUE(r.terminated);
    EXPECT_EQ(r.reward, 1.0);
  }
  EXPECT_EQ(world.observation_space().flat_size(), 2 * 25 + 2);
}

// An agent playing both sides of Connect Four, MCTS labelling: every decision is legal, and the
// log keeps each state's mask.
TEST(AgentOnBoardGames, PlaysOnlyLegalMovesAndLogsTheMasks) {
  TempDir dir;
  const ConnectFour prototype;
  WeightBroadcast weights(RandomConnectFourSnapshot(9));
  AgentOptions o;
  o.seed = 3;
  o.background_nice = 0;
  o.log_dir = dir.str();
  o.env_name = "connect-four";
  o.planner_queue = 4096;
  AgentSeams seams;
  seams.planners = [] {
    MctsPlanner::Options m;
    m.simulations = 50;
    return Result<std::unique_ptr<Planner>>(std::make_unique<MctsPlanner>(m));
  };
  seams.weights = &weights;
  int64_t steps = 0;
  {
    Agent agent(o, prototype, seams);
    agent.Start();
    ConnectFour game;
    std::vector<uint8_t> legal;
    for (int g = 0; g < 20; ++g) {
      auto obs = game.Reset(static_cast<uint64_t>(g));
      for (;;) {
        const AgentDecision d = agent.Act(obs, &game, LegalMask(game, legal));
        ASSERT_TRUE(game.legal(static_cast<int>(d.action.index())));
        const StepResult r = game.Step(d.action);
        agent.Observe(r.reward, r.terminated, r.truncated);
        ++steps;
        if (r.done()) break;
        obs = r.observation;
      }
    }
    // Every queued request labelled (Stop() would cancel the ones still waiting).
    ASSERT_TRUE(WaitUntil([&] {
      const AgentMetrics m = agent.Metrics();
      return m.labels + m.planner_drops >= m.planner_requests;
    }));
    ASSERT_TRUE(agent.Stop().ok());
  }
  const EpisodeLogContents log = ReadEpisodeLog(dir.str()).ValueOrThrow();
  ASSERT_EQ(static_cast<int64_t>(log.records.size()), steps);
  int64_t restricted = 0, labelled = 0;
  for (const DecisionRecord& r : log.records) {
    ASSERT_EQ(r.legal.size(), 7u);
    const auto a = static_cast<size_t>(r.executor_action.index());
    EXPECT_NE(r.legal[a], 0);
    restricted += std::count(r.legal.begin(), r.legal.end(), 0) > 0;
    if (r.has_label) {
      ++labelled;
      EXPECT_NE(r.legal[static_cast<size_t>(r.planner_action.index())], 0);
    }
  }
  EXPECT_GT(restricted, 0);
  EXPECT_GT(labelled, 0);
}

}  // namespace
}  // namespace apprentice
