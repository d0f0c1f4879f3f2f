#include "env/grid_world.h"

#include <algorithm>
#include <cstdlib>
#include <deque>
#include <typeinfo>

#include "core/rng.h"
#include "core/status.h"
#include "env/registry.h"

namespace apprentice {
namespace {

constexpr int64_t kDx[4] = {0, 0, -1, 1};  // up, down, left, right (y grows downwards)
constexpr int64_t kDy[4] = {-1, 1, 0, 0};

int64_t ObservationSize(int64_t view) {
  const int64_t side = 2 * view + 1;
  return 2 * side * side + 2;
}

}  // namespace

Status GridWorld::Options::Validate() const {
  if (size < 4) return Status::InvalidArgument("gridworld size must be >= 4");
  if (!(walls >= 0.0 && walls <= 0.5)) {
    return Status::InvalidArgument("gridworld walls must be in [0, 0.5]");
  }
  if (view < 1) return Status::InvalidArgument("gridworld view must be >= 1");
  if (max_episode_steps < 0) {
    return Status::InvalidArgument("gridworld max_episode_steps must be >= 0");
  }
  return Status::Ok();
}

GridWorld::GridWorld(const Options& options)
    : options_((RequireOk(options.Validate()), options)),
      size_(options.size),
      observation_space_(Space::Box(-1.0f, 1.0f, {ObservationSize(options.view)})),
      walls_(static_cast<size_t>(options.size * options.size), 0),
      observation_(static_cast<size_t>(ObservationSize(options.view)), 0.0f),
      episode_("gridworld",
               options.max_episode_steps > 0 ? options.max_episode_steps : 4 * options.size) {}

const Space& GridWorld::action_space() const {
  static const Space& space = *new Space(Space::Discrete(4));
  return space;
}

int64_t GridWorld::Distance() const { return std::abs(x_ - goal_x_) + std::abs(y_ - goal_y_); }

int64_t GridWorld::ShortestPath() const {
  std::vector<int64_t> dist(walls_.size(), -1);
  std::deque<int64_t> frontier = {y_ * size_ + x_};
  dist[static_cast<size_t>(frontier.front())] = 0;
  while (!frontier.empty()) {
    const int64_t at = frontier.front();
    frontier.pop_front();
    const int64_t x = at % size_, y = at / size_;
    if (x == goal_x_ && y == goal_y_) return dist[static_cast<size_t>(at)];
    for (int a = 0; a < 4; ++a) {
      const int64_t nx = x + kDx[a], ny = y + kDy[a];
      if (wall(nx, ny) || dist[static_cast<size_t>(ny * size_ + nx)] >= 0) continue;
      dist[static_cast<size_t>(ny * size_ + nx)] = dist[static_cast<size_t>(at)] + 1;
      frontier.push_back(ny * size_ + nx);
    }
  }
  return -1;
}

std::span<const float> GridWorld::Reset(uint64_t seed) {
  Rng rng(seed);
  const auto cell = [&] { return static_cast<int64_t>(rng.Below(static_cast<uint64_t>(size_))); };
  // Draw until the goal is reachable; a dense draw that never connects falls back to no walls.
  for (int attempt = 0;; ++attempt) {
    for (uint8_t& w : walls_) w = rng.Uniform() < options_.walls ? 1 : 0;
    if (attempt >= 100) std::fill(walls_.begin(), walls_.end(), 0);
    do {
      x_ = cell();
      y_ = cell();
      goal_x_ = cell();
      goal_y_ = cell();
    } while (x_ == goal_x_ && y_ == goal_y_);
    walls_[static_cast<size_t>(y_ * size_ + x_)] = 0;
    walls_[static_cast<size_t>(goal_y_ * size_ + goal_x_)] = 0;
    if (ShortestPath() > 0) break;
  }
  episode_.Begin();
  WriteObservation();
  return observation_;
}

StepResult GridWorld::Step(const Action& action) {
  episode_.CheckStep(action_space(), action);
  const auto a = static_cast<size_t>(action.index());
  const int64_t before = Distance();
  if (!wall(x_ + kDx[a], y_ + kDy[a])) {
    x_ += kDx[a];
    y_ += kDy[a];
  }
  StepResult result;
  result.terminated = x_ == goal_x_ && y_ == goal_y_;
  result.reward = result.terminated ? 1.0 : -0.01 + 0.1 * static_cast<double>(before - Distance());
  episode_.EndStep(result);
  WriteObservation();
  result.observation = observation_;
  return result;
}

std::unique_ptr<Env> GridWorld::Clone() const { return std::make_unique<GridWorld>(*this); }

Status GridWorld::CopyStateFrom(const Env& other) {
  if (typeid(other) != typeid(GridWorld)) {
    return Status::InvalidArgument("gridworld: cannot copy the state of a " + other.name() +
                                   " env");
  }
  const auto& o = static_cast<const GridWorld&>(other);
  if (o.size_ != size_ || o.options_.view != options_.view) {
    return Status::InvalidArgument("gridworld: cannot copy the state of a grid of another size "
                                   "or view");
  }
  *this = o;  // equal sizes: the vectors keep their storage
  return Status::Ok();
}

void GridWorld::WriteObservation() {
  const int64_t view = options_.view, side = 2 * view + 1;
  float* walls = observation_.data();
  float* goal = walls + side * side;
  for (int64_t dy = -view; dy <= view; ++dy) {
    for (int64_t dx = -view; dx <= view; ++dx) {
      const int64_t i = (dy + view) * side + (dx + view);
      walls[i] = wall(x_ + dx, y_ + dy) ? 1.0f : 0.0f;
      goal[i] = (x_ + dx == goal_x_ && y_ + dy == goal_y_) ? 1.0f : 0.0f;
    }
  }
  const auto scale = static_cast<float>(size_ - 1);
  observation_[observation_.size() - 2] = static_cast<float>(goal_x_ - x_) / scale;
  observation_[observation_.size() - 1] = static_cast<float>(goal_y_ - y_) / scale;
}

std::string GridWorld::ToString() const {
  std::string out;
  for (int64_t y = 0; y < size_; ++y) {
    for (int64_t x = 0; x < size_; ++x) {
      out += (x == x_ && y == y_)           ? 'A'
             : (x == goal_x_ && y == goal_y_) ? 'G'
             : wall(x, y)                     ? '#'
                                              : '.';
    }
    out += '\n';
  }
  return out;
}

APPRENTICE_REGISTER_ENV(GridWorld, "gridworld",
                        "an NPC walks to a goal through a walled grid (the many-agent demo's "
                        "world)");

}  // namespace apprentice
