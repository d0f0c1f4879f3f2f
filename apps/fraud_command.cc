// apprentice fraud: the fraud-decision loop's tools. `generate` writes a transaction stream with
// its online features (fraud/features.h, docs/fraud.md).
#include <cstdio>
#include <string>
#include <vector>

#include "apps/commands.h"
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
    std::fprintf(stderr, "apprentice fraud generate: %s\n", message.c_str());
    return 2;
  };
  if (Status s = flags.Parse(args); !s.ok()) return usage_error(s.message());
  if (flags.help_requested()) {
    std::printf("%s", flags.Help().c_str());
    return 0;
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

}  // namespace

int FraudCommand(const std::vector<std::string>& args) {
  if (args.empty() || args[0] == "--help" || args[0] == "-h") {
    std::fprintf(args.empty() ? stderr : stdout,
                 "usage: apprentice fraud <subcommand> [flags]\n\n"
                 "Subcommands:\n"
                 "  generate  a transaction stream with labelled frauds and its online features\n\n"
                 "Run 'apprentice fraud <subcommand> --help' for its flags.\n");
    return args.empty() ? 2 : 0;
  }
  const std::vector<std::string> rest(args.begin() + 1, args.end());
  if (args[0] == "generate") return Generate(rest);
  std::fprintf(stderr, "apprentice fraud: unknown subcommand '%s' (try --help)\n",
               args[0].c_str());
  return 2;
}

}  // namespace apprentice
