// Episode: the bookkeeping every Env shares — whether an episode is running, its step count, the
// time limit — and the checks Step() makes before it touches any state, with errors that name
// the env ("cartpole: step() called before reset()"). An Env holds one by value, so Clone()
// copies it; it allocates only to build an error message.
#pragma once

#include <array>
#include <cmath>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/action.h"
#include "core/space.h"
#include "core/status.h"
#include "env/env.h"
#include "env/state_bytes.h"

namespace apprentice {

class Episode {
 public:
  // `env_name` must outlive the Episode (a string literal).
  Episode(const char* env_name, int64_t max_steps) : name_(env_name), max_steps_(max_steps) {}

  // Reset(): a new episode from step 0.
  void Begin() {
    elapsed_ = 0;
    Resume();
  }
  // The state was set from outside: mid-episode again, the step count kept.
  void Resume() {
    started_ = true;
    done_ = false;
  }

  // Throws InvalidArgument before the first Begin()/Resume(), after the episode ended, or when
  // `action` is not in `action_space`.
  void CheckStep(const Space& action_space, const Action& action) const {
    if (!started_) throw InvalidArgument(std::string(name_) + ": step() called before reset()");
    if (done_) {
      throw InvalidArgument(std::string(name_) +
                            ": step() called after the episode ended; call reset() first");
    }
    if (Status valid = action_space.Check(action); !valid.ok()) {
      throw InvalidArgument(std::string(name_) + ": " + valid.message());
    }
  }

  // Counts the step `result` reports (its terminated flag already set): truncates it at the time
  // limit, as Gymnasium's TimeLimit does, and remembers whether the episode ended.
  void EndStep(StepResult& result) {
    ++elapsed_;
    result.truncated = elapsed_ >= max_steps_;
    done_ = result.done();
  }

  int64_t elapsed() const { return elapsed_; }
  int64_t max_steps() const { return max_steps_; }

  // The bookkeeping in an env's state bytes (env/state_bytes.h): step count, started, ended.
  void Save(StateWriter& out) const {
    out.I64(elapsed_);
    out.I64((started_ ? 1 : 0) | (done_ ? 2 : 0));
  }
  bool Load(StateReader& in) {
    int64_t elapsed = 0, flags = 0;
    if (!in.I64(elapsed) || !in.I64(flags) || elapsed < 0 || flags < 0 || flags > 3) return false;
    elapsed_ = elapsed;
    started_ = (flags & 1) != 0;
    done_ = (flags & 2) != 0;
    return true;
  }

 private:
  const char* name_;
  int64_t max_steps_;
  int64_t elapsed_ = 0;
  bool started_ = false;  // Begin() or Resume() has been called
  bool done_ = false;     // the current episode ended
};

// SaveState()/LoadState() of an env whose state is `N` doubles and an Episode (CartPole,
// Pendulum): format 1 of state_bytes.h. Loading checks every value is finite and changes nothing
// unless all of it reads.
template <size_t N>
std::string SaveDoublesState(const char* env_name, const std::array<double, N>& state,
                             const Episode& episode) {
  StateWriter out(env_name, 1);
  for (double v : state) out.F64(v);
  episode.Save(out);
  return out.Take();
}
template <size_t N>
Status LoadDoublesState(std::string_view bytes, const char* env_name, std::array<double, N>& state,
                        Episode& episode) {
  StateReader in(bytes, env_name, 1);
  std::array<double, N> values{};
  bool ok = in.ok();
  for (double& v : values) ok = ok && in.F64(v) && std::isfinite(v);
  Episode loaded = episode;
  if (!ok || !loaded.Load(in) || !in.Done()) {
    return Status::InvalidArgument(std::string(env_name) + ": these bytes are not a " + env_name +
                                   " state (format 1)");
  }
  state = values;
  episode = loaded;
  return Status::Ok();
}

}  // namespace apprentice
