#include "nats/nats_plan_queue.h"

#include <nats/nats.h>

#include <algorithm>
#include <chrono>
#include <utility>

#include "core/clock.h"
#include "nats/wire.h"

namespace apprentice {
namespace {

void LabelHandler(natsConnection*, natsSubscription*, natsMsg* msg, void* closure) {
  uint64_t sequence = 0;
  jsMsgMetaData* meta = nullptr;
  if (natsMsg_GetMetaData(&meta, msg) == NATS_OK) {
    sequence = meta->Sequence.Stream;
    jsMsgMetaData_Destroy(meta);
  }
  static_cast<NatsPlanQueue*>(closure)->DeliverLabel(
      std::string_view(natsMsg_GetData(msg), static_cast<size_t>(natsMsg_GetDataLength(msg))),
      sequence);
  natsMsg_Destroy(msg);
}

void DroppedHandler(natsConnection*, natsSubscription*, natsMsg* msg, void* closure) {
  static_cast<NatsPlanQueue*>(closure)->CountDropped();
  natsMsg_Destroy(msg);
}

// Stops a subscription whose handler uses the queue: drained, and waited for (at most 2 s), so
// that no handler is running or will run once this returns.
void CloseSubscription(natsSubscription* s) {
  if (s == nullptr) return;
  if (natsSubscription_Drain(s) == NATS_OK) {
    (void)natsSubscription_WaitForDrainCompletion(s, 2000);
  } else {
    natsSubscription_Unsubscribe(s);
  }
  natsSubscription_Destroy(s);
}

}  // namespace

struct NatsPlanQueue::Subscriptions {
  natsSubscription* labels = nullptr;
  natsSubscription* dropped = nullptr;
  ~Subscriptions() {
    CloseSubscription(labels);
    CloseSubscription(dropped);
  }
};

Status NatsPlanQueue::Options::Validate() const {
  if (url.empty()) return Status::InvalidArgument("the NATS URL is empty");
  if (queue < 1) return Status::InvalidArgument("queue must be at least 1");
  if (budget_ms < 0) return Status::InvalidArgument("budget_ms must not be negative");
  if (max_request_bytes < 1024) return Status::InvalidArgument("max_request_bytes below 1024");
  if (Result<NatsRunNames> n = NatsRunNames::For(run); !n.ok()) return n.status();
  if (replicas < 1 || replicas > 5) return Status::InvalidArgument("replicas: 1 to 5");
  return security.Validate();
}

NatsPlanQueue::NatsPlanQueue(Options options, NatsRunNames names, std::unique_ptr<NatsLink> link,
                             int64_t observation_size, const Env* prototype)
    : options_(std::move(options)), names_(std::move(names)), link_(std::move(link)),
      observation_size_(observation_size),
      prototype_(prototype != nullptr ? prototype->Clone() : nullptr),
      local_(std::make_unique<LocalPlanQueue>(options_.queue, Overflow::kDropOldest,
                                              observation_size, prototype_.get())),
      subscriptions_(std::make_unique<Subscriptions>()) {}

Result<std::unique_ptr<NatsPlanQueue>> NatsPlanQueue::Connect(const Options& options,
                                                              int64_t observation_size,
                                                              const Env* prototype) {
  if (Status s = options.Validate(); !s.ok()) return s;
  if (options.carry_state && prototype == nullptr) {
    return Status::InvalidArgument("requests that carry the env's state need a prototype env");
  }
  Result<NatsRunNames> names = NatsRunNames::For(options.run);
  Result<std::unique_ptr<NatsLink>> link = NatsLink::Connect(options.url, "apprentice-agent", options.security);
  if (!link.ok()) return link.status();
  if (Status s = (*link)->EnsureStreams(*names, options.queue, options.max_request_bytes,
                                           options.replicas);
      !s.ok()) {
    return s;
  }
  Result<std::pair<uint64_t, uint64_t>> labels = (*link)->StreamRange(names->label_stream);
  if (!labels.ok()) return labels.status();
  Result<std::pair<uint64_t, uint64_t>> requests = (*link)->StreamRange(names->plan_stream);
  if (!requests.ok()) return requests.status();
  auto queue = std::unique_ptr<NatsPlanQueue>(new NatsPlanQueue(
      options, std::move(*names), std::move(*link), observation_size, prototype));
  queue->first_label_seq_ = labels->second + 1;
  queue->first_request_seq_ = requests->second + 1;
  auto* nc = static_cast<natsConnection*>(queue->link_->connection());
  natsStatus s = static_cast<natsStatus>(queue->SubscribeLabels(queue->first_label_seq_));
  if (s == NATS_OK) {
    s = natsConnection_Subscribe(&queue->subscriptions_->dropped, nc,
                                 queue->names_.dropped_advisory.c_str(), DroppedHandler,
                                 queue.get());
  }
  if (s == NATS_OK) s = natsConnection_FlushTimeout(nc, 5000);
  if (s != NATS_OK) return NatsError("NATS: cannot subscribe to the labels", s);
  queue->publisher_ = std::thread([q = queue.get()] { q->Publish(); });
  queue->watchdog_ = std::thread([q = queue.get()] { q->WatchLabels(); });
  return queue;
}

int NatsPlanQueue::SubscribeLabels(uint64_t from) {
  // Ordered: in sequence, no acks, recreated by the client from the last label received after a
  // gap; from the first label stored after Connect() (earlier ones are another agent's).
  jsSubOptions so;
  jsSubOptions_Init(&so);
  so.Stream = names_.label_stream.c_str();
  so.Ordered = true;
  so.Config.DeliverPolicy = js_DeliverByStartSequence;
  so.Config.OptStartSeq = from;
  jsErrCode code = static_cast<jsErrCode>(0);
  natsSubscription* sub = nullptr;
  const natsStatus s =
      js_Subscribe(&sub, static_cast<jsCtx*>(link_->jetstream()), names_.label_subject.c_str(),
                   LabelHandler, this, nullptr, &so, &code);
  if (s != NATS_OK) return s;
  std::lock_guard lock(subscribe_mu_);
  if (subscriptions_->labels != nullptr) {
    natsSubscription_Unsubscribe(subscriptions_->labels);
    natsSubscription_Destroy(subscriptions_->labels);
  }
  subscriptions_->labels = sub;
  return NATS_OK;
}

void NatsPlanQueue::WatchLabels() {
  // The client recreates an ordered consumer whose server died only if it can reach the stream
  // at that moment; a cluster still electing a leader leaves it silent. Every second without a
  // label, the stream's last sequence says whether labels are waiting; if so, a new consumer
  // starts after the last one received (DeliverLabel drops any that come twice).
  std::unique_lock lock(close_mu_);
  while (!closed_cv_.wait_for(lock, std::chrono::milliseconds(kWatchMs), [&] { return closed_; })) {
    lock.unlock();
    if (NowNs() - last_label_ns_.load(std::memory_order_relaxed) >= kWatchMs * 1'000'000) {
      Result<std::pair<uint64_t, uint64_t>> range = link_->StreamRange(names_.label_stream);
      const uint64_t next =
          std::max(first_label_seq_, last_label_seq_.load(std::memory_order_acquire) + 1);
      if (range.ok() && range->second >= next && SubscribeLabels(next) == NATS_OK) {
        resubscribed_.fetch_add(1, std::memory_order_relaxed);
        last_label_ns_.store(NowNs(), std::memory_order_relaxed);
      }
    }
    lock.lock();
  }
}

NatsPlanQueue::~NatsPlanQueue() {
  Close();
  subscriptions_.reset();  // no callback after this
}

PlanQueue::PushResult NatsPlanQueue::Push(const PlanRequestView& view) {
  return local_->Push(view);
}

void NatsPlanQueue::Publish() {
  PlanTask task;
  task.Prepare(observation_size_, prototype_.get());
  WireRequest r;
  r.budget_ms = options_.budget_ms;
  r.env = options_.env_key;
  auto* nc = static_cast<natsConnection*>(link_->connection());
  while (local_->Pop(task)) {
    r.decision_id = task.decision_id;
    r.episode = task.episode;
    r.step = task.step;
    r.observation.assign(task.observation.begin(), task.observation.end());
    r.seed = task.seed;
    r.executor_action = task.executor_action;
    r.urgent = task.urgent;
    r.state.clear();
    if (options_.carry_state) {
      Result<std::string> state = task.env->SaveState();
      if (!state.ok()) {
        publish_errors_.fetch_add(1, std::memory_order_relaxed);
        continue;
      }
      r.state = std::move(*state);
    }
    const std::string body = EncodeRequest(r);
    if (static_cast<int64_t>(body.size()) > options_.max_request_bytes ||
        natsConnection_Publish(nc, names_.plan_subject.c_str(), body.data(),
                               static_cast<int>(body.size())) != NATS_OK) {
      publish_errors_.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    published_.fetch_add(1, std::memory_order_relaxed);
  }
}

bool NatsPlanQueue::Pop(PlanTask& task) {
  (void)task;
  std::unique_lock lock(close_mu_);
  closed_cv_.wait(lock, [&] { return closed_; });
  return false;
}

void NatsPlanQueue::Close() {
  {
    std::lock_guard lock(close_mu_);
    if (closed_) return;
    closed_ = true;
  }
  closed_cv_.notify_all();
  local_->Close();
  if (publisher_.joinable()) publisher_.join();
  if (watchdog_.joinable()) watchdog_.join();
  // What Push() handed to the client reaches the server before the connection goes.
  (void)natsConnection_FlushTimeout(static_cast<natsConnection*>(link_->connection()), 2000);
  SettleLabels();
}

void NatsPlanQueue::SettleLabels() {
  // Sequence numbers grow for every message stored, also after a worker's ack removed it.
  if (Result<std::pair<uint64_t, uint64_t>> r = link_->StreamRange(names_.plan_stream); r.ok()) {
    requests_stored_.store(r->second >= first_request_seq_
                               ? static_cast<int64_t>(r->second - first_request_seq_ + 1)
                               : 0,
                           std::memory_order_relaxed);
  }
  Result<std::pair<uint64_t, uint64_t>> range = link_->StreamRange(names_.label_stream);
  if (!range.ok()) return;  // the counts stay -1: unknown
  const uint64_t last = range->second;
  const int64_t deadline = NowNs() + 3'000'000'000;
  while (last_label_seq_.load(std::memory_order_acquire) < last && NowNs() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  // Labels are handed over in sequence, each once: what is missing up to the newest sequence
  // known (the stream's last, or a newer one already received) was stored and never received.
  std::lock_guard lock(sink_mu_);
  const uint64_t top = std::max(last, last_label_seq_.load(std::memory_order_relaxed));
  const int64_t stored = top >= first_label_seq_ ? static_cast<int64_t>(top - first_label_seq_ + 1) : 0;
  const int64_t received =
      labels_.load(std::memory_order_relaxed) + bad_labels_.load(std::memory_order_relaxed);
  labels_stored_.store(stored, std::memory_order_relaxed);
  labels_unread_.store(std::max<int64_t>(0, stored - received), std::memory_order_relaxed);
  settled_ = true;
}

void NatsPlanQueue::DeliverLabel(std::string_view body, uint64_t sequence) {
  last_label_ns_.store(NowNs(), std::memory_order_relaxed);
  Result<Label> label = DecodeLabel(body);
  // Checked, handed over and counted in one piece: a consumer started again may hand out what the
  // old one already did (once is enough), and every consumer hands out in sequence.
  std::lock_guard lock(sink_mu_);
  if (settled_) return;  // Close() counted the labels: the agent is stopping
  if (sequence != 0 && sequence <= last_label_seq_.load(std::memory_order_relaxed)) return;
  if (!label.ok() || sink_ == nullptr) {
    bad_labels_.fetch_add(1, std::memory_order_relaxed);
  } else {
    sink_->OnLabel(std::move(*label));
    labels_.fetch_add(1, std::memory_order_relaxed);
  }
  if (sequence != 0) last_label_seq_.store(sequence, std::memory_order_release);
}

NatsPlanQueue::Counters NatsPlanQueue::counters() const {
  Counters c;
  c.published = published_.load(std::memory_order_relaxed);
  c.publish_errors = publish_errors_.load(std::memory_order_relaxed);
  c.labels = labels_.load(std::memory_order_relaxed);
  c.bad_labels = bad_labels_.load(std::memory_order_relaxed);
  c.dropped = dropped_.load(std::memory_order_relaxed);
  c.labels_stored = labels_stored_.load(std::memory_order_relaxed);
  c.labels_unread = labels_unread_.load(std::memory_order_relaxed);
  c.resubscribed = resubscribed_.load(std::memory_order_relaxed);
  c.requests_stored = requests_stored_.load(std::memory_order_relaxed);
  return c;
}

}  // namespace apprentice
