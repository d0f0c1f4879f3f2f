// The decision service over a real ZeroMQ socket on loopback: act, feedback, stats, health, many
// clients, streams, snapshot-file reloads, and every kind of bad input followed by a check that
// correct requests are still answered correctly.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <msgpack.hpp>
#include <zmq.hpp>

#include "agent/agent.h"
#include "agent/weights.h"
#include "executor/executor.h"
#include "executor/snapshot_file.h"
#include "replay/episode_log.h"
#include "service/curve.h"
#include "service/journal.h"
#include "service/protocol.h"
#include "service/service.h"
#include "temp_files.h"
#include "wait_until.h"

namespace apprentice {
namespace {

constexpr int64_t kObs = 4;
const Space kObservationSpace = Space::Box(-INFINITY, INFINITY, {kObs});
const Space kActionSpace = Space::Discrete(3);

std::shared_ptr<const Snapshot> MakeSnapshot(uint64_t seed, int64_t version,
                                             std::vector<int64_t> hidden = {16}) {
  Result<MlpSpec> spec = StudentSpec(kObservationSpace, kActionSpace, hidden, Activation::kTanh);
  EXPECT_TRUE(spec.ok());
  auto made = Snapshot::Create(*spec, InitialParameters(*spec, seed), version);
  EXPECT_TRUE(made.ok()) << made.status().message();
  return *made;
}

// Packs a request map from (key, writer) pairs.
class Request {
 public:
  Request& Add(const std::string& key, std::function<void(msgpack::packer<msgpack::sbuffer>&)> f) {
    fields_.emplace_back(key, std::move(f));
    return *this;
  }
  Request& Str(const std::string& key, const std::string& value) {
    return Add(key, [value](auto& p) { p.pack(value); });
  }
  Request& Uint(const std::string& key, uint64_t value) {
    return Add(key, [value](auto& p) { p.pack_uint64(value); });
  }
  Request& Floats(const std::string& key, std::vector<float> values) {
    return Add(key, [values](auto& p) { p.pack(values); });
  }
  std::string Bytes() const {
    msgpack::sbuffer buffer;
    msgpack::packer<msgpack::sbuffer> p(&buffer);
    p.pack_map(static_cast<uint32_t>(fields_.size()));
    for (const auto& [key, f] : fields_) {
      p.pack(key);
      f(p);
    }
    return {buffer.data(), buffer.size()};
  }

 private:
  std::vector<std::pair<std::string, std::function<void(msgpack::packer<msgpack::sbuffer>&)>>>
      fields_;
};

Request Act(std::vector<float> obs, uint64_t req = 7) {
  Request r;
  r.Uint("v", 1).Str("type", "act").Uint("req", req).Floats("obs", std::move(obs));
  return r;
}

Request Typed(const std::string& type, uint64_t req = 1) {
  Request r;
  r.Uint("v", 1).Str("type", type).Uint("req", req);
  return r;
}

// A DEALER client on the service's endpoint; every receive is bounded in time.
class Client {
 public:
  Client(zmq::context_t& context, const std::string& endpoint)
      : socket_(context, zmq::socket_type::dealer) {
    socket_.set(zmq::sockopt::linger, 0);
    socket_.set(zmq::sockopt::rcvtimeo, 10'000);
    // A DEALER with no live connection (a refused handshake) blocks in send: bounded here.
    socket_.set(zmq::sockopt::sndtimeo, 10'000);
    socket_.connect(endpoint);
  }
  // Whether the message was queued within the send timeout.
  bool TrySend(const std::string& bytes) {
    zmq::message_t m(bytes.data(), bytes.size());
    return socket_.send(m, zmq::send_flags::none).has_value();
  }
  void Send(const std::string& bytes) { ASSERT_TRUE(TrySend(bytes)); }
  // The next reply as Json; null on timeout.
  Json Receive() {
    zmq::message_t m;
    if (!socket_.recv(m)) return Json();
    Result<Json> j = MsgpackToJson({static_cast<const uint8_t*>(m.data()), m.size()});
    EXPECT_TRUE(j.ok()) << j.status().message();
    return j.ok() ? *j : Json();
  }
  // The reply to `bytes`; null when it could not be sent or no reply came in time.
  Json Call(const std::string& bytes) {
    if (!TrySend(bytes)) return Json();
    return Receive();
  }
  zmq::socket_t& socket() { return socket_; }

 private:
  zmq::socket_t socket_;
};

std::string Field(const Json& j, const char* key) {
  const Json* f = j.Find(key);
  return f == nullptr ? "<missing>" : f->AsString("<not a string>");
}

// A started executor-only agent and service on a free loopback port.
struct Served {
  explicit Served(std::string log_dir = {}, DecisionService::Options service_options = {},
                  std::shared_ptr<const Snapshot> snapshot = MakeSnapshot(3, 1))
      : weights(std::move(snapshot)) {
    AgentOptions options;
    options.log_dir = std::move(log_dir);
    options.outcome_wait_ms = 60'000;
    AgentSeams seams;
    seams.weights = &weights;
    agent = std::make_unique<Agent>(options, kObservationSpace, kActionSpace, seams);
    agent->Start();
    service_options.bind = "tcp://127.0.0.1:*";
    service = std::make_unique<DecisionService>(service_options, *agent, [] {
      return Json{{"embedder", Json{{"note", "from the embedding program"}}}};
    });
    service->Start();
  }
  ~Served() {
    service->Stop();
    (void)agent->Stop();
  }
  StaticWeights weights;
  std::unique_ptr<Agent> agent;
  std::unique_ptr<DecisionService> service;
  zmq::context_t context{1};
};

// What the executor itself decides for `obs` with `snapshot`.
int64_t ExpectedAction(std::shared_ptr<const Snapshot> snapshot, const std::vector<float>& obs) {
  SnapshotSlot slot(std::move(snapshot));
  Executor executor(slot, kActionSpace);
  return executor.Act(obs).action.index();
}

void ExpectActReply(const Json& reply, uint64_t req, int64_t action) {
  ASSERT_EQ(Field(reply, "type"), "act") << reply.Dump(-1);
  EXPECT_EQ(reply.Find("v")->AsInt(), 1);
  EXPECT_EQ(reply.Find("req")->AsInt(), static_cast<int64_t>(req));
  EXPECT_GE(reply.Find("id")->AsInt(), 1);
  EXPECT_EQ(reply.Find("action")->AsInt(-1), action);
  const Json::Array& probs = reply.Find("probs")->AsArray();
  ASSERT_EQ(probs.size(), 3u);
  double sum = 0;
  int64_t argmax = 0;
  for (size_t i = 0; i < probs.size(); ++i) {
    sum += probs[i].AsNumber();
    if (probs[i].AsNumber() > probs[argmax].AsNumber()) argmax = static_cast<int64_t>(i);
  }
  EXPECT_NEAR(sum, 1.0, 1e-5);
  EXPECT_EQ(argmax, action);
  EXPECT_EQ(Field(reply, "by"), "executor");
  EXPECT_GE(reply.Find("latency_us")->AsNumber(), 0.0);
}

TEST(Protocol, DecodesObservationsAsArraysOrFloat32Bin) {
  WireRequest r;
  DecodeError e;
  const std::string array = Act({1.5f, -2.0f, 0.0f, 3.25f}).Bytes();
  ASSERT_TRUE(DecodeRequest({reinterpret_cast<const uint8_t*>(array.data()), array.size()}, r, e))
      << e.message;
  EXPECT_EQ(r.observation, (std::vector<float>{1.5f, -2.0f, 0.0f, 3.25f}));
  const std::vector<float> values = {0.5f, -1.0f, 2.0f, 8.0f};
  Request bin;
  bin.Uint("v", 1).Str("type", "act").Add("obs", [&](auto& p) {
    p.pack_bin(16);
    p.pack_bin_body(reinterpret_cast<const char*>(values.data()), 16);  // little-endian hosts
  });
  const std::string bytes = bin.Bytes();
  ASSERT_TRUE(DecodeRequest({reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()}, r, e))
      << e.message;
  EXPECT_EQ(r.observation, values);
  EXPECT_EQ(r.req.kind, RequestKey::Kind::kNone);
}

TEST(Protocol, JsonRoundTripsThroughMsgpack) {
  const Json j = Json{{"a", 1}, {"b", -2.5}, {"c", "x"}, {"d", Json::Array{true, Json()}}};
  const std::string packed = JsonToMsgpack(j);
  Result<Json> back = MsgpackToJson({reinterpret_cast<const uint8_t*>(packed.data()), packed.size()});
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->Dump(-1), j.Dump(-1));
}

TEST(Service, ActAnswersWithTheExecutorsDecision) {
  Served s;
  Client c(s.context, s.service->endpoint());
  const std::vector<float> obs = {0.1f, -0.4f, 0.9f, 0.0f};
  const Json reply = c.Call(Act(obs, 42).Bytes());
  ExpectActReply(reply, 42, ExpectedAction(s.weights.Latest(), obs));
  EXPECT_EQ(reply.Find("version")->AsInt(), 1);
  EXPECT_EQ(reply.Find("step")->AsInt(), 0);
  // A string request id is echoed too, and ids increase.
  const Json second = c.Call(Request(Act(obs)).Str("req", "abc").Bytes());
  EXPECT_EQ(Field(second, "req"), "abc");
  EXPECT_GT(second.Find("id")->AsInt(), reply.Find("id")->AsInt());
}

TEST(Service, ReqSocketsWithAnEmptyDelimiterAreAnsweredToo) {
  Served s;
  zmq::socket_t req(s.context, zmq::socket_type::req);
  req.set(zmq::sockopt::linger, 0);
  req.set(zmq::sockopt::rcvtimeo, 10'000);
  req.connect(s.service->endpoint());
  const std::string bytes = Typed("health").Bytes();
  ASSERT_TRUE(req.send(zmq::buffer(bytes), zmq::send_flags::none));
  zmq::message_t m;
  ASSERT_TRUE(req.recv(m));
  Result<Json> j = MsgpackToJson({static_cast<const uint8_t*>(m.data()), m.size()});
  ASSERT_TRUE(j.ok());
  EXPECT_EQ(Field(*j, "type"), "health");
  EXPECT_TRUE(j->Find("ok")->AsBool());
  EXPECT_EQ(Field(*j, "observation_space"), kObservationSpace.ToString());
  EXPECT_EQ(Field(*j, "action_space"), "Discrete(3)");
  EXPECT_FALSE(j->Find("teacher")->AsBool(true));
}

TEST(Service, FeedbackIsJoinedWithItsDecisionInTheLog) {
  TempDir dir;
  std::vector<int64_t> ids;
  {
    Served s(dir / "logs");
    Client c(s.context, s.service->endpoint());
    for (int i = 0; i < 3; ++i) {
      const Json reply = c.Call(Act({0.1f * i, 0.2f, 0.3f, 0.4f}).Bytes());
      ids.push_back(reply.Find("id")->AsInt());
    }
    Request feedback = Typed("feedback", 9);
    feedback.Uint("id", static_cast<uint64_t>(ids[1])).Add("reward", [](auto& p) {
      p.pack_double(-3.5);
    });
    feedback.Uint("label", 2).Add("done", [](auto& p) { p.pack_true(); });
    const Json ack = c.Call(feedback.Bytes());
    EXPECT_EQ(Field(ack, "type"), "feedback") << ack.Dump(-1);
    EXPECT_EQ(ack.Find("id")->AsInt(), ids[1]);
    EXPECT_TRUE(ack.Find("accepted")->AsBool());
    const Json stats = c.Call(Typed("stats").Bytes());
    EXPECT_EQ(stats.Find("service")->Find("acts")->AsInt(), 3);
    EXPECT_EQ(stats.Find("service")->Find("feedback")->AsInt(), 1);
    EXPECT_TRUE(stats.Find("agent")->is_object());
    ASSERT_NE(stats.Find("embedder"), nullptr) << stats.Dump(-1);
    EXPECT_EQ(Field(*stats.Find("embedder"), "note"), "from the embedding program");
  }  // Stop() logs every decision still waiting for feedback
  Result<EpisodeLogContents> log = ReadEpisodeLog(dir / "logs");
  ASSERT_TRUE(log.ok()) << log.status().message();
  ASSERT_EQ(log->records.size(), 3u);
  int with_feedback = 0;
  for (const DecisionRecord& r : log->records) {
    if (static_cast<int64_t>(r.decision_id) != ids[1]) {
      EXPECT_FALSE(r.has_truth);
      continue;
    }
    ++with_feedback;
    EXPECT_EQ(r.reward, -3.5f);
    EXPECT_TRUE(r.terminated);
    ASSERT_TRUE(r.has_truth);
    EXPECT_EQ(r.truth, Action::Discrete(2));
  }
  EXPECT_EQ(with_feedback, 1);
}

TEST(Service, StreamsNumberTheStepsOfOneEpisode) {
  Served s;
  Client c(s.context, s.service->endpoint());
  std::vector<Json> replies;
  for (int i = 0; i < 3; ++i) {
    replies.push_back(c.Call(Act({0, 0, 0, 0}).Str("stream", "card-1").Bytes()));
  }
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(replies[i].Find("episode")->AsInt(), replies[0].Find("episode")->AsInt());
    EXPECT_EQ(replies[i].Find("step")->AsInt(), i);
  }
  const Json other = c.Call(Act({0, 0, 0, 0}).Str("stream", "card-2").Bytes());
  EXPECT_NE(other.Find("episode")->AsInt(), replies[0].Find("episode")->AsInt());
  // "end" closes the stream: the next decision with the key starts a new episode.
  Request last = Act({0, 0, 0, 0});
  last.Str("stream", "card-1").Add("end", [](auto& p) { p.pack_true(); });
  EXPECT_EQ(c.Call(last.Bytes()).Find("step")->AsInt(), 3);
  const Json again = c.Call(Act({0, 0, 0, 0}).Str("stream", "card-1").Bytes());
  EXPECT_EQ(again.Find("step")->AsInt(), 0);
  EXPECT_NE(again.Find("episode")->AsInt(), replies[0].Find("episode")->AsInt());
}

TEST(Service, OldestStreamsAreClosedBeyondTheLimit) {
  DecisionService::Options options;
  options.max_streams = 2;
  Served s({}, options);
  Client c(s.context, s.service->endpoint());
  for (const char* key : {"a", "b", "a", "c", "a"}) {
    (void)c.Call(Act({0, 0, 0, 0}).Str("stream", key).Bytes());
  }
  EXPECT_EQ(s.service->counters().streams, 2);
  // "b" was the oldest when "c" opened: it starts over.
  EXPECT_EQ(c.Call(Act({0, 0, 0, 0}).Str("stream", "b").Bytes()).Find("step")->AsInt(), 0);
}

TEST(Service, ManyClientsAtOnceEachGetTheirOwnReplies) {
  Served s;
  constexpr int kClients = 4, kRequests = 300, kInFlight = 16;
  std::vector<std::thread> threads;
  std::vector<std::vector<int64_t>> ids(kClients);
  std::atomic<int> failures{0};
  for (int t = 0; t < kClients; ++t) {
    threads.emplace_back([&, t] {
      Client c(s.context, s.service->endpoint());
      int sent = 0, received = 0;
      std::set<int64_t> expected_reqs;
      while (received < kRequests) {
        while (sent < kRequests && sent - received < kInFlight) {
          c.Send(Act({static_cast<float>(t), static_cast<float>(sent), 0, 1},
                     static_cast<uint64_t>(t * 100'000 + sent))
                     .Bytes());
          expected_reqs.insert(t * 100'000 + sent);
          ++sent;
        }
        const Json reply = c.Receive();
        if (Field(reply, "type") != "act" ||
            expected_reqs.erase(reply.Find("req")->AsInt()) != 1) {
          failures.fetch_add(1);
          return;
        }
        ids[t].push_back(reply.Find("id")->AsInt());
        ++received;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  std::set<int64_t> all;
  for (const auto& v : ids) all.insert(v.begin(), v.end());
  EXPECT_EQ(all.size(), static_cast<size_t>(kClients * kRequests));  // every id unique
  EXPECT_EQ(s.service->counters().acts, kClients * kRequests);
}

// Each bad input gets an error reply with its code (or, oversized, a dropped connection), and
// then a correct request on the same and on another connection is still answered correctly.
TEST(Service, EveryBadInputGetsAnErrorAndTheServiceKeepsServing) {
  DecisionService::Options options;
  options.max_message_bytes = 4096;
  Served s({}, options);
  Client c(s.context, s.service->endpoint());
  const std::vector<float> good_obs = {0.3f, 0.1f, -0.2f, 0.7f};
  const int64_t good_action = ExpectedAction(s.weights.Latest(), good_obs);
  auto still_serving = [&](const std::string& what) {
    SCOPED_TRACE("after " + what);
    ExpectActReply(c.Call(Act(good_obs, 5).Bytes()), 5, good_action);
    Client fresh(s.context, s.service->endpoint());
    ExpectActReply(fresh.Call(Act(good_obs, 6).Bytes()), 6, good_action);
  };

  msgpack::sbuffer array_body;
  msgpack::packer<msgpack::sbuffer>(&array_body).pack(std::vector<int>{1, 2, 3});
  msgpack::sbuffer int_keys;
  {
    msgpack::packer<msgpack::sbuffer> p(&int_keys);
    p.pack_map(1);
    p.pack(1);
    p.pack(2);
  }
  msgpack::sbuffer deep;
  {
    msgpack::packer<msgpack::sbuffer> p(&deep);
    for (int i = 0; i < 50; ++i) {
      p.pack_map(1);
      p.pack(std::string("k"));
    }
    p.pack(1);
  }
  const std::string valid = Act(good_obs).Bytes();
  struct Case {
    std::string name, bytes, code;
  };
  const std::vector<Case> cases = {
      {"garbage bytes", std::string("\xc1\xff\x00garbage", 10), "malformed"},
      {"empty body", std::string(), "malformed"},
      {"a truncated map", valid.substr(0, valid.size() / 2), "malformed"},
      {"trailing bytes", valid + "x", "malformed"},
      {"an array, not a map", std::string(array_body.data(), array_body.size()), "malformed"},
      {"integer keys", std::string(int_keys.data(), int_keys.size()), "malformed"},
      {"nesting 50 deep", std::string(deep.data(), deep.size()), "malformed"},
      {"no version", Request().Str("type", "act").Floats("obs", good_obs).Bytes(), "bad_version"},
      {"version 2", Request().Uint("v", 2).Str("type", "act").Floats("obs", good_obs).Bytes(),
       "bad_version"},
      {"version as a string", Request().Str("v", "1").Str("type", "act").Bytes(), "bad_version"},
      {"unknown type", Typed("launch").Bytes(), "unknown_type"},
      {"type not a string", Request().Uint("v", 1).Uint("type", 3).Bytes(), "unknown_type"},
      {"no type", Request().Uint("v", 1).Bytes(), "unknown_type"},
      {"act without obs", Typed("act").Bytes(), "bad_field"},
      {"obs as a string", Typed("act").Str("obs", "1,2,3,4").Bytes(), "bad_field"},
      {"obs with a string inside",
       Typed("act").Add("obs", [](auto& p) {
         p.pack_array(4);
         p.pack(1.0);
         p.pack(std::string("x"));
         p.pack(1.0);
         p.pack(1.0);
       }).Bytes(),
       "bad_field"},
      {"obs bin of 7 bytes",
       Typed("act").Add("obs", [](auto& p) {
         p.pack_bin(7);
         p.pack_bin_body("1234567", 7);
       }).Bytes(),
       "bad_field"},
      {"req of a negative number", Act(good_obs).Add("req", [](auto& p) { p.pack(-5); }).Bytes(),
       "bad_field"},
      {"too few values", Act({1, 2, 3}).Bytes(), "bad_observation"},
      {"too many values", Act({1, 2, 3, 4, 5}).Bytes(), "bad_observation"},
      {"a NaN", Act({1, NAN, 3, 4}).Bytes(), "bad_observation"},
      {"an infinity", Act({1, 2, INFINITY, 4}).Bytes(), "bad_observation"},
      {"feedback without id", Typed("feedback").Add("reward", [](auto& p) { p.pack(1.0); }).Bytes(),
       "bad_field"},
      {"feedback with nothing", Typed("feedback").Uint("id", 1).Bytes(), "bad_field"},
      {"feedback for an unknown id",
       Typed("feedback").Uint("id", 1'000'000).Add("reward", [](auto& p) { p.pack(1.0); }).Bytes(),
       "unknown_decision"},
      {"feedback for id 0",
       Typed("feedback").Uint("id", 0).Add("reward", [](auto& p) { p.pack(1.0); }).Bytes(),
       "unknown_decision"},
      {"a label out of range", Typed("feedback").Uint("id", 1).Uint("label", 3).Bytes(),
       "bad_label"},
      {"a vector label for a discrete space",
       Typed("feedback").Uint("id", 1).Floats("label", {1.0f}).Bytes(), "bad_label"},
      {"a non-finite reward",
       Typed("feedback").Uint("id", 1).Add("reward", [](auto& p) { p.pack(NAN); }).Bytes(),
       "bad_field"},
      {"a second label for one decision", Typed("feedback").Uint("id", 1).Uint("label", 2).Bytes(),
       "duplicate_label"},
  };
  // One good decision first, so that id 1 exists for the feedback cases, with its label.
  ExpectActReply(c.Call(Act(good_obs, 1).Bytes()), 1, good_action);
  ASSERT_EQ(Field(c.Call(Typed("feedback").Uint("id", 1).Uint("label", 1).Bytes()), "type"),
            "feedback");
  std::map<std::string, int64_t> expected_codes;
  for (const Case& k : cases) {
    SCOPED_TRACE(k.name);
    const Json reply = c.Call(k.bytes);
    ASSERT_EQ(Field(reply, "type"), "error") << reply.Dump(-1);
    EXPECT_EQ(Field(reply, "code"), k.code) << Field(reply, "message");
    EXPECT_FALSE(Field(reply, "message").empty());
    ++expected_codes[k.code];
    still_serving(k.name);
  }
  // The request id is echoed in an error reply when it could be read.
  const Json with_req = c.Call(Act({1, 2}, 77).Bytes());
  EXPECT_EQ(with_req.Find("req")->AsInt(), 77);
  ++expected_codes["bad_observation"];

  // Over max_message_bytes: ZeroMQ drops that connection (no reply can be routed); others and
  // new connections are served.
  {
    Client big(s.context, s.service->endpoint());
    big.socket().set(zmq::sockopt::rcvtimeo, 300);
    big.Send(Act(std::vector<float>(4000, 1.5f)).Bytes());  // 5 bytes a value
    EXPECT_TRUE(big.Receive().is_null());
  }
  still_serving("an oversized message");

  // A client that disconnects before its replies: each request is still handled (its reply
  // delivered into the closing connection, or dropped and counted as unroutable).
  const int64_t before = s.service->counters().messages;
  {
    zmq::socket_t gone(s.context, zmq::socket_type::dealer);
    gone.set(zmq::sockopt::linger, 1000);  // the request must leave before the socket closes
    gone.connect(s.service->endpoint());
    std::string bytes;
    // Many requests, so that some replies find the connection gone.
    for (int i = 0; i < 200; ++i) {
      bytes = Act(good_obs, static_cast<uint64_t>(i)).Bytes();
      (void)gone.send(zmq::buffer(bytes), zmq::send_flags::none);
    }
    gone.close();
  }
  EXPECT_TRUE(WaitUntil([&] { return s.service->counters().messages >= before + 200; }));
  still_serving("a client that disconnected");

  const DecisionService::Counters counters = s.service->counters();
  for (const auto& [code, n] : expected_codes) {
    int index = 0;
    while (ErrorCodeName(static_cast<ErrorCode>(index)) != code) ++index;
    EXPECT_EQ(counters.errors_by_code[index], n) << code;
  }
  EXPECT_TRUE(s.agent->health().ok());
}

TEST(Service, ARejectedBindNamesTheEndpoint) {
  StaticWeights weights(MakeSnapshot(1, 1));
  AgentSeams seams;
  seams.weights = &weights;
  Agent agent(AgentOptions{}, kObservationSpace, kActionSpace, seams);
  agent.Start();
  DecisionService::Options options;
  options.bind = "tcp://256.1.1.1:1";
  DecisionService service(options, agent);
  try {
    service.Start();
    FAIL() << "bound an impossible address";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("tcp://256.1.1.1:1"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(agent.Stop().ok());
}

std::string FileText(const std::string& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// A CURVE client: its own key pair and the service's public key.
void UseCurve(Client& client, const CurveKeyPair& own, const std::string& server_public) {
  client.socket().set(zmq::sockopt::curve_serverkey, server_public);
  client.socket().set(zmq::sockopt::curve_publickey, own.public_key);
  client.socket().set(zmq::sockopt::curve_secretkey, own.secret_key);
}

TEST(Curve, OnlyListedClientsAreServedAndTheOthersGetNothing) {
  const CurveKeyPair server = *GenerateCurveKeyPair();
  const CurveKeyPair listed = *GenerateCurveKeyPair(), unlisted = *GenerateCurveKeyPair();
  DecisionService::Options options;
  options.curve_keys = server;
  options.curve_clients = {listed.public_key};
  Served s({}, options);
  const std::string endpoint = s.service->endpoint();
  auto client = [&](const CurveKeyPair* keys) {
    auto c = std::make_unique<Client>(s.context, endpoint);
    c->socket().set(zmq::sockopt::rcvtimeo, 1'000);
    c->socket().set(zmq::sockopt::sndtimeo, 1'000);
    if (keys != nullptr) {
      // Connect again with the keys set: options apply to connections made after them.
      c->socket().disconnect(endpoint);
      UseCurve(*c, *keys, server.public_key);
      c->socket().connect(endpoint);
    }
    return c;
  };
  const std::vector<float> obs = {0.1f, -0.2f, 0.3f, 0.0f};
  const int64_t action = ExpectedAction(MakeSnapshot(3, 1), obs);
  {
    auto ok = client(&listed);
    ExpectActReply(ok->Call(Act(obs, 1).Bytes()), 1, action);
  }
  {
    auto stranger = client(&unlisted);  // a valid CURVE client whose key is not listed
    EXPECT_TRUE(stranger->Call(Act(obs, 2).Bytes()).is_null());
  }
  {
    auto plain = client(nullptr);  // no CURVE at all
    EXPECT_TRUE(plain->Call(Act(obs, 3).Bytes()).is_null());
  }
  {
    // The listed client is still served, and a client that knows a wrong server key is not.
    auto ok = client(&listed);
    ExpectActReply(ok->Call(Act(obs, 4).Bytes()), 4, action);
    auto confused = std::make_unique<Client>(s.context, endpoint);
    confused->socket().set(zmq::sockopt::rcvtimeo, 1'000);
    confused->socket().set(zmq::sockopt::sndtimeo, 1'000);
    confused->socket().disconnect(endpoint);
    UseCurve(*confused, listed, unlisted.public_key);
    confused->socket().connect(endpoint);
    EXPECT_TRUE(confused->Call(Act(obs, 5).Bytes()).is_null());
  }
  const DecisionService::Counters c = s.service->counters();
  EXPECT_EQ(c.acts, 2);
  EXPECT_GE(c.handshakes_accepted, 2);
  EXPECT_GE(c.handshakes_refused, 1);
}

TEST(Curve, OptionsWithoutKeysOrClientsAreRefused) {
  DecisionService::Options options;
  options.curve_clients = {GenerateCurveKeyPair()->public_key};
  EXPECT_FALSE(options.Validate().ok());  // clients without a key pair
  options.curve_keys = *GenerateCurveKeyPair();
  EXPECT_TRUE(options.Validate().ok());
  options.curve_clients.clear();
  EXPECT_FALSE(options.Validate().ok());  // a key pair and nobody allowed
  options.curve_clients = {"not a key"};
  EXPECT_FALSE(options.Validate().ok());
}

TEST(Curve, KeyFilesRoundTripAndDamagedOnesAreRefusedWithTheLine) {
  TempDir dir;
  const std::string base = dir.str() + "/server";
  const CurveKeyPair keys = *GenerateCurveKeyPair();
  ASSERT_TRUE(WriteCurveKeyFiles(base, keys, /*overwrite=*/false).ok());
  EXPECT_EQ(std::filesystem::status(base + ".key").permissions() &
                (std::filesystem::perms::group_all | std::filesystem::perms::others_all),
            std::filesystem::perms::none);
  EXPECT_FALSE(WriteCurveKeyFiles(base, keys, /*overwrite=*/false).ok());  // exists
  EXPECT_TRUE(WriteCurveKeyFiles(base, keys, /*overwrite=*/true).ok());
  Result<CurveKeyPair> read = ReadCurveKeyPair(base + ".key");
  ASSERT_TRUE(read.ok()) << read.status().message();
  EXPECT_EQ(read->public_key, keys.public_key);
  EXPECT_EQ(read->secret_key, keys.secret_key);
  // An allowed-clients file: .pub files concatenated, a bare key, a comment and a duplicate.
  const CurveKeyPair other = *GenerateCurveKeyPair();
  std::ofstream(dir.str() + "/allowed")
      << FileText(base + ".pub") << "# the fraud scorer\n" << other.public_key << "\n\n"
      << "public-key = \"" << keys.public_key << "\"\n";
  Result<std::vector<std::string>> allowed = ReadCurvePublicKeys(dir.str() + "/allowed");
  ASSERT_TRUE(allowed.ok()) << allowed.status().message();
  EXPECT_EQ(*allowed, (std::vector<std::string>{keys.public_key, other.public_key}));
  // Damage: a short key, a secret key among public ones, a public key of another pair, nothing.
  std::ofstream(dir.str() + "/short") << "public-key = abc\n";
  const Status short_key = ReadCurvePublicKeys(dir.str() + "/short").status();
  EXPECT_NE(short_key.message().find("line 1"), std::string::npos) << short_key.message();
  EXPECT_FALSE(ReadCurvePublicKeys(base + ".key").ok());
  std::ofstream(dir.str() + "/mixed.key") << "public-key = " << other.public_key
                                          << "\nsecret-key = " << keys.secret_key << "\n";
  EXPECT_FALSE(ReadCurveKeyPair(dir.str() + "/mixed.key").ok());
  EXPECT_FALSE(ReadCurveKeyPair(base + ".pub").ok());  // no secret key
  std::ofstream(dir.str() + "/empty") << "# nothing\n";
  EXPECT_FALSE(ReadCurvePublicKeys(dir.str() + "/empty").ok());
  EXPECT_EQ(ReadCurveKeyPair(dir.str() + "/missing.key").status().code(), StatusCode::kNotFound);
}

// ---------------------------------------------------------------------------------------------
// The journal: decisions and feedback on disk before replies, found again by id
// ---------------------------------------------------------------------------------------------

DecisionRecord JournalDecision(uint64_t id) {
  DecisionRecord r;
  r.decision_id = id;
  r.episode = static_cast<int64_t>(id) + 100;
  r.observation = {static_cast<float>(id), 0.5f, -0.5f, 1.0f};
  const float logits[] = {0.1f, 0.2f, 0.3f};
  r.executor = PolicyOutput::FromLogits(logits);
  r.executor_action = Action::Discrete(static_cast<int64_t>(id % 3));
  return r;
}

std::unique_ptr<DecisionJournal> OpenJournal(const std::string& dir, int64_t segment_bytes) {
  DecisionJournal::Options o;
  o.directory = dir;
  o.segment_bytes = segment_bytes;
  Result<std::unique_ptr<DecisionJournal>> j = DecisionJournal::Open(o, {"test", "", "", ""});
  EXPECT_TRUE(j.ok()) << j.status().message();
  return j.ok() ? std::move(*j) : nullptr;
}

TEST(Journal, FindsEveryCommittedDecisionByIdAcrossSegmentsAndRestarts) {
  TempDir dir;
  {
    auto j = OpenJournal(dir.str(), 16 << 10);  // small segments: many of them
    ASSERT_NE(j, nullptr);
    EXPECT_EQ(j->next_decision_id(), 1u);
    for (uint64_t id = 1; id <= 3000; ++id) ASSERT_TRUE(j->AppendDecision(JournalDecision(id)).ok());
    // Not committed yet: not findable.
    EXPECT_FALSE(j->Find(10)->has_value());
    ASSERT_TRUE(j->Commit().ok());
    for (uint64_t id : {1u, 2u, 255u, 256u, 257u, 1500u, 2999u, 3000u}) {
      Result<std::optional<DecisionRecord>> found = j->Find(id);
      ASSERT_TRUE(found.ok()) << found.status().message();
      ASSERT_TRUE(found->has_value()) << id;
      EXPECT_EQ((*found)->decision_id, id);
      EXPECT_EQ((*found)->observation[0], static_cast<float>(id));
      EXPECT_EQ((*found)->episode, static_cast<int64_t>(id) + 100);
    }
    EXPECT_FALSE(j->Find(0)->has_value());
    EXPECT_FALSE(j->Find(3001)->has_value());
    EXPECT_FALSE(j->AppendDecision(JournalDecision(5)).ok());  // ids only increase
    DecisionRecord feedback;
    feedback.decision_id = 42;
    feedback.has_truth = true;
    feedback.truth = Action::Discrete(2);
    ASSERT_TRUE(j->AppendFeedback(feedback).ok());
    ASSERT_TRUE(j->Close().ok());
  }
  // A restart: the index, the next ids and the ground truths seen come back from the files.
  auto j = OpenJournal(dir.str(), 16 << 10);
  ASSERT_NE(j, nullptr);
  EXPECT_EQ(j->next_decision_id(), 3001u);
  EXPECT_EQ(j->next_episode(), 3101);
  EXPECT_EQ(j->decisions(), 3000);
  EXPECT_EQ(j->feedback(), 1);
  EXPECT_TRUE(j->truths().Contains(42));
  for (uint64_t id = 3001; id <= 3100; ++id) ASSERT_TRUE(j->AppendDecision(JournalDecision(id)).ok());
  ASSERT_TRUE(j->Commit().ok());
  for (uint64_t id : {7u, 2048u, 3000u, 3001u, 3100u}) {
    Result<std::optional<DecisionRecord>> found = j->Find(id);
    ASSERT_TRUE(found.ok() && found->has_value()) << id;
    EXPECT_EQ((*found)->observation[0], static_cast<float>(id));
  }
}

TEST(Journal, ADamagedStretchCostsOnlyItsDecisions) {
  TempDir dir;
  {
    auto j = OpenJournal(dir.str(), 64 << 20);
    for (uint64_t id = 1; id <= 1000; ++id) ASSERT_TRUE(j->AppendDecision(JournalDecision(id)).ok());
    ASSERT_TRUE(j->Close().ok());
  }
  // A torn tail: the last 100 bytes of the segment are lost, as in a crash mid-write.
  const std::string segment = dir.str() + "/decisions/" + EpisodeLogSegmentName(0);
  std::filesystem::resize_file(segment, std::filesystem::file_size(segment) - 100);
  auto j = OpenJournal(dir.str(), 64 << 20);
  ASSERT_NE(j, nullptr);
  EXPECT_FALSE(j->damage().empty());
  EXPECT_GE(j->decisions(), 990);
  EXPECT_LT(j->decisions(), 1000);
  EXPECT_EQ(j->next_decision_id(), static_cast<uint64_t>(j->decisions()) + 1);
  EXPECT_TRUE(j->Find(500)->has_value());
  EXPECT_FALSE(j->Find(1000)->has_value());
}

// A served act's decision is in the journal when its reply arrives; feedback too; a second
// ground truth for one decision is refused; after a restart, feedback for an earlier decision is
// accepted and joined with it through the journal.
TEST(Journal, RepliesComeAfterTheRecordsAreOnDiskAndFeedbackJoinsAfterARestart) {
  TempDir dir;
  const std::string journal_dir = dir.str() + "/journal";
  uint64_t first_id = 0;
  const std::vector<float> obs = {0.25f, -0.5f, 0.75f, 1.0f};
  {
    auto journal = OpenJournal(journal_dir, 64 << 20);
    StaticWeights weights(MakeSnapshot(3, 1));
    AgentSeams seams;
    seams.weights = &weights;
    seams.decisions = [j = journal.get()](uint64_t id) { return j->Find(id); };
    Agent agent(AgentOptions{}, kObservationSpace, kActionSpace, seams);
    agent.Start();
    DecisionService::Options options;
    options.bind = "tcp://127.0.0.1:*";
    DecisionService service(options, agent, {}, journal.get());
    service.Start();
    zmq::context_t context(1);
    Client c(context, service.endpoint());
    const Json reply = c.Call(Act(obs, 1).Bytes());
    ASSERT_EQ(Field(reply, "type"), "act") << reply.Dump(-1);
    first_id = static_cast<uint64_t>(reply.Find("id")->AsInt());
    // On disk (in the OS) already: a reader of the files sees it.
    Result<EpisodeLogContents> on_disk = ReadEpisodeLog(journal_dir + "/decisions");
    ASSERT_TRUE(on_disk.ok());
    ASSERT_EQ(on_disk->records.size(), 1u);
    EXPECT_EQ(on_disk->records[0].decision_id, first_id);
    EXPECT_EQ(on_disk->records[0].observation, obs);
    const Json ack = c.Call(Request(Typed("feedback", 2)).Uint("id", first_id).Uint("label", 1).Bytes());
    EXPECT_EQ(Field(ack, "type"), "feedback") << ack.Dump(-1);
    const Json again =
        c.Call(Request(Typed("feedback", 3)).Uint("id", first_id).Uint("label", 0).Bytes());
    EXPECT_EQ(Field(again, "code"), "duplicate_label") << again.Dump(-1);
    service.Stop();
    ASSERT_TRUE(agent.Stop().ok());
    ASSERT_TRUE(journal->Close().ok());
  }
  // The restart: new agent and service on the same journal.
  auto journal = OpenJournal(journal_dir, 64 << 20);
  EXPECT_EQ(journal->next_decision_id(), first_id + 1);
  StaticWeights weights(MakeSnapshot(3, 1));
  AgentSeams seams;
  seams.weights = &weights;
  seams.decisions = [j = journal.get()](uint64_t id) { return j->Find(id); };
  Agent agent(AgentOptions{}, kObservationSpace, kActionSpace, seams);
  agent.SetFirstDecisionId(journal->next_decision_id());
  agent.Start();
  DecisionService::Options options;
  options.bind = "tcp://127.0.0.1:*";
  DecisionService service(options, agent, {}, journal.get());
  service.Start();
  zmq::context_t context(1);
  Client c(context, service.endpoint());
  // The old decision's ground truth was recorded: a second one is still refused.
  const Json dup = c.Call(Request(Typed("feedback", 4)).Uint("id", first_id).Uint("label", 2).Bytes());
  EXPECT_EQ(Field(dup, "code"), "duplicate_label") << dup.Dump(-1);
  // A reward for it is accepted and joined from the journal.
  const Json late = c.Call(Request(Typed("feedback", 5))
                               .Uint("id", first_id)
                               .Add("reward", [](auto& p) { p.pack_double(2.5); })
                               .Bytes());
  EXPECT_EQ(Field(late, "type"), "feedback") << late.Dump(-1);
  const Json next = c.Call(Act(obs, 6).Bytes());
  EXPECT_EQ(static_cast<uint64_t>(next.Find("id")->AsInt()), first_id + 1);
  EXPECT_TRUE(WaitUntil([&] { return agent.Metrics().late_joins == 1; }));
  EXPECT_EQ(agent.Metrics().orphan_outcomes, 0);
  service.Stop();
  ASSERT_TRUE(agent.Stop().ok());
}

TEST(Service, AnAgentWithoutATeacherRefusesModesThatAskOne) {
  StaticWeights weights(MakeSnapshot(1, 1));
  AgentSeams seams;
  seams.weights = &weights;
  AgentOptions options;
  options.mode = Mode::kDeadline;
  EXPECT_THROW(Agent(options, kObservationSpace, kActionSpace, seams), InvalidArgument);
}

TEST(SnapshotFileWeights, ServesEachNewFileAndKeepsServingThroughBadOnes) {
  TempDir dir;
  const std::string path = dir / "executor.snap";
  ASSERT_TRUE(SaveSnapshot(*MakeSnapshot(1, 4), {}, path).ok());
  SnapshotFileWeights weights({path, /*poll_ms=*/0});
  EXPECT_EQ(weights.Latest()->version(), 4);

  AgentSeams seams;
  seams.weights = &weights;
  Agent agent(AgentOptions{}, kObservationSpace, kActionSpace, seams);
  agent.Start();
  DecisionService::Options options;
  options.bind = "tcp://127.0.0.1:*";
  DecisionService service(options, agent);
  service.Start();
  zmq::context_t context;
  Client c(context, service.endpoint());
  const std::vector<float> obs = {0.5f, 0.5f, -0.5f, 1.0f};
  EXPECT_EQ(c.Call(Act(obs).Bytes()).Find("version")->AsInt(), 4);

  // Unchanged file: nothing happens.
  EXPECT_TRUE(weights.CheckNow().ok());
  EXPECT_EQ(weights.reloads(), 0);
  // A new file with other weights and a lower version: served, renumbered above the current.
  auto other = MakeSnapshot(99, 2);
  ASSERT_TRUE(SaveSnapshot(*other, {}, path).ok());
  EXPECT_TRUE(weights.CheckNow().ok());
  EXPECT_EQ(weights.reloads(), 1);
  EXPECT_EQ(weights.last_file_version(), 2);
  const Json reply = c.Call(Act(obs).Bytes());
  EXPECT_EQ(reply.Find("version")->AsInt(), 5);
  EXPECT_EQ(reply.Find("action")->AsInt(), ExpectedAction(other, obs));

  // A damaged file and a file of another network are refused; version 5 keeps serving.
  std::vector<uint8_t> bytes = ReadBytes(path);
  bytes[bytes.size() / 2] ^= 0x5a;
  WriteBytes(path + ".new", bytes);
  std::filesystem::rename(path + ".new", path);
  EXPECT_FALSE(weights.CheckNow().ok());
  ASSERT_TRUE(SaveSnapshot(*MakeSnapshot(1, 9, {8, 8}), {}, path).ok());
  const Status refused = weights.CheckNow();
  EXPECT_FALSE(refused.ok());
  EXPECT_NE(refused.message().find("4-8-8-3"), std::string::npos) << refused.message();
  EXPECT_EQ(weights.reload_errors(), 2);
  EXPECT_EQ(c.Call(Act(obs).Bytes()).Find("version")->AsInt(), 5);
  // A missing file is an error reported once; the executor keeps serving.
  std::filesystem::remove(path);
  EXPECT_FALSE(weights.CheckNow().ok());
  EXPECT_FALSE(weights.CheckNow().ok());
  EXPECT_EQ(weights.reload_errors(), 3);
  EXPECT_EQ(c.Call(Act(obs).Bytes()).Find("version")->AsInt(), 5);
  service.Stop();
  EXPECT_TRUE(agent.Stop().ok());
}

TEST(SnapshotFileWeights, TheWatcherPicksUpAReplacedFile) {
  TempDir dir;
  const std::string path = dir / "executor.snap";
  ASSERT_TRUE(SaveSnapshot(*MakeSnapshot(1, 1), {}, path).ok());
  SnapshotFileWeights weights({path, /*poll_ms=*/5});
  ASSERT_TRUE(SaveSnapshot(*MakeSnapshot(2, 7), {}, path).ok());
  EXPECT_TRUE(WaitUntil([&] { return weights.Latest()->version() == 7; }));
  EXPECT_EQ(weights.reload_errors(), 0);
}

TEST(SnapshotFileWeights, AFileThatCannotBeLoadedIsRefusedAtConstruction) {
  TempDir dir;
  EXPECT_THROW(SnapshotFileWeights({dir / "missing.snap", 0}), InvalidArgument);
  EXPECT_THROW(SnapshotFileWeights({"", 0}), InvalidArgument);
}

}  // namespace
}  // namespace apprentice
