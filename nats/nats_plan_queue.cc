#include "nats/nats_plan_queue.h"

#include <nats/nats.h>

#include <utility>

#include "nats/wire.h"

namespace apprentice {
namespace {

void LabelHandler(natsConnection*, natsSubscription*, natsMsg* msg, void* closure) {
  static_cast<NatsPlanQueue*>(closure)->DeliverLabel(
      std::string_view(natsMsg_GetData(msg), static_cast<size_t>(natsMsg_GetDataLength(msg))));
  natsMsg_Destroy(msg);
}

void DroppedHandler(natsConnection*, natsSubscription*, natsMsg* msg, void* closure) {
  static_cast<NatsPlanQueue*>(closure)->CountDropped();
  natsMsg_Destroy(msg);
}

}  // namespace

struct NatsPlanQueue::Subscriptions {
  natsSubscription* labels = nullptr;
  natsSubscription* dropped = nullptr;
  ~Subscriptions() {
    for (natsSubscription* s : {labels, dropped}) {
      if (s == nullptr) continue;
      natsSubscription_Unsubscribe(s);
      natsSubscription_Destroy(s);
    }
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
  auto queue = std::unique_ptr<NatsPlanQueue>(new NatsPlanQueue(
      options, std::move(*names), std::move(*link), observation_size, prototype));
  auto* nc = static_cast<natsConnection*>(queue->link_->connection());
  natsStatus s = natsConnection_Subscribe(&queue->subscriptions_->labels, nc,
                                          queue->names_.label_subject.c_str(), LabelHandler,
                                          queue.get());
  if (s == NATS_OK) {
    s = natsConnection_Subscribe(&queue->subscriptions_->dropped, nc,
                                 queue->names_.dropped_advisory.c_str(), DroppedHandler,
                                 queue.get());
  }
  if (s == NATS_OK) s = natsConnection_FlushTimeout(nc, 5000);
  if (s != NATS_OK) return NatsError("NATS: cannot subscribe to the labels", s);
  queue->publisher_ = std::thread([q = queue.get()] { q->Publish(); });
  return queue;
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
  // What Push() handed to the client reaches the server before the connection goes.
  (void)natsConnection_FlushTimeout(static_cast<natsConnection*>(link_->connection()), 2000);
}

void NatsPlanQueue::DeliverLabel(std::string_view body) {
  Result<Label> label = DecodeLabel(body);
  std::lock_guard lock(sink_mu_);
  if (!label.ok() || sink_ == nullptr) {
    bad_labels_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  labels_.fetch_add(1, std::memory_order_relaxed);
  sink_->OnLabel(std::move(*label));
}

NatsPlanQueue::Counters NatsPlanQueue::counters() const {
  Counters c;
  c.published = published_.load(std::memory_order_relaxed);
  c.publish_errors = publish_errors_.load(std::memory_order_relaxed);
  c.labels = labels_.load(std::memory_order_relaxed);
  c.bad_labels = bad_labels_.load(std::memory_order_relaxed);
  c.dropped = dropped_.load(std::memory_order_relaxed);
  return c;
}

}  // namespace apprentice
