// DecisionService: an Agent behind a ZeroMQ ROUTER socket, speaking the MessagePack protocol of
// service/protocol.h (specified in docs/protocol.md). Clients in any language connect with a
// DEALER (or REQ) socket and send act, feedback, stats and health requests; many may be
// connected at once, and each may keep many requests in flight.
//
//   client ── act(obs) ──▶ ROUTER ── Arbiter::Decide (executor, on this thread) ──▶ reply
//     │                               └─ plan request ──▶ teacher (background) ──▶ learner
//     └──── feedback(id, reward, done, label) ──▶ Agent::Report ──▶ joined by decision id
//
// Bad input never takes the service down: every request that fails to decode or validate gets
// an error reply with a code (when a reply can be routed at all), is counted by code, and the
// next request is served as usual. A message over max_message_bytes is refused by ZeroMQ itself
// (it drops that client's connection; the client reconnects); a reply to a client that has
// disconnected, or whose receive queue is full, is dropped and counted, never waited for.
//
// Durability: with a DecisionJournal, the records of a burst of requests (up to 256 read
// without waiting) are committed to it before any of the burst's replies is sent.
//
// Security: with CURVE keys (Options::curve_keys, service/curve.h) connections are encrypted and
// a ZAP handler on the service thread admits only the listed client keys.
//
// Threading: one service thread owns the socket (and the ZAP handler's), the arbiter it acts with (Agent::OpenArbiter)
// and the streams table; Start() and Stop() are called from one other thread. Counters and
// StatsJson() may be read from any thread.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "agent/agent.h"
#include "core/json.h"
#include "core/latency_histogram.h"
#include "core/status.h"
#include "service/curve.h"
#include "service/journal.h"
#include "service/protocol.h"

namespace apprentice {

class DecisionService {
 public:
  struct Options {
    // A ZeroMQ endpoint: tcp://127.0.0.1:5555 (loopback by default), tcp://127.0.0.1:* for a
    // free port (see endpoint()), ipc://path, tcp://0.0.0.0:5555 for every interface.
    std::string bind = "tcp://127.0.0.1:5555";
    int64_t max_message_bytes = 64 << 10;  // ZMQ_MAXMSGSIZE: larger messages are refused
    int64_t max_streams = 100'000;         // open "stream" keys kept; the oldest are closed
    int64_t queue_messages = 10'000;       // per-client send and receive queues (ZMQ HWMs)
    int64_t poll_ms = 50;                  // how soon the service thread notices Stop()
    // CURVE (service/curve.h): with a key pair the socket is a CURVE server (encrypted,
    // authenticated connections) and only clients whose public key is in `curve_clients`
    // complete the handshake; the others get nothing. Empty (the default): no CURVE.
    CurveKeyPair curve_keys;
    std::vector<std::string> curve_clients;
    bool curve() const { return !curve_keys.secret_key.empty(); }
    Status Validate() const;
  };

  struct Counters {
    int64_t messages = 0;  // requests received (well-formed or not)
    int64_t acts = 0, feedback = 0, stats = 0, health = 0;  // requests answered, by type
    int64_t errors = 0;                                     // error replies, all codes
    std::array<int64_t, kErrorCodes> errors_by_code{};      // indexed by ErrorCode
    int64_t unroutable = 0;   // replies dropped: the client had disconnected
    int64_t reply_drops = 0;  // replies dropped: the client's receive queue was full
    int64_t streams = 0;      // streams open now
    // CURVE handshakes the ZAP handler accepted and refused (an unlisted public key, or a
    // client that does not speak CURVE to a CURVE service: refused by ZeroMQ, not counted).
    int64_t handshakes_accepted = 0, handshakes_refused = 0;
    Json ToJson() const;
  };

  // `agent` must outlive the service and be started before Start(). `extra_stats`, when given,
  // is called on the service thread for every stats request; its object members are added to
  // the reply (what the embedding program knows: snapshot reloads, teacher details).
  // `journal`, when given (it must outlive the service), makes every decision and accepted
  // feedback durable before its reply is sent (service/journal.h); the agent should then find
  // decisions through it (AgentSeams::decisions) and number them from its next_decision_id().
  DecisionService(Options options, Agent& agent, std::function<Json()> extra_stats = {},
                  DecisionJournal* journal = nullptr);
  ~DecisionService();  // Stop()
  DecisionService(const DecisionService&) = delete;
  DecisionService& operator=(const DecisionService&) = delete;

  // Binds the socket and starts the service thread. Once. Throws InvalidArgument for invalid
  // options and Unavailable-style errors (an endpoint that cannot be bound: in use, bad
  // address) as InvalidArgument naming the endpoint.
  void Start();
  // Stops the thread and closes the socket; requests not yet read are not answered.
  // Idempotent.
  void Stop();

  // The endpoint bound, with a wildcard port resolved ("tcp://127.0.0.1:41237").
  const std::string& endpoint() const { return endpoint_; }
  Counters counters() const;
  // Service-side latency of act requests: from reading the request to handing the reply to
  // ZeroMQ.
  LatencyHistogram act_latency() const { return act_latency_.Snapshot(); }
  // The body of a stats reply: {"service": ..., "agent": ..., extra_stats' members}.
  Json StatsJson() const;

 private:
  struct Loop;  // the service thread's state (socket, scratch, streams)

  void Run();

  const Options options_;
  Agent& agent_;
  const std::function<Json()> extra_stats_;
  DecisionJournal* const journal_;  // null: no journal
  const int64_t start_ns_;
  std::string endpoint_;
  std::unique_ptr<Loop> loop_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  bool started_ = false;

  // Written by the service thread, read by any.
  std::atomic<int64_t> messages_{0}, acts_{0}, feedback_{0}, stats_{0}, health_{0};
  std::atomic<int64_t> errors_{0}, unroutable_{0}, reply_drops_{0}, streams_{0};
  std::atomic<int64_t> handshakes_accepted_{0}, handshakes_refused_{0};
  std::array<std::atomic<int64_t>, kErrorCodes> errors_by_code_{};
  SharedLatencyHistogram act_latency_;
};

}  // namespace apprentice
