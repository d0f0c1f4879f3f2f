#include "nats/nats_learner.h"

#include <nats/nats.h>

#include <chrono>
#include <random>
#include <utility>

#include "core/clock.h"
#include "replay/episode_log.h"

namespace apprentice {

Status NatsLearner::Options::Validate() const {
  if (url.empty()) return Status::InvalidArgument("the NATS URL is empty");
  if (Result<NatsRunNames> n = NatsRunNames::For(run); !n.ok()) return n.status();
  if (replicas < 1 || replicas > 5) return Status::InvalidArgument("replicas: 1 to 5");
  if (max_records < 1) return Status::InvalidArgument("max_records must be at least 1");
  if (max_record_bytes < 1024) return Status::InvalidArgument("max_record_bytes below 1024");
  if (queue < 1) return Status::InvalidArgument("queue must be at least 1");
  if (wait_ms < 0 || publish_timeout_ms < 1 || drain_ms < 0) {
    return Status::InvalidArgument("wait_ms, publish_timeout_ms and drain_ms: positive times");
  }
  return security.Validate();
}

Result<std::unique_ptr<NatsLearner>> NatsLearner::Connect(const Options& options) {
  if (Status s = options.Validate(); !s.ok()) return s;
  NatsRunNames names = *NatsRunNames::For(options.run);
  Result<std::unique_ptr<NatsLink>> link =
      NatsLink::Connect(options.url, "apprentice-agent-records", options.security);
  if (!link.ok()) return link.status();
  if (Status s = (*link)->EnsureRecordStream(names, options.max_records,
                                             options.max_record_bytes, options.replicas);
      !s.ok()) {
    return s;
  }
  NatsWeights::Options w;
  w.url = options.url;
  w.run = options.run;
  w.security = options.security;
  w.wait_ms = options.wait_ms;
  w.replicas = options.replicas;
  Result<std::unique_ptr<NatsWeights>> weights = NatsWeights::Connect(w);
  if (!weights.ok()) return weights.status();
  return std::unique_ptr<NatsLearner>(
      new NatsLearner(options, std::move(names), std::move(*link), std::move(*weights)));
}

NatsLearner::NatsLearner(Options options, NatsRunNames names, std::unique_ptr<NatsLink> link,
                         std::unique_ptr<NatsWeights> weights)
    : options_(std::move(options)), names_(std::move(names)), link_(std::move(link)),
      weights_(std::move(weights)) {
  std::random_device device;
  const uint64_t token = (uint64_t{device()} << 32) ^ device() ^ static_cast<uint64_t>(NowNs());
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(token));
  token_ = hex;
}

NatsLearner::~NatsLearner() { (void)Stop(); }

void NatsLearner::Start() {
  if (started_) return;
  started_ = true;
  publisher_ = std::thread([this] { PublishLoop(); });
}

void NatsLearner::Add(std::shared_ptr<const DecisionRecord> record) {
  added_.fetch_add(1, std::memory_order_relaxed);
  {
    std::lock_guard lock(mu_);
    if (stopping_) {
      failed_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    if (static_cast<int64_t>(queue_.size()) >= options_.queue) {
      queue_.pop_front();
      dropped_.fetch_add(1, std::memory_order_relaxed);
    }
    queue_.push_back(std::move(record));
  }
  cv_.notify_one();
}

void NatsLearner::PublishLoop() {
  uint64_t sequence = 0;
  while (true) {
    std::shared_ptr<const DecisionRecord> record;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and everything is out
      if (stopping_ && NowNs() > drain_deadline_ns_) {
        failed_.fetch_add(static_cast<int64_t>(queue_.size()), std::memory_order_relaxed);
        queue_.clear();
        return;
      }
      record = std::move(queue_.front());
      queue_.pop_front();
    }
    const std::vector<uint8_t> bytes = EncodeRecordMessage(*record);
    const std::string body(bytes.begin(), bytes.end());
    if (static_cast<int64_t>(body.size()) > options_.max_record_bytes) {
      failed_.fetch_add(1, std::memory_order_relaxed);
      std::lock_guard lock(error_mu_);
      last_error_ = "a record of " + std::to_string(body.size()) + " bytes is over the limit of " +
                    std::to_string(options_.max_record_bytes);
      continue;
    }
    if (PublishOne(body, ++sequence)) {
      stored_.fetch_add(1, std::memory_order_relaxed);
    } else {
      failed_.fetch_add(1, std::memory_order_relaxed);
    }
  }
}

bool NatsLearner::PublishOne(const std::string& body, uint64_t sequence) {
  const std::string id = token_ + "-" + std::to_string(sequence);
  auto* js = static_cast<jsCtx*>(link_->jetstream());
  for (int attempt = 0;; ++attempt) {
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MsgId = id.c_str();
    po.MaxWait = options_.publish_timeout_ms;
    jsPubAck* ack = nullptr;
    jsErrCode code = static_cast<jsErrCode>(0);
    const natsStatus s = js_Publish(&ack, js, names_.record_subject.c_str(), body.data(),
                                    static_cast<int>(body.size()), &po, &code);
    if (ack != nullptr) jsPubAck_Destroy(ack);
    if (s == NATS_OK) return true;
    const Status error = NatsError("NATS: record not stored in " + names_.record_stream, s);
    {
      std::lock_guard lock(error_mu_);
      last_error_ = error.message();
    }
    {
      std::unique_lock lock(mu_);
      if (stopping_ && NowNs() > drain_deadline_ns_) return false;
      // Wait a little before the next attempt (a server of the cluster is being replaced).
      cv_.wait_for(lock, std::chrono::milliseconds(100),
                   [&] { return stopping_ && NowNs() > drain_deadline_ns_; });
    }
    retries_.fetch_add(1, std::memory_order_relaxed);
  }
}

Status NatsLearner::Stop() {
  std::call_once(stop_once_, [&] {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
      drain_deadline_ns_ = NowNs() + options_.drain_ms * 1'000'000;
    }
    cv_.notify_all();
    if (publisher_.joinable()) publisher_.join();
    {
      // Records added without a Start() were never sent.
      std::lock_guard lock(mu_);
      failed_.fetch_add(static_cast<int64_t>(queue_.size()), std::memory_order_relaxed);
      queue_.clear();
    }
    const Counters c = counters();
    if (c.failed + c.dropped > 0) {
      stop_status_ = Status::Unavailable(
          "records for the learner: " + std::to_string(c.failed) + " not stored in " +
          names_.record_stream + ", " + std::to_string(c.dropped) +
          " dropped from a full queue (last error: " +
          [&] {
            std::lock_guard lock(error_mu_);
            return last_error_.empty() ? std::string("none") : last_error_;
          }() +
          ")");
    }
  });
  return stop_status_;
}

LearnerMetrics NatsLearner::Metrics() const {
  LearnerMetrics m;
  m.records = stored_.load(std::memory_order_relaxed);
  m.snapshots = weights_->updates();
  std::lock_guard lock(error_mu_);
  m.last_error = last_error_;
  if (m.last_error.empty()) m.last_error = weights_->last_error();
  return m;
}

NatsLearner::Counters NatsLearner::counters() const {
  Counters c;
  c.added = added_.load(std::memory_order_relaxed);
  c.stored = stored_.load(std::memory_order_relaxed);
  c.retries = retries_.load(std::memory_order_relaxed);
  c.failed = failed_.load(std::memory_order_relaxed);
  c.dropped = dropped_.load(std::memory_order_relaxed);
  return c;
}

}  // namespace apprentice
