#include "nats/planner_worker.h"

#include <nats/nats.h>

#include <chrono>
#include <memory>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "agent/plan_queue.h"
#include "core/clock.h"
#include "nats/nats_link.h"
#include "nats/wire.h"

namespace apprentice {

Status PlannerWorkerOptions::Validate() const {
  if (url.empty()) return Status::InvalidArgument("the NATS URL is empty");
  if (ack_wait_ms < 100) return Status::InvalidArgument("ack_wait_ms must be at least 100");
  if (max_deliver < 1) return Status::InvalidArgument("max_deliver must be at least 1");
  if (queue < 1) return Status::InvalidArgument("queue must be at least 1");
  if (max_requests < 0 || idle_exit_ms < 0) {
    return Status::InvalidArgument("max_requests and idle_exit_ms must not be negative");
  }
  if (Result<NatsRunNames> n = NatsRunNames::For(run); !n.ok()) return n.status();
  if (replicas < 1 || replicas > 5) return Status::InvalidArgument("replicas: 1 to 5");
  return security.Validate();
}

Json PlannerWorkerStats::ToJson() const {
  return Json{{"requests", requests}, {"labels", labels},     {"redelivered", redelivered},
              {"failed", failed},     {"refused", refused},   {"errors", errors},
              {"seconds", seconds},   {"last_error", last_error}};
}

std::string EnvKey(const std::string& env_name, const std::string& resolved_options) {
  return resolved_options.empty() ? env_name : env_name + " " + resolved_options;
}

namespace {

constexpr int64_t kStartupWaitNs = 30'000'000'000;

struct Subscription {
  natsSubscription* sub = nullptr;
  ~Subscription() {
    if (sub != nullptr) natsSubscription_Destroy(sub);
  }
};

struct MessageList {
  natsMsgList list{};
  ~MessageList() { natsMsgList_Destroy(&list); }
};

}  // namespace

Status RunPlannerWorker(const PlannerWorkerOptions& options, Planner& planner, Env& env,
                        const std::string& env_key, StopFlag& stop, PlannerWorkerStats& stats,
                        const std::function<void(const PlannerWorkerStats&)>& progress) {
  if (Status s = options.Validate(); !s.ok()) return s;
  if (Status s = planner.CanTeach(env); !s.ok()) return s;
  const NatsRunNames names = NatsRunNames::For(options.run).value();
  Result<std::unique_ptr<NatsLink>> link =
      NatsLink::Connect(options.url, "apprentice-" + options.name, options.security);
  if (!link.ok()) return link.status();
  auto* js = static_cast<jsCtx*>((*link)->jetstream());

  // The run's durable pull consumer: explicit acks, redelivery after ack_wait, at most
  // max_deliver deliveries. Every worker binds to the same one. A worker that joins while the
  // cluster elects a leader for the stream or the consumer (a server died) waits for it, at most
  // kStartupWaitNs.
  jsSubOptions so;
  jsSubOptions_Init(&so);
  so.Stream = names.plan_stream.c_str();
  so.Config.AckPolicy = js_AckExplicit;
  so.Config.AckWait = options.ack_wait_ms * 1'000'000;
  so.Config.MaxDeliver = options.max_deliver;
  Subscription subscription;
  jsErrCode code = static_cast<jsErrCode>(0);
  const int64_t give_up_ns = NowNs() + kStartupWaitNs;
  while (true) {
    Status ready = (*link)->EnsureStreams(names, options.queue, 1 << 20, options.replicas);
    if (ready.ok()) {
      const natsStatus ns = js_PullSubscribe(&subscription.sub, js, names.plan_subject.c_str(),
                                             names.consumer.c_str(), nullptr, &so, &code);
      if (ns != NATS_OK) ready = NatsError("NATS: cannot consume " + names.plan_stream, ns);
    }
    if (ready.ok()) break;
    if (stop.requested() || NowNs() >= give_up_ns) return ready;
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  natsStatus ns = NATS_OK;

  const bool simulates = planner.needs_env();
  const Stopwatch clock;
  int64_t last_request_ns = NowNs(), last_progress_ns = 0;
  while (!stop.requested()) {
    if (options.max_requests > 0 && stats.requests >= options.max_requests) break;
    if (options.idle_exit_ms > 0 && NowNs() - last_request_ns > options.idle_exit_ms * 1'000'000) {
      break;
    }
    if (progress && NowNs() - last_progress_ns >= 1'000'000'000) {
      last_progress_ns = NowNs();
      stats.seconds = clock.ElapsedSeconds();
      progress(stats);
    }
    MessageList batch;
    ns = natsSubscription_Fetch(&batch.list, subscription.sub, 1, 250, &code);
    if (ns == NATS_TIMEOUT) continue;
    if (ns != NATS_OK) {
      ++stats.errors;
      stats.last_error = NatsError("fetch", ns).message();
      std::this_thread::sleep_for(std::chrono::milliseconds(100));  // the client reconnects
      continue;
    }
    for (int i = 0; i < batch.list.Count; ++i) {
      natsMsg* msg = batch.list.Msgs[i];
      last_request_ns = NowNs();
      ++stats.requests;
      jsMsgMetaData* meta = nullptr;
      if (natsMsg_GetMetaData(&meta, msg) == NATS_OK) {
        if (meta->NumDelivered > 1) ++stats.redelivered;
        jsMsgMetaData_Destroy(meta);
      }
      Result<WireRequest> request = DecodeRequest(
          std::string_view(natsMsg_GetData(msg), static_cast<size_t>(natsMsg_GetDataLength(msg))));
      if (!request.ok() || request->env != env_key) {
        // Never planned: acknowledged so that it is not redelivered for ever.
        ++stats.refused;
        stats.last_error = !request.ok() ? request.status().message()
                                         : "a request for env '" + request->env +
                                               "', this worker plans on '" + env_key + "'";
        (void)natsMsg_Ack(msg, nullptr);
        continue;
      }
      Label label;
      label.decision_id = request->decision_id;
      label.episode = request->episode;
      label.step = request->step;
      label.executor_action = request->executor_action;
      label.urgent = request->urgent;
      label.observation = std::move(request->observation);
      PlanRequest plan;
      plan.observation = label.observation;
      plan.seed = request->seed;
      plan.episode = request->episode;
      plan.step = request->step;
      plan.decision_id = request->decision_id;
      plan.deadline_ns = request->budget_ms > 0 ? NowNs() + request->budget_ms * 1'000'000 : 0;
      Status loaded = Status::Ok();
      if (simulates) {
        loaded = request->state.empty()
                     ? Status::InvalidArgument("the request carries no env state")
                     : env.LoadState(request->state);
        plan.env = &env;
      }
      if (loaded.ok()) {
        try {
          Result<PlanDecision> decision = planner.Plan(plan);
          if (decision.ok()) {
            label.decision = std::move(*decision);
          } else {
            label.status = decision.status();
          }
        } catch (const std::exception& e) {
          label.status = Status::Internal(std::string("planner threw: ") + e.what());
        }
      } else {
        label.status = loaded;
      }
      if (!label.status.ok()) {
        ++stats.failed;
        stats.last_error = label.status.message();
      }
      const std::string body = EncodeLabel(label, options.name);
      jsPubAck* ack = nullptr;
      ns = js_Publish(&ack, js, names.label_subject.c_str(), body.data(),
                      static_cast<int>(body.size()), nullptr, &code);
      if (ack != nullptr) jsPubAck_Destroy(ack);
      if (ns != NATS_OK) {
        // Not stored: leave the request unacknowledged, so that it comes again.
        ++stats.errors;
        stats.last_error = NatsError("publishing a label", ns).message();
        continue;
      }
      (void)natsMsg_Ack(msg, nullptr);
      ++stats.labels;
    }
  }
  stats.seconds = clock.ElapsedSeconds();
  if (progress) progress(stats);
  return Status::Ok();
}

}  // namespace apprentice
