#include "nats/nats_link.h"

#include <nats/nats.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <sstream>
#include <vector>

#include "core/options.h"

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
  n.record_subject = "apprentice." + r + ".record";
  std::string upper = r;
  std::replace(upper.begin(), upper.end(), '-', '_');
  n.plan_stream = "APPRENTICE_" + upper + "_PLAN";
  n.label_stream = "APPRENTICE_" + upper + "_LABEL";
  n.record_stream = "APPRENTICE_" + upper + "_RECORD";
  n.weights_bucket = "APPRENTICE_" + upper + "_WEIGHTS";
  n.dropped_advisory =
      "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES." + n.plan_stream + "." + n.consumer;
  return n;
}

namespace {

bool Readable(const std::string& path) { return std::ifstream(path).good(); }

// The public key (a line starting with 'U') in an nkey file; empty if there is none.
std::string NkeyPublicKey(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    const size_t start = line.find_first_not_of(" \t");
    if (start == std::string::npos || line[start] != 'U') continue;
    const size_t end = line.find_first_of(" \t\r", start);
    return line.substr(start, end == std::string::npos ? std::string::npos : end - start);
  }
  return "";
}

}  // namespace

Status NatsSecurity::Validate() const {
  if (tls_cert.empty() != tls_key.empty()) {
    return Status::InvalidArgument("tls-cert and tls-key go together: give both or neither");
  }
  const std::pair<const char*, const std::string*> files[] = {
      {"tls-ca", &tls_ca}, {"tls-cert", &tls_cert}, {"tls-key", &tls_key},
      {"nkey", &nkey_file}};
  for (const auto& [what, path] : files) {
    if (!path->empty() && !Readable(*path)) {
      return Status::InvalidArgument(std::string(what) + ": cannot read " + *path);
    }
  }
  if (!nkey_file.empty() && NkeyPublicKey(nkey_file).empty()) {
    return Status::InvalidArgument("nkey: " + nkey_file +
                                   " holds no public user key (a line starting with 'U')");
  }
  return Status::Ok();
}

Result<std::unique_ptr<NatsLink>> NatsLink::Connect(const std::string& url,
                                                    const std::string& name,
                                                    const NatsSecurity& security,
                                                    int64_t timeout_ms) {
  if (Status s = security.Validate(); !s.ok()) return s;
  auto link = std::unique_ptr<NatsLink>(new NatsLink());
  link->url_ = url;
  link->handles_ = std::make_unique<Handles>();
  natsOptions* opts = nullptr;
  natsStatus s = natsOptions_Create(&opts);
  // One URL, or several joined by commas (the servers of a cluster; the client picks one and
  // learns the others from it).
  std::vector<std::string> urls = SplitCommas(url);
  std::vector<const char*> servers;
  for (std::string& u : urls) {
    u.erase(0, u.find_first_not_of(" \t"));
    u.erase(u.find_last_not_of(" \t") + 1);
    servers.push_back(u.c_str());
  }
  if (s == NATS_OK && servers.size() > 1) {
    s = natsOptions_SetServers(opts, servers.data(), static_cast<int>(servers.size()));
  } else if (s == NATS_OK) {
    s = natsOptions_SetURL(opts, url.c_str());
  }
  if (s == NATS_OK && security.tls()) s = natsOptions_SetSecure(opts, true);
  if (s == NATS_OK && !security.tls_ca.empty()) {
    s = natsOptions_LoadCATrustedCertificates(opts, security.tls_ca.c_str());
  }
  if (s == NATS_OK && !security.tls_cert.empty()) {
    s = natsOptions_LoadCertificatesChain(opts, security.tls_cert.c_str(),
                                          security.tls_key.c_str());
  }
  if (s == NATS_OK && !security.nkey_file.empty()) {
    s = natsOptions_SetNKeyFromSeed(opts, NkeyPublicKey(security.nkey_file).c_str(),
                                    security.nkey_file.c_str());
  }
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

namespace {

// Adds a file-backed stream, or accepts the one another process made (same name). The stream's
// leader answers whether it exists; only creating one needs the cluster's metadata leader, which
// a cluster that just lost a server may still be electing: a timeout is tried again (3 times).
Status AddStream(jsCtx* js, jsStreamConfig& cfg, const std::string& subject, int64_t replicas) {
  jsStreamInfo* info = nullptr;
  jsErrCode code = static_cast<jsErrCode>(0);
  if (js_GetStreamInfo(&info, js, cfg.Name, nullptr, &code) == NATS_OK) {
    jsStreamInfo_Destroy(info);
    return Status::Ok();
  }
  cfg.Replicas = static_cast<int>(std::clamp<int64_t>(replicas, 1, 5));
  const char* subjects[1] = {subject.c_str()};
  cfg.Subjects = subjects;
  cfg.SubjectsLen = 1;
  cfg.Storage = js_FileStorage;
  natsStatus s = NATS_TIMEOUT;
  for (int attempt = 0; attempt < 3 && s == NATS_TIMEOUT; ++attempt) {
    info = nullptr;
    code = static_cast<jsErrCode>(0);
    s = js_AddStream(&info, js, &cfg, nullptr, &code);
    if (info != nullptr) jsStreamInfo_Destroy(info);
  }
  if (s != NATS_OK && code == JSStreamNameExistErr) s = NATS_OK;
  if (s != NATS_OK) return NatsError(std::string("NATS: cannot create stream ") + cfg.Name, s);
  return Status::Ok();
}

}  // namespace

Status NatsLink::EnsureStreams(const NatsRunNames& names, int64_t queue,
                               int64_t max_request_bytes, int64_t replicas) {
  auto* js = static_cast<jsCtx*>(jetstream());
  jsStreamConfig plan;
  jsStreamConfig_Init(&plan);
  plan.Name = names.plan_stream.c_str();
  // A request is removed once a worker acknowledges it; beyond `queue` waiting requests the
  // oldest is discarded (the in-process queue's drop-oldest policy).
  plan.Retention = js_WorkQueuePolicy;
  plan.MaxMsgs = queue;
  plan.Discard = js_DiscardOld;
  plan.MaxMsgSize = static_cast<int32_t>(max_request_bytes);
  if (Status s = AddStream(js, plan, names.plan_subject, replicas); !s.ok()) return s;
  jsStreamConfig label;
  jsStreamConfig_Init(&label);
  label.Name = names.label_stream.c_str();
  label.Retention = js_LimitsPolicy;
  label.Discard = js_DiscardOld;
  return AddStream(js, label, names.label_subject, replicas);
}

Status NatsLink::EnsureRecordStream(const NatsRunNames& names, int64_t max_records,
                                    int64_t max_record_bytes, int64_t replicas) {
  jsStreamConfig cfg;
  jsStreamConfig_Init(&cfg);
  cfg.Name = names.record_stream.c_str();
  cfg.Retention = js_LimitsPolicy;
  cfg.MaxMsgs = max_records;
  cfg.Discard = js_DiscardOld;
  cfg.MaxMsgSize = static_cast<int32_t>(max_record_bytes);
  return AddStream(static_cast<jsCtx*>(jetstream()), cfg, names.record_subject,
                   replicas);
}

Result<std::pair<uint64_t, uint64_t>> NatsLink::StreamRange(const std::string& stream) {
  jsStreamInfo* info = nullptr;
  jsErrCode code = static_cast<jsErrCode>(0);
  const natsStatus s = js_GetStreamInfo(&info, static_cast<jsCtx*>(jetstream()), stream.c_str(),
                                        nullptr, &code);
  if (s != NATS_OK) return NatsError("NATS: no stream " + stream, s);
  const std::pair<uint64_t, uint64_t> range{info->State.FirstSeq, info->State.LastSeq};
  jsStreamInfo_Destroy(info);
  return range;
}

}  // namespace apprentice
