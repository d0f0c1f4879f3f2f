#include "nats/wire.h"

#include <cstring>
#include <optional>
#include <utility>

#include <msgpack.hpp>

#include "env/remote/msgpack_read.h"

namespace apprentice {
namespace {

constexpr size_t kMaxElements = size_t{1} << 24;
using Packer = msgpack::packer<msgpack::sbuffer>;

void Str(Packer& p, std::string_view s) {
  p.pack_str(static_cast<uint32_t>(s.size()));
  p.pack_str_body(s.data(), static_cast<uint32_t>(s.size()));
}
void Bin(Packer& p, std::string_view s) {
  p.pack_bin(static_cast<uint32_t>(s.size()));
  p.pack_bin_body(s.data(), static_cast<uint32_t>(s.size()));
}
// float32 values, little-endian.
void Floats(Packer& p, std::span<const float> values) {
  std::string bytes(values.size() * 4, '\0');
  for (size_t i = 0; i < values.size(); ++i) {
    uint32_t bits = 0;
    std::memcpy(&bits, &values[i], 4);
    for (int b = 0; b < 4; ++b) bytes[4 * i + b] = static_cast<char>(bits >> (8 * b));
  }
  Bin(p, bytes);
}
// An action: an integer (Discrete) or float32 bin (Box).
void PackAction(Packer& p, const Action& a) {
  if (a.is_discrete()) {
    p.pack_int64(a.index());
  } else {
    Floats(p, a.values());
  }
}

// Reads the fields of a decoded map; the first problem is kept and named.
class Fields {
 public:
  explicit Fields(std::string_view body, const char* what) : what_(what) {
    try {
      size_t offset = 0;
      const msgpack::unpack_limit limit(kMaxElements, kMaxElements, kMaxElements, kMaxElements,
                                        kMaxElements, 8);
      handle_ = msgpack::unpack(body.data(), body.size(), offset, nullptr, nullptr, limit);
      if (offset != body.size()) Fail("bytes after the MessagePack value");
    } catch (const std::exception& e) {
      Fail(std::string("not MessagePack (") + e.what() + ")");
      return;
    }
    if (!error_.empty()) return;
    if (handle_.get().type != msgpack::type::MAP) {
      Fail("not a map");
      return;
    }
    const msgpack::object* v = Find("v");
    if (v == nullptr || v->type != msgpack::type::POSITIVE_INTEGER ||
        v->via.u64 != static_cast<uint64_t>(kNatsWireVersion)) {
      Fail("\"v\" is missing or not 1");
    }
  }

  const msgpack::object* Find(std::string_view key) const { return mp::Find(handle_.get(), key); }
  const msgpack::object* Need(std::string_view key) {
    if (!error_.empty()) return nullptr;
    const msgpack::object* o = Find(key);
    if (o == nullptr) Fail("no \"" + std::string(key) + "\"");
    return o;
  }

  void Unsigned(std::string_view key, uint64_t& out) {
    const msgpack::object* o = Need(key);
    if (o == nullptr) return;
    if (o->type != msgpack::type::POSITIVE_INTEGER) return Wrong(key, "an unsigned integer");
    out = o->via.u64;
  }
  void Signed(std::string_view key, int64_t& out) {
    const msgpack::object* o = Need(key);
    if (o == nullptr) return;
    if (o->type == msgpack::type::POSITIVE_INTEGER && o->via.u64 <= INT64_MAX) {
      out = static_cast<int64_t>(o->via.u64);
    } else if (o->type == msgpack::type::NEGATIVE_INTEGER) {
      out = o->via.i64;
    } else {
      Wrong(key, "an integer");
    }
  }
  void Double(std::string_view key, double& out) {
    const msgpack::object* o = Need(key);
    if (o == nullptr) return;
    if (!mp::IsNumber(*o)) return Wrong(key, "a number");
    out = mp::NumberOf(*o);
  }
  void Bool(std::string_view key, bool& out) {
    const msgpack::object* o = Need(key);
    if (o == nullptr) return;
    if (o->type != msgpack::type::BOOLEAN) return Wrong(key, "a boolean");
    out = o->via.boolean;
  }
  void String(std::string_view key, std::string& out, bool bin = false) {
    const msgpack::object* o = Need(key);
    if (o == nullptr) return;
    if (bin ? o->type != msgpack::type::BIN : o->type != msgpack::type::STR) {
      return Wrong(key, bin ? "bin" : "a string");
    }
    out.assign(bin ? o->via.bin.ptr : o->via.str.ptr, bin ? o->via.bin.size : o->via.str.size);
  }
  void FloatBin(std::string_view key, std::vector<float>& out) {
    std::string bytes;
    String(key, bytes, /*bin=*/true);
    if (!error_.empty()) return;
    if (bytes.size() % 4 != 0) return Wrong(key, "float32 bin");
    out.resize(bytes.size() / 4);
    for (size_t i = 0; i < out.size(); ++i) {
      uint32_t bits = 0;
      for (int b = 0; b < 4; ++b) {
        bits |= uint32_t{static_cast<uint8_t>(bytes[4 * i + b])} << (8 * b);
      }
      std::memcpy(&out[i], &bits, 4);
    }
  }
  void ActionField(std::string_view key, Action& out) {
    const msgpack::object* o = Need(key);
    if (o == nullptr) return;
    if (o->type == msgpack::type::POSITIVE_INTEGER || o->type == msgpack::type::NEGATIVE_INTEGER) {
      int64_t index = 0;
      Signed(key, index);
      out = Action::Discrete(index);
      return;
    }
    std::vector<float> values;
    FloatBin(key, values);
    if (!error_.empty()) return;
    if (values.size() > static_cast<size_t>(kMaxActionDims)) return Wrong(key, "a short action");
    out = Action::Continuous(values);
  }

  Status status() const {
    if (error_.empty()) return Status::Ok();
    return Status::InvalidArgument(std::string(what_) + ": " + error_);
  }

 private:
  void Fail(const std::string& why) {
    if (error_.empty()) error_ = why;
  }
  void Wrong(std::string_view key, const char* expected) {
    Fail("\"" + std::string(key) + "\" is not " + expected);
  }
  const char* what_;
  msgpack::object_handle handle_;
  std::string error_;
};

}  // namespace

std::string EncodeRequest(const WireRequest& r) {
  msgpack::sbuffer buffer;
  Packer p(buffer);
  p.pack_map(r.state.empty() ? 10 : 11);
  Str(p, "v");
  p.pack_int64(kNatsWireVersion);
  Str(p, "id");
  p.pack_uint64(r.decision_id);
  Str(p, "episode");
  p.pack_int64(r.episode);
  Str(p, "step");
  p.pack_int64(r.step);
  Str(p, "obs");
  Floats(p, r.observation);
  Str(p, "seed");
  p.pack_uint64(r.seed);
  Str(p, "budget_ms");
  p.pack_int64(r.budget_ms);
  Str(p, "exec");
  PackAction(p, r.executor_action);
  Str(p, "urgent");
  r.urgent ? p.pack_true() : p.pack_false();
  Str(p, "env");
  Str(p, r.env);
  if (!r.state.empty()) {
    Str(p, "state");
    Bin(p, r.state);
  }
  return {buffer.data(), buffer.size()};
}

Result<WireRequest> DecodeRequest(std::string_view body) {
  Fields f(body, "plan request");
  WireRequest r;
  f.Unsigned("id", r.decision_id);
  f.Signed("episode", r.episode);
  f.Signed("step", r.step);
  f.FloatBin("obs", r.observation);
  f.Unsigned("seed", r.seed);
  f.Signed("budget_ms", r.budget_ms);
  f.ActionField("exec", r.executor_action);
  f.Bool("urgent", r.urgent);
  f.String("env", r.env);
  if (f.status().ok() && f.Find("state") != nullptr) f.String("state", r.state, /*bin=*/true);
  if (Status s = f.status(); !s.ok()) return s;
  return r;
}

std::string EncodeLabel(const Label& l, std::string_view worker) {
  msgpack::sbuffer buffer;
  Packer p(buffer);
  const bool ok = l.status.ok();
  const bool gaussian = l.decision.distribution.kind == PolicyKind::kGaussian;
  p.pack_map(ok ? (gaussian ? 16 : 15) : 10);
  Str(p, "v");
  p.pack_int64(kNatsWireVersion);
  Str(p, "id");
  p.pack_uint64(l.decision_id);
  Str(p, "episode");
  p.pack_int64(l.episode);
  Str(p, "step");
  p.pack_int64(l.step);
  Str(p, "obs");
  Floats(p, l.observation);
  Str(p, "exec");
  PackAction(p, l.executor_action);
  Str(p, "urgent");
  l.urgent ? p.pack_true() : p.pack_false();
  Str(p, "worker");
  Str(p, worker);
  Str(p, "ok");
  ok ? p.pack_true() : p.pack_false();
  Str(p, "error");
  Str(p, l.status.message());
  if (!ok) return {buffer.data(), buffer.size()};
  Str(p, "action");
  PackAction(p, l.decision.action);
  Str(p, "value");
  p.pack_double(l.decision.value);
  Str(p, "latency_ns");
  p.pack_int64(l.decision.latency_ns);
  Str(p, "features");
  Floats(p, l.decision.features);
  if (gaussian) {
    Str(p, "mean");
    Floats(p, l.decision.distribution.mean);
    Str(p, "log_std");
    Floats(p, l.decision.distribution.log_std);
  } else {
    Str(p, "logits");
    Floats(p, l.decision.distribution.logits);
  }
  return {buffer.data(), buffer.size()};
}

Result<Label> DecodeLabel(std::string_view body, std::string* worker) {
  Fields f(body, "label");
  Label l;
  bool ok = false;
  std::string error, who;
  f.Unsigned("id", l.decision_id);
  f.Signed("episode", l.episode);
  f.Signed("step", l.step);
  f.FloatBin("obs", l.observation);
  f.ActionField("exec", l.executor_action);
  f.Bool("urgent", l.urgent);
  f.String("worker", who);
  f.Bool("ok", ok);
  f.String("error", error);
  if (ok) {
    f.ActionField("action", l.decision.action);
    f.Double("value", l.decision.value);
    f.Signed("latency_ns", l.decision.latency_ns);
    f.FloatBin("features", l.decision.features);
    if (f.status().ok() && f.Find("mean") != nullptr) {
      std::vector<float> mean, log_std;
      f.FloatBin("mean", mean);
      f.FloatBin("log_std", log_std);
      if (f.status().ok() && mean.size() == log_std.size() && !mean.empty()) {
        l.decision.distribution = PolicyOutput::Gaussian(mean, log_std);
      } else if (f.status().ok()) {
        return Status::InvalidArgument(
            "label: \"mean\" and \"log_std\" differ in size or are empty");
      }
    } else {
      std::vector<float> logits;
      f.FloatBin("logits", logits);
      if (f.status().ok() && logits.empty()) {
        return Status::InvalidArgument("label: \"logits\" is empty");
      }
      l.decision.distribution = PolicyOutput::FromLogits(logits);
    }
  }
  if (Status s = f.status(); !s.ok()) return s;
  l.status = ok ? Status::Ok() : Status::Internal(error.empty() ? "the worker failed" : error);
  if (worker != nullptr) *worker = std::move(who);
  return l;
}

}  // namespace apprentice
