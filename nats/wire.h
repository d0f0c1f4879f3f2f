// The messages of plan requests and labels between an agent and planner workers over NATS
// (docs/scaling.md has the subjects, streams and fields): one MessagePack map per message,
// version "v" 1. Decoding trusts nothing: a body that is not MessagePack, not a map, of another
// version, or with a field missing or of the wrong type gives an InvalidArgument naming the
// field, never an exception or a crash.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "agent/plan_queue.h"
#include "core/action.h"
#include "core/status.h"

namespace apprentice {

inline constexpr int64_t kNatsWireVersion = 1;

// A plan request as it travels: the view's fields, the env's state bytes (Env::SaveState) when
// the planner simulates, and the env it was made for ("cartpole max_episode_steps=500": name and
// resolved options), which a worker checks against its own.
struct WireRequest {
  uint64_t decision_id = 0;
  int64_t episode = -1, step = -1;
  std::vector<float> observation;
  uint64_t seed = 0;
  int64_t budget_ms = 0;  // how long the planner may take (0 = no deadline)
  Action executor_action;
  bool urgent = false;
  std::string env;
  std::string state;      // empty: no state (a planner without a model)
};

std::string EncodeRequest(const WireRequest& request);
Result<WireRequest> DecodeRequest(std::string_view body);

// A label as it travels: Label's fields and the worker that planned it.
std::string EncodeLabel(const Label& label, std::string_view worker);
// `worker`, when not null, receives the worker's name.
Result<Label> DecodeLabel(std::string_view body, std::string* worker = nullptr);

}  // namespace apprentice
