#include "env/connect_four.h"

#include <typeinfo>

#include "core/rng.h"
#include "core/status.h"
#include "env/registry.h"

namespace apprentice {
namespace {

constexpr int kStride = ConnectFour::kRows + 1;  // bits per column, the separator included

uint64_t Bit(int column, int row) { return uint64_t{1} << (column * kStride + row); }

}  // namespace

Status ConnectFour::Options::Validate() const {
  if (opening < 0 || opening > 6) {
    return Status::InvalidArgument("connect-four opening must be 0 to 6 moves");
  }
  return Status::Ok();
}

// Episode's own limit is one move beyond the full board: a game ends by termination only.
ConnectFour::ConnectFour(const Options& options)
    : options_(options), episode_("connect-four", kCells + 1) {
  RequireOk(options_.Validate());
}

// Never destroyed (see CartPole): a planner thread may read them at exit.
const Space& ConnectFour::observation_space() const {
  static const Space& space = *new Space(Space::Box(0.0f, 1.0f, {kPlanes, kCells}));
  return space;
}

const Space& ConnectFour::action_space() const {
  static const Space& space = *new Space(Space::Discrete(kColumns));
  return space;
}

bool ConnectFour::HasFour(uint64_t s) {
  for (const int shift : {1, kStride, kStride - 1, kStride + 1}) {  // |, -, \, /
    const uint64_t pairs = s & (s >> shift);
    if (pairs & (pairs >> (2 * shift))) return true;
  }
  return false;
}

bool ConnectFour::WinningMove(int column, int player) const {
  return HasFour(stones_[player] | Bit(column, height_[column]));
}

void ConnectFour::Play(int column) {
  stones_[to_move()] |= Bit(column, height_[column]);
  ++height_[column];
  ++moves_;
}

std::span<const float> ConnectFour::Reset(uint64_t seed) {
  stones_ = {};
  height_ = {};
  moves_ = 0;
  Rng rng(seed);
  for (int64_t i = 0; i < options_.opening; ++i) {
    int column;
    do {
      column = static_cast<int>(rng.Below(kColumns));
    } while (!legal(column));
    Play(column);
  }
  episode_.Begin();
  WriteObservation();
  return observation_;
}

StepResult ConnectFour::Step(const Action& action) {
  episode_.CheckStep(action_space(), action);
  const int column = static_cast<int>(action.index());
  if (!legal(column)) {
    throw InvalidArgument("connect-four: column " + std::to_string(column) +
                          " is full; LegalActions() names the legal moves");
  }
  const bool wins = WinningMove(column);
  Play(column);
  StepResult result;
  result.reward = wins ? 1.0 : 0.0;
  result.terminated = wins || moves_ == kCells;
  episode_.EndStep(result);
  WriteObservation();
  result.observation = observation_;
  return result;
}

bool ConnectFour::LegalActions(std::span<uint8_t> legal_out) const {
  for (int c = 0; c < kColumns && c < static_cast<int>(legal_out.size()); ++c) {
    legal_out[c] = legal(c) ? 1 : 0;
  }
  return true;
}

std::unique_ptr<Env> ConnectFour::Clone() const { return std::make_unique<ConnectFour>(*this); }

Status ConnectFour::CopyStateFrom(const Env& other) {
  if (typeid(other) != typeid(ConnectFour)) {
    return Status::InvalidArgument("connect-four: cannot copy the state of a " + other.name() +
                                   " env");
  }
  *this = static_cast<const ConnectFour&>(other);
  return Status::Ok();
}

void ConnectFour::WriteObservation() {
  const uint64_t mine = stones_[to_move()], theirs = stones_[1 - to_move()];
  for (int r = 0; r < kRows; ++r) {
    for (int c = 0; c < kColumns; ++c) {
      const int cell = r * kColumns + c;
      observation_[cell] = (mine & Bit(c, r)) ? 1.0f : 0.0f;
      observation_[kCells + cell] = (theirs & Bit(c, r)) ? 1.0f : 0.0f;
      observation_[2 * kCells + cell] = height_[c] == r ? 1.0f : 0.0f;
    }
  }
}

std::string ConnectFour::ToString() const {
  std::string out;
  for (int r = kRows - 1; r >= 0; --r) {
    for (int c = 0; c < kColumns; ++c) {
      out += (stones_[0] & Bit(c, r)) ? 'X' : (stones_[1] & Bit(c, r)) ? 'O' : '.';
    }
    out += '\n';
  }
  return out;
}

APPRENTICE_REGISTER_ENV(ConnectFour, "connect-four",
                        "Connect Four: two players, legal-move masks, the board from the mover's "
                        "view");

}  // namespace apprentice
