// Episode: the bookkeeping every Env shares — whether an episode is running, its step count, the
// time limit — and the checks Step() makes before it touches any state, with errors that name
// the env ("cartpole: step() called before reset()"). An Env holds one by value, so Clone()
// copies it; it allocates only to build an error message.
#pragma once

#include <cstdint>
#include <string>

#include "core/action.h"
#include "core/space.h"
#include "core/status.h"
#include "env/env.h"

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

 private:
  const char* name_;
  int64_t max_steps_;
  int64_t elapsed_ = 0;
  bool started_ = false;  // Begin() or Resume() has been called
  bool done_ = false;     // the current episode ended
};

}  // namespace apprentice
