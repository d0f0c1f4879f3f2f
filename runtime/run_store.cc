#include "runtime/run_store.h"

#include <algorithm>
#include <filesystem>

namespace apprentice {

std::string RunLogDir(const std::string& run_dir) { return run_dir + "/logs"; }
std::string RunSnapshotPath(const std::string& run_dir) { return run_dir + "/executor.snap"; }
std::string RunCheckpointPath(const std::string& run_dir) { return run_dir + "/distiller.ckpt"; }

std::string ResolveLogPath(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(path, ec) || !fs::is_directory(RunLogDir(path), ec)) return path;
  for (fs::directory_iterator it(path, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.starts_with("segment-") && name.ends_with(".alog")) return path;
  }
  return RunLogDir(path);
}

EpisodeLogMetadata RunLogMetadata(const std::string& env, const Space& observation_space,
                                  const Space& action_space, const std::string& run) {
  return {env, observation_space.ToString(), action_space.ToString(), run};
}

Result<ResumeState> LoadResumeState(const std::string& run_dir, int64_t capacity) {
  const std::string logs = RunLogDir(run_dir);
  std::error_code ec;
  if (!std::filesystem::is_directory(logs, ec)) {
    return Status::NotFound("--resume: " + run_dir + " has no logs/ directory to resume from");
  }
  Result<EpisodeLogReader> reader = EpisodeLogReader::Open(logs);
  if (!reader.ok()) return reader.status();
  ResumeState state;
  DecisionRecord record;
  for (;;) {
    Result<bool> more = reader->Next(record);
    if (!more.ok()) return more.status();
    if (!*more) break;
    ++state.records;
    state.next_episode = std::max(state.next_episode, record.episode + 1);
    if (record.has_label) {
      state.labelled.push_back(std::make_shared<const DecisionRecord>(std::move(record)));
      record = DecisionRecord();
    }
  }
  if (static_cast<int64_t>(state.labelled.size()) > capacity) {
    state.labelled.erase(state.labelled.begin(),
                         state.labelled.end() - static_cast<std::ptrdiff_t>(capacity));
  }
  state.damaged = static_cast<int64_t>(reader->damage().size());
  state.has_checkpoint = std::filesystem::exists(RunCheckpointPath(run_dir), ec);
  return state;
}

}  // namespace apprentice
