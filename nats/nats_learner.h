// NatsLearner: the Learner seam (agent/learner.h) of an agent whose learner is elsewhere
// (`apprentice learner`, runtime/learner_service.h): trainable records go into the run's record
// stream, snapshots come from its weights bucket.
//
//   Collector ── Add(record) ──▶ queue ──▶ publisher ── JetStream publish, stored ack ──▶
//                                            apprentice.RUN.record (stream APPRENTICE_RUN_RECORD)
//   Agent's slot ◀── NatsWeights ◀── watch ── KV APPRENTICE_RUN_WEIGHTS (the learner's puts)
//
// - Add() never waits for NATS: it queues the record (at most `queue`; beyond, the oldest is
//   dropped and counted). The publisher thread encodes each as the episode log's Record
//   FlatBuffer (replay/episode_log.h: EncodeRecordMessage) and publishes it with a message id
//   (this process's token and a sequence number), waiting for the server's acknowledgement that
//   it is stored; a publish that fails or times out is sent again with the same id (the stream
//   keeps one copy of a duplicate), until it is stored or Stop()'s drain time is over.
// - A record is "stored" once acknowledged: from then on it is in the stream for the learner,
//   whether the learner is up, down or restarting.
// - Teacher features (DecisionRecord::teacher_features) do not travel: the log format does not
//   carry them.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "agent/learner.h"
#include "nats/nats_link.h"
#include "nats/nats_weights.h"

namespace apprentice {

class NatsLearner final : public Learner {
 public:
  struct Options {
    std::string url = "nats://127.0.0.1:4222";
    std::string run = "apprentice";
    NatsSecurity security;
    int64_t replicas = 1;                     // for the stream and bucket, if this process makes them
    int64_t max_records = 10'000'000;     // the record stream's size, if this process makes it
    int64_t max_record_bytes = 1 << 20;   // a longer record is not sent (counted as failed)
    int64_t queue = 65'536;               // records waiting for the publisher
    int64_t wait_ms = 30'000;             // for the learner's first snapshot
    int64_t publish_timeout_ms = 2'000;   // one attempt's wait for the stored ack
    int64_t drain_ms = 10'000;            // Stop(): time left for records still unsent
    Status Validate() const;
  };

  struct Counters {
    int64_t added = 0;    // records handed to Add()
    int64_t stored = 0;   // acknowledged by the stream
    int64_t retries = 0;  // publish attempts after the first
    int64_t failed = 0;   // given up on: too long, or unsent when the drain time ran out
    int64_t dropped = 0;  // the oldest, dropped from a full queue
  };

  // Connects, creates the record stream if needed, and waits for the learner's first snapshot
  // (NatsWeights::Connect): Unavailable naming what is missing.
  static Result<std::unique_ptr<NatsLearner>> Connect(const Options& options);
  ~NatsLearner() override;

  void Start() override;
  void Add(std::shared_ptr<const DecisionRecord> record) override;
  // Publishes what is queued (at most drain_ms), stops the publisher. An error when records
  // were given up on or dropped, saying how many.
  Status Stop() override;
  WeightSource& weights() override { return *weights_; }
  LearnerMetrics Metrics() const override;

  Counters counters() const;
  const NatsWeights& nats_weights() const { return *weights_; }

 private:
  NatsLearner(Options options, NatsRunNames names, std::unique_ptr<NatsLink> link,
              std::unique_ptr<NatsWeights> weights);
  void PublishLoop();  // the publisher thread
  // Publishes one encoded record until it is stored; false when it was given up on.
  bool PublishOne(const std::string& body, uint64_t sequence);

  const Options options_;
  const NatsRunNames names_;
  std::unique_ptr<NatsLink> link_;
  std::unique_ptr<NatsWeights> weights_;
  std::string token_;  // this process's message-id prefix

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<const DecisionRecord>> queue_;  // guarded by mu_
  bool stopping_ = false;                                    // guarded by mu_
  int64_t drain_deadline_ns_ = 0;                            // guarded by mu_
  std::thread publisher_;
  bool started_ = false;
  std::once_flag stop_once_;
  Status stop_status_;

  std::atomic<int64_t> added_{0}, stored_{0}, retries_{0}, failed_{0}, dropped_{0};
  mutable std::mutex error_mu_;
  std::string last_error_;  // guarded by error_mu_
};

}  // namespace apprentice
