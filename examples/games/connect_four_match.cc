// Connect Four: the distilled executor against a random player and against MCTS at several
// simulation budgets. Each opponent plays --games games, the executor moving first in half of
// them; every game starts with --opening random moves (for neither side) so that the games
// differ. The executor plays greedily from the board alone, with the legal-move mask; MCTS plays
// its most visited move. Prints a table (or --json): wins, draws and losses of the executor, each
// side's mean time per move in the games (the executor's cold: it runs between MCTS searches),
// and how many times longer the opponent thinks; and the executor's time per move alone, hot.
//
//   build/examples/connect_four_match --snapshot runs/connect-four/executor.apsnap
//
// Torch-free: links the executor, the env and the planner only.
#include <cstdio>
#include <functional>
#include <span>
#include <sstream>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/flags.h"
#include "core/json.h"
#include "core/rng.h"
#include "env/connect_four.h"
#include "executor/executor.h"
#include "executor/snapshot_file.h"
#include "planner/mcts.h"

using namespace apprentice;

namespace {

struct Score {
  std::string opponent;
  int64_t simulations = 0;  // MCTS budget; 0 for the random player
  double takes_win = 0.0, blocks = 0.0;  // the opponent's tactics (MCTS)
  int64_t wins = 0, draws = 0, losses = 0;
  int64_t executor_moves = 0, executor_ns = 0;
  int64_t opponent_moves = 0, opponent_ns = 0;
  double executor_us() const { return executor_moves ? executor_ns * 1e-3 / executor_moves : 0; }
  double opponent_us() const { return opponent_moves ? opponent_ns * 1e-3 / opponent_moves : 0; }
  double win_or_draw() const {
    const int64_t games = wins + draws + losses;
    return games ? static_cast<double>(wins + draws) / static_cast<double>(games) : 0.0;
  }
};

Result<std::vector<int64_t>> ParseBudgets(const std::string& text) {
  std::vector<int64_t> out;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    try {
      size_t used = 0;
      const long long v = std::stoll(item, &used);
      if (used != item.size() || v < 1) throw std::invalid_argument(item);
      out.push_back(v);
    } catch (const std::exception&) {
      return Status::InvalidArgument("--budgets: '" + item +
                                     "' is not a positive whole number of simulations");
    }
  }
  return out;
}

// Tactics, on positions of random games: does a player take a win it has, and block the
// opponent's win when it has none?
struct Tactics {
  int64_t can_win = 0, took_win = 0, must_block = 0, blocked = 0;
  double takes_win() const { return can_win ? static_cast<double>(took_win) / can_win : 0.0; }
  double blocks() const { return must_block ? static_cast<double>(blocked) / must_block : 0.0; }
};

Tactics MeasureTactics(
    ConnectFour& game, uint64_t seed, int64_t positions,
    const std::function<Action(std::span<const float>, const ConnectFour&)>& choose) {
  Tactics t;
  Rng rng(seed);
  while (t.can_win + t.must_block < positions) {
    auto obs = game.Reset(rng.Next());
    for (;;) {
      bool win = false, threat = false;
      for (int c = 0; c < ConnectFour::kColumns; ++c) {
        if (!game.legal(c)) continue;
        win = win || game.WinningMove(c);
        threat = threat || game.WinningMove(c, 1 - game.to_move());
      }
      if (win || threat) {
        const int chosen = static_cast<int>(choose(obs, game).index());
        if (win) {
          ++t.can_win;
          t.took_win += game.WinningMove(chosen);
        } else {
          ++t.must_block;
          t.blocked += game.WinningMove(chosen, 1 - game.to_move());
        }
      }
      int column;
      do {
        column = static_cast<int>(rng.Below(ConnectFour::kColumns));
      } while (!game.legal(column));
      const StepResult r = game.Step(Action::Discrete(column));
      if (r.done()) break;
      obs = r.observation;
    }
  }
  return t;
}

}  // namespace

int main(int argc, char** argv) {
  std::string snapshot_path, budgets_text = "25,50,100,200,400", json_out;
  int64_t games = 100, opening = 2, seed = 1;
  bool json = false;
  FlagSet flags(
      "usage: connect_four_match --snapshot FILE [flags]\n\nThe distilled executor (a snapshot "
      "file, e.g. from `apprentice run --env connect-four`) against a random player and MCTS at "
      "several budgets. Progress on stderr; the table (or --json) on stdout.");
  flags.String("snapshot", &snapshot_path, "the executor's snapshot file (.apsnap)");
  flags.Int("games", &games, "games against each opponent (half with the executor first)", 2,
            1'000'000);
  flags.String("budgets", &budgets_text, "MCTS simulations per move, comma-separated");
  flags.Int("opening", &opening, "random moves that start every game (0-6)", 0, 6);
  flags.Int("seed", &seed, "seed of the openings and of MCTS", 0, INT64_MAX);
  flags.Bool("json", &json, "print the results as JSON instead of a table");
  flags.String("json-out", &json_out, "also write the results as JSON to this file");
  const std::vector<std::string> args(argv + 1, argv + argc);
  if (Status s = flags.Parse(args); !s.ok()) {
    std::fprintf(stderr, "connect_four_match: %s\n", s.message().c_str());
    return 2;
  }
  if (flags.help_requested()) {
    std::printf("%s", flags.Help().c_str());
    return 0;
  }
  const auto budgets = ParseBudgets(budgets_text);
  if (!budgets.ok() || snapshot_path.empty()) {
    std::fprintf(stderr, "connect_four_match: %s\n",
                 snapshot_path.empty() ? "--snapshot FILE is required"
                                       : budgets.status().message().c_str());
    return 2;
  }
  const auto loaded = LoadSnapshot(snapshot_path);
  if (!loaded.ok()) {
    std::fprintf(stderr, "connect_four_match: %s\n", loaded.status().message().c_str());
    return 1;
  }
  ConnectFour::Options env_options;
  env_options.opening = opening;
  ConnectFour game(env_options);
  const MlpSpec& spec = loaded->snapshot->spec();
  if (spec.input != game.observation_space().flat_size() || spec.head != HeadKind::kCategorical ||
      spec.actions != ConnectFour::kColumns) {
    std::fprintf(stderr,
                 "connect_four_match: %s holds a %s network; Connect Four needs 126 inputs and 7 "
                 "logits\n",
                 snapshot_path.c_str(), spec.ToString().c_str());
    return 1;
  }
  SnapshotSlot slot(loaded->snapshot);
  Executor executor(slot, game.action_space());

  // The executor alone, hot: positions of random games, decided over and over (what a game loop
  // deciding every frame sees); in the matches it runs cold, between MCTS searches.
  double hot_us = 0.0;
  {
    std::vector<std::vector<float>> boards;
    std::vector<std::vector<uint8_t>> masks;
    Rng positions(static_cast<uint64_t>(seed) + 1);
    std::vector<uint8_t> mask;
    while (boards.size() < 64) {
      auto obs = game.Reset(positions.Next());
      for (int m = 0; m < 10; ++m) {
        boards.emplace_back(obs.begin(), obs.end());
        const auto legal_now = LegalMask(game, mask);
        masks.emplace_back(legal_now.begin(), legal_now.end());
        int column;
        do {
          column = static_cast<int>(positions.Below(ConnectFour::kColumns));
        } while (!game.legal(column));
        const StepResult r = game.Step(Action::Discrete(column));
        if (r.done()) break;
        obs = r.observation;
      }
    }
    constexpr int kCalls = 200'000;
    int64_t checksum = 0;
    const int64_t t0 = NowNs();
    for (int i = 0; i < kCalls; ++i) {
      const size_t k = static_cast<size_t>(i) % boards.size();
      checksum += executor.Act(boards[k], masks[k]).action.index();
    }
    hot_us = static_cast<double>(NowNs() - t0) * 1e-3 / kCalls;
    std::fprintf(stderr, "  executor alone, hot: %.3f us a move (%s kernel, checksum %lld)\n",
                 hot_us, std::string(ExecutorKernel()).c_str(), static_cast<long long>(checksum));
  }

  std::vector<uint8_t> tactics_mask;
  const Tactics tactics = MeasureTactics(game, static_cast<uint64_t>(seed) + 2, 4000,
                                         [&](std::span<const float> obs, const ConnectFour& g) {
                                           return executor.Act(obs, LegalMask(g, tactics_mask)).action;
                                         });
  std::fprintf(stderr, "  executor tactics: takes %.1f %% of wins, blocks %.1f %% of threats\n",
               100.0 * tactics.takes_win(), 100.0 * tactics.blocks());

  std::vector<Score> scores;
  scores.push_back({"random", 0});
  for (const int64_t b : *budgets) scores.push_back({"mcts", b});
  Rng rng(static_cast<uint64_t>(seed));
  std::vector<uint8_t> legal;
  for (Score& score : scores) {
    MctsPlanner::Options mcts_options;
    mcts_options.simulations = std::max<int64_t>(score.simulations, 1);
    MctsPlanner mcts(mcts_options);
    if (score.simulations > 0) {
      Rng plan_seeds(static_cast<uint64_t>(seed) + 3);
      const Tactics t = MeasureTactics(game, static_cast<uint64_t>(seed) + 2, 1000,
                                       [&](std::span<const float> obs, const ConnectFour& g) {
                                         PlanRequest request;
                                         request.observation = obs;
                                         request.env = &g;
                                         request.seed = plan_seeds.Next();
                                         return mcts.Plan(request).ValueOrThrow().action;
                                       });
      score.takes_win = t.takes_win();
      score.blocks = t.blocks();
    }
    for (int64_t g = 0; g < games; ++g) {
      auto obs = game.Reset(rng.Next());
      const int executor_side = static_cast<int>(g % 2);  // 0: the executor moves first
      // The opening's moves belong to neither side: the side to move now is "first".
      const int first_to_move = game.to_move();
      for (;;) {
        const bool executor_moves = (game.to_move() == first_to_move) == (executor_side == 0);
        const auto mask = LegalMask(game, legal);
        Action action;
        const int64_t t0 = NowNs();
        if (executor_moves) {
          action = executor.Act(obs, mask).action;
          score.executor_ns += NowNs() - t0;
          ++score.executor_moves;
        } else if (score.simulations == 0) {
          int64_t column;
          do {
            column = static_cast<int64_t>(rng.Below(ConnectFour::kColumns));
          } while (!game.legal(static_cast<int>(column)));
          action = Action::Discrete(column);
          score.opponent_ns += NowNs() - t0;
          ++score.opponent_moves;
        } else {
          PlanRequest request;
          request.observation = obs;
          request.env = &game;
          request.seed = rng.Next();
          action = mcts.Plan(request).ValueOrThrow().action;
          score.opponent_ns += NowNs() - t0;
          ++score.opponent_moves;
        }
        const StepResult r = game.Step(action);  // an illegal move would throw here
        if (r.done()) {
          if (r.reward == 0.0) {
            ++score.draws;
          } else if (executor_moves) {
            ++score.wins;
          } else {
            ++score.losses;
          }
          break;
        }
        obs = r.observation;
      }
    }
    std::fprintf(stderr, "  vs %s%s: %lld won, %lld drawn, %lld lost\n", score.opponent.c_str(),
                 score.simulations ? (" " + std::to_string(score.simulations)).c_str() : "",
                 static_cast<long long>(score.wins), static_cast<long long>(score.draws),
                 static_cast<long long>(score.losses));
  }

  {
    Json::Array rows;
    for (const Score& s : scores) {
      rows.push_back(Json{{"opponent", s.opponent},
                          {"simulations", s.simulations},
                          {"games", s.wins + s.draws + s.losses},
                          {"wins", s.wins},
                          {"draws", s.draws},
                          {"losses", s.losses},
                          {"win_or_draw", s.win_or_draw()},
                          {"executor_us_per_move", s.executor_us()},
                          {"opponent_us_per_move", s.opponent_us()},
                          {"opponent_takes_win", s.takes_win},
                          {"opponent_blocks", s.blocks}});
    }
    const std::string text = Json{{"snapshot", snapshot_path},
                                  {"executor_hot_us_per_move", hot_us},
                                  {"takes_win", tactics.takes_win()},
                                  {"blocks", tactics.blocks()},
                                  {"results", Json(rows)}}
                                 .Dump() +
                             "\n";
    if (!json_out.empty()) {
      std::FILE* f = std::fopen(json_out.c_str(), "w");
      if (f == nullptr || std::fputs(text.c_str(), f) < 0 || std::fclose(f) != 0) {
        std::fprintf(stderr, "connect_four_match: cannot write %s\n", json_out.c_str());
        return 1;
      }
    }
    if (json) {
      std::printf("%s", text.c_str());
      return 0;
    }
  }
  std::printf("executor alone, hot: %.3f us a move; takes an immediate win %.1f %%, blocks the "
              "opponent's %.1f %% (positions of random games)\n",
              hot_us, 100.0 * tactics.takes_win(), 100.0 * tactics.blocks());
  std::printf("%-10s %6s %5s %5s %6s %10s %12s %12s %9s %10s %7s\n", "opponent", "sims", "won",
              "drawn", "lost", "won+drawn", "executor us", "opponent us", "x slower",
              "its wins", "blocks");
  for (const Score& s : scores) {
    std::printf("%-10s %6lld %5lld %5lld %6lld %9.1f%% %12.2f %12.1f %9.0f", s.opponent.c_str(),
                static_cast<long long>(s.simulations), static_cast<long long>(s.wins),
                static_cast<long long>(s.draws), static_cast<long long>(s.losses),
                100.0 * s.win_or_draw(), s.executor_us(), s.opponent_us(),
                s.executor_us() > 0 ? s.opponent_us() / s.executor_us() : 0.0);
    if (s.simulations > 0) {
      std::printf(" %9.1f%% %6.1f%%\n", 100.0 * s.takes_win, 100.0 * s.blocks);
    } else {
      std::printf(" %10s %7s\n", "-", "-");
    }
  }
  return 0;
}
