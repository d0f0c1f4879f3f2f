// apprentice fraud: the fraud-decision loop's tools. `generate` writes a transaction stream with
// its online features (fraud/features.h, docs/fraud.md).
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "apps/commands.h"
#include "apps/flag_values.h"
#include "apps/fraud_loop.h"
#include "apps/table.h"
#include "core/clock.h"
#include "core/flags.h"
#include "fraud/features.h"

namespace apprentice {
namespace {

constexpr const char* kUsage =
    "usage: apprentice fraud generate --out FILE [--days N] [--customers N] [flags]\n"
    "\n"
    "Generates a payment-card transaction stream with labelled frauds (the fraud-detection\n"
    "handbook's simulator: customers and terminals on a grid, three fraud scenarios, and\n"
    "optionally a new pattern from --new-pattern-day), computes the features a fraud team\n"
    "computes online with the label delay respected, and writes both to FILE (docs/fraud.md has\n"
    "the format; numpy reads it). The same flags and seed give the same file.\n"
    "\n"
    "Exit codes: 0 written, 1 the file could not be written, 2 bad flags.";

int Generate(const std::vector<std::string>& args) {
  FraudSimOptions o;
  std::string out;
  int64_t delay_days = 7, seed = 1;
  bool json = false;
  FlagSet flags(kUsage);
  flags.String("out", &out, "required: the dataset file to write");
  flags.Int("days", &o.days, "days of payments", 1, 3'650);
  flags.Int("customers", &o.customers, "cards", 1, 10'000'000);
  flags.Int("terminals", &o.terminals, "terminals (merchants)", 1, 10'000'000);
  flags.Double("radius", &o.radius, "a card pays at terminals this close (grid 100 x 100)", 1e-3,
               200);
  flags.Int("seed", &seed, "seed of every draw", 0, INT64_MAX);
  flags.Int("delay-days", &delay_days,
            "label delay: a payment's fraud label is known this many days later (chargebacks); "
            "the terminal features look only at payments at least this old",
            0, 365);
  flags.Section("Fraud scenarios");
  flags.Double("large-amount", &o.large_amount, "1: payments above this amount are frauds", 1e-3,
               1e9);
  flags.Int("terminals-per-day", &o.terminals_per_day,
            "2: terminals compromised each day (every payment there is a fraud)", 0, 1'000'000);
  flags.Int("terminal-days", &o.terminal_days, "2: days a compromised terminal stays so", 1, 3'650);
  flags.Int("cards-per-day", &o.cards_per_day,
            "3: cards compromised each day (a share of their payments become frauds with "
            "inflated amounts)",
            0, 1'000'000);
  flags.Int("card-days", &o.card_days, "3: days a compromised card stays so", 1, 3'650);
  flags.Int("new-pattern-day", &o.new_pattern_day,
            "4: from this day on, night-time card-testing bursts of small payments (a pattern "
            "unseen before); -1 = never",
            -1, 3'649);
  flags.Int("new-pattern-cards-per-day", &o.new_pattern_cards_per_day,
            "4: cards starting a burst each day", 0, 1'000'000);
  flags.Bool("json", &json, "print the summary as JSON");
  auto usage_error = [](const std::string& message) {
    return UsageError("apprentice fraud generate", message);
  };
  if (std::optional<int> done = ParseCommandFlags(flags, args, "apprentice fraud generate")) {
    return *done;
  }
  if (out.empty()) return usage_error("--out is required");
  o.seed = static_cast<uint64_t>(seed);
  if (Status s = o.Validate(); !s.ok()) return usage_error(s.message());
  std::fprintf(stderr, "fraud generate: %lld days, %lld customers, %lld terminals, seed %lld ...\n",
               static_cast<long long>(o.days), static_cast<long long>(o.customers),
               static_cast<long long>(o.terminals), static_cast<long long>(seed));
  const Stopwatch clock;
  const FraudDataset d = MakeFraudDataset(o, delay_days);
  std::fprintf(stderr, "fraud generate: %zu payments and their features in %.1f s; writing %s\n",
               d.transactions.size(), clock.ElapsedSeconds(), out.c_str());
  if (Status s = WriteFraudDataset(out, d); !s.ok()) {
    std::fprintf(stderr, "apprentice fraud generate: %s\n", s.message().c_str());
    return 1;
  }
  const FraudSimSummary s = Summarize(d.transactions);
  if (json) {
    Json j = s.ToJson();
    j.Set("file", out);
    j.Set("generator", o.ToJson());
    j.Set("delay_days", delay_days);
    std::printf("%s\n", j.Dump(2).c_str());
    return 0;
  }
  Table table({"metric", "value"});
  table.AddRow({"file", out});
  table.AddRow({"payments", std::to_string(s.transactions)});
  table.AddRow({"frauds", Format("%lld  (%.3f %%)", static_cast<long long>(s.frauds),
                                 100.0 * s.fraud_rate())});
  table.AddRow({"by scenario 1 / 2 / 3 / 4",
                Format("%lld / %lld / %lld / %lld", static_cast<long long>(s.by_scenario[1]),
                       static_cast<long long>(s.by_scenario[2]),
                       static_cast<long long>(s.by_scenario[3]),
                       static_cast<long long>(s.by_scenario[4]))});
  table.AddRow({"cards with a fraud", std::to_string(s.fraud_cards)});
  table.AddRow({"label delay", Format("%lld days", static_cast<long long>(delay_days))});
  std::printf("%s", table.ToString().c_str());
  return 0;
}

constexpr const char* kRunUsage =
    "usage: apprentice fraud run --data FILE --teacher FILE [--training distill|truth|teacher]\n"
    "                            [--label-policy uncertainty] [--label-fraction 0.05] [flags]\n"
    "\n"
    "Replays a stream (apprentice fraud generate) through the decision service as a payment\n"
    "system would: an act per payment from --serve-from-day on (the executor approves or\n"
    "declines at once), the teacher labelling the budgeted share in the background, each\n"
    "payment's ground truth sent as feedback when its chargeback is due (the dataset's label\n"
    "delay, in stream time), the distiller training and the new weights served. At each stream\n"
    "day the teacher first finishes the requests of the day before (its real-time budget).\n"
    "Prints a line per stream week, then the measures on the last --test-days days for the\n"
    "executor's live decisions and for the teacher alone (scored offline): average precision,\n"
    "card precision@100, recall at 1 % false positives, cost; and the latencies.\n"
    "\n"
    "--training: distill (soft targets and the teacher's labels, the ground truth as the hard\n"
    "label when it comes), truth (the delayed ground truth alone, no teacher), teacher (the\n"
    "teacher's labels alone, no ground truth).\n"
    "\n"
    "Exit codes: 0 done, 1 the loop failed, 2 bad flags, a dataset or a teacher that does not fit.";

int Run(const std::vector<std::string>& args) {
  FraudLoopOptions o;
  o.distiller.hidden = {64, 64};
  o.distiller.learning_rate = 1e-3;
  o.distiller.publish_every = 20;
  std::string hidden = "64,64", policy = "uncertainty";
  int64_t seed = 1;
  bool json = false;
  FlagSet flags(kRunUsage);
  flags.String("data", &o.data, "required: the dataset file");
  flags.String("teacher", &o.teacher, "the TorchScript teacher (15 features in, 2 logits out)");
  flags.String("training", &o.training, "what trains the executor (see above)",
               {"distill", "truth", "teacher"});
  flags.Int("serve-from-day", &o.serve_from_day, "the first stream day served", 0, 3'650);
  flags.Int("test-days", &o.test_days, "the final days the measures are taken on", 1, 3'650);
  flags.String("label-policy", &policy, "which decisions the teacher labels (see serve --help)",
               {"all", "random", "uncertainty", "disagreement"});
  flags.Double("label-fraction", &o.labels.fraction, "the share of decisions the teacher labels",
               1e-6, 1.0);
  flags.Double("teacher-delay-ms", &o.teacher_delay_ms,
               "every teacher decision takes at least this long (a slow teacher)", 0, 1e5);
  flags.Int("teacher-threads", &o.teacher_threads, "teacher workers", 1, 64);
  flags.Int("in-flight", &o.in_flight, "act requests in flight", 1, 4'096);
  flags.Double("decline-cost", &o.decline_cost, "the cost of declining a genuine payment", 0,
               1e9);
  DeclareDistillerFlags(flags, o.distiller, hidden, /*publish_every=*/true);
  flags.Int("min-replay", &o.min_replay, "labelled decisions before training starts", 1,
            10'000'000);
  flags.Double("updates-per-label", &o.updates_per_label, "distiller updates per label", 0, 1000);
  flags.Int("seed", &seed, "seed of the executor's weights, the batches and the label draws", 0,
            INT64_MAX);
  flags.String("run-dir", &o.run_dir, "write summary.json and executor.snap here");
  flags.Bool("json", &json, "print the summary as JSON");
  auto usage_error = [](const std::string& message) {
    return UsageError("apprentice fraud run", message);
  };
  if (std::optional<int> done = ParseCommandFlags(flags, args, "apprentice fraud run")) {
    return *done;
  }
  Result<std::vector<int64_t>> widths = ParseHiddenWidths(hidden);
  if (!widths.ok()) return usage_error(widths.status().message());
  o.distiller.hidden = *widths;
  o.labels.policy = *ParseLabelPolicy(policy);
  o.seed = static_cast<uint64_t>(seed);
  if (Status s = o.Validate(); !s.ok()) return usage_error(s.message());
  if (!o.run_dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(o.run_dir, ec);
    if (ec) return usage_error("--run-dir: cannot create " + o.run_dir + ": " + ec.message());
  }
  Result<FraudLoopResult> result = RunFraudLoop(o, [](const std::string& line) {
    std::fprintf(stderr, "%s\n", line.c_str());
  });
  if (!result.ok()) {
    std::fprintf(stderr, "apprentice fraud run: %s\n", result.status().message().c_str());
    return result.status().code() == StatusCode::kInvalidArgument ||
                   result.status().code() == StatusCode::kNotFound
               ? 2
               : 1;
  }
  const Json& j = result->summary;
  if (json) {
    std::printf("%s\n", j.Dump(2).c_str());
    return 0;
  }
  Table table({"measure (test window)", "executor", "teacher alone"});
  auto value = [&](const char* who, const char* key) {
    const Json* side = j.Find(who);
    const Json* v = side != nullptr ? side->Find(key) : nullptr;
    return v == nullptr ? std::string("-") : Format("%.3f", v->AsNumber());
  };
  for (const char* key : {"average_precision", "card_precision_at_100", "recall_at_fpr_1pct",
                          "cost", "declined_genuine", "frauds_missed"}) {
    table.AddRow({key, value("executor", key), value("teacher", key)});
  }
  const Json& lat = *j.Find("latency_us");
  table.AddRow({"decision latency p50 / p99 (us)",
                Format("%.1f / %.1f", lat.Find("executor_service_p50")->AsNumber(),
                       lat.Find("executor_service_p99")->AsNumber()),
                Format("%.1f / %.1f", lat.Find("teacher_p50")->AsNumber(),
                       lat.Find("teacher_p99")->AsNumber())});
  std::printf("%s", table.ToString().c_str());
  std::printf("payments served %lld, teacher labels %lld (%.2f %%), chargebacks %lld, "
              "round trip p50 / p99 %.1f / %.1f us, %.0f s\n",
              static_cast<long long>(j.Find("served_payments")->AsInt()),
              static_cast<long long>(j.Find("teacher_labels")->AsInt()),
              100.0 * j.Find("teacher_labelled_share")->AsNumber(),
              static_cast<long long>(j.Find("chargebacks_sent")->AsInt()),
              lat.Find("round_trip_p50")->AsNumber(), lat.Find("round_trip_p99")->AsNumber(),
              j.Find("seconds")->AsNumber());
  return 0;
}

}  // namespace

int FraudCommand(const std::vector<std::string>& args) {
  if (args.empty() || args[0] == "--help" || args[0] == "-h") {
    std::fprintf(args.empty() ? stderr : stdout,
                 "usage: apprentice fraud <subcommand> [flags]\n\n"
                 "Subcommands:\n"
                 "  generate  a transaction stream with labelled frauds and its online features\n"
                 "  run       replay a stream through the decision service and measure\n\n"
                 "Run 'apprentice fraud <subcommand> --help' for its flags.\n");
    return args.empty() ? 2 : 0;
  }
  const std::vector<std::string> rest(args.begin() + 1, args.end());
  if (args[0] == "generate") return Generate(rest);
  if (args[0] == "run") return Run(rest);
  std::fprintf(stderr, "apprentice fraud: unknown subcommand '%s' (try --help)\n",
               args[0].c_str());
  return 2;
}

}  // namespace apprentice
