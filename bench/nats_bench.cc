// Per-message costs of the runtime's NATS JetStream transport (nats/), against a real nats-server:
// what docs/scaling.md scales up from.
//
//   nats_bench [--nats URL[,URL...]] [--replicas N] [--requests N] [--rate HZ] [--json]
//
// Without --nats it starts `nats-server -js` on a free loopback port (its store in a temporary
// directory) and stops it at the end. Every part runs in this process, so each message crosses
// loopback TCP to the server and back; all on one machine, the client and server threads share
// its cores. Measured:
//   plan round trip    a CartPole request (observation + env state) pushed by the agent, planned
//                      by an LQR planner (a few microseconds) and its label delivered to the
//                      agent's sink: in process (LocalPlanQueue and a worker thread) and through
//                      JetStream (NatsPlanQueue -> work-queue stream -> RunPlannerWorker -> label
//                      stream -> ordered consumer). Paced at --rate (latency), then flat out with
//                      one worker (throughput).
//   label              a worker's stored publish of a label (js_Publish, until the stream's ack)
//                      and its delivery to the agent's sink, from the publish.
//   record             records sent to a learner elsewhere (NatsLearner: stored acks, message
//                      ids): records per second, flat out; then read back in order and decoded
//                      as `apprentice learner` reads them.
//   snapshot           a 4-64-64-2 executor snapshot put into the weights bucket and received by
//                      a watcher (NatsWeights): latency, paced; puts per second, flat out.
#include <nats/nats.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "agent/plan_queue.h"
#include "core/clock.h"
#include "core/flags.h"
#include "core/json.h"
#include "core/latency_histogram.h"
#include "core/stop_flag.h"
#include "env/registry.h"
#include "executor/snapshot.h"
#include "executor/snapshot_file.h"
#include "nats/nats_learner.h"
#include "nats/nats_link.h"
#include "nats/nats_plan_queue.h"
#include "nats/nats_weights.h"
#include "nats/planner_worker.h"
#include "nats/wire.h"
#include "planner/registry.h"
#include "replay/episode_log.h"

extern char** environ;

using namespace apprentice;

namespace {

// `nats-server -js` on a free loopback port, its store in a temporary directory.
class LocalServer {
 public:
  LocalServer() {
    dir_ = std::filesystem::temp_directory_path() /
           ("apprentice-nats-bench-" + std::to_string(getpid()));
    std::filesystem::create_directories(dir_);
    for (int attempt = 0; attempt < 20 && url_.empty(); ++attempt) {
      const int port = 20000 + static_cast<int>((static_cast<uint64_t>(getpid()) * 7919 +
                                                  static_cast<uint64_t>(attempt) * 104729) %
                                                 30000);
      const std::string port_text = std::to_string(port), store = dir_.string();
      const char* argv[] = {"nats-server", "-js", "-a", "127.0.0.1", "-p", port_text.c_str(),
                            "-sd", store.c_str(), "-l", "/dev/null", nullptr};
      if (posix_spawnp(&pid_, "nats-server", nullptr, nullptr, const_cast<char**>(argv),
                       environ) != 0) {
        break;
      }
      const std::string url = "nats://127.0.0.1:" + port_text;
      for (int i = 0; i < 100; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        if (waitpid(pid_, nullptr, WNOHANG) == pid_) {  // the port was taken: next one
          pid_ = 0;
          break;
        }
        if (NatsLink::Connect(url, "probe", {}, 200).ok()) {
          url_ = url;
          break;
        }
      }
      if (url_.empty()) Kill();
    }
  }
  ~LocalServer() {
    Kill();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  const std::string& url() const { return url_; }

 private:
  void Kill() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      waitpid(pid_, nullptr, 0);
      pid_ = 0;
    }
  }
  std::filesystem::path dir_;
  pid_t pid_ = 0;
  std::string url_;
};

struct Measured {
  std::string name;
  LatencyHistogram latency;  // empty for throughput rows
  double per_second = 0.0;   // throughput rows
  int64_t bytes = 0;         // one message's size
  int64_t count = 0, lost = 0;
};

// Labels' arrival times against their requests' push times, by decision id.
class TimedSink final : public LabelSink {
 public:
  explicit TimedSink(int64_t n)
      : size_(static_cast<size_t>(n) + 1), pushed_(new std::atomic<int64_t>[size_]) {
    for (size_t i = 0; i < size_; ++i) pushed_[i].store(0);
  }
  void Pushed(uint64_t id) { pushed_[id].store(NowNs(), std::memory_order_release); }
  void OnLabel(Label label) override {
    const int64_t now = NowNs();
    std::lock_guard lock(mu_);
    const int64_t pushed = label.decision_id < size_
                               ? pushed_[label.decision_id].load(std::memory_order_acquire)
                               : 0;
    if (pushed > 0) {
      latency_.Record(now - pushed);
      last_ns_ = now;
    }
    received_.fetch_add(1);
  }
  bool WaitFor(int64_t n, int64_t timeout_ms) const {
    const int64_t deadline = NowNs() + timeout_ms * 1'000'000;
    while (received_.load() < n && NowNs() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return received_.load() >= n;
  }
  int64_t received() const { return received_.load(); }
  LatencyHistogram latency() const {
    std::lock_guard lock(mu_);
    return latency_;
  }
  int64_t last_ns() const {
    std::lock_guard lock(mu_);
    return last_ns_;
  }

 private:
  const size_t size_;
  std::unique_ptr<std::atomic<int64_t>[]> pushed_;  // NowNs() of each id's push
  mutable std::mutex mu_;
  LatencyHistogram latency_;
  int64_t last_ns_ = 0;
  std::atomic<int64_t> received_{0};
};

// Pushes `n` requests of CartPole states (ids from 1), one every 1/rate s (rate 0: flat out).
void PushRequests(PlanQueue& queue, Env& env, TimedSink& sink, int64_t n, double rate) {
  std::span<const float> obs = env.Reset(1);
  const int64_t start = NowNs();
  for (int64_t i = 1; i <= n; ++i) {
    if (rate > 0) {
      const int64_t due = start + static_cast<int64_t>(static_cast<double>(i - 1) * 1e9 / rate);
      while (NowNs() < due) std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
    PlanRequestView view;
    view.decision_id = static_cast<uint64_t>(i);
    view.step = i;
    view.observation = obs;
    view.state = &env;
    view.seed = static_cast<uint64_t>(i);
    sink.Pushed(view.decision_id);
    (void)queue.Push(view);
    StepResult r = env.Step(Action::Discrete(static_cast<int64_t>(i % 2)));
    obs = (r.terminated || r.truncated) ? env.Reset(static_cast<uint64_t>(i)) : r.observation;
  }
}

// The in-process pool's worker: Pop, plan, label.
void InProcessWorker(PlanQueue& queue, Planner& planner, LabelSink& sink, const Env& prototype) {
  PlanTask task;
  task.Prepare(prototype.observation_space().flat_size(), &prototype);
  while (queue.Pop(task)) {
    Label label;
    label.decision_id = task.decision_id;
    Result<PlanDecision> d = planner.Plan(task.ToPlanRequest());
    if (d.ok()) label.decision = std::move(*d);
    sink.OnLabel(std::move(label));
  }
}

std::string EnvKeyOf(const std::string& name) {
  return EnvKey(name, Envs().Resolve(name, {}).ValueOrThrow().ToString());
}

int64_t g_replicas = 1;  // --replicas: of every stream and bucket the bench makes

Result<Measured> PlanRoundTrip(const std::string& url, bool nats, int64_t n, double rate,
                               const std::string& run) {
  Result<std::unique_ptr<Env>> env = MakeEnv("cartpole");
  Result<std::unique_ptr<Planner>> planner = MakePlanner("lqr", {});
  if (!env.ok() || !planner.ok()) return Status::Internal("cartpole / lqr unavailable");
  TimedSink sink(n);
  Measured m;
  m.name = std::string(nats ? "plan round trip, JetStream" : "plan round trip, in process") +
           (rate > 0 ? "" : ", flat out");
  const int64_t start = NowNs();
  if (!nats) {
    LocalPlanQueue queue(n, Overflow::kDropOldest, 4, env->get());
    std::thread worker([&] { InProcessWorker(queue, **planner, sink, **env); });
    PushRequests(queue, **env, sink, n, rate);
    sink.WaitFor(n, 30'000);
    queue.Close();
    worker.join();
  } else {
    const std::string key = EnvKeyOf("cartpole");
    NatsPlanQueue::Options o;
    o.url = url;
    o.run = run;
    o.queue = n;
    o.env_key = key;
    o.carry_state = true;
    o.replicas = g_replicas;
    Result<std::unique_ptr<NatsPlanQueue>> queue = NatsPlanQueue::Connect(o, 4, env->get());
    if (!queue.ok()) return queue.status();
    (*queue)->SetLabelSink(&sink);
    PlannerWorkerOptions wo;
    wo.url = url;
    wo.run = run;
    wo.queue = n;
    wo.replicas = g_replicas;
    std::unique_ptr<Env> worker_env = (*env)->Clone();
    StopFlag stop;
    PlannerWorkerStats stats;
    Status worker_status;
    std::thread worker([&] {
      worker_status = RunPlannerWorker(wo, **planner, *worker_env, key, stop, stats);
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(500));  // the worker's consumer
    std::unique_ptr<Env> loop_env = (*env)->Clone();
    PushRequests(**queue, *loop_env, sink, n, rate);
    sink.WaitFor(n, 30'000);
    stop.Request();
    worker.join();
    (*queue)->SetLabelSink(nullptr);
    (*queue)->Close();
    if (!worker_status.ok()) return worker_status;
    WireRequest r;
    r.observation.assign(4, 0.f);
    r.env = key;
    r.state = *(*env)->SaveState();
    m.bytes = static_cast<int64_t>(EncodeRequest(r).size());
  }
  m.count = sink.received();
  m.lost = n - m.count;
  m.latency = sink.latency();
  const double seconds = static_cast<double>(sink.last_ns() - start) * 1e-9;
  if (rate <= 0 && seconds > 0) m.per_second = static_cast<double>(m.count) / seconds;
  if (rate <= 0) m.latency = LatencyHistogram();
  return m;
}

// A worker's stored publish of a label, and its delivery to the agent's sink.
Result<std::pair<Measured, Measured>> LabelPath(const std::string& url, int64_t n,
                                                const std::string& run) {
  Result<std::unique_ptr<Env>> env = MakeEnv("cartpole");
  NatsPlanQueue::Options o;
  o.url = url;
  o.run = run;
  o.env_key = EnvKeyOf("cartpole");
  o.replicas = g_replicas;
  TimedSink sink(n);  // outlives the queue that delivers into it
  Result<std::unique_ptr<NatsPlanQueue>> queue = NatsPlanQueue::Connect(o, 4, nullptr);
  if (!queue.ok()) return queue.status();
  (*queue)->SetLabelSink(&sink);
  Result<std::unique_ptr<NatsLink>> link = NatsLink::Connect(url, "bench-worker");
  if (!link.ok()) return link.status();
  auto* js = static_cast<jsCtx*>((*link)->jetstream());
  const std::string subject = (*queue)->names().label_subject;
  Measured publish, delivered;
  publish.name = "label: stored publish (js_Publish)";
  delivered.name = "label: publish to sink";
  for (int64_t i = 1; i <= n; ++i) {
    Label label;
    label.decision_id = static_cast<uint64_t>(i);
    label.observation.assign(4, 0.1f);
    const float probs[] = {0.3f, 0.7f};
    label.decision.distribution = PolicyOutput::FromProbabilities(probs);
    label.decision.action = Action::Discrete(1);
    label.executor_action = Action::Discrete(0);
    const std::string body = EncodeLabel(label, "bench");
    publish.bytes = static_cast<int64_t>(body.size());
    sink.Pushed(label.decision_id);
    const int64_t t0 = NowNs();
    jsPubAck* ack = nullptr;
    jsErrCode code = static_cast<jsErrCode>(0);
    const natsStatus s = js_Publish(&ack, js, subject.c_str(), body.data(),
                                    static_cast<int>(body.size()), nullptr, &code);
    if (ack != nullptr) jsPubAck_Destroy(ack);
    if (s != NATS_OK) return NatsError("js_Publish", s);
    publish.latency.Record(NowNs() - t0);
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  sink.WaitFor(n, 10'000);
  (*queue)->SetLabelSink(nullptr);
  (*queue)->Close();
  publish.count = n;
  delivered.latency = sink.latency();
  delivered.count = sink.received();
  delivered.lost = n - delivered.count;
  delivered.bytes = publish.bytes;
  return std::make_pair(std::move(publish), std::move(delivered));
}

std::shared_ptr<const Snapshot> CartPoleSnapshot(int64_t version) {
  const Space obs = Space::Box(-INFINITY, INFINITY, {4});
  const Space act = Space::Discrete(2);
  Result<MlpSpec> spec = StudentSpec(obs, act, {64, 64}, Activation::kTanh);
  return *Snapshot::Create(*spec, InitialParameters(*spec, 7), version);
}

const SnapshotFileInfo kInfo{"cartpole", "Box(4)", "Discrete(2)", "nats_bench"};

// Snapshot broadcast (paced latency, flat-out rate) and records to a learner (flat out).
Result<std::vector<Measured>> SnapshotsAndRecords(const std::string& url, int64_t puts,
                                                  int64_t records, const std::string& run) {
  Result<std::unique_ptr<NatsLink>> link = NatsLink::Connect(url, "bench-learner");
  if (!link.ok()) return link.status();
  Result<NatsRunNames> names = NatsRunNames::For(run);
  Result<std::unique_ptr<NatsSnapshotBucket>> bucket =
      NatsSnapshotBucket::Open(**link, *names, 1 << 20, g_replicas);
  if (!bucket.ok()) return bucket.status();
  std::vector<uint8_t> first = EncodeSnapshotFile(*CartPoleSnapshot(1), kInfo);
  if (Result<uint64_t> r = (*bucket)->Put(first); !r.ok()) return r.status();
  // What the watcher's callback uses outlives the watcher (declared before it).
  std::vector<int64_t> put_ns(static_cast<size_t>(2 * puts + 3), 0);
  std::mutex mu;
  LatencyHistogram seen;
  std::atomic<int64_t> received{0};
  NatsWeights::Options wo;
  wo.url = url;
  wo.run = run;
  Result<std::unique_ptr<NatsWeights>> weights = NatsWeights::Connect(wo);
  if (!weights.ok()) return weights.status();
  const int id = (*weights)->Subscribe([&](std::shared_ptr<const Snapshot> s) {
    const int64_t now = NowNs();
    std::lock_guard lock(mu);
    const auto v = static_cast<size_t>(s->version());
    if (v < put_ns.size() && put_ns[v] > 0) seen.Record(now - put_ns[v]);
    received.fetch_add(1);
  });
  std::vector<Measured> out;
  Measured paced, flat;
  paced.name = "snapshot: put to watcher";
  flat.name = "snapshot puts, flat out";
  paced.bytes = flat.bytes = static_cast<int64_t>(first.size());
  std::vector<std::vector<uint8_t>> bodies;
  for (int64_t v = 2; v < 2 * puts + 2; ++v) bodies.push_back(EncodeSnapshotFile(*CartPoleSnapshot(v), kInfo));
  for (int64_t i = 0; i < puts; ++i) {  // paced: one every 20 ms
    {
      std::lock_guard lock(mu);
      put_ns[static_cast<size_t>(i + 2)] = NowNs();
    }
    if (Result<uint64_t> r = (*bucket)->Put(bodies[static_cast<size_t>(i)]); !r.ok()) return r.status();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  const int64_t flat_start = NowNs();
  for (int64_t i = puts; i < 2 * puts; ++i) {
    if (Result<uint64_t> r = (*bucket)->Put(bodies[static_cast<size_t>(i)]); !r.ok()) return r.status();
  }
  flat.per_second = static_cast<double>(puts) / (static_cast<double>(NowNs() - flat_start) * 1e-9);
  flat.count = puts;
  const int64_t deadline = NowNs() + 5'000'000'000;
  while (received.load() < 2 * puts && NowNs() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  (*weights)->Unsubscribe(id);
  {
    std::lock_guard lock(mu);
    paced.latency = seen;
  }
  paced.count = puts;
  // The watcher may skip puts it was too late for (only the newest matters): not a loss.
  out.push_back(std::move(paced));
  out.push_back(std::move(flat));

  NatsLearner::Options lo;
  lo.url = url;
  lo.run = run;
  lo.replicas = g_replicas;
  Result<std::unique_ptr<NatsLearner>> learner = NatsLearner::Connect(lo);
  if (!learner.ok()) return learner.status();
  (*learner)->Start();
  auto record = std::make_shared<DecisionRecord>();
  record->observation.assign(4, 0.1f);
  const float probs[] = {0.3f, 0.7f};
  record->planner = PolicyOutput::FromProbabilities(probs);
  const float logits[] = {0.1f, -0.2f};
  record->executor = PolicyOutput::FromLogits(logits);
  record->has_label = true;
  record->planner_action = Action::Discrete(1);
  record->executor_action = Action::Discrete(0);
  record->reward = 1.f;
  Measured rec;
  rec.name = "records to the learner, flat out";
  rec.bytes = static_cast<int64_t>(EncodeRecordMessage(*record).size());
  const int64_t rec_start = NowNs();
  for (int64_t i = 1; i <= records; ++i) {
    auto r = std::make_shared<DecisionRecord>(*record);
    r->decision_id = static_cast<uint64_t>(i);
    r->step = i;
    (*learner)->Add(std::move(r));
  }
  const int64_t rec_deadline = NowNs() + 60'000'000'000;
  while ((*learner)->counters().stored < records && NowNs() < rec_deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  rec.per_second = static_cast<double>((*learner)->counters().stored) /
                   (static_cast<double>(NowNs() - rec_start) * 1e-9);
  rec.count = (*learner)->counters().stored;
  rec.lost = records - rec.count;
  (void)(*learner)->Stop();
  out.push_back(std::move(rec));

  // What `apprentice learner` does with them: read the record stream in order (an ordered
  // consumer, flow-controlled) and decode every record.
  Measured read;
  read.name = "records read by a learner, flat out";
  read.bytes = rec.bytes;
  jsSubOptions so;
  jsSubOptions_Init(&so);
  so.Stream = names->record_stream.c_str();
  so.Ordered = true;
  so.Config.DeliverPolicy = js_DeliverAll;
  natsSubscription* sub = nullptr;
  jsErrCode code = static_cast<jsErrCode>(0);
  const int64_t read_start = NowNs();
  natsStatus s = js_SubscribeSync(&sub, static_cast<jsCtx*>((*link)->jetstream()),
                                  names->record_subject.c_str(), nullptr, &so, &code);
  if (s != NATS_OK) return NatsError("reading the record stream", s);
  DecisionRecord decoded;
  while (read.count < records) {
    natsMsg* msg = nullptr;
    if (natsSubscription_NextMsg(&msg, sub, 5000) != NATS_OK) break;
    const auto* data = reinterpret_cast<const uint8_t*>(natsMsg_GetData(msg));
    if (DecodeRecordMessage(std::span<const uint8_t>(data, static_cast<size_t>(
                                                              natsMsg_GetDataLength(msg))),
                            decoded)
            .ok()) {
      ++read.count;
    }
    natsMsg_Destroy(msg);
  }
  read.per_second =
      static_cast<double>(read.count) / (static_cast<double>(NowNs() - read_start) * 1e-9);
  read.lost = records - read.count;
  natsSubscription_Unsubscribe(sub);
  natsSubscription_Destroy(sub);
  out.push_back(std::move(read));
  return out;
}

Json ToJson(const Measured& m) {
  Json j{{"name", m.name}, {"bytes", m.bytes}, {"count", m.count}, {"lost", m.lost}};
  if (m.latency.count() > 0) {
    j.Set("p50_us", m.latency.QuantileUs(0.5));
    j.Set("p90_us", m.latency.QuantileUs(0.9));
    j.Set("p99_us", m.latency.QuantileUs(0.99));
    j.Set("max_us", static_cast<double>(m.latency.max_ns()) * 1e-3);
  }
  if (m.per_second > 0) j.Set("per_second", m.per_second);
  return j;
}

}  // namespace

int main(int argc, char** argv) {
  std::string url;
  int64_t requests = 2000, puts = 50, records = 20000;
  double rate = 500.0;
  bool json = false;
  FlagSet flags(
      "usage: nats_bench [--nats URL[,URL...]] [--replicas N] [--requests N] [--rate HZ]\n"
      "                  [--records N] [--puts N] [--json]\n\n"
      "Per-message costs of the NATS JetStream transport against a real nats-server (started\n"
      "here on a free loopback port unless --nats names one): a plan request's round trip\n"
      "through JetStream against the in-process queue (paced, then flat out), a label's stored\n"
      "publish and delivery, records to a learner, snapshot puts and their delivery to a\n"
      "watcher. docs/scaling.md.");
  flags.String("nats", &url, "a running nats-server with JetStream (default: start one)");
  flags.Int("replicas", &g_replicas, "servers of a cluster each stream is stored on", 1, 5);
  flags.Int("requests", &requests, "plan requests per measurement", 10, 1'000'000);
  flags.Double("rate", &rate, "plan requests per second in the paced measurements", 1, 100'000);
  flags.Int("records", &records, "records sent to the learner", 10, 10'000'000);
  flags.Int("puts", &puts, "snapshot puts per measurement", 5, 100'000);
  flags.Bool("json", &json, "print JSON instead of a table");
  std::vector<std::string> args(argv + 1, argv + argc);
  if (Status s = flags.Parse(args); !s.ok()) {
    std::fprintf(stderr, "nats_bench: %s\n", s.message().c_str());
    return 2;
  }
  if (flags.help_requested()) {
    std::printf("%s", flags.Help().c_str());
    return 0;
  }
  std::unique_ptr<LocalServer> server;
  if (url.empty()) {
    server = std::make_unique<LocalServer>();
    if (server->url().empty()) {
      std::fprintf(stderr, "nats_bench: could not start nats-server (is it installed?)\n");
      return 1;
    }
    url = server->url();
  }
  const std::string run = "bench_" + std::to_string(getpid());
  std::vector<Measured> rows;
  auto fail = [](const Status& s) {
    std::fprintf(stderr, "nats_bench: %s\n", s.message().c_str());
    return 1;
  };
  std::fprintf(stderr, "nats_bench: server %s; plan round trips ...\n", url.c_str());
  int part = 0;
  for (const bool nats : {false, true}) {
    for (const double r : {rate, 0.0}) {
      Result<Measured> m = PlanRoundTrip(url, nats, requests, r, run + "_p" + std::to_string(part++));
      if (!m.ok()) return fail(m.status());
      rows.push_back(std::move(*m));
    }
  }
  std::fprintf(stderr, "nats_bench: labels ...\n");
  Result<std::pair<Measured, Measured>> labels = LabelPath(url, std::min<int64_t>(requests, 1000), run + "_l");
  if (!labels.ok()) return fail(labels.status());
  rows.push_back(std::move(labels->first));
  rows.push_back(std::move(labels->second));
  std::fprintf(stderr, "nats_bench: snapshots and records ...\n");
  Result<std::vector<Measured>> more = SnapshotsAndRecords(url, puts, records, run + "_s");
  if (!more.ok()) return fail(more.status());
  for (Measured& m : *more) rows.push_back(std::move(m));

  if (json) {
    Json::Array a;
    for (const Measured& m : rows) a.push_back(ToJson(m));
    std::printf("%s\n", Json{{"server", url}, {"results", std::move(a)}}.Dump(2).c_str());
    return 0;
  }
  auto cell = [](bool shown, double v) {
    return shown ? std::to_string(std::llround(v)) : std::string("-");
  };
  std::printf("%-42s %8s %9s %9s %9s %9s %11s %7s\n", "measurement", "bytes", "p50 us", "p90 us",
              "p99 us", "max us", "per second", "lost");
  for (const Measured& m : rows) {
    const bool timed = m.latency.count() > 0;
    std::printf("%-42s %8lld %9s %9s %9s %9s %11s %7lld\n", m.name.c_str(),
                static_cast<long long>(m.bytes), cell(timed, m.latency.QuantileUs(0.5)).c_str(),
                cell(timed, m.latency.QuantileUs(0.9)).c_str(),
                cell(timed, m.latency.QuantileUs(0.99)).c_str(),
                cell(timed, static_cast<double>(m.latency.max_ns()) * 1e-3).c_str(),
                cell(m.per_second > 0, m.per_second).c_str(), static_cast<long long>(m.lost));
  }
  return 0;
}
