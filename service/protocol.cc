#include "service/protocol.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <exception>

#include <msgpack.hpp>

#include "env/remote/msgpack_read.h"

namespace apprentice {
namespace {

// Bounds handed to the MessagePack parser, so that no body can make it allocate more than the
// message itself justifies or recurse deeply: a request is a map of scalars and flat arrays.
constexpr size_t kMaxElements = size_t{1} << 24;
constexpr size_t kMaxDepth = 4;     // request bodies
constexpr size_t kMaxJsonDepth = 64;  // MsgpackToJson (replies: stats nests a few levels)

// msgpack's packer writes into any stream with write(const char*, size_t).
struct StringStream {
  std::string* out;
  void write(const char* data, size_t size) { out->append(data, size); }
};
using Packer = msgpack::packer<StringStream>;

// msgpack-c packs a float or double that holds a whole number as an integer; the protocol
// promises float32 and float64, so they are written here: the type byte, then the bits,
// big-endian (MessagePack's byte order).
void PackFloat32(std::string& out, float v) {
  uint32_t bits = 0;
  std::memcpy(&bits, &v, 4);
  out.push_back(static_cast<char>(0xca));
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>(bits >> shift));
}
void PackFloat64(std::string& out, double v) {
  uint64_t bits = 0;
  std::memcpy(&bits, &v, 8);
  out.push_back(static_cast<char>(0xcb));
  for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<char>(bits >> shift));
}

void PackString(Packer& p, std::string_view s) {
  p.pack_str(static_cast<uint32_t>(s.size()));
  p.pack_str_body(s.data(), static_cast<uint32_t>(s.size()));
}

void PackKey(Packer& p, const RequestKey& req) {
  switch (req.kind) {
    case RequestKey::Kind::kNone: p.pack_nil(); break;
    case RequestKey::Kind::kNumber: p.pack_uint64(req.number); break;
    case RequestKey::Kind::kText: PackString(p, req.text); break;
  }
}

// The fields every reply starts with; `extra` more fields follow.
void PackHeader(Packer& p, std::string_view type, const RequestKey& req, uint32_t extra) {
  p.pack_map(3 + extra);
  PackString(p, "v");
  p.pack_int64(kProtocolVersion);
  PackString(p, "type");
  PackString(p, type);
  PackString(p, "req");
  PackKey(p, req);
}

void PackFloats(Packer& p, std::string& out, std::span<const float> values) {
  p.pack_array(static_cast<uint32_t>(values.size()));
  for (float v : values) PackFloat32(out, v);
}

void PackJson(Packer& p, std::string& out, const Json& value) {
  if (value.is_null()) {
    p.pack_nil();
  } else if (value.is_bool()) {
    if (value.AsBool()) p.pack_true(); else p.pack_false();
  } else if (value.is_int()) {
    p.pack_int64(value.AsInt());
  } else if (value.is_number()) {
    PackFloat64(out, value.AsNumber());
  } else if (value.is_string()) {
    PackString(p, value.AsString());
  } else if (value.is_array()) {
    p.pack_array(static_cast<uint32_t>(value.AsArray().size()));
    for (const Json& v : value.AsArray()) PackJson(p, out, v);
  } else {
    p.pack_map(static_cast<uint32_t>(value.AsObject().size()));
    for (const auto& [key, v] : value.AsObject()) {
      PackString(p, key);
      PackJson(p, out, v);
    }
  }
}

std::string_view StringOf(const msgpack::object& o) { return {o.via.str.ptr, o.via.str.size}; }

using mp::IsNumber;
using mp::NumberOf;

std::string TypeName(const msgpack::object& o) {
  switch (o.type) {
    case msgpack::type::NIL: return "nil";
    case msgpack::type::BOOLEAN: return "a boolean";
    case msgpack::type::POSITIVE_INTEGER:
    case msgpack::type::NEGATIVE_INTEGER: return "an integer";
    case msgpack::type::FLOAT32:
    case msgpack::type::FLOAT64: return "a float";
    case msgpack::type::STR: return "a string";
    case msgpack::type::BIN: return "bin";
    case msgpack::type::ARRAY: return "an array";
    case msgpack::type::MAP: return "a map";
    default: return "an extension";
  }
}

// Field decoding: each returns false after filling `error`.
struct FieldReader {
  DecodeError& error;

  bool Fail(ErrorCode code, std::string message) {
    error.code = code;
    error.message = std::move(message);
    return false;
  }
  bool Wrong(std::string_view field, std::string_view expected, const msgpack::object& got) {
    return Fail(ErrorCode::kBadField, "\"" + std::string(field) + "\" must be " +
                                          std::string(expected) + ", not " + TypeName(got));
  }

  bool Key(const msgpack::object& o, RequestKey& out) {
    if (o.type == msgpack::type::NIL) {
      out.kind = RequestKey::Kind::kNone;
    } else if (o.type == msgpack::type::POSITIVE_INTEGER) {
      out.kind = RequestKey::Kind::kNumber;
      out.number = o.via.u64;
    } else if (o.type == msgpack::type::STR && o.via.str.size <= kMaxKeyBytes) {
      out.kind = RequestKey::Kind::kText;
      out.text.assign(StringOf(o));
    } else {
      return Wrong("req", "an unsigned integer or a string of at most 256 bytes", o);
    }
    return true;
  }

  bool Uint(std::string_view field, const msgpack::object& o, uint64_t& out) {
    if (o.type != msgpack::type::POSITIVE_INTEGER) return Wrong(field, "an unsigned integer", o);
    out = o.via.u64;
    return true;
  }

  bool Floats(std::string_view field, const msgpack::object& o, std::vector<float>& out) {
    out.clear();
    if (o.type == msgpack::type::BIN) {
      if (o.via.bin.size % 4 != 0) {
        return Fail(ErrorCode::kBadField, "\"" + std::string(field) +
                                              "\" as bin must hold float32 values (4 bytes "
                                              "each), not " +
                                              std::to_string(o.via.bin.size) + " bytes");
      }
      out.resize(o.via.bin.size / 4);
      for (size_t i = 0; i < out.size(); ++i) {
        uint32_t bits = 0;
        const auto* b = reinterpret_cast<const uint8_t*>(o.via.bin.ptr) + 4 * i;
        bits = uint32_t{b[0]} | uint32_t{b[1]} << 8 | uint32_t{b[2]} << 16 | uint32_t{b[3]} << 24;
        std::memcpy(&out[i], &bits, 4);
      }
      return true;
    }
    if (o.type != msgpack::type::ARRAY) {
      return Wrong(field, "an array of numbers or bin of float32", o);
    }
    out.resize(o.via.array.size);
    for (uint32_t i = 0; i < o.via.array.size; ++i) {
      const msgpack::object& v = o.via.array.ptr[i];
      if (!IsNumber(v)) {
        return Fail(ErrorCode::kBadField, "\"" + std::string(field) + "\"[" + std::to_string(i) +
                                              "] must be a number, not " + TypeName(v));
      }
      out[i] = static_cast<float>(NumberOf(v));
    }
    return true;
  }
};

bool DecodeMap(const msgpack::object& root, WireRequest& out, DecodeError& error) {
  FieldReader r{error};
  if (root.type != msgpack::type::MAP) {
    return r.Fail(ErrorCode::kMalformed, "a request must be a MessagePack map, not " +
                                             TypeName(root));
  }
  const msgpack::object* version = nullptr;
  const msgpack::object* type = nullptr;
  const msgpack::object_kv* fields = root.via.map.ptr;
  const uint32_t n = root.via.map.size;
  // The request id first, so that every later error reply can carry it.
  out.req = RequestKey{};
  for (uint32_t i = 0; i < n; ++i) {
    const msgpack::object& k = fields[i].key;
    if (k.type != msgpack::type::STR) {
      return r.Fail(ErrorCode::kMalformed, "map keys must be strings, not " + TypeName(k));
    }
    const std::string_view key = StringOf(k);
    if (key == "req") {
      if (!r.Key(fields[i].val, out.req)) return false;
    } else if (key == "v") {
      version = &fields[i].val;
    } else if (key == "type") {
      type = &fields[i].val;
    }
  }
  if (version == nullptr || version->type != msgpack::type::POSITIVE_INTEGER ||
      version->via.u64 != static_cast<uint64_t>(kProtocolVersion)) {
    return r.Fail(ErrorCode::kBadVersion,
                  "\"v\" must be the protocol version " + std::to_string(kProtocolVersion) +
                      (version == nullptr
                           ? std::string(" (missing)")
                           : version->type == msgpack::type::POSITIVE_INTEGER
                                 ? ", not " + std::to_string(version->via.u64)
                                 : ", not " + TypeName(*version)));
  }
  if (type == nullptr || type->type != msgpack::type::STR) {
    return r.Fail(ErrorCode::kUnknownType,
                  type == nullptr ? "\"type\" is missing"
                                  : "\"type\" must be a string, not " + TypeName(*type));
  }
  const std::string_view type_name = StringOf(*type);
  if (type_name == "act") {
    out.type = WireRequest::Type::kAct;
  } else if (type_name == "feedback") {
    out.type = WireRequest::Type::kFeedback;
  } else if (type_name == "stats") {
    out.type = WireRequest::Type::kStats;
  } else if (type_name == "health") {
    out.type = WireRequest::Type::kHealth;
  } else {
    return r.Fail(ErrorCode::kUnknownType,
                  "unknown message type \"" +
                      std::string(type_name.substr(0, kMaxKeyBytes)) +
                      "\" (known: act, feedback, stats, health)");
  }

  out.observation.clear();
  out.deadline_us.reset();
  out.stream.clear();
  out.stream_end = false;
  out.decision_id = 0;
  out.reward.reset();
  out.done.reset();
  out.label.reset();
  bool have_obs = false, have_id = false;
  for (uint32_t i = 0; i < n; ++i) {
    const std::string_view key = StringOf(fields[i].key);
    const msgpack::object& v = fields[i].val;
    if (out.type == WireRequest::Type::kAct) {
      if (key == "obs") {
        if (!r.Floats("obs", v, out.observation)) return false;
        have_obs = true;
      } else if (key == "deadline_us") {
        uint64_t d = 0;
        if (!r.Uint("deadline_us", v, d)) return false;
        out.deadline_us = static_cast<int64_t>(std::min<uint64_t>(d, uint64_t{1} << 40));
      } else if (key == "stream") {
        if (v.type != msgpack::type::STR || v.via.str.size > kMaxKeyBytes) {
          return r.Wrong("stream", "a string of at most 256 bytes", v);
        }
        out.stream.assign(StringOf(v));
      } else if (key == "end") {
        if (v.type != msgpack::type::BOOLEAN) return r.Wrong("end", "a boolean", v);
        out.stream_end = v.via.boolean;
      }
    } else if (out.type == WireRequest::Type::kFeedback) {
      if (key == "id") {
        if (!r.Uint("id", v, out.decision_id)) return false;
        have_id = true;
      } else if (key == "reward") {
        if (!IsNumber(v)) return r.Wrong("reward", "a number", v);
        out.reward = NumberOf(v);
        if (!std::isfinite(*out.reward)) {
          return r.Fail(ErrorCode::kBadField, "\"reward\" must be finite");
        }
      } else if (key == "done") {
        if (v.type != msgpack::type::BOOLEAN) return r.Wrong("done", "a boolean", v);
        out.done = v.via.boolean;
      } else if (key == "label") {
        WireLabel label;
        if (v.type == msgpack::type::POSITIVE_INTEGER) {
          label.is_class = true;
          label.index = static_cast<int64_t>(std::min<uint64_t>(v.via.u64, INT64_MAX));
        } else if (v.type == msgpack::type::ARRAY || v.type == msgpack::type::BIN) {
          label.is_class = false;
          if (!r.Floats("label", v, label.values)) return false;
        } else {
          return r.Wrong("label", "a class index (unsigned integer) or an array of numbers", v);
        }
        out.label = std::move(label);
      }
    }
  }
  if (out.type == WireRequest::Type::kAct && !have_obs) {
    return r.Fail(ErrorCode::kBadField, "an act request needs \"obs\"");
  }
  if (out.type == WireRequest::Type::kFeedback) {
    if (!have_id) return r.Fail(ErrorCode::kBadField, "a feedback request needs \"id\"");
    if (!out.reward && !out.done && !out.label) {
      return r.Fail(ErrorCode::kBadField,
                    "a feedback request needs at least one of \"reward\", \"done\", \"label\"");
    }
  }
  return true;
}

Result<Json> ToJson(const msgpack::object& o) {
  switch (o.type) {
    case msgpack::type::NIL: return Json();
    case msgpack::type::BOOLEAN: return Json(o.via.boolean);
    case msgpack::type::POSITIVE_INTEGER:
      if (o.via.u64 > static_cast<uint64_t>(INT64_MAX)) return Json(static_cast<double>(o.via.u64));
      return Json(static_cast<int64_t>(o.via.u64));
    case msgpack::type::NEGATIVE_INTEGER: return Json(o.via.i64);
    case msgpack::type::FLOAT32:
    case msgpack::type::FLOAT64: return Json(o.via.f64);
    case msgpack::type::STR: return Json(std::string(StringOf(o)));
    case msgpack::type::BIN: {
      Json::Array bytes;
      for (uint32_t i = 0; i < o.via.bin.size; ++i) {
        bytes.emplace_back(static_cast<int64_t>(static_cast<uint8_t>(o.via.bin.ptr[i])));
      }
      return Json(std::move(bytes));
    }
    case msgpack::type::ARRAY: {
      Json::Array items;
      for (uint32_t i = 0; i < o.via.array.size; ++i) {
        Result<Json> item = ToJson(o.via.array.ptr[i]);
        if (!item.ok()) return item.status();
        items.push_back(std::move(item).value());
      }
      return Json(std::move(items));
    }
    case msgpack::type::MAP: {
      Json::Object members;
      for (uint32_t i = 0; i < o.via.map.size; ++i) {
        const msgpack::object& k = o.via.map.ptr[i].key;
        if (k.type != msgpack::type::STR) {
          return Status::InvalidArgument("a map key is " + TypeName(k) + ", not a string");
        }
        Result<Json> value = ToJson(o.via.map.ptr[i].val);
        if (!value.ok()) return value.status();
        members.emplace_back(std::string(StringOf(k)), std::move(value).value());
      }
      return Json(std::move(members));
    }
    default: return Status::InvalidArgument("extension types are not used by the protocol");
  }
}

// One complete MessagePack value in `body`, within `depth` levels; throws what msgpack throws.
msgpack::object_handle Unpack(std::span<const uint8_t> body, size_t depth) {
  size_t offset = 0;
  const msgpack::unpack_limit limit(kMaxElements, kMaxElements, kMaxElements, kMaxElements,
                                    kMaxElements, depth);
  msgpack::object_handle handle =
      msgpack::unpack(reinterpret_cast<const char*>(body.data()), body.size(), offset, nullptr,
                      nullptr, limit);
  if (offset != body.size()) {
    throw std::runtime_error(std::to_string(body.size() - offset) +
                             " bytes follow the MessagePack value");
  }
  return handle;
}

}  // namespace

std::string_view ErrorCodeName(ErrorCode code) {
  switch (code) {
    case ErrorCode::kMalformed: return "malformed";
    case ErrorCode::kBadVersion: return "bad_version";
    case ErrorCode::kUnknownType: return "unknown_type";
    case ErrorCode::kBadField: return "bad_field";
    case ErrorCode::kBadObservation: return "bad_observation";
    case ErrorCode::kUnknownDecision: return "unknown_decision";
    case ErrorCode::kBadLabel: return "bad_label";
    case ErrorCode::kDuplicateLabel: return "duplicate_label";
    case ErrorCode::kUnavailable: return "unavailable";
    case ErrorCode::kInternal: return "internal";
  }
  return "internal";
}

bool DecodeRequest(std::span<const uint8_t> body, WireRequest& out, DecodeError& error) {
  out.req = RequestKey{};
  if (body.empty()) {
    error = {ErrorCode::kMalformed, "empty message body"};
    return false;
  }
  msgpack::object_handle handle;
  try {
    handle = Unpack(body, kMaxDepth);
  } catch (const std::exception& e) {
    error = {ErrorCode::kMalformed, std::string("not a MessagePack request: ") + e.what()};
    return false;
  }
  return DecodeMap(handle.get(), out, error);
}

void EncodeActReply(const RequestKey& req, const WireActReply& reply, std::string& out) {
  out.clear();
  StringStream stream{&out};
  Packer p(stream);
  const bool gaussian = reply.head == HeadKind::kGaussian;
  PackHeader(p, "act", req, 9 + (gaussian ? 1 : 0) + (reply.deadline_missed ? 1 : 0));
  PackString(p, "id");
  p.pack_uint64(reply.decision_id);
  PackString(p, "action");
  if (reply.action.is_discrete()) {
    p.pack_int64(reply.action.index());
  } else {
    PackFloats(p, out, reply.action.values());
  }
  if (!gaussian) {
    // Softmax of the logits, in a numerically safe order.
    PackString(p, "probs");
    float max = -INFINITY;
    for (float v : reply.output) max = std::max(max, v);
    double sum = 0.0;
    for (float v : reply.output) sum += std::exp(static_cast<double>(v - max));
    p.pack_array(static_cast<uint32_t>(reply.output.size()));
    for (float v : reply.output) {
      PackFloat32(out, static_cast<float>(std::exp(static_cast<double>(v - max)) / sum));
    }
  } else {
    const size_t d = reply.output.size() / 2;
    PackString(p, "mean");
    PackFloats(p, out, reply.output.first(d));
    PackString(p, "std");
    p.pack_array(static_cast<uint32_t>(d));
    for (float v : reply.output.subspan(d)) PackFloat32(out, std::exp(v));
  }
  PackString(p, "confidence");
  PackFloat32(out, reply.confidence);
  PackString(p, "by");
  PackString(p, ActorName(reply.acted_by));
  PackString(p, "version");
  p.pack_int64(reply.executor_version);
  PackString(p, "episode");
  p.pack_int64(reply.episode);
  PackString(p, "step");
  p.pack_int64(reply.step);
  PackString(p, "latency_us");
  PackFloat64(out, reply.latency_us);
  if (reply.deadline_missed) {
    PackString(p, "deadline_missed");
    if (*reply.deadline_missed) p.pack_true(); else p.pack_false();
  }
}

void EncodeFeedbackReply(const RequestKey& req, uint64_t decision_id, std::string& out) {
  out.clear();
  StringStream stream{&out};
  Packer p(stream);
  PackHeader(p, "feedback", req, 2);
  PackString(p, "id");
  p.pack_uint64(decision_id);
  PackString(p, "accepted");
  p.pack_true();
}

void EncodeJsonReply(std::string_view type, const RequestKey& req, const Json& body,
                     std::string& out) {
  out.clear();
  StringStream stream{&out};
  Packer p(stream);
  const Json::Object& members = body.AsObject();
  PackHeader(p, type, req, static_cast<uint32_t>(members.size()));
  for (const auto& [key, value] : members) {
    PackString(p, key);
    PackJson(p, out, value);
  }
}

void EncodeError(const RequestKey& req, ErrorCode code, std::string_view message,
                 std::string& out) {
  out.clear();
  StringStream stream{&out};
  Packer p(stream);
  PackHeader(p, "error", req, 2);
  PackString(p, "code");
  PackString(p, ErrorCodeName(code));
  PackString(p, "message");
  PackString(p, message);
}

Result<Json> MsgpackToJson(std::span<const uint8_t> body) {
  try {
    msgpack::object_handle handle = Unpack(body, kMaxJsonDepth);
    return ToJson(handle.get());
  } catch (const std::exception& e) {
    return Status::InvalidArgument(std::string("not one MessagePack value: ") + e.what());
  }
}

std::string JsonToMsgpack(const Json& value) {
  std::string out;
  StringStream stream{&out};
  Packer p(stream);
  PackJson(p, out, value);
  return out;
}

}  // namespace apprentice
