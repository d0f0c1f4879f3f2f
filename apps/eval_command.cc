// apprentice eval --logs PATH --policy FILE: how well an executor snapshot matches the planner
// labels in an episode log, and (with --env) what it earns when it acts alone.
#include <cstdio>
#include <memory>
#include <optional>

#include "apps/commands.h"
#include "apps/flag_values.h"
#include "apps/log_report.h"
#include "apps/table.h"
#include "core/flags.h"
#include "env/registry.h"
#include "executor/snapshot_file.h"
#include "runtime/offline.h"

namespace apprentice {
namespace {

constexpr const char* kUsage =
    "usage: apprentice eval --logs PATH --policy FILE [--env NAME] [--episodes N] [--seed S]\n"
    "                       [--json]\n"
    "\n"
    "Loads the executor snapshot FILE and scores it on every labelled record of the episode log\n"
    "PATH (a segment file or a log directory): top-1 agreement with the logged planner action\n"
    "and the mean KL(planner || policy) between the two distributions (softmax of the logits at\n"
    "temperature 1; Gaussian heads: the Gaussian KL, and the RMSE of the mean against the planner\n"
    "action instead of agreement), overall and per episode with the logged return. With --env,\n"
    "the policy also acts alone in that environment for --episodes episodes (seeds drawn from\n"
    "--seed) and the mean and min return are reported. Damage in the log is reported (count and\n"
    "the first few stretches) and skipped; it does not stop the evaluation.\n"
    "\n"
    "Exit codes: 1 when a file cannot be read, 2 for bad flags or a policy that does not fit the\n"
    "log or the env (observation size, action count).";

constexpr size_t kDamageShown = 3;

Json ToJson(const std::string& policy_path, const LoadedSnapshot& policy, const LogEvaluation& ev,
            const RolloutResult* rollout) {
  Json::Array episodes;
  for (const EpisodeScore& e : ev.episodes) {
    Json row = Json{{"id", e.id}, {"steps", e.steps}};
    row.Set("labelled", e.score.decisions);
    row.Set("agreement", e.score.agreement());
    row.Set("mean_kl", e.score.mean_kl());
    row.Set("action_rmse", e.score.action_rmse());
    row.Set("return", e.return_sum);
    row.Set("complete", e.complete);
    episodes.push_back(std::move(row));
  }
  Json out = Json{{"logs", ev.path},
                  {"policy", policy_path},
                  {"policy_spec", policy.snapshot->spec().ToString()},
                  {"policy_version", policy.snapshot->version()},
                  {"policy_env", policy.info.env},
                  {"records", ev.records}};
  out.Set("labelled", ev.overall.decisions);
  out.Set("agreement", ev.overall.agreement());
  out.Set("mean_kl", ev.overall.mean_kl());
  out.Set("action_rmse", ev.overall.action_rmse());
  out.Set("episodes", std::move(episodes));
  out.Set("damage_count", static_cast<int64_t>(ev.damage.size()));
  out.Set("damage", DamageJson(ev.damage));
  out.Set("rollout", rollout != nullptr ? rollout->ToJson() : Json());
  return out;
}

void PrintTables(const std::string& policy_path, const LoadedSnapshot& policy,
                 const LogEvaluation& ev, const RolloutResult* rollout) {
  const PolicyScore& s = ev.overall;
  const bool categorical = s.head == HeadKind::kCategorical;
  Table t({"metric", "value"});
  if (categorical) {
    t.AddRow({"agreement",
              Format("%s  (%lld of %lld labelled decisions)", Percent(s.agreement()).c_str(),
                     static_cast<long long>(s.agreed), static_cast<long long>(s.decisions))});
  } else {
    t.AddRow({"action RMSE",
              Format("%s  (%lld labelled decisions)", Num("%.4f", s.action_rmse()).c_str(),
                     static_cast<long long>(s.decisions))});
  }
  t.AddRow({"mean KL(planner || policy)", Num("%.4f nats", s.mean_kl())});
  t.AddRow({"records", Format("%lld  (%zu episodes)", static_cast<long long>(ev.records),
                              ev.episodes.size())});
  if (rollout != nullptr) {
    t.AddRow({"rollout return (" + rollout->env + ")",
              Format("mean %.1f, min %.1f, max %.1f  (%zu episodes, seed %llu)", rollout->mean(),
                     rollout->min(), rollout->max(), rollout->returns.size(),
                     static_cast<unsigned long long>(rollout->seed))});
  }
  t.AddRow({"damage", DamageCount(ev.damage)});
  std::printf("apprentice eval: policy %s (%s, version %lld) on log %s\n\n%s", policy_path.c_str(),
              policy.snapshot->spec().ToString().c_str(),
              static_cast<long long>(policy.snapshot->version()), ev.path.c_str(),
              t.ToString().c_str());
  if (!ev.damage.empty()) {
    std::printf("\ndamage (skipped):\n%s", DamageTable(ev.damage, kDamageShown).c_str());
  }
  Table e({"episode", "labelled", categorical ? "agreement" : "action RMSE", "mean KL", "return",
           "steps", "complete"});
  for (const EpisodeScore& ep : ev.episodes) {
    e.AddRow({std::to_string(ep.id), std::to_string(ep.score.decisions),
              categorical ? Percent(ep.score.agreement()) : Num("%.4f", ep.score.action_rmse()),
              Num("%.4f", ep.score.mean_kl()), Format("%.1f", ep.return_sum),
              std::to_string(ep.steps), ep.complete ? "yes" : "no"});
  }
  std::printf("\nepisodes:\n%s", e.ToString().c_str());
}

}  // namespace

int EvalCommand(const std::vector<std::string>& args) {
  std::string logs, policy_path, env_name;
  int64_t episodes = 10, seed = 1;
  bool json = false;
  FlagSet flags(kUsage);
  flags.String("logs", &logs, "required: the episode log: a segment file, a log directory or a run directory");
  flags.String("policy", &policy_path, "required: the executor snapshot file to evaluate");
  std::vector<std::string> env_choices = EnvNames();
  flags.String("env", &env_name, "also roll the policy out alone in this environment", env_choices);
  flags.Int("episodes", &episodes, "--env: rollout episodes", 1, 1'000'000);
  flags.Int("seed", &seed, "--env: seed of the rollout episodes", 0, INT64_MAX);
  flags.Bool("json", &json, "print JSON instead of tables (keys: docs/cli.md)");

  if (std::optional<int> done = ParseCommandFlags(flags, args, "apprentice eval")) return *done;
  for (const char* required : {"logs", "policy"}) {
    if (!flags.WasSet(required)) {
      std::fprintf(stderr, "apprentice eval: --%s is required (see --help)\n", required);
      return 2;
    }
  }

  Result<LoadedSnapshot> policy = LoadSnapshot(policy_path);
  if (!policy.ok()) {
    std::fprintf(stderr, "apprentice eval: --policy: %s\n", policy.status().message().c_str());
    return 1;
  }
  // The env is checked before the log is read, so that a mismatch costs nothing.
  if (!env_name.empty()) {
    std::unique_ptr<Env> env = MakeEnv(env_name).ValueOrThrow();
    if (Status s = CheckSnapshotFitsEnv(policy->snapshot->spec(), *env); !s.ok()) {
      std::fprintf(stderr, "apprentice eval: --env: %s\n", s.message().c_str());
      return 2;
    }
  }
  // A policy that does not fit the log is bad usage, found on the first labelled record; a
  // log that changes shape later is a failure while running.
  Result<std::optional<DecisionRecord>> first = FirstLabelledRecord(logs);
  if (!first.ok()) {
    std::fprintf(stderr, "apprentice eval: --logs: %s\n", first.status().message().c_str());
    return 1;
  }
  if (first->has_value()) {
    PolicyScorer scorer(policy->snapshot);
    if (Status s = scorer.CheckFits(**first); !s.ok()) {
      std::fprintf(stderr, "apprentice eval: %s\n", s.message().c_str());
      return 2;
    }
  }
  Result<LogEvaluation> ev = EvaluateOnLog(logs, policy->snapshot);
  if (!ev.ok()) {
    std::fprintf(stderr, "apprentice eval: --logs: %s\n", ev.status().message().c_str());
    return 1;
  }
  if (ev->overall.decisions == 0) {
    std::fprintf(stderr,
                 "apprentice eval: the log at %s holds no labelled records (%lld records read): "
                 "nothing to compare the policy with\n",
                 logs.c_str(), static_cast<long long>(ev->records));
    return 1;
  }
  std::unique_ptr<RolloutResult> rollout;
  if (!env_name.empty()) {
    rollout = std::make_unique<RolloutResult>(
        Rollout(policy->snapshot, env_name, episodes, static_cast<uint64_t>(seed)).ValueOrThrow());
  }
  if (json) {
    std::printf("%s\n", ToJson(policy_path, *policy, *ev, rollout.get()).Dump(2).c_str());
  } else {
    PrintTables(policy_path, *policy, *ev, rollout.get());
  }
  return 0;
}

}  // namespace apprentice
