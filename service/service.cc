#include "service/service.h"

#include <array>
#include <cmath>
#include <deque>
#include <optional>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <zmq.hpp>

#include "agent/records.h"
#include "agent/threads.h"
#include "core/clock.h"

namespace apprentice {
namespace {

// Frames a request may have: the routing id, up to kMaxEnvelope envelope frames (a REQ client's
// empty delimiter, a proxy's routing ids), and the body.
constexpr size_t kMaxEnvelope = 8;
// Requests handled in one turn of the loop before it polls again.
constexpr int kBurst = 256;

Status CheckRange(const char* name, int64_t value, int64_t min, int64_t max) {
  if (value < min || value > max) {
    return Status::InvalidArgument(std::string("service: ") + name + " must be in [" +
                                   std::to_string(min) + ", " + std::to_string(max) + "], not " +
                                   std::to_string(value));
  }
  return Status::Ok();
}

}  // namespace

Status DecisionService::Options::Validate() const {
  if (bind.empty()) return Status::InvalidArgument("service: no endpoint to bind");
  if (Status s = CheckRange("max_message_bytes", max_message_bytes, 64, int64_t{1} << 30);
      !s.ok()) {
    return s;
  }
  if (Status s = CheckRange("max_streams", max_streams, 1, int64_t{1} << 26); !s.ok()) return s;
  if (Status s = CheckRange("queue_messages", queue_messages, 1, int64_t{1} << 24); !s.ok()) {
    return s;
  }
  if (Status s = CheckRange("poll_ms", poll_ms, 1, 10'000); !s.ok()) return s;
  if (!curve()) {
    if (!curve_clients.empty()) {
      return Status::InvalidArgument("service: allowed CURVE clients without a CURVE key pair");
    }
    return Status::Ok();
  }
  if (Status s = CheckCurveKey(curve_keys.secret_key); !s.ok()) {
    return Status::InvalidArgument("service: the CURVE secret key: " + s.message());
  }
  if (curve_clients.empty()) {
    return Status::InvalidArgument(
        "service: CURVE without allowed clients would refuse every client");
  }
  for (const std::string& key : curve_clients) {
    if (Status s = CheckCurveKey(key); !s.ok()) {
      return Status::InvalidArgument("service: an allowed CURVE client key: " + s.message());
    }
  }
  return Status::Ok();
}

Json DecisionService::Counters::ToJson() const {
  Json by_code = Json::Object{};
  for (int c = 0; c < kErrorCodes; ++c) {
    by_code.Set(std::string(ErrorCodeName(static_cast<ErrorCode>(c))), errors_by_code[c]);
  }
  Json out = Json{{"messages", messages}, {"acts", acts},       {"feedback", feedback},
                  {"stats", stats},       {"health", health},   {"errors", errors}};
  out.Set("errors_by_code", std::move(by_code));
  out.Set("unroutable", unroutable);
  out.Set("reply_drops", reply_drops);
  out.Set("streams", streams);
  out.Set("curve_handshakes", Json{{"accepted", handshakes_accepted},
                                   {"refused", handshakes_refused}});
  return out;
}

struct DecisionService::Loop {
  zmq::context_t context{1};
  zmq::socket_t socket{context, zmq::socket_type::router};
  // CURVE: the ZAP handler's socket (ZeroMQ asks it about every handshake) and the public keys
  // it admits (binary, 32 bytes each).
  std::optional<zmq::socket_t> zap;
  std::unordered_set<std::string> allowed;
  std::vector<zmq::message_t> zap_frames;
  Arbiter* arbiter = nullptr;

  // With a journal: the replies of a burst wait here until its records are committed.
  struct Deferred {
    std::vector<zmq::message_t> route;
    RequestKey req;
    std::string reply;
  };
  std::vector<Deferred> deferred;  // the first `deferred_count` are pending; the rest reused
  size_t deferred_count = 0;
  DecisionRecord journal_record;   // scratch
  std::string journal_error;       // the journal's first error; health reports it
  // Ids whose feedback brought a ground truth: a second is refused.
  DecisionIdSet truths;

  // Scratch reused by every request.
  std::vector<zmq::message_t> frames;
  WireRequest request;
  DecodeError error;
  std::string reply;

  // Streams: a key's decisions are the steps of one episode. The oldest are closed beyond
  // max_streams; `order` holds (key, generation) in opening order, stale entries included.
  struct Stream {
    int64_t episode = 0;
    int64_t next_step = 0;
    uint64_t generation = 0;
  };
  std::unordered_map<std::string, Stream> streams;
  std::deque<std::pair<std::string, uint64_t>> order;
  uint64_t generation = 0;
};

DecisionService::DecisionService(Options options, Agent& agent, std::function<Json()> extra_stats,
                                 DecisionJournal* journal)
    : options_(std::move(options)),
      agent_(agent),
      extra_stats_(std::move(extra_stats)),
      journal_(journal),
      start_ns_(NowNs()) {
  RequireOk(options_.Validate());
}

DecisionService::~DecisionService() { Stop(); }

void DecisionService::Start() {
  Require(!started_, "DecisionService::Start: started already");
  started_ = true;
  loop_ = std::make_unique<Loop>();
  zmq::socket_t& s = loop_->socket;
  s.set(zmq::sockopt::router_mandatory, 1);
  s.set(zmq::sockopt::maxmsgsize, options_.max_message_bytes);
  s.set(zmq::sockopt::sndhwm, static_cast<int>(options_.queue_messages));
  s.set(zmq::sockopt::rcvhwm, static_cast<int>(options_.queue_messages));
  s.set(zmq::sockopt::linger, 0);
  if (options_.curve()) {
    // The handler is bound before the socket: no handshake can happen without it.
    loop_->zap.emplace(loop_->context, zmq::socket_type::rep);
    loop_->zap->set(zmq::sockopt::linger, 0);
    loop_->zap->bind("inproc://zeromq.zap.01");
    for (const std::string& key : options_.curve_clients) {
      std::array<uint8_t, 32> binary{};
      zmq_z85_decode(binary.data(), key.c_str());  // checked by Validate()
      loop_->allowed.emplace(reinterpret_cast<const char*>(binary.data()), binary.size());
    }
    s.set(zmq::sockopt::curve_server, 1);
    s.set(zmq::sockopt::curve_secretkey, options_.curve_keys.secret_key);
    s.set(zmq::sockopt::zap_domain, "apprentice");
  }
  try {
    s.bind(options_.bind);
  } catch (const zmq::error_t& e) {
    throw InvalidArgument("service: cannot bind " + options_.bind + ": " + e.what());
  }
  endpoint_ = s.get(zmq::sockopt::last_endpoint);
  loop_->arbiter = &agent_.OpenArbiter();
  if (journal_ != nullptr) loop_->truths = journal_->truths();
  loop_->frames.reserve(kMaxEnvelope + 2);
  thread_ = std::thread([this] { Run(); });
}

void DecisionService::Stop() {
  stop_.store(true, std::memory_order_release);
  if (thread_.joinable()) thread_.join();
  if (loop_) {
    loop_->socket.close();
    if (loop_->zap) loop_->zap->close();
    loop_->context.close();
  }
}

DecisionService::Counters DecisionService::counters() const {
  Counters c;
  c.messages = messages_.load(std::memory_order_relaxed);
  c.acts = acts_.load(std::memory_order_relaxed);
  c.feedback = feedback_.load(std::memory_order_relaxed);
  c.stats = stats_.load(std::memory_order_relaxed);
  c.health = health_.load(std::memory_order_relaxed);
  c.errors = errors_.load(std::memory_order_relaxed);
  for (int i = 0; i < kErrorCodes; ++i) {
    c.errors_by_code[i] = errors_by_code_[i].load(std::memory_order_relaxed);
  }
  c.unroutable = unroutable_.load(std::memory_order_relaxed);
  c.reply_drops = reply_drops_.load(std::memory_order_relaxed);
  c.streams = streams_.load(std::memory_order_relaxed);
  c.handshakes_accepted = handshakes_accepted_.load(std::memory_order_relaxed);
  c.handshakes_refused = handshakes_refused_.load(std::memory_order_relaxed);
  return c;
}

Json DecisionService::StatsJson() const {
  Json service = counters().ToJson();
  const LatencyHistogram act = act_latency();
  service.Set("act_latency_us", Json{{"count", act.count()},
                                     {"p50", act.QuantileUs(0.5)},
                                     {"p99", act.QuantileUs(0.99)},
                                     {"max", static_cast<double>(act.max_ns()) * 1e-3}});
  service.Set("uptime_s", static_cast<double>(NowNs() - start_ns_) * 1e-9);
  Json out = Json{{"service", std::move(service)}, {"agent", agent_.Metrics().ToJson()}};
  if (extra_stats_) {
    const Json extra = extra_stats_();  // named: the loop below reads into it
    for (const auto& [key, value] : extra.AsObject()) out.Set(key, value);
  }
  return out;
}

void DecisionService::Run() {
  Loop& loop = *loop_;
  zmq::socket_t& socket = loop.socket;
  const Space& observation_space = agent_.observation_space();
  const Space& action_space = agent_.action_space();
  const size_t observation_size = static_cast<size_t>(observation_space.flat_size());

  // Sends `reply` back along `route` (its first `route_frames` frames).
  auto transmit = [&](std::vector<zmq::message_t>& route, size_t route_frames,
                      const std::string& reply) {
    try {
      for (size_t i = 0; i < route_frames; ++i) {
        const auto sent =
            socket.send(route[i], zmq::send_flags::sndmore | zmq::send_flags::dontwait);
        if (!sent) {  // the client's queue is full: drop the reply rather than wait
          BumpOneWriter(reply_drops_);
          return;
        }
      }
      zmq::message_t body(reply.data(), reply.size());
      (void)socket.send(body, zmq::send_flags::dontwait);
    } catch (const zmq::error_t& e) {
      if (e.num() == EHOSTUNREACH) {
        BumpOneWriter(unroutable_);  // the client went away before its reply
      } else {
        BumpOneWriter(reply_drops_);
      }
    }
  };
  // Sends `loop.reply` back along the request's route (frames[0 .. n-2]) — with a journal, once
  // the burst's records are committed (flush_deferred), so that a reply means they are on disk.
  auto send_reply = [&]() {
    std::vector<zmq::message_t>& frames = loop.frames;
    if (journal_ == nullptr) {
      transmit(frames, frames.size() - 1, loop.reply);
      return;
    }
    if (loop.deferred.size() <= loop.deferred_count) loop.deferred.emplace_back();
    Loop::Deferred& d = loop.deferred[loop.deferred_count++];
    d.route.clear();
    for (size_t i = 0; i + 1 < frames.size(); ++i) d.route.push_back(std::move(frames[i]));
    d.req = loop.request.req;
    d.reply.assign(loop.reply);
  };
  auto flush_deferred = [&]() {
    if (loop.deferred_count == 0) return;
    Status committed = journal_->Commit();
    if (!committed.ok() && loop.journal_error.empty()) loop.journal_error = committed.message();
    for (size_t i = 0; i < loop.deferred_count; ++i) {
      Loop::Deferred& d = loop.deferred[i];
      if (!committed.ok()) {  // not durable: the client must not take it as accepted
        EncodeError(d.req, ErrorCode::kUnavailable,
                    "the journal cannot be written: " + committed.message(), d.reply);
        BumpOneWriter(errors_);
        BumpOneWriter(errors_by_code_[static_cast<int>(ErrorCode::kUnavailable)]);
      }
      transmit(d.route, d.route.size(), d.reply);
    }
    loop.deferred_count = 0;
  };
  auto fail = [&](ErrorCode code, const std::string& message) {
    EncodeError(loop.request.req, code, message, loop.reply);
    BumpOneWriter(errors_);
    BumpOneWriter(errors_by_code_[static_cast<int>(code)]);
    send_reply();
  };

  auto open_stream = [&](const std::string& key, int64_t episode) {
    const uint64_t generation = ++loop.generation;
    loop.streams[key] = Loop::Stream{episode, 1, generation};
    loop.order.emplace_back(key, generation);
    while (loop.streams.size() > static_cast<size_t>(options_.max_streams)) {
      const auto [old_key, old_generation] = loop.order.front();
      loop.order.pop_front();
      auto it = loop.streams.find(old_key);
      if (it != loop.streams.end() && it->second.generation == old_generation) {
        loop.streams.erase(it);
      }
    }
    if (loop.order.size() > 2 * static_cast<size_t>(options_.max_streams) + 16) {
      std::erase_if(loop.order, [&](const auto& entry) {
        auto it = loop.streams.find(entry.first);
        return it == loop.streams.end() || it->second.generation != entry.second;
      });
    }
  };

  auto handle_act = [&](int64_t t0) {
    WireRequest& r = loop.request;
    if (r.observation.size() != observation_size) {
      fail(ErrorCode::kBadObservation,
           "the observation has " + std::to_string(r.observation.size()) +
               " values; the service expects " + std::to_string(observation_size) + " (" +
               observation_space.ToString() + ")");
      return;
    }
    for (size_t i = 0; i < r.observation.size(); ++i) {
      if (!std::isfinite(r.observation[i])) {
        fail(ErrorCode::kBadObservation,
             "observation value " + std::to_string(i) + " is not finite");
        return;
      }
    }
    StepPosition position = StepPosition::NewEpisode();
    Loop::Stream* stream = nullptr;
    if (!r.stream.empty()) {
      auto it = loop.streams.find(r.stream);
      if (it != loop.streams.end()) {
        stream = &it->second;
        position = StepPosition{stream->episode, stream->next_step};
      }
    }
    AgentDecision d;
    try {
      d = loop.arbiter->Decide(r.observation, nullptr, position);
    } catch (const InvalidArgument& e) {
      fail(ErrorCode::kUnavailable, e.what());  // the agent is stopping
      return;
    }
    if (journal_ != nullptr) {
      DecisionRecord& j = loop.journal_record;
      j.decision_id = d.id;
      j.episode = d.episode;
      j.step = d.step;
      j.observation.assign(r.observation.begin(), r.observation.end());
      if (agent_.snapshot_slot().spec().head == HeadKind::kCategorical) {
        j.executor = PolicyOutput::FromLogits(d.executor_output);
      } else {
        const size_t dims = d.executor_output.size() / 2;
        j.executor = PolicyOutput::Gaussian(d.executor_output.first(dims),
                                            d.executor_output.subspan(dims));
      }
      j.executor_action = d.action;
      j.executor_version = d.executor_version;
      j.executor_latency_ns = d.latency_ns;
      j.acted_by = d.acted_by;
      if (Status s = journal_->AppendDecision(j); !s.ok()) {
        if (loop.journal_error.empty()) loop.journal_error = s.message();
        fail(ErrorCode::kUnavailable,
             "decision " + std::to_string(d.id) + " cannot be journaled: " + s.message());
        return;
      }
    }
    if (!r.stream.empty()) {
      if (r.stream_end) {
        loop.streams.erase(r.stream);
      } else if (stream != nullptr) {
        ++stream->next_step;
      } else {
        open_stream(r.stream, d.episode);
      }
      streams_.store(static_cast<int64_t>(loop.streams.size()), std::memory_order_relaxed);
    }
    WireActReply reply;
    reply.decision_id = d.id;
    reply.action = d.action;
    reply.head = agent_.snapshot_slot().spec().head;
    reply.output = d.executor_output;
    reply.confidence = d.confidence;
    reply.acted_by = d.acted_by;
    reply.executor_version = d.executor_version;
    reply.episode = d.episode;
    reply.step = d.step;
    reply.latency_us = static_cast<double>(NowNs() - t0) * 1e-3;
    if (r.deadline_us) reply.deadline_missed = reply.latency_us > static_cast<double>(*r.deadline_us);
    EncodeActReply(r.req, reply, loop.reply);
    send_reply();
    BumpOneWriter(acts_);
    act_latency_.Record(NowNs() - t0);
  };

  auto handle_feedback = [&]() {
    WireRequest& r = loop.request;
    Outcome outcome;
    outcome.reward = r.reward.value_or(0.0);
    outcome.terminated = r.done.value_or(false);
    if (r.label) {
      const WireLabel& label = *r.label;
      if (action_space.is_discrete()) {
        if (!label.is_class || label.index >= action_space.n()) {
          fail(ErrorCode::kBadLabel,
               "the label must be a class index in [0, " + std::to_string(action_space.n()) +
                   ") for " + action_space.ToString());
          return;
        }
        outcome.truth = Action::Discrete(label.index);
      } else {
        bool finite = true;
        for (float v : label.values) finite = finite && std::isfinite(v);
        if (label.is_class || label.values.size() != static_cast<size_t>(action_space.flat_size()) ||
            !finite) {
          fail(ErrorCode::kBadLabel, "the label must be " +
                                         std::to_string(action_space.flat_size()) +
                                         " finite numbers for " + action_space.ToString());
          return;
        }
        outcome.truth = Action::Continuous(label.values);
      }
      outcome.has_truth = true;
    }
    if (outcome.has_truth && loop.truths.Contains(r.decision_id)) {
      fail(ErrorCode::kDuplicateLabel, "decision " + std::to_string(r.decision_id) +
                                           " has its ground-truth label already");
      return;
    }
    const Status status = agent_.Report(r.decision_id, outcome);
    if (!status.ok()) {
      fail(status.code() == StatusCode::kInvalidArgument ? ErrorCode::kUnknownDecision
                                                         : ErrorCode::kUnavailable,
           status.message());
      return;
    }
    if (journal_ != nullptr) {
      DecisionRecord& j = loop.journal_record;
      j = DecisionRecord();
      j.decision_id = r.decision_id;
      ApplyOutcome(outcome, j);
      if (Status s = journal_->AppendFeedback(j); !s.ok()) {
        if (loop.journal_error.empty()) loop.journal_error = s.message();
        fail(ErrorCode::kUnavailable, "the feedback cannot be journaled: " + s.message());
        return;
      }
    }
    if (outcome.has_truth) loop.truths.Insert(r.decision_id);
    EncodeFeedbackReply(r.req, r.decision_id, loop.reply);
    send_reply();
    BumpOneWriter(feedback_);
  };

  auto handle_health = [&]() {
    Status health = agent_.health();
    if (health.ok() && !loop.journal_error.empty()) {
      health = Status::Unavailable("journal: " + loop.journal_error);
    }
    Json body = Json{{"ok", health.ok()},
                     {"error", health.ok() ? std::string() : health.message()},
                     {"executor_version", agent_.snapshot_slot().version()},
                     {"teacher", agent_.has_teacher()},
                     {"observation_space", observation_space.ToString()},
                     {"observation_size", observation_space.flat_size()},
                     {"action_space", action_space.ToString()},
                     {"uptime_s", static_cast<double>(NowNs() - start_ns_) * 1e-9}};
    EncodeJsonReply("health", loop.request.req, body, loop.reply);
    send_reply();
    BumpOneWriter(health_);
  };

  // Reads one request (all its frames) if one is waiting; false when none is.
  auto receive = [&]() -> bool {
    std::vector<zmq::message_t>& frames = loop.frames;
    frames.clear();
    frames.emplace_back();
    if (!socket.recv(frames.back(), zmq::recv_flags::dontwait)) return false;
    while (frames.back().more()) {
      frames.emplace_back();
      (void)socket.recv(frames.back(), zmq::recv_flags::none);  // parts arrive together
      if (frames.size() > kMaxEnvelope + 2) {  // keep the routing id and the last frame only
        frames.erase(frames.begin() + 1, frames.end() - 1);
      }
    }
    return true;
  };

  // ZAP (RFC 27): a request is version, request id, domain, address, routing id, mechanism and
  // the credentials (for CURVE: the client's 32-byte public key); the reply is version, request
  // id, status code, status text, user id and metadata.
  auto handle_zap = [&]() {
    std::vector<zmq::message_t>& f = loop.zap_frames;
    f.clear();
    for (;;) {
      zmq::message_t frame;
      if (!loop.zap->recv(frame, zmq::recv_flags::dontwait)) return;
      const bool more = frame.more();
      f.push_back(std::move(frame));
      if (!more) break;
    }
    const bool allowed = f.size() >= 7 && f[0].to_string_view() == "1.0" &&
                         f[5].to_string_view() == "CURVE" &&
                         loop.allowed.count(f[6].to_string()) > 0;
    BumpOneWriter(allowed ? handshakes_accepted_ : handshakes_refused_);
    const std::string request_id = f.size() >= 2 ? f[1].to_string() : std::string();
    const char* status = allowed ? "200" : "400";
    const char* text = allowed ? "OK" : "client key not allowed";
    zmq::socket_t& zap = *loop.zap;
    zap.send(zmq::buffer(std::string_view("1.0")), zmq::send_flags::sndmore);
    zap.send(zmq::buffer(request_id), zmq::send_flags::sndmore);
    zap.send(zmq::buffer(std::string_view(status)), zmq::send_flags::sndmore);
    zap.send(zmq::buffer(std::string_view(text)), zmq::send_flags::sndmore);
    zap.send(zmq::message_t(), zmq::send_flags::sndmore);  // user id
    zap.send(zmq::message_t(), zmq::send_flags::none);     // metadata
  };

  zmq::pollitem_t items[] = {
      {static_cast<void*>(socket), 0, ZMQ_POLLIN, 0},
      {loop.zap ? static_cast<void*>(*loop.zap) : nullptr, 0, ZMQ_POLLIN, 0}};
  const int polled = loop.zap ? 2 : 1;
  while (!stop_.load(std::memory_order_acquire)) {
    try {
      zmq::poll(items, polled, std::chrono::milliseconds(options_.poll_ms));
      if (loop.zap && (items[1].revents & ZMQ_POLLIN) != 0) handle_zap();
      for (int i = 0; i < kBurst; ++i) {
        if (!receive()) break;
        const int64_t t0 = NowNs();
        BumpOneWriter(messages_);
        std::vector<zmq::message_t>& frames = loop.frames;
        if (frames.size() < 2) {  // a routing id alone: nothing to answer
          frames.emplace_back();  // route an error back anyway
        }
        const zmq::message_t& body = frames.back();
        if (!DecodeRequest({static_cast<const uint8_t*>(body.data()), body.size()},
                           loop.request, loop.error)) {
          fail(loop.error.code, loop.error.message);
          continue;
        }
        switch (loop.request.type) {
          case WireRequest::Type::kAct: handle_act(t0); break;
          case WireRequest::Type::kFeedback: handle_feedback(); break;
          case WireRequest::Type::kStats:
            EncodeJsonReply("stats", loop.request.req, StatsJson(), loop.reply);
            send_reply();
            BumpOneWriter(stats_);
            break;
          case WireRequest::Type::kHealth: handle_health(); break;
        }
      }
    } catch (const std::exception& e) {
      // A bug or an exhausted resource: answer what can be answered and keep serving.
      if (!loop.frames.empty()) fail(ErrorCode::kInternal, e.what());
    }
    flush_deferred();
  }
}

}  // namespace apprentice
