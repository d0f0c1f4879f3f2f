// A connection to NATS with JetStream (the NATS C client, libnats), and the names a run uses on
// it. Only nats/*.cc include the client's header; this one keeps it out of everything else.
//
// Subjects and streams of run RUN (docs/scaling.md):
//   apprentice.RUN.plan    plan requests   stream APPRENTICE_RUN_PLAN  work queue, at most `queue`
//                                          messages (the oldest discarded), durable consumer
//                                          "workers" shared by every planner worker
//   apprentice.RUN.label   labels          stream APPRENTICE_RUN_LABEL (limits: what a learner
//                                          replays), also read live by the agent
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "core/status.h"

namespace apprentice {

struct NatsRunNames {
  std::string plan_subject, label_subject;
  std::string plan_stream, label_stream;
  std::string consumer = "workers";
  // The max-deliveries advisory of the plan stream's consumer: a request given up on.
  std::string dropped_advisory;

  // Names of run `run` (letters, digits, '-' and '_'; InvalidArgument otherwise).
  static Result<NatsRunNames> For(std::string_view run);
};

class NatsLink {
 public:
  // Connects to `url` (nats://host:port; several joined by commas) as client `name`, waiting at
  // most `timeout_ms`, and opens its JetStream context. Unavailable naming the URL when no server
  // answers.
  static Result<std::unique_ptr<NatsLink>> Connect(const std::string& url,
                                                   const std::string& name,
                                                   int64_t timeout_ms = 5000);
  ~NatsLink();
  NatsLink(const NatsLink&) = delete;
  NatsLink& operator=(const NatsLink&) = delete;

  // Creates the run's streams, or checks that they exist (another process made them): the plan
  // stream holds at most `queue` requests of at most `max_request_bytes` each.
  Status EnsureStreams(const NatsRunNames& names, int64_t queue, int64_t max_request_bytes);

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
