// Connect Four: the distilled executor against a random player and against MCTS at several
// simulation budgets. Each opponent plays --games games, the executor moving first in half of
// them; every game starts with --opening random moves (for neither side) so that the games
// differ. The executor plays greedily from the board alone, with the legal-move mask; MCTS plays
// its most visited move. Prints a table (or --json): wins, draws and losses of the executor, each
// side's mean time per move, and how many times longer the opponent thinks.
//
//   build/examples/connect_four_match --snapshot runs/connect-four/executor.apsnap
//
// Torch-free: links the executor, the env and the planner only.
#include <cstdio>
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
                 "connect_four_match: %s holds a %s network; Connect Four needs 84 inputs and 7 "
                 "logits\n",
                 snapshot_path.c_str(), spec.ToString().c_str());
    return 1;
  }
  SnapshotSlot slot(loaded->snapshot);
  Executor executor(slot, game.action_space());

  std::vector<Score> scores;
  scores.push_back({"random", 0});
  for (const int64_t b : *budgets) scores.push_back({"mcts", b});
  Rng rng(static_cast<uint64_t>(seed));
  std::vector<uint8_t> legal;
  for (Score& score : scores) {
    MctsPlanner::Options mcts_options;
    mcts_options.simulations = std::max<int64_t>(score.simulations, 1);
    MctsPlanner mcts(mcts_options);
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
                          {"opponent_us_per_move", s.opponent_us()}});
    }
    const std::string text =
        Json{{"snapshot", snapshot_path}, {"results", Json(rows)}}.Dump() + "\n";
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
  std::printf("%-10s %6s %5s %5s %6s %12s %14s %14s %10s\n", "opponent", "sims", "won", "drawn",
              "lost", "won+drawn", "executor us", "opponent us", "x slower");
  for (const Score& s : scores) {
    std::printf("%-10s %6lld %5lld %5lld %6lld %11.1f%% %14.2f %14.1f %10.0f\n",
                s.opponent.c_str(), static_cast<long long>(s.simulations),
                static_cast<long long>(s.wins), static_cast<long long>(s.draws),
                static_cast<long long>(s.losses), 100.0 * s.win_or_draw(), s.executor_us(),
                s.opponent_us(), s.executor_us() > 0 ? s.opponent_us() / s.executor_us() : 0.0);
  }
  return 0;
}
