// apprentice serve: the decision service (service/service.h) on a ZeroMQ socket, until SIGINT or
// SIGTERM (or --duration-s), with a progress line every --status-every-s and a summary at the end.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/weights.h"
#include "apps/commands.h"
#include "apps/extension_flags.h"
#include "apps/flag_values.h"
#include "apps/signals.h"
#include "apps/table.h"
#include "core/atomic_file.h"
#include "core/clock.h"
#include "core/flags.h"
#include "core/space.h"
#include "executor/snapshot_file.h"
#include "learner/local_learner.h"
#include "nats/nats_weights.h"
#include "planner/registry.h"
#include "service/journal.h"
#include "service/service.h"

namespace apprentice {
namespace {

constexpr const char* kUsage =
    "usage: apprentice serve --observation-size N (--actions K | --action-dims D)\n"
    "                        [--planner torchscript --torchscript-model FILE] [flags]\n"
    "       apprentice serve --executor-only --snapshot FILE [flags]\n"
    "       apprentice serve --executor-only --nats URL [flags]\n"
    "\n"
    "Serves decisions over ZeroMQ + MessagePack (the protocol: docs/protocol.md). Clients send\n"
    "act (an observation: the executor answers at once, with the decision id), feedback (a\n"
    "decision id with a reward, done, or its ground-truth label, any time later), stats and\n"
    "health. Every request that cannot be served gets an error reply with a code; the service\n"
    "keeps serving every other request.\n"
    "\n"
    "With a teacher (the default) the service runs the whole loop: the executor answers every act\n"
    "at once; the teacher (a planner that reads observations alone, e.g. a TorchScript network\n"
    "exported by PyTorch) labels the decisions in the background, in batches; the distiller\n"
    "trains the executor on those labels, with the ground truth of feedback as the hard label,\n"
    "and its new weights are served from the next request on. Observations are N floats; actions\n"
    "are K classes (--actions) or D continuous values (--action-dims). --checkpoint continues\n"
    "training from a checkpoint file when it exists and saves it; --snapshot-out writes the\n"
    "executor for edge services (--executor-only --snapshot of that file follows it).\n"
    "\n"
    "--executor-only serves the executor snapshot FILE with no teacher and without LibTorch (an\n"
    "edge service): the file is checked every --reload-ms and a new version is served from the\n"
    "next request on, without pausing (replace the file atomically: write, then rename). The\n"
    "observation and action spaces are those recorded in the snapshot file, or Box(input) and\n"
    "Discrete(actions) of its network. With --nats instead of --snapshot, an edge executor serves\n"
    "the newest snapshot in a run's weights bucket on NATS (put there by `apprentice learner`;\n"
    "docs/scaling.md) at once, and every later one as it is put.\n"
    "\n"
    "Runs until SIGINT or SIGTERM (or --duration-s); a progress line goes to stderr every\n"
    "--status-every-s, the summary (a table, or --json) to stdout at the end.\n"
    "\n"
    "Exit codes: 0 after --duration-s, 130/143 after SIGINT/SIGTERM, 1 when the service fails\n"
    "(the log cannot be written, or the learner's files cannot be saved), 2 for bad flags, a\n"
    "snapshot file, model or checkpoint that cannot be loaded, or an endpoint that cannot be\n"
    "bound.";

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
                       double interval_s, const LatencyHistogram& act, const AgentMetrics& m,
                       bool teacher) {
  std::string line =
      Format("serve: %.0f s, %lld decisions (%.0f/s), %lld feedback, %lld errors, executor v%lld, "
             "act p50/p99 %.1f/%.1f us",
             elapsed_s, static_cast<long long>(c.acts),
             interval_s > 0 ? static_cast<double>(c.acts - previous_acts) / interval_s : 0.0,
             static_cast<long long>(c.feedback), static_cast<long long>(c.errors),
             static_cast<long long>(m.executor_version), act.QuantileUs(0.5),
             act.QuantileUs(0.99));
  if (teacher) {
    line += Format(", %lld labels, %lld train steps, agreement %.1f%%",
                   static_cast<long long>(m.labels), static_cast<long long>(m.train_steps),
                   100.0 * m.agreement);
  }
  return line;
}

// What serves: the agent and what feeds it weights (a snapshot file, or a learner).
struct Served {
  Space observation_space = Space::Discrete(1), action_space = Space::Discrete(1);
  std::unique_ptr<SnapshotFileWeights> file;  // --executor-only --snapshot
  std::unique_ptr<NatsWeights> nats;          // --executor-only --nats
  std::unique_ptr<LocalLearner> learner;      // with a teacher
  std::unique_ptr<Agent> agent;
  std::string teacher;                        // "no teacher", or the planner's name
};

struct TeacherFlags {
  std::string planner = "torchscript";
  double planner_delay_ms = 0.0;
  int64_t observation_size = 0, actions = 0, action_dims = 0;
  std::string hidden = "64,64";
  LocalLearner::Options learner;
  std::string checkpoint;
  int64_t seed = 1;
};

}  // namespace

int ServeCommand(const std::vector<std::string>& args) {
  DecisionService::Options service;
  AgentOptions agent_options;
  agent_options.env_name = "service";
  agent_options.planner_queue = 1024;
  bool executor_only = false, json = false;
  std::string snapshot_path, endpoint_file;
  int64_t reload_ms = 500;
  NatsWeights::Options nats;
  nats.url.clear();
  double duration_s = 0.0, status_every_s = 10.0;
  std::string curve_key_file, curve_clients_file;
  bool journal_fsync = false;
  std::string label_policy = "all";
  TeacherFlags t;

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
  flags.String("curve-secret-key", &curve_key_file,
               "CURVE: the service's key pair (apprentice keygen); connections are encrypted and "
               "only --curve-clients are served");
  flags.String("curve-clients", &curve_clients_file,
               "CURVE: the public keys of the clients allowed, one per line (their .pub files "
               "concatenated); every other client is refused at the handshake");
  flags.Section("Spaces (with a teacher)");
  flags.Int("observation-size", &t.observation_size, "floats in an observation", 1, 1 << 20);
  flags.Int("actions", &t.actions, "actions are classes 0..K-1 (Discrete(K))", 1, 1 << 16);
  flags.Int("action-dims", &t.action_dims,
            "actions are D continuous values (a Gaussian executor head)", 1, 1 << 10);
  flags.Section("Teacher");
  flags.String("planner", &t.planner,
               "the teacher: a planner that reads observations alone (options below)",
               PlannerNames());
  flags.Int("planner-threads", &agent_options.planner_threads, "teacher workers", 1, 256);
  flags.Int("planner-queue", &agent_options.planner_queue,
            "decisions waiting for the teacher; the oldest is dropped beyond this", 1,
            int64_t{1} << 24);
  flags.Double("planner-delay-ms", &t.planner_delay_ms,
               "make every teacher decision take at least this long (a slow teacher)", 0, 1e6);
  DeclareLabelFlags(flags, label_policy, agent_options.labels);
  ExtensionFlags planner_flags(flags, "Planner options (each planner declares its own)", "planner",
                               "planner-opt", ExtensionsOf(Planners()));
  flags.Section("Learning (with a teacher)");
  DeclareDistillerFlags(flags, t.learner.learning.distiller, t.hidden, /*publish_every=*/true);
  flags.Int("min-replay", &t.learner.learning.min_replay, "labels needed before training starts",
            1, 100'000'000);
  flags.Double("updates-per-label", &t.learner.learning.updates_per_label,
               "distiller updates per label once --min-replay labels are in", 0, 1000);
  flags.Int("replay-capacity", &t.learner.learning.replay_capacity,
            "labelled decisions the replay keeps (the newest)", 1, 100'000'000);
  flags.Int("seed", &t.seed, "seeds the executor's initial weights and the training batches", 0,
            INT64_MAX);
  flags.String("checkpoint", &t.checkpoint,
               "distiller checkpoint: training continues from it when the file exists; saved "
               "every --checkpoint-every-ms and at exit");
  flags.String("snapshot-out", &t.learner.snapshot_path,
               "write the executor to this snapshot file every --checkpoint-every-ms and at exit "
               "(what an --executor-only service serves)");
  flags.Int("checkpoint-every-ms", &t.learner.checkpoint_every_ms,
            "how often --checkpoint and --snapshot-out are written", 1, 86'400'000);
  flags.Section("Executor only");
  flags.Bool("executor-only", &executor_only,
             "serve a snapshot file with no teacher and no LibTorch");
  flags.String("snapshot", &snapshot_path, "executor snapshot file to serve");
  flags.Int("reload-ms", &reload_ms, "check the snapshot file this often; 0 = never", 0,
            3'600'000);
  DeclareNatsFlags(flags, nats.url, nats.run, nats.security, nats.replicas,
                   "instead of --snapshot: serve the newest snapshot of a run's weights bucket "
                   "on NATS (nats://host:port), put there by `apprentice learner`, and follow it");
  flags.Int("nats-wait-ms", &nats.wait_ms,
            "with --nats: the longest wait for a snapshot when the bucket is still empty", 0,
            3'600'000);
  flags.Section("Logs and feedback");
  flags.String("log-dir", &agent_options.log_dir,
               "episode log directory: every decision, joined with its feedback; its journal/ "
               "holds every decision and feedback before its reply is sent, and joins feedback "
               "that comes after the decision left memory or after a restart");
  flags.Bool("journal-fsync", &journal_fsync,
             "with --log-dir: the journal waits for the disk (fdatasync) before replies, so that "
             "they survive a power loss too, not just a crash of the service");
  flags.String("metrics", &agent_options.metrics_path, "metrics as JSON lines to this file");
  flags.Int("feedback-wait-ms", &agent_options.outcome_wait_ms,
            "how long a decision waits in memory for its feedback before it is logged", 1,
            kMaxWaitMs);
  flags.Int("inbox", &agent_options.inbox, "decisions and feedback waiting to be joined", 2,
            int64_t{1} << 24);
  flags.Int("max-pending", &agent_options.max_pending,
            "decisions held in memory waiting for feedback or a label; past it the oldest is "
            "logged at once (its feedback then joins it from the journal)",
            1, 100'000'000);

  auto usage_error = [](const std::string& message) {
    return UsageError("apprentice serve", message);
  };
  if (std::optional<int> done = ParseCommandFlags(flags, args, "apprentice serve")) return *done;

  if (Status s = ApplyLabelFlags(flags, label_policy, agent_options.labels); !s.ok()) {
    return usage_error(s.message());
  }
  if (curve_key_file.empty() != curve_clients_file.empty()) {
    return usage_error("CURVE needs both --curve-secret-key (the service's key pair) and "
                       "--curve-clients (the public keys it accepts)");
  }
  if (!curve_key_file.empty()) {
    Result<CurveKeyPair> keys = ReadCurveKeyPair(curve_key_file);
    if (!keys.ok()) return usage_error("--curve-secret-key: " + keys.status().message());
    Result<std::vector<std::string>> clients = ReadCurvePublicKeys(curve_clients_file);
    if (!clients.ok()) return usage_error("--curve-clients: " + clients.status().message());
    service.curve_keys = std::move(*keys);
    service.curve_clients = std::move(*clients);
  }

  std::unique_ptr<DecisionJournal> journal;  // outlives the agent, whose collector reads it
  Served served;
  if (flags.WasSet("journal-fsync") && agent_options.log_dir.empty()) {
    return usage_error("--journal-fsync needs --log-dir");
  }
  if (!agent_options.log_dir.empty()) {
    Result<std::unique_ptr<DecisionJournal>> opened = DecisionJournal::Open(
        {agent_options.log_dir + "/journal", journal_fsync},
        {agent_options.env_name, "", "", "apprentice serve journal"});
    if (!opened.ok()) return usage_error("--log-dir: " + opened.status().message());
    journal = std::move(*opened);
  }
  if (executor_only) {
    for (const char* teacher_flag :
         {"observation-size", "actions", "action-dims", "planner", "planner-threads",
          "planner-queue", "planner-delay-ms", "label-policy", "label-fraction", "checkpoint",
          "snapshot-out", "hidden", "seed"}) {
      if (flags.WasSet(teacher_flag)) {
        return usage_error(std::string("--") + teacher_flag +
                           " is for a service with a teacher; --executor-only serves --snapshot "
                           "alone");
      }
    }
    if (snapshot_path.empty() == nats.url.empty()) {
      return usage_error("--executor-only serves --snapshot FILE or the weights bucket of --nats "
                         "URL: give one of them");
    }
    LoadedSnapshot first;
    if (!nats.url.empty()) {
      if (flags.WasSet("reload-ms")) {
        return usage_error("--reload-ms is for --snapshot; --nats follows the bucket's puts");
      }
      Result<std::unique_ptr<NatsWeights>> weights = NatsWeights::Connect(nats);
      if (!weights.ok()) {
        if (weights.status().code() == StatusCode::kInvalidArgument) {
          return usage_error(weights.status().message());
        }
        std::fprintf(stderr, "apprentice serve: %s\n", weights.status().message().c_str());
        return 1;
      }
      served.nats = std::move(*weights);
      first.snapshot = served.nats->Latest();
      first.info = served.nats->first_info();
    } else {
      Result<LoadedSnapshot> loaded = LoadSnapshot(snapshot_path);
      if (!loaded.ok()) return usage_error("--snapshot: " + loaded.status().message());
      first = std::move(*loaded);
    }
    const std::string source =
        nats.url.empty() ? snapshot_path : "bucket " + served.nats->bucket() + " at " + nats.url;
    Result<std::pair<Space, Space>> spaces = SpacesOf(first);
    if (!spaces.ok()) return usage_error(source + ": " + spaces.status().message());
    served.observation_space = spaces->first;
    served.action_space = spaces->second;
    served.teacher = "no teacher";
    agent_options.run_note = "apprentice serve --executor-only " + source;
  } else {
    if (flags.WasSet("snapshot") || flags.WasSet("reload-ms") || !nats.url.empty()) {
      return usage_error(
          "--snapshot, --reload-ms and --nats are for --executor-only; a service with a teacher "
          "starts from fresh weights or from --checkpoint");
    }
    if (t.observation_size == 0 || (t.actions == 0) == (t.action_dims == 0)) {
      return usage_error(
          "give --observation-size N and one of --actions K or --action-dims D (the spaces the "
          "teacher and the executor serve), or --executor-only --snapshot FILE");
    }
    served.observation_space = Space::Box(-INFINITY, INFINITY, {t.observation_size});
    served.action_space = t.actions > 0 ? Space::Discrete(t.actions)
                                        : Space::Box(-INFINITY, INFINITY, {t.action_dims});
    Result<std::vector<int64_t>> widths = ParseHiddenWidths(t.hidden);
    if (!widths.ok()) return usage_error(widths.status().message());
    t.learner.learning.distiller.hidden = *widths;
    t.learner.learning.seed = static_cast<uint64_t>(t.seed);
    t.learner.checkpoint_path = t.checkpoint;
    t.learner.env_name = agent_options.env_name;
    t.learner.nice = agent_options.background_nice;
    agent_options.seed = static_cast<uint64_t>(t.seed);
    Result<OptionValues> planner_options = planner_flags.ValuesFor(t.planner);
    if (!planner_options.ok()) return usage_error(planner_options.status().message());
    if (Status s = CheckFeatureTeacher(t.learner.learning.distiller.feature_weight, t.planner,
                                       *planner_options);
        !s.ok()) {
      return usage_error(s.message());
    }
    // One teacher made here, to refuse at once one that cannot serve (a model of the wrong
    // size, a planner that needs an environment model).
    Result<std::unique_ptr<Planner>> probe = MakePlanner(t.planner, *planner_options);
    if (!probe.ok()) return usage_error(probe.status().message());
    if ((*probe)->needs_env()) {
      return usage_error("planner " + t.planner +
                         " plans on an environment model, which a service does not have: give "
                         "a teacher that reads observations alone (--planner torchscript)");
    }
    if (Status s = (*probe)->CanTeachSpaces(served.observation_space, served.action_space);
        !s.ok()) {
      return usage_error(s.message());
    }
    served.teacher = t.planner;
    agent_options.run_note = "apprentice serve --planner " + t.planner + " " +
                             planner_options->ToString();
    t.learner.note = agent_options.run_note;
    try {
      served.learner = std::make_unique<LocalLearner>(t.learner, served.observation_space,
                                                      served.action_space);
    } catch (const InvalidArgument& e) {
      return usage_error(e.what());
    }
    std::error_code ec;
    if (!t.checkpoint.empty() && std::filesystem::exists(t.checkpoint, ec)) {
      if (Status s = served.learner->Restore(t.checkpoint, {}); !s.ok()) {
        return usage_error("--checkpoint: " + s.message());
      }
    }
    const std::string planner = t.planner;
    const double delay_ms = t.planner_delay_ms;
    const OptionValues options = *planner_options;
    AgentSeams seams;
    seams.planners = [planner, options, delay_ms] { return MakePlanner(planner, options, delay_ms); };
    seams.learner = served.learner.get();
    if (journal) seams.decisions = [j = journal.get()](uint64_t id) { return j->Find(id); };
    try {
      served.agent = std::make_unique<Agent>(agent_options, served.observation_space,
                                             served.action_space, seams);
    } catch (const InvalidArgument& e) {
      return usage_error(e.what());
    }
  }

  std::unique_ptr<DecisionService> server;
  try {
    std::function<Json()> extra_stats;
    if (executor_only) {
      AgentSeams seams;
      if (served.nats) {
        seams.weights = served.nats.get();
        NatsWeights* w = served.nats.get();
        extra_stats = [w] {
          return Json{{"nats", Json{{"bucket", w->bucket()},
                                    {"updates", w->updates()},
                                    {"refused", w->refused()},
                                    {"rewatches", w->rewatches()},
                                    {"first_snapshot_ms", w->first_snapshot_ms()},
                                    {"last_error", w->last_error()}}}};
        };
      } else {
        served.file = std::make_unique<SnapshotFileWeights>(
            SnapshotFileWeights::Options{snapshot_path, reload_ms});
        seams.weights = served.file.get();
        SnapshotFileWeights* w = served.file.get();
        extra_stats = [w] {
          return Json{{"snapshot", Json{{"path", w->path()},
                                        {"reloads", w->reloads()},
                                        {"reload_errors", w->reload_errors()},
                                        {"file_version", w->last_file_version()},
                                        {"last_error", w->last_error()}}}};
        };
      }
      if (journal) seams.decisions = [j = journal.get()](uint64_t id) { return j->Find(id); };
      served.agent = std::make_unique<Agent>(agent_options, served.observation_space,
                                             served.action_space, seams);
    } else {
      LocalLearner* learner = served.learner.get();
      extra_stats = [learner] {
        const LearnerMetrics m = learner->Metrics();
        return Json{{"learner", Json{{"records", m.records},
                                     {"replaced_by_ground_truth", m.replaced},
                                     {"replay_size", m.replay_size},
                                     {"train_steps", m.train_steps},
                                     {"train_errors", m.train_errors},
                                     {"snapshots", m.snapshots},
                                     {"last_loss", m.last_loss},
                                     {"last_error", m.last_error}}}};
      };
    }
    if (journal) {
      // A restarted service continues the journal's numbering: feedback for the decisions of
      // earlier runs is joined through it.
      served.agent->SetFirstDecisionId(journal->next_decision_id());
      served.agent->SetFirstEpisode(journal->next_episode());
      DecisionJournal* j = journal.get();
      extra_stats = [j, inner = std::move(extra_stats)] {
        Json out = inner();
        out.Set("journal", Json{{"decisions", j->decisions()}, {"feedback", j->feedback()},
                                {"damaged_stretches", static_cast<int64_t>(j->damage().size())}});
        return out;
      };
    }
    server = std::make_unique<DecisionService>(service, *served.agent, std::move(extra_stats),
                                               journal.get());
  } catch (const InvalidArgument& e) {
    return usage_error(e.what());
  }
  Agent* agent = served.agent.get();
  try {
    agent->Start();
  } catch (const std::exception& e) {
    return usage_error(e.what());
  }
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
  std::fprintf(stderr, "serve: listening on %s (%s -> %s, executor v%lld, %s%s)\n",
               server->endpoint().c_str(), served.observation_space.ToString().c_str(),
               served.action_space.ToString().c_str(),
               static_cast<long long>(agent->snapshot_slot().version()),
               executor_only ? "no teacher" : ("teacher " + served.teacher).c_str(),
               service.curve() ? Format(", CURVE: %zu clients allowed, public key %s",
                                        service.curve_clients.size(),
                                        service.curve_keys.public_key.c_str())
                                     .c_str()
                               : "");

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
                              server->act_latency(), agent->Metrics(), !executor_only)
                       .c_str());
      previous_acts = c.acts;
      previous_ns = now;
      next_status += every;
    }
    if (now >= end) break;
  }
  server->Stop();
  Status stopped = agent->Stop();
  if (journal) {
    const Status closed = journal->Close();
    if (stopped.ok() && !closed.ok()) stopped = closed;
  }
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
    Table table({"metric", "value"});
    table.AddRow({"endpoint", server->endpoint()});
    table.AddRow({"time", Format("%.1f s", elapsed)});
    table.AddRow({"decisions", Format("%lld  (%.0f/s)", static_cast<long long>(c.acts),
                                  elapsed > 0 ? static_cast<double>(c.acts) / elapsed : 0.0)});
    table.AddRow({"act latency p50 / p99 / max",
              Format("%.1f / %.1f / %.1f us", act.QuantileUs(0.5), act.QuantileUs(0.99),
                     static_cast<double>(act.max_ns()) * 1e-3)});
    table.AddRow({"feedback", std::to_string(c.feedback)});
    table.AddRow({"stats / health requests", Format("%lld / %lld", static_cast<long long>(c.stats),
                                                static_cast<long long>(c.health))});
    std::string by_code;
    for (int i = 0; i < kErrorCodes; ++i) {
      if (c.errors_by_code[i] == 0) continue;
      by_code += Format("%s%s %lld", by_code.empty() ? "" : ", ",
                        std::string(ErrorCodeName(static_cast<ErrorCode>(i))).c_str(),
                        static_cast<long long>(c.errors_by_code[i]));
    }
    table.AddRow({"errors", std::to_string(c.errors) + (by_code.empty() ? "" : "  (" + by_code + ")")});
    if (service.curve()) {
      table.AddRow({"CURVE handshakes", Format("%lld accepted, %lld refused",
                                               static_cast<long long>(c.handshakes_accepted),
                                               static_cast<long long>(c.handshakes_refused))});
    }
    table.AddRow({"replies dropped", Format("%lld unroutable, %lld queue full",
                                        static_cast<long long>(c.unroutable),
                                        static_cast<long long>(c.reply_drops))});
    const AgentMetrics m = agent->Metrics();
    if (executor_only && served.nats) {
      const NatsWeights& w = *served.nats;
      table.AddRow({"executor version",
                    Format("%lld  (%lld snapshots from bucket %s, %lld refused; the first after "
                           "%.0f ms)",
                           static_cast<long long>(m.executor_version),
                           static_cast<long long>(w.updates()), w.bucket().c_str(),
                           static_cast<long long>(w.refused()), w.first_snapshot_ms())});
    } else if (executor_only) {
      table.AddRow({"executor version", Format("%lld  (%lld reloads, %lld reload errors)",
                                           static_cast<long long>(m.executor_version),
                                           static_cast<long long>(served.file->reloads()),
                                           static_cast<long long>(served.file->reload_errors()))});
    } else {
      const LearnerMetrics l = served.learner->Metrics();
      table.AddRow({"teacher", Format("%s: %lld labels, %lld dropped, %lld errors, p50 %.1f us",
                                  served.teacher.c_str(), static_cast<long long>(m.labels),
                                  static_cast<long long>(m.planner_drops),
                                  static_cast<long long>(m.planner_errors),
                                  m.planner.QuantileUs(0.5))});
      table.AddRow({"ground truth joined", Format("%lld  (%lld replaced a taught record)",
                                              static_cast<long long>(m.ground_truth),
                                              static_cast<long long>(l.replaced))});
      table.AddRow({"training", Format("%lld steps, loss %.4f, agreement %.1f %%",
                                   static_cast<long long>(l.train_steps), l.last_loss,
                                   100.0 * m.agreement)});
      table.AddRow({"executor version", std::to_string(m.executor_version)});
    }
    table.AddRow({"logged records", std::to_string(m.logged)});
    table.AddRow({"feedback joined from the journal", std::to_string(m.late_joins)});
    table.AddRow({"feedback never joined", std::to_string(m.orphan_outcomes)});
    if (journal) {
      table.AddRow({"journal", Format("%lld decisions, %lld feedback (earlier runs included)",
                                      static_cast<long long>(journal->decisions()),
                                      static_cast<long long>(journal->feedback()))});
    }
    std::printf("%s", table.ToString().c_str());
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
