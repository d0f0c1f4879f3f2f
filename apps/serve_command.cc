// apprentice serve: the decision service (service/service.h) on a ZeroMQ socket, until SIGINT or
// SIGTERM (or --duration-s), with a progress line every --status-every-s and a summary at the end.
#include <cmath>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/weights.h"
#include "apps/commands.h"
#include "apps/signals.h"
#include "apps/table.h"
#include "core/atomic_file.h"
#include "core/clock.h"
#include "core/flags.h"
#include "core/space.h"
#include "executor/snapshot_file.h"
#include "service/service.h"

namespace apprentice {
namespace {

constexpr const char* kUsage =
    "usage: apprentice serve --executor-only --snapshot FILE [--bind ENDPOINT] [flags]\n"
    "\n"
    "Serves decisions over ZeroMQ + MessagePack (the protocol: docs/protocol.md). Clients send\n"
    "act (an observation: the executor answers at once, with the decision id), feedback (a\n"
    "decision id with a reward, done, or its ground-truth label, any time later), stats and\n"
    "health. Every request that cannot be served gets an error reply with a code; the service\n"
    "keeps serving every other request.\n"
    "\n"
    "--executor-only serves the executor snapshot FILE with no teacher and without LibTorch (an\n"
    "edge service): the file is checked every --reload-ms and a new version is served from the\n"
    "next request on, without pausing (replace the file atomically: write, then rename). The\n"
    "observation and action spaces are those recorded in the snapshot file, or Box(input) and\n"
    "Discrete(actions) of its network.\n"
    "\n"
    "Runs until SIGINT or SIGTERM (or --duration-s); a progress line goes to stderr every\n"
    "--status-every-s, the summary (a table, or --json) to stdout at the end.\n"
    "\n"
    "Exit codes: 0 after --duration-s, 130/143 after SIGINT/SIGTERM, 1 when the service fails\n"
    "(the log cannot be written), 2 for bad flags, a snapshot file that cannot be loaded, or an\n"
    "endpoint that cannot be bound.";

// The spaces recorded in the snapshot file, or those its network implies.
Result<std::pair<Space, Space>> SpacesOf(const LoadedSnapshot& loaded) {
  const MlpSpec& spec = loaded.snapshot->spec();
  Space observation = Space::Box(-INFINITY, INFINITY, {spec.input});
  Space action = spec.head == HeadKind::kCategorical
                     ? Space::Discrete(spec.actions)
                     : Space::Box(-INFINITY, INFINITY, {spec.actions});
  if (!loaded.info.observation_space.empty()) {
    Result<Space> parsed = Space::Parse(loaded.info.observation_space);
    if (!parsed.ok()) return parsed.status();
    observation = *parsed;
  }
  if (!loaded.info.action_space.empty()) {
    Result<Space> parsed = Space::Parse(loaded.info.action_space);
    if (!parsed.ok()) return parsed.status();
    action = *parsed;
  }
  if (observation.is_discrete() || observation.flat_size() != spec.input) {
    return Status::InvalidArgument("the snapshot's observation space " + observation.ToString() +
                                   " does not fit its network (" + spec.ToString() + ")");
  }
  return std::make_pair(observation, action);
}

std::string StatusLine(double elapsed_s, const DecisionService::Counters& c, int64_t previous_acts,
                       double interval_s, const LatencyHistogram& act, int64_t version) {
  return Format("serve: %.0f s, %lld decisions (%.0f/s), %lld feedback, %lld errors, executor v%lld, "
                "act p50/p99 %.1f/%.1f us",
                elapsed_s, static_cast<long long>(c.acts),
                interval_s > 0 ? static_cast<double>(c.acts - previous_acts) / interval_s : 0.0,
                static_cast<long long>(c.feedback), static_cast<long long>(c.errors),
                static_cast<long long>(version), act.QuantileUs(0.5), act.QuantileUs(0.99));
}

}  // namespace

int ServeCommand(const std::vector<std::string>& args) {
  DecisionService::Options service;
  AgentOptions agent_options;
  agent_options.env_name = "service";
  bool executor_only = false, json = false;
  std::string snapshot_path, endpoint_file;
  int64_t reload_ms = 500;
  double duration_s = 0.0, status_every_s = 10.0;

  FlagSet flags(kUsage);
  flags.Section("Service");
  flags.String("bind", &service.bind,
               "ZeroMQ endpoint to bind (tcp://127.0.0.1:* picks a free port; tcp://0.0.0.0:PORT "
               "listens on every interface)");
  flags.String("endpoint-file", &endpoint_file,
               "write the bound endpoint to this file once serving (for scripts)");
  flags.Int("max-message-bytes", &service.max_message_bytes,
            "largest request accepted; ZeroMQ drops the connection of a client sending more", 64,
            int64_t{1} << 30);
  flags.Int("max-streams", &service.max_streams,
            "open stream keys remembered; the oldest is closed beyond this", 1, int64_t{1} << 26);
  flags.Int("queue-messages", &service.queue_messages,
            "per-client send and receive queue (ZeroMQ high-water marks)", 1, int64_t{1} << 24);
  flags.Double("duration-s", &duration_s, "stop after this long; 0 = until SIGINT/SIGTERM", 0,
               1e9);
  flags.Double("status-every-s", &status_every_s, "seconds between progress lines; 0 = none", 0,
               1e6);
  flags.Bool("json", &json, "print the final summary as JSON instead of a table");
  flags.Section("Executor");
  flags.Bool("executor-only", &executor_only,
             "serve a snapshot file with no teacher and no LibTorch");
  flags.String("snapshot", &snapshot_path, "executor snapshot file to serve");
  flags.Int("reload-ms", &reload_ms, "check the snapshot file this often; 0 = never", 0,
            3'600'000);
  flags.Section("Logs and feedback");
  flags.String("log-dir", &agent_options.log_dir,
               "episode log directory: every decision, joined with its feedback");
  flags.String("metrics", &agent_options.metrics_path, "metrics as JSON lines to this file");
  flags.Int("feedback-wait-ms", &agent_options.outcome_wait_ms,
            "how long a decision waits in memory for its feedback before it is logged", 1,
            kMaxWaitMs);
  flags.Int("inbox", &agent_options.inbox, "decisions and feedback waiting to be joined", 2,
            int64_t{1} << 24);

  auto usage_error = [](const std::string& message) {
    std::fprintf(stderr, "apprentice serve: %s\n", message.c_str());
    return 2;
  };
  if (Status s = flags.Parse(args); !s.ok()) return usage_error(s.message());
  if (flags.help_requested()) {
    std::printf("%s", flags.Help().c_str());
    return 0;
  }
  if (!executor_only) {
    return usage_error(
        "give --executor-only: this build serves an executor snapshot (with feedback and "
        "logs); a teacher in the service is not available yet");
  }
  if (snapshot_path.empty()) return usage_error("--executor-only needs --snapshot FILE");

  Result<LoadedSnapshot> loaded = LoadSnapshot(snapshot_path);
  if (!loaded.ok()) return usage_error("--snapshot: " + loaded.status().message());
  Result<std::pair<Space, Space>> spaces = SpacesOf(*loaded);
  if (!spaces.ok()) return usage_error("--snapshot " + snapshot_path + ": " + spaces.status().message());
  std::unique_ptr<SnapshotFileWeights> weights;
  std::unique_ptr<Agent> agent;
  std::unique_ptr<DecisionService> server;
  try {
    weights = std::make_unique<SnapshotFileWeights>(
        SnapshotFileWeights::Options{snapshot_path, reload_ms});
    AgentSeams seams;
    seams.weights = weights.get();
    agent_options.run_note = "apprentice serve --executor-only " + snapshot_path;
    agent = std::make_unique<Agent>(agent_options, spaces->first, spaces->second, seams);
    SnapshotFileWeights* w = weights.get();
    server = std::make_unique<DecisionService>(service, *agent, [w] {
      return Json{{"snapshot", Json{{"path", w->path()},
                                    {"reloads", w->reloads()},
                                    {"reload_errors", w->reload_errors()},
                                    {"file_version", w->last_file_version()},
                                    {"last_error", w->last_error()}}}};
    });
  } catch (const InvalidArgument& e) {
    return usage_error(e.what());
  }
  agent->Start();
  try {
    server->Start();
  } catch (const InvalidArgument& e) {
    (void)agent->Stop();
    return usage_error(e.what());
  }
  if (!endpoint_file.empty()) {
    if (Status s = WriteFileAtomically(endpoint_file, server->endpoint() + "\n"); !s.ok()) {
      server->Stop();
      (void)agent->Stop();
      return usage_error("--endpoint-file: " + s.message());
    }
  }
  std::fprintf(stderr, "serve: listening on %s (%s -> %s, executor v%lld, no teacher)\n",
               server->endpoint().c_str(), spaces->first.ToString().c_str(),
               spaces->second.ToString().c_str(),
               static_cast<long long>(agent->snapshot_slot().version()));

  const int64_t start = NowNs();
  const int64_t end = duration_s > 0 ? start + static_cast<int64_t>(duration_s * 1e9) : INT64_MAX;
  const int64_t every = status_every_s > 0 ? static_cast<int64_t>(status_every_s * 1e9) : 0;
  int64_t next_status = every > 0 ? start + every : INT64_MAX;
  int64_t previous_acts = 0, previous_ns = start;
  bool failed = false;
  while (ProcessStop().SleepUntil(std::min({end, next_status, NowNs() + 200'000'000}))) {
    const int64_t now = NowNs();
    if (agent->failed()) {
      failed = true;
      break;
    }
    if (now >= next_status) {
      const DecisionService::Counters c = server->counters();
      std::fprintf(stderr, "%s\n",
                   StatusLine(static_cast<double>(now - start) * 1e-9, c, previous_acts,
                              static_cast<double>(now - previous_ns) * 1e-9,
                              server->act_latency(), agent->snapshot_slot().version())
                       .c_str());
      previous_acts = c.acts;
      previous_ns = now;
      next_status += every;
    }
    if (now >= end) break;
  }
  server->Stop();
  const Status stopped = agent->Stop();
  const Json stats = server->StatsJson();
  const DecisionService::Counters c = server->counters();
  const LatencyHistogram act = server->act_latency();
  const double elapsed = static_cast<double>(NowNs() - start) * 1e-9;
  if (json) {
    Json out = Json{{"endpoint", server->endpoint()}, {"elapsed_s", elapsed}};
    for (const auto& [key, value] : stats.AsObject()) out.Set(key, value);
    out.Set("error", stopped.ok() ? std::string() : stopped.message());
    std::printf("%s\n", out.Dump(2).c_str());
  } else {
    Table t({"metric", "value"});
    t.AddRow({"endpoint", server->endpoint()});
    t.AddRow({"time", Format("%.1f s", elapsed)});
    t.AddRow({"decisions", Format("%lld  (%.0f/s)", static_cast<long long>(c.acts),
                                  elapsed > 0 ? static_cast<double>(c.acts) / elapsed : 0.0)});
    t.AddRow({"act latency p50 / p99 / max",
              Format("%.1f / %.1f / %.1f us", act.QuantileUs(0.5), act.QuantileUs(0.99),
                     static_cast<double>(act.max_ns()) * 1e-3)});
    t.AddRow({"feedback", std::to_string(c.feedback)});
    t.AddRow({"stats / health requests", Format("%lld / %lld", static_cast<long long>(c.stats),
                                                static_cast<long long>(c.health))});
    std::string by_code;
    for (int i = 0; i < kErrorCodes; ++i) {
      if (c.errors_by_code[i] == 0) continue;
      by_code += Format("%s%s %lld", by_code.empty() ? "" : ", ",
                        std::string(ErrorCodeName(static_cast<ErrorCode>(i))).c_str(),
                        static_cast<long long>(c.errors_by_code[i]));
    }
    t.AddRow({"errors", std::to_string(c.errors) + (by_code.empty() ? "" : "  (" + by_code + ")")});
    t.AddRow({"replies dropped", Format("%lld unroutable, %lld queue full",
                                        static_cast<long long>(c.unroutable),
                                        static_cast<long long>(c.reply_drops))});
    t.AddRow({"executor version", Format("%lld  (%lld reloads, %lld reload errors)",
                                         static_cast<long long>(agent->snapshot_slot().version()),
                                         static_cast<long long>(weights->reloads()),
                                         static_cast<long long>(weights->reload_errors()))});
    const AgentMetrics m = agent->Metrics();
    t.AddRow({"logged records", std::to_string(m.logged)});
    t.AddRow({"feedback for decisions already logged", std::to_string(m.orphan_outcomes)});
    std::printf("%s", t.ToString().c_str());
  }
  std::fflush(stdout);
  if (!stopped.ok() || failed) {
    std::fprintf(stderr, "apprentice serve: error: %s\n",
                 (!stopped.ok() ? stopped : agent->health()).message().c_str());
    return 1;
  }
  return ProcessStop().requested() ? StopExitCode() : 0;
}

}  // namespace apprentice
