#include "runtime/run_store.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <filesystem>

#include "core/atomic_file.h"

namespace apprentice {
namespace fs = std::filesystem;

std::string RunLogDir(const std::string& run_dir) { return run_dir + "/logs"; }
std::string RunSnapshotPath(const std::string& run_dir) { return run_dir + "/executor.snap"; }
std::string RunCheckpointPath(const std::string& run_dir) { return run_dir + "/distiller.ckpt"; }
std::string RunMetricsPath(const std::string& run_dir) { return run_dir + "/metrics.jsonl"; }
std::string RunSummaryPath(const std::string& run_dir) { return run_dir + "/summary.json"; }
std::string RunInfoPath(const std::string& run_dir) { return run_dir + "/run.json"; }

std::string ResolveLogPath(const std::string& path) {
  std::error_code ec;
  if (!fs::is_directory(path, ec) || !fs::is_directory(RunLogDir(path), ec)) return path;
  for (fs::directory_iterator it(path, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.starts_with("segment-") && name.ends_with(".alog")) return path;
  }
  return RunLogDir(path);
}

// ---------------------------------------------------------------------------------------------
// Identity
// ---------------------------------------------------------------------------------------------

namespace {

constexpr int64_t kRunInfoVersion = 1;

std::string JoinWidths(const std::vector<int64_t>& widths) {
  std::string s;
  for (int64_t w : widths) s += (s.empty() ? "" : ",") + std::to_string(w);
  return s;
}

Json ValuesJson(const OptionValues& values) { return values.ToJson(); }

OptionValues ValuesFrom(const Json* json) {
  OptionValues values;
  if (json == nullptr) return values;
  for (const auto& [k, v] : json->AsObject()) values.Set(k, v.AsString());
  return values;
}

}  // namespace

Json RunIdentity::ToJson() const {
  Json::Array widths;
  for (int64_t w : hidden) widths.emplace_back(w);
  return Json{{"format", kRunInfoVersion},
              {"env", env},
              {"env_options", ValuesJson(env_options)},
              {"planner", planner},
              {"planner_options", ValuesJson(planner_options)},
              {"observation_space", observation_space},
              {"action_space", action_space},
              {"hidden", std::move(widths)}};
}

Result<RunIdentity> RunIdentity::FromJson(const Json& json) {
  if (!json.is_object() || json.Find("env") == nullptr || !json.Find("env")->is_string()) {
    return Status::InvalidArgument("not a run description (no \"env\")");
  }
  if (const Json* format = json.Find("format"); format != nullptr &&
                                                format->AsInt(0) > kRunInfoVersion) {
    return Status::InvalidArgument("run description format " +
                                   std::to_string(format->AsInt(0)) + " is newer than this build's " +
                                   std::to_string(kRunInfoVersion));
  }
  RunIdentity id;
  id.env = json.Find("env")->AsString();
  id.env_options = ValuesFrom(json.Find("env_options"));
  if (const Json* p = json.Find("planner")) id.planner = p->AsString();
  id.planner_options = ValuesFrom(json.Find("planner_options"));
  if (const Json* o = json.Find("observation_space")) id.observation_space = o->AsString();
  if (const Json* a = json.Find("action_space")) id.action_space = a->AsString();
  if (const Json* h = json.Find("hidden")) {
    for (const Json& w : h->AsArray()) id.hidden.push_back(w.AsInt(-1));
  }
  return id;
}

std::string RunIdentity::Describe() const {
  std::string s = "env " + env;
  if (!env_options.empty()) s += " (" + env_options.ToString() + ")";
  if (!planner.empty()) s += ", planner " + planner;
  if (!observation_space.empty()) s += ", " + observation_space + " -> " + action_space;
  if (!hidden.empty()) s += ", hidden " + JoinWidths(hidden);
  return s;
}

// ---------------------------------------------------------------------------------------------
// RunDirectory
// ---------------------------------------------------------------------------------------------

Result<RunDirectory> RunDirectory::Open(const std::string& path) {
  std::error_code ec;
  fs::create_directories(path, ec);
  if (ec) return Status::Unavailable("cannot create " + path + ": " + ec.message());
  const std::string lock_path = path + "/lock";
  const int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    return Status::Unavailable("cannot open " + lock_path + ": " + std::strerror(errno));
  }
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int error = errno;
    char pid[32] = {};
    const ssize_t n = ::pread(fd, pid, sizeof pid - 1, 0);
    ::close(fd);
    if (error == EWOULDBLOCK) {
      std::string holder = n > 0 ? std::string(pid, static_cast<size_t>(n)) : "";
      while (!holder.empty() && (holder.back() == '\n' || holder.back() == ' ')) holder.pop_back();
      return Status::Unavailable(path + " is in use by another apprentice run" +
                                 (holder.empty() ? "" : " (pid " + holder + ")") +
                                 ": wait for it to end, or choose another --run-dir");
    }
    return Status::Unavailable("cannot lock " + lock_path + ": " + std::strerror(error));
  }
  const std::string me = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, me.data(), me.size(), 0) < 0) {
    // The pid is only a courtesy for the message above; the lock holds without it.
  }
  return RunDirectory(path, fd);
}

RunDirectory::RunDirectory(RunDirectory&& other) noexcept
    : path_(std::move(other.path_)), fd_(std::exchange(other.fd_, -1)) {}

RunDirectory& RunDirectory::operator=(RunDirectory&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    path_ = std::move(other.path_);
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

RunDirectory::~RunDirectory() {
  if (fd_ >= 0) ::close(fd_);  // releases the flock
}

Status RunDirectory::WriteIdentity(const RunIdentity& identity) const {
  return WriteFileAtomically(RunInfoPath(path_), identity.ToJson().Dump(2) + "\n");
}

Status RunDirectory::CheckResumable(const RunIdentity& want) const {
  std::error_code ec;
  if (!fs::is_directory(RunLogDir(path_), ec)) {
    return Status::NotFound(path_ + " has no logs/ to continue from");
  }
  auto refuse = [&](const RunIdentity& had) {
    return Status::InvalidArgument(path_ + " was made for " + had.Describe() +
                                   "; this run asks for " + want.Describe() +
                                   ": resume with the same env, planner and student, or start a "
                                   "new --run-dir");
  };
  Result<std::vector<uint8_t>> bytes = ReadFileBytes(RunInfoPath(path_), 1 << 20);
  if (bytes.ok()) {
    Result<Json> json = Json::Parse(
        std::string_view(reinterpret_cast<const char*>(bytes->data()), bytes->size()));
    if (!json.ok()) {
      return Status::InvalidArgument(RunInfoPath(path_) + ": " + json.status().message());
    }
    Result<RunIdentity> had = RunIdentity::FromJson(*json);
    if (!had.ok()) return Status::InvalidArgument(RunInfoPath(path_) + ": " + had.status().message());
    if (had->env != want.env || !(had->env_options == want.env_options) ||
        had->planner != want.planner || had->observation_space != want.observation_space ||
        had->action_space != want.action_space || had->hidden != want.hidden) {
      return refuse(*had);
    }
    return Status::Ok();
  }
  if (bytes.status().code() != StatusCode::kNotFound) return bytes.status();
  // A directory from before run.json: its log headers name the env and the spaces.
  Result<EpisodeLogReader> reader = EpisodeLogReader::Open(RunLogDir(path_));
  if (!reader.ok()) return reader.status();
  DecisionRecord record;
  while (reader->segments().empty() || !reader->segments().back().header_ok) {
    Result<bool> more = reader->Next(record);
    if (!more.ok()) return more.status();
    if (!*more) break;
  }
  for (const EpisodeLogSegment& segment : reader->segments()) {
    if (!segment.header_ok) continue;
    RunIdentity had;
    had.env = segment.metadata.env;
    had.observation_space = segment.metadata.observation_space;
    had.action_space = segment.metadata.action_space;
    if (had.env != want.env || had.observation_space != want.observation_space ||
        had.action_space != want.action_space) {
      return refuse(had);
    }
    break;
  }
  return Status::Ok();
}

// ---------------------------------------------------------------------------------------------

EpisodeLogMetadata RunLogMetadata(const std::string& env, const Space& observation_space,
                                  const Space& action_space, const std::string& run) {
  return {env, observation_space.ToString(), action_space.ToString(), run};
}

Result<ResumeState> LoadResumeState(const std::string& run_dir, int64_t capacity) {
  const std::string logs = RunLogDir(run_dir);
  std::error_code ec;
  if (!fs::is_directory(logs, ec)) {
    return Status::NotFound("--resume: " + run_dir + " has no logs/ directory to resume from");
  }
  Result<EpisodeLogReader> reader = EpisodeLogReader::Open(logs);
  if (!reader.ok()) return reader.status();
  ResumeState state;
  std::deque<std::shared_ptr<const DecisionRecord>> newest;  // at most `capacity`
  DecisionRecord record;
  for (;;) {
    Result<bool> more = reader->Next(record);
    if (!more.ok()) return more.status();
    if (!*more) break;
    ++state.records;
    state.next_episode = std::max(state.next_episode, record.episode + 1);
    state.next_decision_id = std::max(state.next_decision_id, record.decision_id + 1);
    if (Trainable(record) && capacity > 0) {
      if (static_cast<int64_t>(newest.size()) == capacity) newest.pop_front();
      newest.push_back(std::make_shared<const DecisionRecord>(std::move(record)));
      record = DecisionRecord();
    }
  }
  state.labelled.assign(newest.begin(), newest.end());
  // Logs written before records carried ids hold zeros: continue past their count instead.
  state.next_decision_id =
      std::max(state.next_decision_id, static_cast<uint64_t>(state.records) + 1);
  state.damaged = static_cast<int64_t>(reader->damage().size());
  state.has_checkpoint = std::filesystem::exists(RunCheckpointPath(run_dir), ec);
  return state;
}

}  // namespace apprentice
