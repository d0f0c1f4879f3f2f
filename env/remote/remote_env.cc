#include "env/remote/remote_env.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <optional>
#include <string_view>
#include <utility>

#include <msgpack.hpp>
#include <zmq.hpp>

#include "env/registry.h"
#include "env/remote/msgpack_read.h"

namespace apprentice {
namespace {

constexpr int64_t kRemoteProtocolVersion = 1;
constexpr size_t kMaxElements = size_t{1} << 24;
// The destructor's "close" is sent and left to ZeroMQ for this long.
constexpr int kCloseLingerMs = 200;
constexpr std::string_view kUnusable = "; this env is unusable from now on";

// One context for every remote env of the process, never destroyed: a socket may be closed
// from any destructor, static ones included.
zmq::context_t& Context() {
  static auto* context = new zmq::context_t(1);
  return *context;
}

using Packer = msgpack::packer<msgpack::sbuffer>;

void PackString(Packer& p, std::string_view s) {
  p.pack_str(static_cast<uint32_t>(s.size()));
  p.pack_str_body(s.data(), static_cast<uint32_t>(s.size()));
}

// The fields every request starts with; `extra` more fields follow.
void PackHeader(Packer& p, std::string_view type, uint32_t extra) {
  p.pack_map(2 + extra);
  PackString(p, "v");
  p.pack_int64(kRemoteProtocolVersion);
  PackString(p, "type");
  PackString(p, type);
}

using mp::Find;
using mp::IsNumber;
using mp::NumberOf;

}  // namespace

struct RemoteEnv::Server {
  std::string address;
  int64_t timeout_ms = 0;
  int64_t max_message_bytes = 0;
  std::string name;
  Space observation_space = Space::Discrete(1), action_space = Space::Discrete(1);
  int64_t max_episode_steps = 0;
  std::vector<std::string> ops;

  bool Offers(std::string_view op) const {
    return std::find(ops.begin(), ops.end(), op) != ops.end();
  }
};

// One DEALER socket speaking request/reply with the server (REQ's framing: an empty delimiter,
// then the body), every wait bounded by the timeout. A failed exchange breaks the link for good:
// the server may or may not have acted on the request, so this env's state is unknown.
class RemoteEnv::Link {
 public:
  Link(const std::string& address, int64_t timeout_ms, int64_t max_message_bytes)
      : address_(address), timeout_ms_(timeout_ms), socket_(Context(), zmq::socket_type::dealer) {
    socket_.set(zmq::sockopt::linger, 0);
    socket_.set(zmq::sockopt::maxmsgsize, max_message_bytes);
    socket_.set(zmq::sockopt::rcvtimeo, static_cast<int>(timeout_ms));
    socket_.set(zmq::sockopt::sndtimeo, static_cast<int>(timeout_ms));
    try {
      socket_.connect(address);
    } catch (const zmq::error_t& e) {
      throw InvalidArgument("remote env: cannot connect to '" + address + "': " + e.what());
    }
  }

  // The request being written: PackHeader() into it, then the fields.
  Packer& Begin(std::string_view type, uint32_t extra) {
    body_.clear();
    PackHeader(packer_, type, extra);
    return packer_;
  }

  // Sends the request Begin() started and returns the reply map (valid until the next call).
  // Throws EnvFailure for a timeout, a transport error, a reply that breaks the protocol or an
  // error reply, except the caller's errors (invalid_action, episode_over, bad_field): those are
  // InvalidArgument and leave the link working.
  const msgpack::object& Call(std::string_view type) {
    if (!broken_.empty()) throw EnvFailure(broken_);
    try {
      if (!socket_.send(zmq::message_t(), zmq::send_flags::sndmore) ||
          !socket_.send(zmq::buffer(body_.data(), body_.size()), zmq::send_flags::none)) {
        Break(type, "could not send within " + std::to_string(timeout_ms_) + " ms");
      }
      zmq::message_t frame;
      if (!socket_.recv(frame)) Break(type, NoReply());
      if (frame.size() != 0 || !frame.more()) {
        Break(type, "the reply is not a REP reply (no empty delimiter frame)");
      }
      if (!socket_.recv(frame)) Break(type, NoReply());
      if (frame.more()) Break(type, "the reply has more than one body frame");
      const msgpack::unpack_limit limit(kMaxElements, kMaxElements, kMaxElements, kMaxElements,
                                        kMaxElements, 16);
      size_t offset = 0;
      reply_ = msgpack::unpack(static_cast<const char*>(frame.data()), frame.size(), offset,
                               nullptr, nullptr, limit);
      if (offset != frame.size()) Break(type, "the reply has bytes after its MessagePack value");
    } catch (const zmq::error_t& e) {
      Break(type, std::string("ZeroMQ: ") + e.what());
    } catch (const msgpack::unpack_error& e) {
      Break(type, std::string("the reply is not MessagePack: ") + e.what());
    } catch (const std::bad_alloc&) {
      Break(type, "the reply is too large to decode");
    }
    const msgpack::object& reply = reply_.get();
    if (reply.type != msgpack::type::MAP) Break(type, "the reply is not a map");
    const msgpack::object* v = Find(reply, "v");
    if (v == nullptr || v->type != msgpack::type::POSITIVE_INTEGER ||
        v->via.u64 != static_cast<uint64_t>(kRemoteProtocolVersion)) {
      Break(type, "the reply's protocol version \"v\" is missing or not 1");
    }
    const std::string got = String(reply, "type", type);
    if (got == "error") {
      const msgpack::object* code = Find(reply, "code");
      const msgpack::object* message = Find(reply, "message");
      const std::string c = code && code->type == msgpack::type::STR
                                ? std::string(code->via.str.ptr, code->via.str.size) : "?";
      const std::string m = message && message->type == msgpack::type::STR
                                ? std::string(message->via.str.ptr, message->via.str.size) : "";
      const std::string what = "remote env " + address_ + ": " + std::string(type) + " refused (" +
                               c + "): " + m;
      if (c == "invalid_action" || c == "episode_over" || c == "bad_field") {
        throw InvalidArgument(what);
      }
      broken_ = what;
      throw EnvFailure(what);
    }
    if (got != type) Break(type, "a reply of type '" + got + "' answered it");
    return reply;
  }

  // Field readers of a reply (a missing or mistyped field breaks the link).
  const msgpack::object& Field(const msgpack::object& reply, std::string_view key,
                               std::string_view type) {
    const msgpack::object* o = Find(reply, key);
    if (o == nullptr) Break(type, "the reply has no \"" + std::string(key) + "\"");
    return *o;
  }
  std::string String(const msgpack::object& reply, std::string_view key, std::string_view type) {
    const msgpack::object& o = Field(reply, key, type);
    if (o.type != msgpack::type::STR) Break(type, "\"" + std::string(key) + "\" is not a string");
    return {o.via.str.ptr, o.via.str.size};
  }
  double Number(const msgpack::object& reply, std::string_view key, std::string_view type) {
    const msgpack::object& o = Field(reply, key, type);
    if (!IsNumber(o)) Break(type, "\"" + std::string(key) + "\" is not a number");
    return NumberOf(o);
  }
  uint64_t Unsigned(const msgpack::object& reply, std::string_view key, std::string_view type) {
    const msgpack::object& o = Field(reply, key, type);
    if (o.type != msgpack::type::POSITIVE_INTEGER) {
      Break(type, "\"" + std::string(key) + "\" is not an unsigned integer");
    }
    return o.via.u64;
  }
  bool Bool(const msgpack::object& reply, std::string_view key, std::string_view type) {
    const msgpack::object& o = Field(reply, key, type);
    if (o.type != msgpack::type::BOOLEAN) {
      Break(type, "\"" + std::string(key) + "\" is not a boolean");
    }
    return o.via.boolean;
  }
  // An array of numbers, or bin of float32 little-endian values.
  void Floats(const msgpack::object& o, std::string_view key, std::string_view type,
              std::vector<float>& out) {
    out.clear();
    if (o.type == msgpack::type::BIN) {
      if (o.via.bin.size % 4 != 0) Break(type, "\"" + std::string(key) + "\" bin is not float32s");
      out.resize(o.via.bin.size / 4);
      for (size_t i = 0; i < out.size(); ++i) {
        const auto* b = reinterpret_cast<const unsigned char*>(o.via.bin.ptr) + 4 * i;
        const uint32_t bits = uint32_t{b[0]} | uint32_t{b[1]} << 8 | uint32_t{b[2]} << 16 |
                              uint32_t{b[3]} << 24;
        std::memcpy(&out[i], &bits, 4);
      }
      return;
    }
    if (o.type != msgpack::type::ARRAY) {
      Break(type, "\"" + std::string(key) + "\" is neither an array of numbers nor bin");
    }
    out.resize(o.via.array.size);
    for (uint32_t i = 0; i < o.via.array.size; ++i) {
      if (!IsNumber(o.via.array.ptr[i])) {
        Break(type, "\"" + std::string(key) + "\"[" + std::to_string(i) + "] is not a number");
      }
      out[i] = static_cast<float>(NumberOf(o.via.array.ptr[i]));
    }
  }

  // Sends the request Begin() started without waiting for its reply (the destructor's close).
  void SendAndForget() {
    if (!broken_.empty()) return;
    try {
      socket_.set(zmq::sockopt::linger, kCloseLingerMs);
      (void)socket_.send(zmq::message_t(), zmq::send_flags::sndmore | zmq::send_flags::dontwait);
      (void)socket_.send(zmq::buffer(body_.data(), body_.size()), zmq::send_flags::dontwait);
    } catch (const zmq::error_t&) {
      // The server is gone: nothing to close.
    }
  }

  [[noreturn]] void Break(std::string_view type, const std::string& why) {
    broken_ = "remote env " + address_ + ": " + std::string(type) + ": " + why;
    broken_ += kUnusable;
    throw EnvFailure(broken_);
  }

  const std::string& address() const { return address_; }

 private:
  std::string NoReply() const {
    return "no reply within " + std::to_string(timeout_ms_) +
           " ms (the env server is slow, stopped, or not listening there)";
  }

  std::string address_;
  int64_t timeout_ms_;
  zmq::socket_t socket_;
  msgpack::sbuffer body_;
  Packer packer_{body_};
  msgpack::object_handle reply_;
  std::string broken_;  // why the link is unusable; empty while it works
};

void RemoteEnv::Options::Declare(OptionBinder& b) {
  b.String("address", &address, "ZeroMQ endpoint of the env server (docs/remote-env.md)");
  b.Int("timeout_ms", &timeout_ms, "longest wait for any reply of the server (ms)", 1, 3'600'000);
  b.Int("max_message_bytes", &max_message_bytes, "longest reply accepted (bytes)", 1024,
        1 << 30);
}

Status RemoteEnv::Options::Validate() const {
  if (address.empty()) return Status::InvalidArgument("address is empty");
  return Status::Ok();
}

namespace {

// A space map of hello: {"type": "discrete", "n"} or {"type": "box", "low", "high", "shape"}.
Space ReadSpace(RemoteEnv::Link& link, const msgpack::object& reply, std::string_view key) {
  const msgpack::object& o = link.Field(reply, key, "hello");
  const std::string what = "hello: \"" + std::string(key) + "\"";
  if (o.type != msgpack::type::MAP) {
    link.Break("hello", "\"" + std::string(key) + "\" is not a map");
  }
  const std::string type = link.String(o, "type", what);
  try {
    if (type == "discrete") {
      const msgpack::object& n = link.Field(o, "n", what);
      if (n.type != msgpack::type::POSITIVE_INTEGER || n.via.u64 < 1 || n.via.u64 > (1u << 24)) {
        link.Break(what, "\"n\" is not a count from 1 to 2^24");
      }
      return Space::Discrete(static_cast<int64_t>(n.via.u64));
    }
    if (type == "box") {
      std::vector<float> low, high;
      link.Floats(link.Field(o, "low", what), "low", what, low);
      link.Floats(link.Field(o, "high", what), "high", what, high);
      const msgpack::object& shape = link.Field(o, "shape", what);
      if (shape.type != msgpack::type::ARRAY) link.Break(what, "\"shape\" is not an array");
      std::vector<int64_t> dims;
      for (uint32_t i = 0; i < shape.via.array.size; ++i) {
        const msgpack::object& d = shape.via.array.ptr[i];
        if (d.type != msgpack::type::POSITIVE_INTEGER || d.via.u64 > (1u << 24)) {
          link.Break(what, "\"shape\" holds something other than sizes");
        }
        dims.push_back(static_cast<int64_t>(d.via.u64));
      }
      return Space::Box(std::move(low), std::move(high), std::move(dims));
    }
  } catch (const InvalidArgument& e) {  // Space's own checks (sizes that do not agree)
    link.Break(what, e.what());
  }
  link.Break(what, "unknown space type '" + type + "' (known: discrete, box)");
}

}  // namespace

RemoteEnv::RemoteEnv(const Options& options) {
  auto server = std::make_shared<Server>();
  server->address = options.address;
  server->timeout_ms = options.timeout_ms;
  server->max_message_bytes = options.max_message_bytes;
  link_ = std::make_unique<Link>(options.address, options.timeout_ms, options.max_message_bytes);
  try {
    link_->Begin("hello", 0);
    const msgpack::object& reply = link_->Call("hello");
    server->name = link_->String(reply, "name", "hello");
    server->observation_space = ReadSpace(*link_, reply, "observation_space");
    server->action_space = ReadSpace(*link_, reply, "action_space");
    if (server->observation_space.is_discrete()) {
      link_->Break("hello", "the observation space must be a box");
    }
    const msgpack::object& steps = link_->Field(reply, "max_episode_steps", "hello");
    if (steps.type != msgpack::type::POSITIVE_INTEGER || steps.via.u64 < 1 ||
        steps.via.u64 > (uint64_t{1} << 40)) {
      link_->Break("hello", "\"max_episode_steps\" is not a positive count");
    }
    server->max_episode_steps = static_cast<int64_t>(steps.via.u64);
    const msgpack::object& ops = link_->Field(reply, "ops", "hello");
    if (ops.type != msgpack::type::ARRAY) link_->Break("hello", "\"ops\" is not an array");
    for (uint32_t i = 0; i < ops.via.array.size; ++i) {
      if (ops.via.array.ptr[i].type == msgpack::type::STR) {
        const msgpack::object& op = ops.via.array.ptr[i];
        server->ops.emplace_back(op.via.str.ptr, op.via.str.size);
      }
    }
    server_ = std::move(server);
    Open();
  } catch (const EnvFailure& e) {  // at startup: the caller's configuration (no server there)
    std::string what = e.what();
    if (const size_t cut = what.rfind(kUnusable); cut != std::string::npos) what.resize(cut);
    throw InvalidArgument(what);
  }
}

RemoteEnv::RemoteEnv(std::shared_ptr<const Server> server) : server_(std::move(server)) {
  link_ = std::make_unique<Link>(server_->address, server_->timeout_ms, server_->max_message_bytes);
  Open();
}

RemoteEnv::~RemoteEnv() {
  if (instance_ == 0) return;
  Packer& p = link_->Begin("close", 1);
  PackString(p, "env");
  p.pack_uint64(instance_);
  link_->SendAndForget();
}

void RemoteEnv::Open() {
  link_->Begin("make", 0);
  const msgpack::object& reply = link_->Call("make");
  instance_ = link_->Unsigned(reply, "env", "make");
  observation_.assign(static_cast<size_t>(server_->observation_space.flat_size()), 0.0f);
}

const Space& RemoteEnv::observation_space() const { return server_->observation_space; }
const Space& RemoteEnv::action_space() const { return server_->action_space; }
int64_t RemoteEnv::max_episode_steps() const { return server_->max_episode_steps; }
const std::string& RemoteEnv::server_name() const { return server_->name; }
bool RemoteEnv::offers(std::string_view op) const { return server_->Offers(op); }

namespace {

void ReadObservation(RemoteEnv::Link& link, const msgpack::object& reply, std::string_view type,
                     const Space& space, std::vector<float>& out) {
  link.Floats(link.Field(reply, "obs", type), "obs", type, out);
  if (static_cast<int64_t>(out.size()) != space.flat_size()) {
    link.Break(type, "the observation holds " + std::to_string(out.size()) +
                         " values, the observation space " + std::to_string(space.flat_size()));
  }
}

}  // namespace

std::span<const float> RemoteEnv::Reset(uint64_t seed) {
  Packer& p = link_->Begin("reset", 2);
  PackString(p, "env");
  p.pack_uint64(instance_);
  PackString(p, "seed");
  p.pack_uint64(seed);
  const msgpack::object& reply = link_->Call("reset");
  ReadObservation(*link_, reply, "reset", observation_space(), observation_);
  elapsed_ = 0;
  started_ = true;
  done_ = false;
  return observation_;
}

StepResult RemoteEnv::Step(const Action& action) {
  if (!started_) throw InvalidArgument("remote: step() called before reset()");
  if (done_) {
    throw InvalidArgument("remote: step() called after the episode ended; call reset() first");
  }
  if (Status valid = action_space().Check(action); !valid.ok()) {
    throw InvalidArgument("remote: " + valid.message());
  }
  Packer& p = link_->Begin("step", 2);
  PackString(p, "env");
  p.pack_uint64(instance_);
  PackString(p, "action");
  if (action_space().is_discrete()) {
    p.pack_int64(action.index());
  } else {
    const std::span<const float> values = action.values();
    p.pack_array(static_cast<uint32_t>(values.size()));
    for (float v : values) p.pack_double(v);
  }
  const msgpack::object& reply = link_->Call("step");
  ReadObservation(*link_, reply, "step", observation_space(), observation_);
  StepResult result;
  result.observation = observation_;
  result.reward = link_->Number(reply, "reward", "step");
  result.terminated = link_->Bool(reply, "terminated", "step");
  result.truncated = link_->Bool(reply, "truncated", "step");
  if (!std::isfinite(result.reward)) link_->Break("step", "the reward is not finite");
  ++elapsed_;
  // The time limit hello announced holds even for a server that does not truncate.
  if (elapsed_ >= server_->max_episode_steps) result.truncated = true;
  done_ = result.done();
  return result;
}

std::unique_ptr<Env> RemoteEnv::Clone() const {
  if (!server_->Offers("copy")) {
    throw InvalidArgument("remote env " + server_->address + " (" + server_->name +
                          ") does not offer \"copy\": it cannot be cloned, so planners that "
                          "simulate on the env cannot plan on it");
  }
  auto clone = std::unique_ptr<RemoteEnv>(new RemoteEnv(server_));
  RequireOk(clone->CopyStateFrom(*this));
  return clone;
}

Status RemoteEnv::CopyStateFrom(const Env& other) {
  if (typeid(other) != typeid(RemoteEnv)) {
    return Status::InvalidArgument("remote: cannot copy the state of a " + other.name() + " env");
  }
  const auto& from = static_cast<const RemoteEnv&>(other);
  if (from.server_->address != server_->address) {
    return Status::InvalidArgument("remote: cannot copy the state of an env served at " +
                                   from.server_->address + " into one served at " +
                                   server_->address);
  }
  if (!server_->Offers("copy")) {
    return Status::InvalidArgument("remote env " + server_->address +
                                   " does not offer \"copy\"");
  }
  if (&from == this) return Status::Ok();
  Packer& p = link_->Begin("copy", 2);
  PackString(p, "env");
  p.pack_uint64(instance_);
  PackString(p, "from");
  p.pack_uint64(from.instance_);
  (void)link_->Call("copy");
  observation_ = from.observation_;
  elapsed_ = from.elapsed_;
  started_ = from.started_;
  done_ = from.done_;
  return Status::Ok();
}

std::string RemoteEnv::GetState() {
  Require(server_->Offers("get_state"),
          "remote env " + server_->address + " does not offer \"get_state\"");
  Packer& p = link_->Begin("get_state", 1);
  PackString(p, "env");
  p.pack_uint64(instance_);
  const msgpack::object& reply = link_->Call("get_state");
  const msgpack::object& state = link_->Field(reply, "state", "get_state");
  if (state.type != msgpack::type::BIN) link_->Break("get_state", "\"state\" is not bin");
  return {state.via.bin.ptr, state.via.bin.size};
}

void RemoteEnv::SetState(std::string_view state) {
  Require(server_->Offers("set_state"),
          "remote env " + server_->address + " does not offer \"set_state\"");
  Packer& p = link_->Begin("set_state", 2);
  PackString(p, "env");
  p.pack_uint64(instance_);
  PackString(p, "state");
  p.pack_bin(static_cast<uint32_t>(state.size()));
  p.pack_bin_body(state.data(), static_cast<uint32_t>(state.size()));
  (void)link_->Call("set_state");
  // The server's state now holds the episode; its bookkeeping here cannot be known.
  started_ = true;
  done_ = false;
}

APPRENTICE_REGISTER_ENV(RemoteEnv, "remote",
                        "an environment served by another process over ZeroMQ "
                        "(docs/remote-env.md; python/apprentice_env.py serves Python ones)");

}  // namespace apprentice
