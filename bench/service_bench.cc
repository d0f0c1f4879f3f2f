// The decision service on loopback TCP: throughput and round-trip latency of act requests, as a
// client sees them, in the configurations a deployment chooses between.
//
//   service_bench [--seconds 5] [--json]
//
// The service (DecisionService over an executor-only Agent: a 4-64-64-2 tanh network, the
// CartPole executor's shape) runs in this process on tcp://127.0.0.1, its socket on its own
// thread; clients are DEALER sockets on their own threads and contexts, so every request crosses
// the loopback TCP stack twice. Each configuration runs for --seconds after a 0.5 s warm-up:
//   ZeroMQ echo                   the floor: a bare ROUTER thread answering a canned reply
//   1 client, 1 in flight         ping-pong: a request waits for the previous reply
//   1 client, 4 / 8 / 16 / 64 in flight   pipelined: a window of outstanding requests
//   4 clients, 1 / 16 in flight   concurrent connections
//   1 client, 8 in flight, reloading   as above while new weights are published every
//                                 --reload-every-ms (a burst of hot reloads)
//   1 client, 8 in flight, teacher + training   the whole loop: a teacher labels every decision
//                                 in the background (a rule, fast, so that every decision is
//                                 labelled) and the distiller trains on them with LibTorch,
//                                 publishing new weights every 10 updates: hot reloads from
//                                 training, with training's CPU load on the same 2 cores
//   CURVE, ...                    the same requests over CURVE (encrypted, authenticated; the
//                                 client's key listed, checked by the ZAP handler at connect)
//   journal, ...                  every decision appended to the journal (service/journal.h)
//                                 and committed before the replies of its burst; "+ fdatasync"
//                                 waits for the disk too (a temporary directory under /tmp)
// Latency is client-side, from send to the reply's arrival (LatencyHistogram); throughput is
// replies per second over the measured interval. Every reply is decoded and checked (type and
// request id): a failed request counts in `failed`.
#include <atomic>
#include <filesystem>
#include <stdlib.h>
#include <cmath>
#include <cstdio>
#include <string>
#include <optional>
#include <thread>
#include <vector>

#include <msgpack.hpp>
#include <zmq.hpp>

#include "agent/agent.h"
#include "agent/weights.h"
#include "core/clock.h"
#include "core/flags.h"
#include "core/json.h"
#include "core/latency_histogram.h"
#include "learner/local_learner.h"
#include "service/curve.h"
#include "service/journal.h"
#include "service/protocol.h"
#include "service/service.h"

using namespace apprentice;

namespace {

const Space kObservationSpace = Space::Box(-INFINITY, INFINITY, {4});
const Space kActionSpace = Space::Discrete(2);

std::shared_ptr<const Snapshot> MakeSnapshot(uint64_t seed, int64_t version) {
  Result<MlpSpec> spec = StudentSpec(kObservationSpace, kActionSpace, {64, 64}, Activation::kTanh);
  return *Snapshot::Create(*spec, InitialParameters(*spec, seed), version);
}

struct Config {
  std::string name;
  int clients = 1;
  int in_flight = 1;
  int64_t reload_every_ms = 0;
  bool echo = false;  // a bare ROUTER echoing a canned act reply: ZeroMQ's own floor
  bool teacher = false;  // a teacher labels, a LocalLearner trains and publishes
  bool curve = false;    // CURVE: encrypted, authenticated connections (ZAP-checked client keys)
  int journal = 0;       // 1: every decision in the journal before its reply; 2: and fdatasync
  std::string endpoint = "";  // a service running elsewhere: only the clients run here
};

// The bench's teacher: action 1 when obs[0] + obs[1] > 0, with probability 0.9.
class RuleTeacher final : public Planner {
 public:
  std::string name() const override { return "rule"; }
  bool needs_env() const override { return false; }
  Status Supports(const Space&) const override { return Status::Ok(); }
  Result<PlanDecision> Plan(const PlanRequest& request) override {
    const bool one = request.observation[0] + request.observation[1] > 0;
    const float probs[] = {one ? 0.1f : 0.9f, one ? 0.9f : 0.1f};
    PlanDecision d;
    d.distribution = PolicyOutput::FromProbabilities(probs);
    d.action = Action::Discrete(one ? 1 : 0);
    return d;
  }
};

LocalLearner::Options TrainingOptions() {
  LocalLearner::Options o;
  o.learning.min_replay = 256;
  o.learning.updates_per_label = 1.0;
  o.learning.distiller.batch_size = 64;
  o.learning.distiller.publish_every = 10;
  o.nice = 10;
  return o;
}

// The floor: a ROUTER on its own thread that answers every request with a canned act reply
// (decoding nothing), on the same loopback TCP as the service.
class EchoServer {
 public:
  EchoServer() : socket_(context_, zmq::socket_type::router) {
    socket_.set(zmq::sockopt::linger, 0);
    socket_.bind("tcp://127.0.0.1:*");
    endpoint_ = socket_.get(zmq::sockopt::last_endpoint);
    thread_ = std::thread([this] { Run(); });
  }
  ~EchoServer() {
    stop_.store(true);
    thread_.join();
  }
  const std::string& endpoint() const { return endpoint_; }

 private:
  void Run() {
    zmq::pollitem_t items[] = {{static_cast<void*>(socket_), 0, ZMQ_POLLIN, 0}};
    std::string reply;
    while (!stop_.load()) {
      zmq::poll(items, 1, std::chrono::milliseconds(20));
      zmq::message_t id, body;
      while (socket_.recv(id, zmq::recv_flags::dontwait)) {
        (void)socket_.recv(body, zmq::recv_flags::none);
        // The request id is echoed so the client can match the reply, as the service does.
        Result<Json> request =
            MsgpackToJson({static_cast<const uint8_t*>(body.data()), body.size()});
        RequestKey key;
        key.kind = RequestKey::Kind::kNumber;
        key.number = request.ok() ? static_cast<uint64_t>(request->Find("req")->AsInt()) : 0;
        EncodeJsonReply("act", key, Json{{"id", 1}, {"action", 0}}, reply);
        socket_.send(id, zmq::send_flags::sndmore);
        socket_.send(zmq::buffer(reply), zmq::send_flags::none);
      }
    }
  }
  zmq::context_t context_{1};
  zmq::socket_t socket_;
  std::string endpoint_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

struct BenchResult {
  Config config;
  double seconds = 0;
  int64_t replies = 0, failed = 0, reloads = 0;
  LatencyHistogram latency;
  double per_second() const { return seconds > 0 ? static_cast<double>(replies) / seconds : 0; }
};

std::string ActRequest(uint64_t req, const float* obs) {
  msgpack::sbuffer buffer;
  msgpack::packer<msgpack::sbuffer> p(&buffer);
  p.pack_map(4);
  p.pack(std::string("v"));
  p.pack(1);
  p.pack(std::string("type"));
  p.pack(std::string("act"));
  p.pack(std::string("req"));
  p.pack_uint64(req);
  p.pack(std::string("obs"));
  p.pack_bin(16);
  p.pack_bin_body(reinterpret_cast<const char*>(obs), 16);
  return {buffer.data(), buffer.size()};
}

// One client: keeps `in_flight` requests outstanding until `stop`; records latencies once
// `measuring` is set.
// CURVE rows: a client's key pair and the service's public key.
struct ClientKeys {
  CurveKeyPair own;
  std::string server_public;
};

void ClientLoop(const std::string& endpoint, int in_flight, int index, std::atomic<bool>& measuring,
                std::atomic<bool>& stop, LatencyHistogram& latency, int64_t& replies,
                int64_t& failed, const std::optional<ClientKeys>& curve) {
  zmq::context_t context(1);
  zmq::socket_t socket(context, zmq::socket_type::dealer);
  socket.set(zmq::sockopt::linger, 0);
  socket.set(zmq::sockopt::rcvtimeo, 5000);
  if (curve) {
    socket.set(zmq::sockopt::curve_serverkey, curve->server_public);
    socket.set(zmq::sockopt::curve_publickey, curve->own.public_key);
    socket.set(zmq::sockopt::curve_secretkey, curve->own.secret_key);
  }
  socket.connect(endpoint);
  std::vector<int64_t> sent_at(1 << 16, 0);
  uint64_t next = 0;
  int outstanding = 0;
  float obs[4] = {0.01f, -0.02f, 0.03f, 0.04f};
  while (!stop.load(std::memory_order_relaxed) || outstanding > 0) {
    while (!stop.load(std::memory_order_relaxed) && outstanding < in_flight) {
      obs[0] = 0.001f * static_cast<float>(next % 100) + 0.01f * static_cast<float>(index);
      const std::string bytes = ActRequest(next, obs);
      sent_at[next & 0xffff] = NowNs();
      if (!socket.send(zmq::buffer(bytes), zmq::send_flags::none)) break;
      ++next;
      ++outstanding;
    }
    zmq::message_t reply;
    if (!socket.recv(reply)) {  // 5 s without a reply: count what is outstanding as failed
      failed += outstanding;
      return;
    }
    const int64_t now = NowNs();
    --outstanding;
    Result<Json> j = MsgpackToJson({static_cast<const uint8_t*>(reply.data()), reply.size()});
    const Json* req = j.ok() ? j->Find("req") : nullptr;
    const Json* type = j.ok() ? j->Find("type") : nullptr;
    if (req == nullptr || type == nullptr || type->AsString() != "act") {
      ++failed;
      continue;
    }
    if (measuring.load(std::memory_order_relaxed)) {
      latency.Record(now - sent_at[static_cast<uint64_t>(req->AsInt()) & 0xffff]);
      ++replies;
    }
  }
}

BenchResult Measure(const Config& config, double seconds) {
  std::optional<EchoServer> echo;
  if (config.echo) echo.emplace();
  StaticWeights weights(MakeSnapshot(1, 1));
  std::optional<LocalLearner> learner;
  std::unique_ptr<DecisionJournal> journal;
  std::string journal_dir;
  AgentSeams seams;
  seams.weights = &weights;
  if (config.journal > 0) {
    char dir[] = "/tmp/service_bench_journal_XXXXXX";
    Require(::mkdtemp(dir) != nullptr, "service_bench: cannot make a temporary directory");
    journal_dir = dir;
    journal = DecisionJournal::Open({journal_dir, config.journal > 1}, {"bench", "", "", ""})
                  .ValueOrThrow();
    seams.decisions = [j = journal.get()](uint64_t id) { return j->Find(id); };
  }
  AgentOptions agent_options;
  agent_options.inbox = 1 << 16;
  agent_options.outcome_wait_ms = 1000;
  if (config.teacher) {
    learner.emplace(TrainingOptions(), kObservationSpace, kActionSpace);
    seams.weights = nullptr;
    seams.learner = &*learner;
    seams.planners = [] { return Result<std::unique_ptr<Planner>>(std::make_unique<RuleTeacher>()); };
    agent_options.planner_queue = 4096;
  }
  std::optional<Agent> agent;
  if (config.endpoint.empty()) {
    agent.emplace(agent_options, kObservationSpace, kActionSpace, seams);
    agent->Start();
  }
  DecisionService::Options options;
  options.bind = "tcp://127.0.0.1:*";
  std::optional<ClientKeys> client_keys;
  if (config.curve) {
    options.curve_keys = GenerateCurveKeyPair().ValueOrThrow();
    client_keys = ClientKeys{GenerateCurveKeyPair().ValueOrThrow(), options.curve_keys.public_key};
    options.curve_clients = {client_keys->own.public_key};
  }
  std::optional<DecisionService> service;
  if (agent) {
    service.emplace(options, *agent, std::function<Json()>(), journal.get());
    service->Start();
  }
  const std::string endpoint = !config.endpoint.empty() ? config.endpoint
                               : config.echo            ? echo->endpoint()
                                                        : service->endpoint();

  std::atomic<bool> measuring{false}, stop{false};
  std::vector<LatencyHistogram> latencies(config.clients);
  std::vector<int64_t> replies(config.clients, 0), failed(config.clients, 0);
  std::vector<std::thread> clients;
  for (int c = 0; c < config.clients; ++c) {
    clients.emplace_back([&, c] {
      ClientLoop(endpoint, config.in_flight, c, measuring, stop, latencies[c], replies[c],
                 failed[c], client_keys);
    });
  }
  std::atomic<bool> stop_reloads{false};
  int64_t reloads = 0;
  std::thread reloader;
  if (config.reload_every_ms > 0) {
    reloader = std::thread([&] {
      int64_t version = 2;
      while (!stop_reloads.load()) {
        weights.Publish(MakeSnapshot(static_cast<uint64_t>(version), version));
        ++version;
        if (measuring.load()) ++reloads;
        std::this_thread::sleep_for(std::chrono::milliseconds(config.reload_every_ms));
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // connect and warm up
  measuring.store(true);
  const int64_t t0 = NowNs();
  const int64_t snapshots0 = learner ? learner->Metrics().snapshots : 0;
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  measuring.store(false);
  const int64_t t1 = NowNs();
  if (learner) reloads = learner->Metrics().snapshots - snapshots0;
  stop.store(true);
  for (auto& t : clients) t.join();
  stop_reloads.store(true);
  if (reloader.joinable()) reloader.join();
  if (service) service->Stop();
  if (agent) (void)agent->Stop();
  if (journal) {
    (void)journal->Close();
    std::error_code ec;
    std::filesystem::remove_all(journal_dir, ec);
  }

  BenchResult out;
  out.config = config;
  out.seconds = static_cast<double>(t1 - t0) * 1e-9;
  out.reloads = reloads;
  for (int c = 0; c < config.clients; ++c) {
    out.latency.Merge(latencies[c]);
    out.replies += replies[c];
    out.failed += failed[c];
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = 5.0;
  int64_t reload_every_ms = 1, clients = 1, in_flight = 64;
  bool json = false;
  std::string endpoint;
  FlagSet flags(
      "usage: service_bench [--seconds S] [--reload-every-ms MS] [--json]\n"
      "       service_bench --endpoint ENDPOINT [--clients N] [--in-flight K] [--seconds S]\n\n"
      "Act requests against the decision service on loopback TCP: throughput and client-side\n"
      "round-trip latency, ping-pong, pipelined, with several clients, during hot reloads, with\n"
      "the journal and with CURVE. With --endpoint it only drives a service already running\n"
      "(`apprentice serve` of a network with 4 inputs, without CURVE), as a load generator.");
  flags.Double("seconds", &seconds, "measured time per configuration", 0.1, 1e6);
  flags.Int("reload-every-ms", &reload_every_ms,
            "the reload configuration publishes new weights this often", 1, 60'000);
  flags.Bool("json", &json, "print JSON instead of a table");
  flags.String("endpoint", &endpoint, "drive this running service instead");
  flags.Int("clients", &clients, "--endpoint: concurrent clients", 1, 256);
  flags.Int("in-flight", &in_flight, "--endpoint: requests each client keeps in flight", 1,
            60'000);
  std::vector<std::string> args(argv + 1, argv + argc);
  if (Status s = flags.Parse(args); !s.ok()) {
    std::fprintf(stderr, "service_bench: %s\n", s.message().c_str());
    return 2;
  }
  if (flags.help_requested()) {
    std::printf("%s", flags.Help().c_str());
    return 0;
  }
  std::vector<Config> configs = {
      {"ZeroMQ echo, 1 client, 1 in flight", 1, 1, 0, true},
      {"ZeroMQ echo, 1 client, 8 in flight", 1, 8, 0, true},
      {"1 client, 1 in flight", 1, 1, 0},
      {"1 client, 4 in flight", 1, 4, 0},
      {"1 client, 8 in flight", 1, 8, 0},
      {"1 client, 16 in flight", 1, 16, 0},
      {"1 client, 64 in flight", 1, 64, 0},
      {"4 clients, 1 in flight", 4, 1, 0},
      {"4 clients, 16 in flight", 4, 16, 0},
      {"1 client, 8 in flight, reloading", 1, 8, reload_every_ms},
      {"1 client, 8 in flight, teacher + training", 1, 8, 0, false, true},
      {"CURVE, 1 client, 1 in flight", 1, 1, 0, false, false, true},
      {"CURVE, 1 client, 8 in flight", 1, 8, 0, false, false, true},
      {"CURVE, 4 clients, 16 in flight", 4, 16, 0, false, false, true},
      {"journal, 1 client, 1 in flight", 1, 1, 0, false, false, false, 1},
      {"journal, 1 client, 8 in flight", 1, 8, 0, false, false, false, 1},
      {"journal, 1 client, 64 in flight", 1, 64, 0, false, false, false, 1},
      {"journal + fdatasync, 1 client, 8 in flight", 1, 8, 0, false, false, false, 2},
  };
  if (!endpoint.empty()) {
    Config external;
    external.name = endpoint + ", " + std::to_string(clients) + " client(s), " +
                    std::to_string(in_flight) + " in flight";
    external.clients = static_cast<int>(clients);
    external.in_flight = static_cast<int>(in_flight);
    external.endpoint = endpoint;
    configs = {external};
  }
  std::vector<BenchResult> outcomes;
  for (const Config& c : configs) {
    std::fprintf(stderr, "service_bench: %s ...\n", c.name.c_str());
    outcomes.push_back(Measure(c, seconds));
  }
  if (json) {
    Json::Array rows;
    for (const BenchResult& o : outcomes) {
      rows.push_back(Json{{"config", o.config.name},
                          {"clients", o.config.clients},
                          {"in_flight", o.config.in_flight},
                          {"reload_every_ms", o.config.reload_every_ms},
                          {"decisions_per_s", o.per_second()},
                          {"p50_us", o.latency.QuantileUs(0.5)},
                          {"p99_us", o.latency.QuantileUs(0.99)},
                          {"max_us", static_cast<double>(o.latency.max_ns()) * 1e-3},
                          {"replies", o.replies},
                          {"failed", o.failed},
                          {"reloads", o.reloads}});
    }
    std::printf("%s\n", Json(std::move(rows)).Dump(2).c_str());
    return 0;
  }
  std::printf("%-42s %12s %9s %9s %9s %8s %8s\n", "configuration", "decisions/s", "p50 us",
              "p99 us", "max us", "failed", "reloads");
  for (const BenchResult& o : outcomes) {
    std::printf("%-42s %12.0f %9.1f %9.1f %9.1f %8lld %8lld\n", o.config.name.c_str(),
                o.per_second(), o.latency.QuantileUs(0.5), o.latency.QuantileUs(0.99),
                static_cast<double>(o.latency.max_ns()) * 1e-3,
                static_cast<long long>(o.failed), static_cast<long long>(o.reloads));
  }
  return 0;
}
