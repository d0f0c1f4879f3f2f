// What `apprentice report` draws from a run directory (runtime/run_store.h): its settings
// (run.json), summary (summary.json), metrics over time (metrics.jsonl) and episode log, reduced
// to series of at most `max_points` points each, as JSON (docs/report.md lists the keys).
//
//   run.json ──────────┐
//   summary.json ──────┼──▶ LoadRunReport ──▶ {"name", "run", "summary", "metrics", "log",
//   metrics.jsonl ─────┤                        "histograms", "problems"} ──▶ the HTML report
//   logs/*.alog ───────┘   (streamed: one record in memory at a time)
//
// Nothing is fatal but a directory that holds none of these files: a missing file, a metrics line
// that is not JSON, a damaged stretch of the log are left out, counted and named in "problems",
// and everything intact is used.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "core/json.h"
#include "core/status.h"

namespace apprentice {

struct RunReportOptions {
  int64_t max_points = 1'000;       // per series; longer ones are thinned evenly (last point kept)
  int64_t agreement_window = 200;   // labelled decisions in the log's rolling agreement
  Status Validate() const;
};

// Progress while the log is read: records so far.
using RunReportProgress = std::function<void(int64_t records)>;

// NotFound when `run_dir` does not exist; InvalidArgument when it is not a run directory (none
// of run.json, summary.json, metrics.jsonl, logs/).
Result<Json> LoadRunReport(const std::string& run_dir, const RunReportOptions& options = {},
                           const RunReportProgress& progress = nullptr);

// Evenly spaced indices into a series of `size` points, at most `max_points` of them, the first
// and the last included, in order.
std::vector<int64_t> ThinIndices(int64_t size, int64_t max_points);

}  // namespace apprentice
