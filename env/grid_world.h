// GridWorld: an NPC finds its way to a goal through a walled grid; the many-agent game demo runs
// hundreds of these at once (VectorEnv), one per NPC.
//
// A size x size grid (outside it is wall) with interior walls, a start and a goal drawn at
// Reset(seed), the goal always reachable. Actions Discrete(4): up, down, left, right; a move
// into a wall leaves the NPC where it is.
//
// - Observation, 2 * (2 * view + 1)^2 + 2 floats: the walls around the NPC ((2 view + 1)^2
//   cells, row-major from the top-left, 1 = wall or outside), the same window marking the goal
//   if it is in view, then the goal's offset (dx, dy) divided by size - 1.
// - Reward: +1 on reaching the goal (terminated); every other step -0.01 plus 0.1 x how much
//   nearer (Manhattan distance) the NPC came, so that a planner's short rollouts see progress.
// - truncated after max_episode_steps (default 4 x size).
// - Step() does not allocate; Clone()/CopyStateFrom() copy the grid. Not thread-safe (env/env.h).
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/action.h"
#include "core/options.h"
#include "core/space.h"
#include "env/env.h"
#include "env/episode.h"

namespace apprentice {

class GridWorld final : public Env {
 public:
  struct Options {
    int64_t size = 11;
    double walls = 0.2;  // share of the interior cells that are walls
    int64_t view = 2;    // the NPC sees (2 view + 1)^2 cells around it
    int64_t max_episode_steps = 0;  // 0: 4 x size
    void Declare(OptionBinder& b) {
      b.Int("size", &size, "cells per side", 4, 64);
      b.Double("walls", &walls, "share of the cells that are walls", 0, 0.5);
      b.Int("view", &view, "cells the NPC sees in each direction", 1, 8);
      b.Int("max_episode_steps", &max_episode_steps, "steps before truncation (0: 4 x size)", 0,
            1'000'000);
    }
    Status Validate() const;
  };

  GridWorld() : GridWorld(Options()) {}
  explicit GridWorld(const Options& options);

  std::string name() const override { return "gridworld"; }
  const Space& observation_space() const override { return observation_space_; }
  const Space& action_space() const override;
  int64_t max_episode_steps() const override { return episode_.max_steps(); }

  std::span<const float> Reset(uint64_t seed) override;
  StepResult Step(const Action& action) override;
  std::unique_ptr<Env> Clone() const override;
  Status CopyStateFrom(const Env& other) override;
  int64_t elapsed_steps() const override { return episode_.elapsed(); }

  // Shortest path from the NPC to the goal, in moves (breadth-first search; allocates).
  int64_t ShortestPath() const;
  // The grid as text: '#' wall, 'A' the NPC, 'G' the goal, '.' free.
  std::string ToString() const;

 private:
  bool wall(int64_t x, int64_t y) const {
    return x < 0 || y < 0 || x >= size_ || y >= size_ || walls_[y * size_ + x] != 0;
  }
  int64_t Distance() const;  // Manhattan, NPC to goal
  void WriteObservation();

  Options options_;
  int64_t size_;
  Space observation_space_;
  std::vector<uint8_t> walls_;  // size x size, row-major
  int64_t x_ = 0, y_ = 0, goal_x_ = 0, goal_y_ = 0;
  std::vector<float> observation_;
  Episode episode_;
};

}  // namespace apprentice
