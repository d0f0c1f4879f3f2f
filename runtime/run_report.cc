#include "runtime/run_report.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>

#include "agent/records.h"
#include "core/agreement.h"
#include "core/atomic_file.h"
#include "core/latency_histogram.h"
#include "core/space.h"
#include "replay/episode_log.h"
#include "runtime/run_store.h"

namespace apprentice {
namespace {

constexpr uint64_t kMaxJsonFile = uint64_t{64} << 20;

// A series of (x, y) points: {"x": [...], "y": [...]}, thinned to max_points.
struct Series {
  std::vector<double> x, y;
  void Add(double at, double value) {
    x.push_back(at);
    y.push_back(value);
  }
  Json ToJson(int64_t max_points) const {
    Json::Array xs, ys;
    for (int64_t i : ThinIndices(static_cast<int64_t>(x.size()), max_points)) {
      xs.push_back(x[static_cast<size_t>(i)]);
      ys.push_back(y[static_cast<size_t>(i)]);
    }
    return Json::Object{{"x", std::move(xs)}, {"y", std::move(ys)}};
  }
};

// A JSON file of the run directory: null when it does not exist, a problem when it does not read.
Json ReadJsonFile(const std::string& path, const char* what, Json::Array& problems) {
  Result<std::vector<uint8_t>> bytes = ReadFileBytes(path, kMaxJsonFile);
  if (!bytes.ok()) {
    if (bytes.status().code() != StatusCode::kNotFound) {
      problems.push_back(std::string(what) + ": " + bytes.status().message());
    }
    return Json();
  }
  Result<Json> parsed =
      Json::Parse(std::string_view(reinterpret_cast<const char*>(bytes->data()), bytes->size()));
  if (!parsed.ok()) {
    problems.push_back(std::string(what) + " is not JSON: " + parsed.status().message());
    return Json();
  }
  return std::move(parsed).value();
}

// The number at `path` (keys into nested objects), or NaN when absent.
double Number(const Json& json, std::initializer_list<const char*> path) {
  const Json* at = &json;
  for (const char* key : path) {
    at = at->Find(key);
    if (at == nullptr) return std::nan("");
  }
  return at->is_number() ? at->AsNumber() : std::nan("");
}

// metrics.jsonl: one series per plotted key, against the step each line was written at.
Json ReadMetrics(const std::string& path, int64_t max_points, Json::Array& problems) {
  std::ifstream in(path);
  if (!in) return Json();
  struct Key {
    const char* series;
    const char* key;
    const char* member;  // within the key's object; null for a number
  };
  static constexpr Key kKeys[] = {
      {"agreement", "agreement", nullptr},
      {"mean_kl", "mean_kl", nullptr},
      {"loss", "last_loss", nullptr},
      {"labels", "labels", nullptr},
      {"train_steps", "train_steps", nullptr},
      {"executor_version", "executor_version", nullptr},
      {"recent_return", "recent_return", nullptr},
      {"queue_depth", "queue_depth", nullptr},
      {"planner_drops", "planner_drops", nullptr},
      {"deadline_misses", "deadline_misses", nullptr},
      {"act_p50_us", "act_latency_us", "p50"},
      {"act_p99_us", "act_latency_us", "p99"},
      {"planner_p99_us", "planner_latency_us", "p99"},
      {"train_p99_us", "train_latency_us", "p99"},
      {"t", "t", nullptr},
  };
  std::map<std::string, Series> series;
  std::string line;
  int64_t lines = 0, bad = 0, number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (line.empty()) continue;
    Result<Json> parsed = Json::Parse(line);
    const double step = parsed.ok() ? Number(*parsed, {"steps"}) : std::nan("");
    if (!parsed.ok() || !std::isfinite(step)) {
      if (++bad <= 3) {
        problems.push_back("metrics.jsonl line " + std::to_string(number) + ": " +
                           (parsed.ok() ? std::string("no \"steps\"") : parsed.status().message()));
      }
      continue;
    }
    ++lines;
    for (const Key& k : kKeys) {
      const double v =
          k.member != nullptr ? Number(*parsed, {k.key, k.member}) : Number(*parsed, {k.key});
      if (std::isfinite(v)) series[k.series].Add(step, v);
    }
  }
  if (bad > 3) problems.push_back(std::to_string(bad) + " metrics.jsonl lines could not be read");
  Json out = Json::Object{{"lines", lines}, {"bad_lines", bad}};
  for (const auto& [name, s] : series) out.Set(name, s.ToJson(max_points));
  return out;
}

Json HistogramJson(const LatencyHistogram& h) {
  return h.count() > 0 ? LatencyBinsJson(h) : Json();
}

}  // namespace

Status RunReportOptions::Validate() const {
  if (max_points < 2 || max_points > 1'000'000) {
    return Status::InvalidArgument("max_points must be in [2, 1000000]");
  }
  if (agreement_window < 1) return Status::InvalidArgument("agreement_window must be >= 1");
  return Status::Ok();
}

std::vector<int64_t> ThinIndices(int64_t size, int64_t max_points) {
  std::vector<int64_t> out;
  if (size <= 0) return out;
  if (size <= max_points || max_points < 2) {
    for (int64_t i = 0; i < size; ++i) out.push_back(i);
    return out;
  }
  for (int64_t k = 0; k < max_points; ++k) {
    // k (size - 1) / (max_points - 1), exact in int64 for sizes below 9e12 (max_points <= 1e6).
    out.push_back(k * (size - 1) / (max_points - 1));
  }
  return out;
}

Result<Json> LoadRunReport(const std::string& run_dir, const RunReportOptions& options,
                           const RunReportProgress& progress) {
  if (Status s = options.Validate(); !s.ok()) return s;
  std::error_code error;
  if (!std::filesystem::exists(run_dir, error)) {
    return Status::NotFound("run directory " + run_dir + " does not exist");
  }
  const std::string log_dir = RunLogDir(run_dir);
  const bool has_log = std::filesystem::is_directory(log_dir, error);
  if (!std::filesystem::is_directory(run_dir, error) ||
      (!std::filesystem::exists(RunInfoPath(run_dir), error) &&
       !std::filesystem::exists(RunSummaryPath(run_dir), error) &&
       !std::filesystem::exists(RunMetricsPath(run_dir), error) && !has_log)) {
    return Status::InvalidArgument(
        run_dir + " is not a run directory (none of run.json, summary.json, metrics.jsonl, logs/)");
  }
  Json::Array problems;
  std::string name = std::filesystem::path(run_dir).lexically_normal().filename().string();
  if (name.empty() || name == ".") {
    name = std::filesystem::path(run_dir).lexically_normal().parent_path().filename().string();
  }
  Json out = Json::Object{{"name", name}, {"dir", run_dir}};
  out.Set("run", ReadJsonFile(RunInfoPath(run_dir), "run.json", problems));
  const Json summary = ReadJsonFile(RunSummaryPath(run_dir), "summary.json", problems);
  out.Set("summary", summary);
  out.Set("metrics", ReadMetrics(RunMetricsPath(run_dir), options.max_points, problems));

  // The log, streamed: episode returns by who acted, the rolling agreement, executor versions,
  // and the act and planner latencies of every decision.
  LatencyHistogram act_latency, planner_latency;
  Json log;
  if (has_log) {
    Result<EpisodeLogReader> reader = EpisodeLogReader::Open(log_dir);
    if (!reader.ok()) {
      problems.push_back("logs/: " + reader.status().message());
    } else {
      struct Running {
        double sum = 0.0;
        int64_t steps = 0, by_planner = 0;
      };
      std::map<int64_t, Running> open_episodes;
      Series executor_returns, planner_returns, agreement, versions;
      std::optional<Space> action_space;
      bool space_known = false;
      AgreementWindow window(options.agreement_window);
      DecisionRecord record;
      int64_t records = 0, labelled = 0;
      int64_t last_version = -1;
      while (true) {
        Result<bool> next = reader->Next(record);
        if (!next.ok()) {
          problems.push_back("logs/: " + next.status().message());
          break;
        }
        if (!*next) break;
        const auto x = static_cast<double>(records);
        ++records;
        if (progress && records % 100'000 == 0) progress(records);
        if (!space_known) {
          space_known = true;
          for (const EpisodeLogSegment& seg : reader->segments()) {
            if (!seg.header_ok) continue;
            Result<Space> parsed = Space::Parse(seg.metadata.action_space);
            if (parsed.ok()) action_space = std::move(parsed).value();
            break;
          }
        }
        act_latency.Record(record.executor_latency_ns);
        if (record.has_label) {
          ++labelled;
          planner_latency.Record(record.planner_latency_ns);
          if (action_space) {
            PushAgreement(*action_space, record, window);
            agreement.Add(x, window.rate());
          }
        }
        if (record.executor_version != last_version) {
          // Only the changes (and the last record below): a step plot of the versions.
          versions.Add(x, static_cast<double>(record.executor_version));
          last_version = record.executor_version;
        }
        Running& ep = open_episodes[record.episode];
        ep.sum += record.reward;
        ++ep.steps;
        ep.by_planner += record.acted_by == Actor::kPlanner;
        if (record.terminated || record.truncated) {
          (2 * ep.by_planner > ep.steps ? planner_returns : executor_returns).Add(x, ep.sum);
          open_episodes.erase(record.episode);
        }
      }
      if (records > 0) versions.Add(static_cast<double>(records - 1), static_cast<double>(last_version));
      if (progress) progress(records);
      for (const EpisodeLogDamage& d : reader->damage()) {
        if (problems.size() < 20) {
          problems.push_back("logs/: " + d.file + " damaged at byte " + std::to_string(d.offset) +
                             " (" + std::to_string(d.bytes) + " bytes skipped): " + d.reason);
        }
      }
      log = Json::Object{
          {"records", records},
          {"labelled", labelled},
          {"damaged_stretches", static_cast<int64_t>(reader->damage().size())},
          {"executor_episode_returns", executor_returns.ToJson(options.max_points)},
          {"planner_episode_returns", planner_returns.ToJson(options.max_points)},
          {"agreement", agreement.ToJson(options.max_points)},
          {"executor_version", versions.ToJson(options.max_points)},
      };
    }
  }
  out.Set("log", std::move(log));

  // Latency histograms: the summary's (the whole act, and training), else the log's.
  const Json* from_summary = summary.Find("latency_histograms");
  auto histogram = [&](const char* key, const LatencyHistogram& fallback) {
    const Json* h = from_summary != nullptr ? from_summary->Find(key) : nullptr;
    if (h != nullptr && h->Find("count") != nullptr && !h->Find("count")->AsArray().empty()) {
      return *h;
    }
    return HistogramJson(fallback);
  };
  out.Set("histograms", Json::Object{{"act", histogram("act", act_latency)},
                                     {"planner", histogram("planner", planner_latency)},
                                     {"train", histogram("train", LatencyHistogram())}});
  out.Set("problems", std::move(problems));
  return out;
}

}  // namespace apprentice
