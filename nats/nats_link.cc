#include "nats/nats_link.h"

#include <nats/nats.h>

#include <algorithm>
#include <cctype>

namespace apprentice {

struct NatsLink::Handles {
  natsConnection* nc = nullptr;
  jsCtx* js = nullptr;
  ~Handles() {
    if (js != nullptr) jsCtx_Destroy(js);
    if (nc != nullptr) {
      natsConnection_Close(nc);
      natsConnection_Destroy(nc);
    }
  }
};

Status NatsError(const std::string& what, int status) {
  const auto s = static_cast<natsStatus>(status);
  std::string text = natsStatus_GetText(s);
  natsStatus last = NATS_OK;
  const char* detail = nats_GetLastError(&last);
  if (detail != nullptr && *detail != '\0' && last == s) text += std::string(": ") + detail;
  return Status::Unavailable(what + ": " + text);
}

Result<NatsRunNames> NatsRunNames::For(std::string_view run) {
  const bool ok = !run.empty() && run.size() <= 64 &&
                  std::all_of(run.begin(), run.end(), [](char c) {
                    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
                  });
  if (!ok) {
    return Status::InvalidArgument("run name '" + std::string(run) +
                                   "': 1 to 64 letters, digits, '-' or '_'");
  }
  NatsRunNames n;
  const std::string r(run);
  n.plan_subject = "apprentice." + r + ".plan";
  n.label_subject = "apprentice." + r + ".label";
  std::string upper = r;
  std::replace(upper.begin(), upper.end(), '-', '_');
  n.plan_stream = "APPRENTICE_" + upper + "_PLAN";
  n.label_stream = "APPRENTICE_" + upper + "_LABEL";
  n.dropped_advisory =
      "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES." + n.plan_stream + "." + n.consumer;
  return n;
}

Result<std::unique_ptr<NatsLink>> NatsLink::Connect(const std::string& url,
                                                    const std::string& name,
                                                    int64_t timeout_ms) {
  auto link = std::unique_ptr<NatsLink>(new NatsLink());
  link->url_ = url;
  link->handles_ = std::make_unique<Handles>();
  natsOptions* opts = nullptr;
  natsStatus s = natsOptions_Create(&opts);
  if (s == NATS_OK) s = natsOptions_SetURL(opts, url.c_str());
  if (s == NATS_OK) s = natsOptions_SetName(opts, name.c_str());
  if (s == NATS_OK) s = natsOptions_SetTimeout(opts, timeout_ms);
  // Reconnect for ever (a server of a cluster that restarts); publishes are buffered meanwhile.
  if (s == NATS_OK) s = natsOptions_SetMaxReconnect(opts, -1);
  if (s == NATS_OK) s = natsOptions_SetReconnectWait(opts, 250);
  if (s == NATS_OK) s = natsConnection_Connect(&link->handles_->nc, opts);
  natsOptions_Destroy(opts);
  if (s != NATS_OK) return NatsError("cannot connect to NATS at " + url, s);
  jsOptions jo;
  jsOptions_Init(&jo);
  jo.Wait = timeout_ms;
  s = natsConnection_JetStream(&link->handles_->js, link->handles_->nc, &jo);
  if (s != NATS_OK) return NatsError("NATS at " + url + ": no JetStream context", s);
  return link;
}

NatsLink::~NatsLink() = default;

void* NatsLink::connection() const { return handles_->nc; }
void* NatsLink::jetstream() const { return handles_->js; }

Status NatsLink::EnsureStreams(const NatsRunNames& names, int64_t queue,
                               int64_t max_request_bytes) {
  struct Spec {
    const std::string* stream;
    const std::string* subject;
    bool work_queue;
  };
  for (const Spec& spec : {Spec{&names.plan_stream, &names.plan_subject, true},
                           Spec{&names.label_stream, &names.label_subject, false}}) {
    jsStreamConfig cfg;
    jsStreamConfig_Init(&cfg);
    cfg.Name = spec.stream->c_str();
    const char* subjects[1] = {spec.subject->c_str()};
    cfg.Subjects = subjects;
    cfg.SubjectsLen = 1;
    if (spec.work_queue) {
      // A request is removed once a worker acknowledges it; beyond `queue` waiting requests the
      // oldest is discarded (the in-process queue's drop-oldest policy).
      cfg.Retention = js_WorkQueuePolicy;
      cfg.MaxMsgs = queue;
      cfg.Discard = js_DiscardOld;
      cfg.MaxMsgSize = static_cast<int32_t>(max_request_bytes);
    } else {
      cfg.Retention = js_LimitsPolicy;
      cfg.Discard = js_DiscardOld;
    }
    cfg.Storage = js_FileStorage;
    jsStreamInfo* info = nullptr;
    jsErrCode code = static_cast<jsErrCode>(0);
    natsStatus s = js_AddStream(&info, static_cast<jsCtx*>(jetstream()), &cfg, nullptr, &code);
    if (info != nullptr) jsStreamInfo_Destroy(info);
    // Made by another process already (same name, same subjects): fine.
    if (s != NATS_OK && code == JSStreamNameExistErr) s = NATS_OK;
    if (s != NATS_OK) return NatsError("NATS: cannot create stream " + *spec.stream, s);
  }
  return Status::Ok();
}

}  // namespace apprentice
