// apprentice report RUN_DIR... --out report.html: one self-contained HTML page with plots of one
// or several runs (runtime/run_report.h reads them; apps/report_template.html draws them with
// Chart.js, built into the binary from Debian's libjs-chart.js).
#include <cstdio>
#include <ctime>
#include <initializer_list>
#include <utility>
#include <string>
#include <string_view>
#include <vector>

#include "apps/commands.h"
#include "apps/flag_values.h"
#include "apps/table.h"
#include "core/atomic_file.h"
#include "core/flags.h"
#include "core/json.h"
#include "runtime/run_report.h"

namespace apprentice {

// apps/CMakeLists.txt generates these from report_template.html and Chart.js.
extern const std::string_view kReportTemplate;
extern const std::string_view kChartJs;

namespace {

constexpr const char* kUsage =
    "usage: apprentice report RUN_DIR... [--out report.html] [--title TEXT] [--max-points N]\n"
    "                         [--json] [--quiet]\n"
    "\n"
    "Writes one self-contained HTML page (it opens offline: Chart.js and the data are inside)\n"
    "with plots of each run over its steps: agreement with the planner, distillation loss, labels\n"
    "and training steps, the executor's return, episode returns of executor and planner, the\n"
    "executor version, the planner queue and its drops, deadline misses, latency over time; and\n"
    "histograms of act, planner and training-step latency; the runs' summary and settings side by\n"
    "side, and any problem met reading them. Several run directories overlay in one page.\n"
    "\n"
    "A run directory is what `apprentice run` writes (--run-dir): run.json, summary.json,\n"
    "metrics.jsonl, logs/. Missing files leave their plots empty; damaged log stretches and bad\n"
    "metrics lines are skipped and listed. Prints a table of the runs (or --json). Exit 0 written,\n"
    "1 a run could not be read or the page not written, 2 bad usage.";

std::string HtmlEscape(std::string_view text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

// JSON inside <script type="application/json">: "</" would end the element; "<\/" is the same
// string to JSON.parse.
std::string ScriptSafe(const std::string& json) {
  std::string out;
  out.reserve(json.size());
  for (size_t i = 0; i < json.size(); ++i) {
    out += json[i];
    if (json[i] == '<' && i + 1 < json.size() && json[i + 1] == '/') out += '\\';
  }
  return out;
}

// The template with each marker replaced, in one pass over the template alone: the values
// (Chart.js, the runs' data) are never searched for markers.
std::string Fill(std::string_view page,
                 std::initializer_list<std::pair<std::string_view, std::string_view>> values) {
  std::string out;
  size_t from = 0;
  while (from < page.size()) {
    size_t best = std::string_view::npos;
    const std::pair<std::string_view, std::string_view>* which = nullptr;
    for (const auto& v : values) {
      const size_t at = page.find(v.first, from);
      if (at < best) {
        best = at;
        which = &v;
      }
    }
    if (which == nullptr) break;
    out.append(page.substr(from, best - from));
    out.append(which->second);
    from = best + which->first.size();
  }
  if (from < page.size()) out.append(page.substr(from));
  return out;
}

std::string NowUtc() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buf;
}

std::string Cell(const Json& summary, const char* key, const char* fmt) {
  const Json* v = summary.Find(key);
  if (v == nullptr || v->is_null()) return "n/a";
  if (v->is_string()) return v->AsString();
  return Format(fmt, v->AsNumber());
}

}  // namespace

int ReportCommand(const std::vector<std::string>& args) {
  std::string out = "report.html", title;
  int64_t max_points = 1'000;
  bool json = false, quiet = false;
  FlagSet flags(kUsage);
  flags.String("out", &out, "the HTML file to write");
  flags.String("title", &title, "the page's title (default: apprentice report: the run names)");
  flags.Int("max-points", &max_points, "points per plotted series; longer ones are thinned", 2,
            1'000'000);
  flags.Bool("json", &json, "print JSON instead of a table (keys: docs/cli.md)");
  flags.Bool("quiet", &quiet, "no progress lines on stderr");
  // Run directories are the arguments that are neither a flag nor a flag's value.
  std::vector<std::string> flag_args, dirs;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a.rfind("-", 0) != 0) {
      dirs.push_back(a);
      continue;
    }
    flag_args.push_back(a);
    const bool takes_value = a == "--out" || a == "--title" || a == "--max-points";
    if (takes_value && i + 1 < args.size()) flag_args.push_back(args[++i]);
  }
  if (std::optional<int> done = ParseCommandFlags(flags, flag_args, "apprentice report")) {
    return *done;
  }
  if (dirs.empty()) {
    std::fprintf(stderr, "apprentice report: give one or more run directories (see --help)\n");
    return 2;
  }
  if (Status s = CheckWritable(out); !s.ok()) {
    std::fprintf(stderr, "apprentice report: --out: %s\n", s.message().c_str());
    return 2;
  }
  RunReportOptions options;
  options.max_points = max_points;
  Json::Array runs;
  std::string names;
  for (const std::string& dir : dirs) {
    if (!quiet) std::fprintf(stderr, "report: reading %s ...\n", dir.c_str());
    Result<Json> run = LoadRunReport(dir, options, [&](int64_t records) {
      if (!quiet) {
        std::fprintf(stderr, "report: %s: %lld log records\n", dir.c_str(),
                     static_cast<long long>(records));
      }
    });
    if (!run.ok()) {
      std::fprintf(stderr, "apprentice report: %s\n", run.status().message().c_str());
      return 1;
    }
    names += (names.empty() ? "" : ", ") + run->Find("name")->AsString();
    runs.push_back(std::move(run).value());
  }
  if (title.empty()) title = "apprentice report: " + names;
  const Json data = Json::Object{{"generated", NowUtc()},
                                 {"version", APPRENTICE_VERSION},
                                 {"agreement_window", options.agreement_window},
                                 {"runs", runs}};
  const std::string escaped_title = HtmlEscape(title), data_text = ScriptSafe(data.Dump(-1));
  const std::string page = Fill(kReportTemplate, {{"@TITLE@", escaped_title},
                                                  {"@CHARTJS@", kChartJs},
                                                  {"@DATA@", data_text}});
  if (Status s = WriteFileAtomically(out, page); !s.ok()) {
    std::fprintf(stderr, "apprentice report: %s\n", s.message().c_str());
    return 1;
  }

  if (json) {
    Json::Array rows;
    for (const Json& run : runs) {
      rows.push_back(Json::Object{{"name", *run.Find("name")},
                                  {"dir", *run.Find("dir")},
                                  {"summary", *run.Find("summary")},
                                  {"problems", *run.Find("problems")}});
    }
    std::printf("%s\n", Json(Json::Object{{"out", out},
                                          {"bytes", static_cast<int64_t>(page.size())},
                                          {"runs", std::move(rows)}})
                            .Dump(2)
                            .c_str());
    return 0;
  }
  Table t({"run", "env", "planner", "mode", "steps", "executor return", "planner return",
           "agreement", "log records", "problems"});
  for (const Json& run : runs) {
    const Json& summary = *run.Find("summary");
    const Json* log = run.Find("log");
    t.AddRow({run.Find("name")->AsString(), Cell(summary, "env", "%g"),
              Cell(summary, "planner", "%g"), Cell(summary, "mode", "%g"),
              Cell(summary, "steps", "%.0f"), Cell(summary, "executor_return", "%.1f"),
              Cell(summary, "planner_return", "%.1f"), Cell(summary, "training_agreement", "%.3f"),
              log != nullptr && !log->is_null() ? std::to_string(log->Find("records")->AsInt())
                                                : "no log",
              std::to_string(run.Find("problems")->AsArray().size())});
  }
  std::printf("apprentice report: wrote %s (%zu bytes)\n\n%s", out.c_str(), page.size(),
              t.ToString().c_str());
  return 0;
}

}  // namespace apprentice
