// NatsPlanQueue: the plan queue (agent/plan_queue.h) on NATS JetStream, for planner workers on
// any machine (`apprentice planner-worker`, nats/planner_worker.h).
//
//   Arbiter ── Push ──▶ LocalPlanQueue ──▶ publisher ──▶ apprentice.RUN.plan
//                                            stream APPRENTICE_RUN_PLAN (work queue)
//                                                            │ pulled by any worker, acked after
//                                                            ▼ its label is stored
//   LabelSink (the Agent) ◀── ordered consumer ── stream APPRENTICE_RUN_LABEL ◀── workers
//
// - Push() copies the request into an in-process LocalPlanQueue (lock-free, no allocation, the
//   same drop-oldest policy and capacity: the caller's loop pays what it pays in process); a
//   publisher thread takes requests from it, encodes them (with the env's state bytes,
//   Env::SaveState, when the planner simulates) and publishes them: the caller never waits for
//   the client, the server or a worker. The stream also keeps at most `queue` requests and
//   discards the oldest beyond that (which one is not known here: its decision waits for its
//   label until the agent stops waiting).
// - Labels are read from the label stream by an ordered consumer from the first label stored after
//   Connect(), so a reconnect (a server of a cluster that died) skips none of them; a consumer
//   that falls silent while the stream holds newer labels is started again after the last label
//   received (a watchdog thread, once a second), and a label that comes twice is delivered once.
//   Labels arrive on the client's thread and go to the sink set with SetLabelSink(); a label that
//   does not decode is counted and dropped. Close() waits (at most 3 s) for the labels stored
//   until then, counts those it did not receive (Counters::labels_unread) and drops any later
//   one. Requests a worker gave up on after the consumer's maximum deliveries are counted from the
//   server's advisories.
// - Pop() has nothing to hand out (the workers are elsewhere): it blocks until Close().
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "agent/plan_queue.h"
#include "core/status.h"
#include "nats/nats_link.h"

namespace apprentice {

class NatsPlanQueue final : public PlanQueue {
 public:
  struct Options {
    std::string url = "nats://127.0.0.1:4222";
    std::string run = "apprentice";  // names the subjects and streams (nats_link.h)
    NatsSecurity security;
    int64_t replicas = 1;                // the streams' replicas, if this process makes them
    int64_t queue = 1024;            // requests the stream keeps waiting for a worker
    int64_t budget_ms = 0;           // a worker's planner's time per request; 0 = no limit
    int64_t max_request_bytes = 1 << 20;  // a longer request (a large env state) is not sent
    std::string env_key;             // the env the requests are made in (WireRequest::env)
    bool carry_state = false;        // the planner simulates: requests carry the env's state
    Status Validate() const;
  };

  struct Counters {
    int64_t published = 0;       // requests handed to the client
    int64_t publish_errors = 0;  // requests not sent: no state bytes, too long, client error
    int64_t labels = 0;          // labels delivered to the sink
    int64_t bad_labels = 0;      // labels that did not decode
    int64_t labels_stored = -1;  // labels the stream stored from Connect() to Close(); -1 before
    int64_t labels_unread = -1;  // of those, labels never received; -1 before Close()
    int64_t resubscribed = 0;    // label consumers started again (their server died)
    int64_t requests_stored = -1;  // requests the plan stream stored from Connect() to Close()
                                   // (one agent per run); -1 before Close()
    int64_t dropped = 0;         // requests given up on after the maximum deliveries
  };

  // Connects, creates the run's streams, subscribes to its labels and advisories and starts the
  // publisher. Requests hold observations of `observation_size` floats and, with a `prototype`,
  // states of its kind (as LocalPlanQueue's); options.carry_state needs one.
  static Result<std::unique_ptr<NatsPlanQueue>> Connect(const Options& options,
                                                        int64_t observation_size,
                                                        const Env* prototype);
  ~NatsPlanQueue() override;

  // Where labels go, from the client's thread: the agent's label_sink(). Set it before requests
  // are pushed; labels that arrive without a sink are dropped (and counted as bad). Once
  // SetLabelSink(nullptr) returns, no label is being delivered to the old sink: call it before
  // the sink goes away.
  void SetLabelSink(LabelSink* sink) {
    std::lock_guard lock(sink_mu_);
    sink_ = sink;
  }

  PushResult Push(const PlanRequestView& request) override;
  bool Pop(PlanTask& task) override;
  void Close() override;
  void Warm() override { local_->Warm(); }
  // Requests waiting for the publisher (those waiting in the stream are the server's).
  int64_t size() const override { return local_->size(); }
  int64_t capacity() const override { return local_->capacity(); }

  // Counters; `published` counts requests handed to the client by the publisher.
  Counters counters() const;
  const NatsRunNames& names() const { return names_; }

  // The subscriptions' callbacks (the client's thread): a label's body, an advisory.
  // `sequence`: the label's sequence number in the stream.
  void DeliverLabel(std::string_view body, uint64_t sequence);
  void CountDropped() { dropped_.fetch_add(1, std::memory_order_relaxed); }

 private:
  NatsPlanQueue(Options options, NatsRunNames names, std::unique_ptr<NatsLink> link,
                int64_t observation_size, const Env* prototype);
  void Publish();  // the publisher thread
  void SettleLabels();  // Close(): waits for the labels stored until now, counts the unread
  int SubscribeLabels(uint64_t from);  // a natsStatus; replaces the label consumer
  void WatchLabels();  // the watchdog thread: a label consumer gone silent is started again
  static constexpr int64_t kWatchMs = 1000;

  const Options options_;
  const NatsRunNames names_;
  std::unique_ptr<NatsLink> link_;
  const int64_t observation_size_;
  std::unique_ptr<Env> prototype_;           // a clone, for the tasks' states (or null)
  std::unique_ptr<LocalPlanQueue> local_;    // Push() to the publisher
  std::thread publisher_;
  struct Subscriptions;
  std::unique_ptr<Subscriptions> subscriptions_;
  std::mutex sink_mu_;         // held while a label is delivered
  LabelSink* sink_ = nullptr;  // guarded by sink_mu_
  bool settled_ = false;       // guarded by sink_mu_: Close() counted the labels, no more come
  std::atomic<int64_t> published_{0}, publish_errors_{0}, labels_{0}, bad_labels_{0}, dropped_{0};
  uint64_t first_label_seq_ = 1;             // the first label stored after Connect()
  uint64_t first_request_seq_ = 1;           // the first request stored after Connect()
  std::atomic<int64_t> requests_stored_{-1};
  std::atomic<uint64_t> last_label_seq_{0};  // the newest label received (written under sink_mu_)
  std::atomic<int64_t> last_label_ns_{0};    // NowNs() of its arrival (or of a resubscription)
  std::atomic<int64_t> resubscribed_{0};
  std::mutex subscribe_mu_;                  // held while the label consumer is replaced
  std::thread watchdog_;
  std::atomic<int64_t> labels_stored_{-1}, labels_unread_{-1};
  std::mutex close_mu_;
  std::condition_variable closed_cv_;
  bool closed_ = false;  // guarded by close_mu_
};

}  // namespace apprentice
