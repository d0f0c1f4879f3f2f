// RemoteEnv (env/remote/remote_env.h) against a scripted server on a real ZeroMQ socket: every
// reply that breaks the protocol (not MessagePack, not a map, a wrong version or type, missing or
// mistyped fields, a wrong-size observation, bytes that lie about their length), a silent server
// and a reply over the size limit give a clear error and never a crash or a hang; the caller's
// errors keep the env usable, the env's own make it unusable. Also run under AddressSanitizer +
// UBSan (label "damage"). tests/conformance_test.cc runs the env contract against the Python
// server, tests/remote_env_test.sh the runs.
#include "env/remote/remote_env.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <deque>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <msgpack.hpp>
#include <zmq.hpp>

#include "core/status.h"

namespace apprentice {
namespace {

using Packer = msgpack::packer<msgpack::sbuffer>;

void Str(Packer& p, std::string_view s) {
  p.pack_str(static_cast<uint32_t>(s.size()));
  p.pack_str_body(s.data(), static_cast<uint32_t>(s.size()));
}

// The body of a reply map: `write` packs `fields` key/value pairs after v and type.
std::string Reply(std::string_view type, uint32_t fields, const std::function<void(Packer&)>& write,
                  int64_t version = 1) {
  msgpack::sbuffer buffer;
  Packer p(buffer);
  p.pack_map(2 + fields);
  Str(p, "v");
  p.pack_int64(version);
  Str(p, "type");
  Str(p, type);
  if (write) write(p);
  return {buffer.data(), buffer.size()};
}

std::string Hello(int64_t obs_size = 2, int64_t actions = 3) {
  return Reply("hello", 5, [&](Packer& p) {
    Str(p, "name");
    Str(p, "scripted");
    Str(p, "observation_space");
    p.pack_map(4);
    Str(p, "type");
    Str(p, "box");
    Str(p, "low");
    p.pack_array(static_cast<uint32_t>(obs_size));
    for (int64_t i = 0; i < obs_size; ++i) p.pack_double(-1.0);
    Str(p, "high");
    p.pack_array(static_cast<uint32_t>(obs_size));
    for (int64_t i = 0; i < obs_size; ++i) p.pack_double(1.0);
    Str(p, "shape");
    p.pack_array(1);
    p.pack_int64(obs_size);
    Str(p, "action_space");
    p.pack_map(2);
    Str(p, "type");
    Str(p, "discrete");
    Str(p, "n");
    p.pack_int64(actions);
    Str(p, "max_episode_steps");
    p.pack_int64(10);
    Str(p, "ops");
    p.pack_array(5);
    for (const char* op : {"hello", "make", "reset", "step", "close"}) Str(p, op);
  });
}

std::string Make(uint64_t id = 1) {
  return Reply("make", 1, [&](Packer& p) {
    Str(p, "env");
    p.pack_uint64(id);
  });
}

std::string Obs(std::string_view type, std::vector<float> values, bool step = false) {
  return Reply(type, step ? 4 : 1, [&](Packer& p) {
    Str(p, "obs");
    p.pack_array(static_cast<uint32_t>(values.size()));
    for (float v : values) p.pack_double(v);
    if (step) {
      Str(p, "reward");
      p.pack_double(0.5);
      Str(p, "terminated");
      p.pack_false();
      Str(p, "truncated");
      p.pack_false();
    }
  });
}

std::string Error(std::string_view code) {
  return Reply("error", 2, [&](Packer& p) {
    Str(p, "code");
    Str(p, code);
    Str(p, "message");
    Str(p, "scripted refusal");
  });
}

// A REP server answering each request with the next scripted body; an empty optional in the
// script means: stay silent from here on. Requests it received are kept (their "type" field).
class ScriptedServer {
 public:
  explicit ScriptedServer(std::deque<std::optional<std::string>> script)
      : script_(std::move(script)), socket_(context_, zmq::socket_type::rep) {
    socket_.set(zmq::sockopt::linger, 0);
    socket_.bind("tcp://127.0.0.1:*");
    endpoint_ = socket_.get(zmq::sockopt::last_endpoint);
    thread_ = std::thread([this] { Serve(); });
  }
  ~ScriptedServer() {
    stop_ = true;
    thread_.join();
  }
  const std::string& endpoint() const { return endpoint_; }
  RemoteEnv::Options Options(int64_t timeout_ms = 3000) const {
    RemoteEnv::Options o;
    o.address = endpoint_;
    o.timeout_ms = timeout_ms;
    return o;
  }

 private:
  void Serve() {
    zmq::pollitem_t item{socket_.handle(), 0, ZMQ_POLLIN, 0};
    while (!stop_) {
      zmq::poll(&item, 1, std::chrono::milliseconds(20));
      if (!(item.revents & ZMQ_POLLIN)) continue;
      zmq::message_t request;
      if (!socket_.recv(request)) continue;
      if (script_.empty() || !script_.front()) {
        silent_ = true;
        while (!stop_) std::this_thread::sleep_for(std::chrono::milliseconds(10));
        return;
      }
      const std::string body = *script_.front();
      script_.pop_front();
      socket_.send(zmq::buffer(body), zmq::send_flags::none);
    }
  }

  std::deque<std::optional<std::string>> script_;
  zmq::context_t context_{1};
  zmq::socket_t socket_;
  std::string endpoint_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> silent_{false};
};

// The message of what constructing an env against `hello` (then `make`) throws.
std::string StartupError(std::string hello, std::optional<std::string> make = Make()) {
  ScriptedServer server({std::move(hello), std::move(make)});
  try {
    RemoteEnv env(server.Options());
  } catch (const InvalidArgument& e) {
    return e.what();
  }
  return "";
}

TEST(RemoteEnv, AWellBehavedExchangeWorks) {
  ScriptedServer server({Hello(), Make(7), Obs("reset", {0.25f, -0.5f}),
                         Obs("step", {0.5f, 0.5f}, true)});
  RemoteEnv env(server.Options());
  EXPECT_EQ(env.server_name(), "scripted");
  EXPECT_EQ(env.instance(), 7u);
  EXPECT_EQ(env.action_space().n(), 3);
  EXPECT_EQ(env.max_episode_steps(), 10);
  EXPECT_FALSE(env.offers("copy"));
  const std::span<const float> obs = env.Reset(3);
  EXPECT_EQ(std::vector<float>(obs.begin(), obs.end()), (std::vector<float>{0.25f, -0.5f}));
  const StepResult r = env.Step(Action::Discrete(1));
  EXPECT_EQ(r.reward, 0.5);
  EXPECT_EQ(env.elapsed_steps(), 1);
  // No "copy" offered: no clone, with a message that says why.
  try {
    (void)env.Clone();
    FAIL() << "cloned without copy";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("does not offer \"copy\""), std::string::npos);
  }
}

TEST(RemoteEnv, BrokenHellosAreClearErrorsAtStartup) {
  EXPECT_NE(StartupError("\xc1garbage").find("not MessagePack"), std::string::npos);
  EXPECT_NE(StartupError("\x93\x01\x02\x03").find("not a map"), std::string::npos);
  EXPECT_NE(StartupError(Reply("hello", 0, nullptr, 2)).find("version"), std::string::npos);
  EXPECT_NE(StartupError(Reply("make", 0, nullptr)).find("'make' answered"), std::string::npos);
  EXPECT_NE(StartupError(Reply("hello", 0, nullptr)).find("no \"name\""), std::string::npos);
  const std::string wrong_type = StartupError(Reply("hello", 1, [](Packer& p) {
    Str(p, "name");
    p.pack_int64(5);
  }));
  EXPECT_NE(wrong_type.find("\"name\" is not a string"), std::string::npos) << wrong_type;
  // A hello that claims a huge array but holds nothing after it.
  const std::string lying = StartupError("\x82\xa1v\x01\xa4type\xdd\xff\xff\xff\xff");
  EXPECT_FALSE(lying.empty());
  EXPECT_NE(StartupError(Error("env_error")).find("refused (env_error)"), std::string::npos);
  EXPECT_NE(StartupError(Hello(), Reply("make", 0, nullptr)).find("no \"env\""), std::string::npos);
}

TEST(RemoteEnv, TheCallersErrorsKeepTheEnvTheServersBreakIt) {
  ScriptedServer server({Hello(), Make(), Obs("reset", {0.0f, 0.0f}), Error("invalid_action"),
                         Obs("step", {0.0f, 0.0f, 0.0f}, true)});
  RemoteEnv env(server.Options());
  env.Reset(1);
  // Checked here before anything is sent.
  EXPECT_THROW(env.Step(Action::Discrete(3)), InvalidArgument);
  // Refused by the server as the caller's error: the env still works.
  EXPECT_THROW(env.Step(Action::Discrete(2)), InvalidArgument);
  // A wrong-size observation: the env's failure, and the env is unusable from then on.
  try {
    env.Step(Action::Discrete(0));
    FAIL() << "no error for a wrong-size observation";
  } catch (const EnvFailure& e) {
    EXPECT_NE(std::string(e.what()).find("holds 3 values, the observation space 2"),
              std::string::npos)
        << e.what();
  }
  EXPECT_THROW(env.Reset(2), EnvFailure);
}

TEST(RemoteEnv, MistypedRepliesFailTheEnv) {
  const std::vector<std::string> bad_steps = {
      "\xc1", Reply("step", 0, nullptr), Reply("reset", 0, nullptr),
      Reply("step", 1, [](Packer& p) { Str(p, "obs"); Str(p, "text"); }),
      Reply("step", 1, [](Packer& p) { Str(p, "obs"); p.pack_bin(3); p.pack_bin_body("abc", 3); }),
      Reply("step", 4, [](Packer& p) {
        Str(p, "obs"); p.pack_array(2); p.pack_double(0); p.pack_double(0);
        Str(p, "reward"); Str(p, "much");
        Str(p, "terminated"); p.pack_false();
        Str(p, "truncated"); p.pack_false();
      }),
      Reply("step", 4, [](Packer& p) {
        Str(p, "obs"); p.pack_array(2); p.pack_double(0); p.pack_double(0);
        Str(p, "reward"); p.pack_double(std::numeric_limits<double>::infinity());
        Str(p, "terminated"); p.pack_false();
        Str(p, "truncated"); p.pack_false();
      }),
      Reply("step", 4, [](Packer& p) {
        Str(p, "obs"); p.pack_array(2); p.pack_double(0); p.pack_double(0);
        Str(p, "reward"); p.pack_double(1);
        Str(p, "terminated"); p.pack_int64(0);
        Str(p, "truncated"); p.pack_false();
      }),
      Error("env_error"), Error("unknown_env"),
  };
  for (const std::string& bad : bad_steps) {
    ScriptedServer server({Hello(), Make(), Obs("reset", {0.0f, 0.0f}), bad});
    RemoteEnv env(server.Options());
    env.Reset(1);
    EXPECT_THROW(env.Step(Action::Discrete(0)), EnvFailure) << bad.size();
    EXPECT_THROW(env.Step(Action::Discrete(0)), EnvFailure);
  }
}

TEST(RemoteEnv, ASilentServerIsATimeoutNotAHang) {
  ScriptedServer server({Hello(), Make(), std::nullopt});
  RemoteEnv env(server.Options(/*timeout_ms=*/200));
  const auto t0 = std::chrono::steady_clock::now();
  try {
    env.Reset(1);
    FAIL() << "a silent server answered";
  } catch (const EnvFailure& e) {
    EXPECT_NE(std::string(e.what()).find("reset: no reply within 200 ms"), std::string::npos)
        << e.what();
  }
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(10));
  // Nobody there at all: a startup error naming the address.
  RemoteEnv::Options nobody = server.Options(200);
  nobody.address = "tcp://127.0.0.1:1";
  try {
    RemoteEnv none(nobody);
    FAIL() << "connected to nobody";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("tcp://127.0.0.1:1: hello: no reply within 200 ms"),
              std::string::npos)
        << e.what();
  }
}

TEST(RemoteEnv, AReplyOverTheSizeLimitIsRefused) {
  std::vector<float> huge(300'000, 0.0f);  // > 1 MiB as float64s
  ScriptedServer server({Hello(), Make(), Obs("reset", huge)});
  RemoteEnv::Options o = server.Options(300);
  o.max_message_bytes = 1 << 20;
  RemoteEnv env(o);
  EXPECT_THROW(env.Reset(1), EnvFailure);
}

TEST(RemoteEnv, BadOptionsAreRefusedByName) {
  RemoteEnv::Options o;
  o.address = "";
  EXPECT_FALSE(o.Validate().ok());
  o.address = "not an endpoint";
  EXPECT_THROW(RemoteEnv env(o), InvalidArgument);
}

}  // namespace
}  // namespace apprentice
