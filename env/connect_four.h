// ConnectFour: the board game, two players on one 6 x 7 board, for tree search to teach a policy
// that plays from the board alone.
//
// Players drop a stone into one of 7 columns (action = column, 0 left to 6 right); it falls to
// the lowest empty cell. Four stones of one player in a row (horizontal, vertical or diagonal)
// win. A full column is an illegal move: LegalActions() masks it, Step() refuses it.
//
// - Alternating turns (Env::alternating_turns): the observation is the board from the view of
//   the player to move, 3 x 42 floats: plane 0 holds 1 where the mover has a stone, plane 1 where
//   the opponent has, plane 2 at the cell where each column's next stone would land (none for a
//   full column); cell index row * 7 + column, row 0 at the bottom. One policy plays both sides.
// - Reward +1 to the player whose move wins, 0 for every other move; terminated at a win or when
//   the board is full (a draw). A game never lasts more than 42 moves, so it is never truncated:
//   max_episode_steps() is 42 and the episode ends by termination.
// - Reset(seed): an empty board, then `opening` random legal moves drawn from Rng(seed) (0 to 6,
//   too few for a win), so that games from different seeds differ. The first mover of the game
//   is player 0.
// - Step() does not allocate. Not thread-safe (env/env.h).
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "core/action.h"
#include "core/options.h"
#include "core/space.h"
#include "env/env.h"
#include "env/episode.h"

namespace apprentice {

class ConnectFour final : public Env {
 public:
  static constexpr int kRows = 6, kColumns = 7, kCells = kRows * kColumns;
  static constexpr int kPlanes = 3;  // the mover's stones, the opponent's, the playable cells

  struct Options {
    int64_t opening = 0;  // random moves played at Reset()
    void Declare(OptionBinder& b) {
      b.Int("opening", &opening, "random legal moves played at reset (0-6), to vary the games", 0,
            6);
    }
    Status Validate() const;
  };

  ConnectFour() : ConnectFour(Options()) {}
  explicit ConnectFour(const Options& options);

  std::string name() const override { return "connect-four"; }
  const Space& observation_space() const override;
  const Space& action_space() const override;
  int64_t max_episode_steps() const override { return kCells; }

  std::span<const float> Reset(uint64_t seed) override;
  StepResult Step(const Action& action) override;
  std::unique_ptr<Env> Clone() const override;
  Status CopyStateFrom(const Env& other) override;
  int64_t elapsed_steps() const override { return episode_.elapsed(); }
  bool LegalActions(std::span<uint8_t> legal) const override;
  bool alternating_turns() const override { return true; }

  // The current observation (what the last Reset() or Step() returned).
  std::span<const float> observation() const { return observation_; }
  // Who moves next: 0 (the game's first mover) or 1.
  int to_move() const { return moves_ % 2; }
  // Moves played in this game (the opening included).
  int moves() const { return moves_; }
  bool legal(int column) const { return column >= 0 && column < kColumns && height_[column] < kRows; }
  // Whether the mover (or `player`, 0 or 1) would win by dropping a stone into `column` (which
  // must be legal) now.
  bool WinningMove(int column) const { return WinningMove(column, to_move()); }
  bool WinningMove(int column, int player) const;
  // The board as text, row 5 at the top: 'X' player 0, 'O' player 1, '.' empty.
  std::string ToString() const;

 private:
  // Stones of one player: bit column * 7 + row (row 6 of each column stays empty, a separator
  // that keeps the line test from wrapping around columns).
  static bool HasFour(uint64_t stones);
  void Play(int column);
  void WriteObservation();

  Options options_;
  std::array<uint64_t, 2> stones_{};  // by player
  std::array<int8_t, kColumns> height_{};
  int moves_ = 0;
  std::array<float, 3 * kCells> observation_{};
  Episode episode_;
};

}  // namespace apprentice
