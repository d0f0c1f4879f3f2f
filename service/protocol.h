// The decision service's wire protocol: MessagePack maps, one per ZeroMQ message body, decoded
// into the wire structs below and encoded from them. docs/protocol.md specifies every message,
// field, type and error code; this file is its implementation. The domain types (Action,
// AgentDecision, Outcome) never carry wire structs: service.cc translates between the two.
//
// Decoding trusts nothing: a body that is not MessagePack, not a map, nested deeper than a
// request can be, of an unknown version or type, or with a field of the wrong type yields a
// DecodeError with a code and a message naming the field, never an exception or a crash.
// Unknown fields are ignored (a newer client may send more).
//
// Threading: plain functions and values; the scratch a decoder or encoder reuses belongs to its
// caller's thread.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/action.h"
#include "core/decision.h"
#include "core/json.h"
#include "executor/snapshot.h"

namespace apprentice {

// The protocol version this build speaks: every message carries it as "v".
inline constexpr int64_t kProtocolVersion = 1;
// Longest "req" string and "stream" key, in bytes.
inline constexpr size_t kMaxKeyBytes = 256;

// Error codes of an "error" reply (their names are what goes on the wire).
enum class ErrorCode : uint8_t {
  kMalformed,        // "malformed": not MessagePack, not a map, nested too deep, trailing bytes
  kBadVersion,       // "bad_version": "v" missing or not kProtocolVersion
  kUnknownType,      // "unknown_type": "type" missing, not a string, or not a known message
  kBadField,         // "bad_field": a field missing or of the wrong type or range
  kBadObservation,   // "bad_observation": wrong size or a non-finite value
  kUnknownDecision,  // "unknown_decision": feedback for an id this service never issued
  kBadLabel,         // "bad_label": a ground-truth label outside the action space
  kDuplicateLabel,   // "duplicate_label": a ground-truth label for a decision that has one
  kUnavailable,      // "unavailable": the service is stopping or its queues are full; retry
  kInternal,         // "internal": a bug; the message says what
};
inline constexpr int kErrorCodes = 10;
std::string_view ErrorCodeName(ErrorCode code);

// A client's request id ("req"), echoed in the reply: an unsigned integer or a short string.
struct RequestKey {
  enum class Kind : uint8_t { kNone, kNumber, kText };
  Kind kind = Kind::kNone;
  uint64_t number = 0;
  std::string text;
};

// A ground-truth label: a class index (Discrete) or a vector (Box).
struct WireLabel {
  bool is_class = true;
  int64_t index = 0;
  std::vector<float> values;
};

struct WireRequest {
  enum class Type : uint8_t { kAct, kFeedback, kStats, kHealth };
  Type type = Type::kAct;
  RequestKey req;

  // act
  std::vector<float> observation;      // "obs": array of numbers, or bin of float32 LE
  std::optional<int64_t> deadline_us;  // "deadline_us"
  std::string stream;                  // "stream": empty = a one-decision episode
  bool stream_end = false;             // "end": the stream's episode ends with this decision

  // feedback
  uint64_t decision_id = 0;            // "id"
  std::optional<double> reward;        // "reward"
  std::optional<bool> done;            // "done"
  std::optional<WireLabel> label;      // "label"
};

struct DecodeError {
  ErrorCode code = ErrorCode::kMalformed;
  std::string message;
};

// Decodes `body` into `out` (its vectors are reused). On failure fills `error`, leaves in
// out.req whatever request id could be read (for the error reply), and returns false.
bool DecodeRequest(std::span<const uint8_t> body, WireRequest& out, DecodeError& error);

// What an act reply carries.
struct WireActReply {
  uint64_t decision_id = 0;
  Action action;
  HeadKind head = HeadKind::kCategorical;
  std::span<const float> output;  // logits, or means then log-stds
  float confidence = 1.0f;
  Actor acted_by = Actor::kExecutor;
  int64_t executor_version = 0;
  int64_t episode = 0, step = 0;
  double latency_us = 0.0;  // from the request's arrival to the reply's encoding
  std::optional<bool> deadline_missed;  // present when the request gave deadline_us
};

// Encoders: each replaces `out` with one MessagePack map.
void EncodeActReply(const RequestKey& req, const WireActReply& reply, std::string& out);
void EncodeFeedbackReply(const RequestKey& req, uint64_t decision_id, std::string& out);
// stats and health: `body`'s members are the reply's fields after "v", "type" and "req".
void EncodeJsonReply(std::string_view type, const RequestKey& req, const Json& body,
                     std::string& out);
void EncodeError(const RequestKey& req, ErrorCode code, std::string_view message,
                 std::string& out);

// A MessagePack body as a Json value (maps with string keys become objects, bin becomes an
// array of its bytes): what clients and tests read replies with. InvalidArgument when `body`
// is not one complete MessagePack value.
Result<Json> MsgpackToJson(std::span<const uint8_t> body);
// A Json value as MessagePack (integers stay integers, other numbers are float64).
std::string JsonToMsgpack(const Json& value);

}  // namespace apprentice
