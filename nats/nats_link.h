// A connection to NATS with JetStream (the NATS C client, libnats), and the names a run uses on
// it. Only nats/*.cc include the client's header; this one keeps it out of everything else.
//
// Subjects and streams of run RUN (docs/scaling.md):
//   apprentice.RUN.plan    plan requests   stream APPRENTICE_RUN_PLAN  work queue, at most `queue`
//                                          messages (the oldest discarded), durable consumer
//                                          "workers" shared by every planner worker
//   apprentice.RUN.label   labels          stream APPRENTICE_RUN_LABEL (limits), read live by the
//                                          agent
//   apprentice.RUN.record  trainable       stream APPRENTICE_RUN_RECORD (limits: at most
//                          records         `max_records`, the oldest discarded), written by an
//                                          agent whose learner is elsewhere, read by
//                                          `apprentice learner` from its saved position
//   KV bucket APPRENTICE_RUN_WEIGHTS, key "executor": the newest executor snapshot (history 1),
//                                          put by the learner, watched by agents and edge
//                                          executors
//
// Security (NatsSecurity): TLS with the server's CA, a client certificate, and an nkey; each
// from a file, each optional. A server that requires them refuses a client without them.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "core/status.h"

namespace apprentice {

struct NatsRunNames {
  std::string plan_subject, label_subject, record_subject;
  std::string plan_stream, label_stream, record_stream;
  std::string weights_bucket;
  std::string weights_key = "executor";
  std::string consumer = "workers";
  // The max-deliveries advisory of the plan stream's consumer: a request given up on.
  std::string dropped_advisory;

  // Names of run `run` (letters, digits, '-' and '_'; InvalidArgument otherwise).
  static Result<NatsRunNames> For(std::string_view run);
};

// How a client proves itself to the servers and checks them; every field a file, every field
// optional (empty: not used).
struct NatsSecurity {
  std::string tls_ca;    // PEM: the CA that signed the servers' certificates (turns TLS on)
  std::string tls_cert;  // PEM: this client's certificate (with tls_key), for servers that
  std::string tls_key;   //      verify clients
  // The client's nkey: a file holding its public key (a line starting with 'U') and its seed (a
  // line starting with "SU"), as `nk -gen user -pubout` prints them.
  std::string nkey_file;

  bool tls() const { return !tls_ca.empty() || !tls_cert.empty(); }
  // InvalidArgument for a certificate without its key (or the reverse) or a file that cannot be
  // read, naming the flag-like field ("tls-cert", ...).
  Status Validate() const;
};

class NatsLink {
 public:
  // Connects to `url` (nats://host:port; several joined by commas) as client `name`, waiting at
  // most `timeout_ms`, and opens its JetStream context. Unavailable naming the URL when no server
  // answers or the server refuses the client (no or wrong credentials).
  static Result<std::unique_ptr<NatsLink>> Connect(const std::string& url,
                                                   const std::string& name,
                                                   const NatsSecurity& security = {},
                                                   int64_t timeout_ms = 5000);
  ~NatsLink();
  NatsLink(const NatsLink&) = delete;
  NatsLink& operator=(const NatsLink&) = delete;

  // Creates the run's streams, or checks that they exist (another process made them): the plan
  // stream holds at most `queue` requests of at most `max_request_bytes` each.
  // Streams are stored on `replicas` servers of a cluster (1: one server).
  Status EnsureStreams(const NatsRunNames& names, int64_t queue, int64_t max_request_bytes,
                       int64_t replicas = 1);
  // Creates the run's record stream (at most `max_records` records of at most `max_record_bytes`
  // each, the oldest discarded), or checks that it exists.
  Status EnsureRecordStream(const NatsRunNames& names, int64_t max_records,
                            int64_t max_record_bytes, int64_t replicas = 1);
  // A stream's first and last sequence numbers ({0, 0} when it holds nothing yet).
  Result<std::pair<uint64_t, uint64_t>> StreamRange(const std::string& stream);

  // The client's handles, for nats/*.cc: natsConnection* and jsCtx*.
  void* connection() const;
  void* jetstream() const;
  const std::string& url() const { return url_; }

 private:
  NatsLink() = default;
  std::string url_;
  struct Handles;
  std::unique_ptr<Handles> handles_;
};

// A natsStatus (with the client's last error text, when it has one) as a Status naming `what`.
Status NatsError(const std::string& what, int status);

}  // namespace apprentice
