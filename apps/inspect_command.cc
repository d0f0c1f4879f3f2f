// apprentice inspect PATH: what an episode log holds, and where it is damaged.
#include <cstdio>

#include "apps/commands.h"
#include "apps/flag_values.h"
#include "apps/log_report.h"
#include "apps/table.h"
#include "core/flags.h"
#include "runtime/offline.h"

namespace apprentice {
namespace {

constexpr const char* kUsage =
    "usage: apprentice inspect PATH [--json] [--episodes]\n"
    "\n"
    "Reads an episode log (a segment file, a log directory, or a run directory: its logs/) and\n"
    "prints its records, segments, episodes (complete or not), the return of the complete ones,\n"
    "the labelled records, who acted, the executor versions seen, and every damaged stretch\n"
    "(file, offset, bytes skipped, reason). Damage is reported, not an error: the intact records\n"
    "around it are counted and the exit code stays 0. A path that does not exist is exit 1.";

void PrintTable(const LogInspection& in, bool episodes) {
  const EpisodeLogSummary& s = in.summary;
  Table t({"metric", "value"});
  int64_t intact = 0;
  const EpisodeLogSegment* first = nullptr;
  for (const EpisodeLogSegment& seg : s.segments) {
    if (!seg.header_ok) continue;
    ++intact;
    if (first == nullptr) first = &seg;
  }
  if (first != nullptr) {
    const EpisodeLogMetadata& m = first->metadata;
    t.AddRow({"env", m.env.empty() ? "(not recorded)" : m.env});
    t.AddRow({"spaces", "observations " + m.observation_space + ", actions " + m.action_space});
    if (!m.run.empty()) t.AddRow({"run", m.run});
  }
  t.AddRow({"segments", Format("%zu  (%lld with an intact header)", s.segments.size(),
                               static_cast<long long>(intact))});
  t.AddRow({"records", Format("%lld  (labelled %lld)", static_cast<long long>(s.records),
                              static_cast<long long>(s.labelled))});
  t.AddRow({"acted by executor / planner",
            Format("%lld / %lld", static_cast<long long>(s.acted_by_executor),
                   static_cast<long long>(s.acted_by_planner))});
  std::string behaviour =
      Format("stochastic %lld, deterministic %lld, unknown %lld",
             static_cast<long long>(s.behaviour_stochastic),
             static_cast<long long>(s.behaviour_deterministic),
             static_cast<long long>(s.records - s.behaviour_stochastic - s.behaviour_deterministic));
  if (first != nullptr) behaviour += Format("  (record revision %u)", first->metadata.record_revision);
  t.AddRow({"behaviour probability", behaviour});
  t.AddRow({"executor versions",
            in.has_executor_versions
                ? Format("%lld .. %lld", static_cast<long long>(in.executor_version_min),
                         static_cast<long long>(in.executor_version_max))
                : "n/a"});
  const int64_t complete = s.complete_episodes();
  t.AddRow({"episodes", Format("%zu  (%lld complete, %lld incomplete)", s.episodes.size(),
                               static_cast<long long>(complete),
                               static_cast<long long>(s.episodes.size() - complete))});
  t.AddRow({"return of complete episodes",
            complete > 0 ? Format("mean %.1f, min %.1f, max %.1f", s.mean_complete_return(),
                                  in.min_complete_return(), in.max_complete_return())
                         : "n/a"});
  t.AddRow({"damage", DamageCount(s.damage)});
  std::printf("apprentice inspect: %s\n\n%s", in.path.c_str(), t.ToString().c_str());
  if (!s.damage.empty()) {
    std::printf("\ndamage:\n%s", DamageTable(s.damage, s.damage.size()).c_str());
  }
  if (episodes) {
    Table e({"episode", "steps", "labelled", "return", "complete"});
    for (size_t i = 0; i < s.episodes.size(); ++i) {
      const EpisodeLogSummary::Episode& ep = s.episodes[i];
      e.AddRow({std::to_string(ep.id), std::to_string(ep.steps),
                std::to_string(in.episode_labelled[i]), Format("%.1f", ep.return_sum),
                ep.complete ? "yes" : "no"});
    }
    std::printf("\nepisodes:\n%s", e.ToString().c_str());
  }
}

}  // namespace

int InspectCommand(const std::vector<std::string>& args) {
  bool json = false, episodes = false;
  FlagSet flags(kUsage);
  flags.Bool("json", &json, "print JSON instead of tables (keys: docs/cli.md)");
  flags.Bool("episodes", &episodes, "also print a table of every episode");

  // Every flag is a boolean, so an argument that does not start with '-' is the path.
  std::vector<std::string> flag_args, paths;
  for (const std::string& a : args) (a.rfind('-', 0) == 0 ? flag_args : paths).push_back(a);
  if (std::optional<int> done = ParseCommandFlags(flags, flag_args, "apprentice inspect")) {
    return *done;
  }
  if (paths.size() != 1) {
    std::fprintf(
        stderr, "apprentice inspect: %s\n",
        paths.empty()
            ? "give the log to inspect: a segment file or a log directory "
              "(see --help)"
            : ("one log at a time (got '" + paths[0] + "' and '" + paths[1] + "')").c_str());
    return 2;
  }

  Result<LogInspection> inspection = InspectEpisodeLog(paths[0]);
  if (!inspection.ok()) {
    std::fprintf(stderr, "apprentice inspect: %s\n", inspection.status().message().c_str());
    return 1;
  }
  if (json) {
    std::printf("%s\n", inspection->ToJson().Dump(2).c_str());
  } else {
    PrintTable(*inspection, episodes);
  }
  return 0;
}

}  // namespace apprentice
