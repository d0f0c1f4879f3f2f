// apprentice eval --logs PATH --policy FILE: how well an executor snapshot matches the planner
// labels in an episode log, and (with --env) what it earns when it acts alone. With --ope: what
// one or several snapshots would have earned on the logged episodes (runtime/ope.h), ranked.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <optional>

#include "apps/commands.h"
#include "apps/flag_values.h"
#include "apps/log_report.h"
#include "apps/signals.h"
#include "apps/table.h"
#include "core/flags.h"
#include "env/registry.h"
#include "executor/snapshot_file.h"
#include "runtime/offline.h"
#include "runtime/ope.h"

namespace apprentice {
namespace {

constexpr const char* kUsage =
    "usage: apprentice eval --logs PATH --policy FILE [--env NAME] [--episodes N] [--seed S]\n"
    "                       [--json]\n"
    "       apprentice eval --ope --logs PATH --policy FILE [--policy FILE ...] [--env NAME]\n"
    "       apprentice eval --policy FILE --env NAME [--actions sample] [--log-rollouts DIR]\n"
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
    "--ope (off-policy evaluation, docs/ope.md): for every --policy, what it would have earned\n"
    "on the logged episodes, from the behaviour probabilities the log records: trajectory-wise\n"
    "and per-decision importance sampling (is, pdis), their self-normalised forms (wis, wpdis),\n"
    "the direct method (dm) and doubly robust (dr) with a Q-function fitted to the log (fitted Q\n"
    "evaluation; --fqe-iterations), each with a bootstrap interval, next to the logged policy's\n"
    "own return; the effective sample size and warnings (support, few effective episodes).\n"
    "Candidates are ranked by --rank-by. The log needs no planner labels, but every record must\n"
    "carry its behaviour probability (logs of record revision 2). --actions and --epsilon say\n"
    "how the candidates act, here and in the --env rollouts that check the estimates.\n"
    "\n"
    "Without --logs, --env only rolls the policy out; --log-rollouts DIR writes those episodes\n"
    "as an episode log with each action's behaviour probability: a log of a known policy.\n"
    "Progress goes to stderr (--quiet turns it off).\n"
    "\n"
    "Exit codes: 1 when a file cannot be read or the log cannot serve (no labels without --ope;\n"
    "no behaviour probabilities with it), 2 for bad flags or a policy that does not fit the log\n"
    "or the env (observation size, action count); 130/143 when stopped by a signal.";

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


// ---------------------------------------------------------------------------------------------
// --ope
// ---------------------------------------------------------------------------------------------

const char* const kEstimators[] = {"dr", "dm", "wpdis", "pdis", "wis", "is"};

std::string Interval(const OpeEstimate& e) {
  return Format("%.2f  [%.2f, %.2f]", e.value, e.low, e.high);
}

Json EstimateJson(const OpeEstimate& e) {
  return Json{{"value", e.value}, {"low", e.low}, {"high", e.high}};
}

Json OpeJson(const OffPolicyEvaluation& ev, const OffPolicyOptions& o, const std::string& rank_by,
             const std::vector<std::unique_ptr<RolloutResult>>& rollouts) {
  Json::Array candidates;
  for (size_t i = 0; i < ev.candidates.size(); ++i) {
    const CandidateEstimate& c = ev.candidates[i];
    Json estimates;
    for (const OpeEstimate& e : c.report.estimates) estimates.Set(e.estimator, EstimateJson(e));
    Json::Array warnings;
    for (const std::string& w : c.report.warnings) warnings.push_back(w);
    Json row = Json{{"policy", c.name}, {"estimates", std::move(estimates)}};
    row.Set("effective_sample_size", c.report.effective_sample_size);
    row.Set("zero_weight_share", c.report.zero_weight_share);
    row.Set("unsupported_share", c.report.unsupported_share);
    row.Set("logged_action_probability", c.report.logged_action_probability);
    row.Set("warnings", std::move(warnings));
    row.Set("fqe", o.fit_q ? Json{{"iterations", c.fqe_iterations},
                                  {"loss", c.fqe_loss},
                                  {"seconds", c.fqe_seconds},
                                  {"refits", o.fqe_refits},
                                  {"refit_sd_dm", c.refit_sd_dm},
                                  {"refit_sd_dr", c.refit_sd_dr}}
                           : Json());
    row.Set("rollout", i < rollouts.size() && rollouts[i] ? rollouts[i]->ToJson() : Json());
    candidates.push_back(std::move(row));
  }
  Json::Array ranking;
  for (size_t i : ev.Ranking(rank_by)) ranking.push_back(ev.candidates[i].name);
  Json out = Json{{"logs", ev.path}, {"records", ev.records}, {"episodes", ev.episodes}};
  out.Set("logged_return", ev.logged_return);
  out.Set("discount", o.estimate.discount);
  out.Set("clip", o.estimate.clip);
  out.Set("confidence", o.estimate.confidence);
  out.Set("bootstrap", o.estimate.bootstrap);
  out.Set("actions", o.policy.sample ? "sample" : "greedy");
  out.Set("epsilon", o.policy.epsilon);
  out.Set("rank_by", rank_by);
  out.Set("candidates", std::move(candidates));
  out.Set("ranking", std::move(ranking));
  out.Set("interrupted", ev.interrupted);
  out.Set("damage_count", static_cast<int64_t>(ev.damage.size()));
  out.Set("damage", DamageJson(ev.damage));
  return out;
}

void PrintOpeTables(const OffPolicyEvaluation& ev, const OffPolicyOptions& o,
                    const std::string& rank_by,
                    const std::vector<std::unique_ptr<RolloutResult>>& rollouts) {
  std::printf(
      "apprentice eval --ope: %zu candidate(s) on log %s\n"
      "%lld records, %lld episodes; logged policy's return %.2f (discount %g); candidates act %s"
      "%s; %d %% bootstrap intervals (%lld resamples)\n",
      ev.candidates.size(), ev.path.c_str(), static_cast<long long>(ev.records),
      static_cast<long long>(ev.episodes), ev.logged_return, o.estimate.discount,
      o.policy.sample ? "by sampling" : "greedily",
      o.policy.epsilon > 0.0 ? Format(" with epsilon %g", o.policy.epsilon).c_str() : "",
      static_cast<int>(o.estimate.confidence * 100.0 + 0.5),
      static_cast<long long>(o.estimate.bootstrap));
  if (!ev.damage.empty()) {
    std::printf("\ndamage (skipped):\n%s", DamageTable(ev.damage, kDamageShown).c_str());
  }
  for (size_t i = 0; i < ev.candidates.size(); ++i) {
    const CandidateEstimate& c = ev.candidates[i];
    Table t({"estimate", "value  [interval]"});
    for (const char* name : kEstimators) {
      if (const OpeEstimate* e = c.report.Find(name)) t.AddRow({name, Interval(*e)});
    }
    if (i < rollouts.size() && rollouts[i]) {
      t.AddRow({"rollout return (" + rollouts[i]->env + ")",
                Format("%.2f  (mean of %zu episodes; %.1f undiscounted)",
                       rollouts[i]->discounted_mean(), rollouts[i]->returns.size(),
                       rollouts[i]->mean())});
    }
    t.AddRow({"effective sample size",
              Format("%.1f of %lld episodes", c.report.effective_sample_size,
                     static_cast<long long>(c.report.episodes))});
    t.AddRow({"zero-weight episodes", Percent(c.report.zero_weight_share)});
    t.AddRow({"unsupported probability", Percent(c.report.unsupported_share)});
    t.AddRow({"P(logged action)", Num("%.3f", c.report.logged_action_probability)});
    if (o.fit_q) {
      t.AddRow({"fitted Q", Format("%lld iterations, loss %.2e, %.1f s",
                                   static_cast<long long>(c.fqe_iterations), c.fqe_loss,
                                   c.fqe_seconds)});
      if (o.fqe_refits > 1) {
        t.AddRow({"refits (dm, dr spread)",
                  Format("%lld: sd %.3f, %.3f", static_cast<long long>(o.fqe_refits),
                         c.refit_sd_dm, c.refit_sd_dr)});
      }
    }
    std::printf("\ncandidate %s:\n%s", c.name.c_str(), t.ToString().c_str());
    for (const std::string& w : c.report.warnings) std::printf("warning: %s\n", w.c_str());
  }
  Table r({"rank", "policy", rank_by + "  [interval]"});
  const std::vector<size_t> order = ev.Ranking(rank_by);
  for (size_t k = 0; k < order.size(); ++k) {
    const CandidateEstimate& c = ev.candidates[order[k]];
    const OpeEstimate* e = c.report.Find(rank_by);
    r.AddRow({std::to_string(k + 1), c.name, e != nullptr ? Interval(*e) : "-"});
  }
  std::printf("\nranking by %s:\n%s", rank_by.c_str(), r.ToString().c_str());
  if (ev.interrupted) std::printf("\ninterrupted: the candidates after the last one shown are missing\n");
}

}  // namespace

int EvalCommand(const std::vector<std::string>& args) {
  std::string logs, env_name, actions = "greedy", rank_by = "dr", log_rollouts, fqe_hidden = "64,64";
  std::vector<std::string> policy_paths;
  int64_t episodes = 10, seed = 1, bootstrap = 200, fqe_iterations = 0, fqe_updates = 20, fqe_refits = 5;
  double epsilon = 0.0, discount = 1.0, clip = 0.0, confidence = 0.95;
  bool json = false, ope = false, no_fqe = false, quiet = false;
  FlagSet flags(kUsage);
  flags.String("logs", &logs, "the episode log: a segment file, a log directory or a run directory (required unless --env rolls out alone)");
  flags.List("policy", &policy_paths, "required: an executor snapshot file to evaluate (repeatable with --ope: several candidates)");
  std::vector<std::string> env_choices = EnvNames();
  flags.String("env", &env_name, "also roll the policy out alone in this environment", env_choices);
  flags.Int("episodes", &episodes, "--env: rollout episodes", 1, 1'000'000);
  flags.Int("seed", &seed, "seed of the rollout episodes, the bootstrap and the fitted Q", 0, INT64_MAX);
  flags.String("actions", &actions, "how the policy acts (--ope and rollouts): its greedy action, or a draw from its head", {"greedy", "sample"});
  flags.Double("epsilon", &epsilon, "with this probability a uniformly random legal action instead (Discrete actions)", 0.0, 1.0);
  flags.String("log-rollouts", &log_rollouts, "--env: write the rollouts as an episode log in this new directory, with behaviour probabilities");
  flags.Bool("ope", &ope, "off-policy estimates of every --policy's value on the log (see above)");
  flags.Double("discount", &discount, "--ope: discount of the returns estimated", 1e-6, 1.0);
  flags.Double("clip", &clip, "--ope: cap on each per-decision importance ratio; 0 = none", 0.0, 1e300);
  flags.Int("bootstrap", &bootstrap, "--ope: bootstrap resamples of the episodes for the intervals; 0 = none", 0, 100'000);
  flags.Double("confidence", &confidence, "--ope: confidence of the intervals", 0.5, 0.999);
  flags.String("rank-by", &rank_by, "--ope: the estimate candidates are ranked by", {"dr", "dm", "wpdis", "pdis", "wis", "is"});
  flags.Bool("no-fqe", &no_fqe, "--ope: importance sampling only, no fitted Q (no dm, dr)");
  flags.Int("fqe-iterations", &fqe_iterations, "--ope: fitted-Q target refreshes; 0 = min(longest episode, 7 / (1 - discount)) + 20, at most 1000", 0, 100'000);
  flags.Int("fqe-updates", &fqe_updates, "--ope: Adam steps per fitted-Q iteration", 1, 100'000);
  flags.Int("fqe-refits", &fqe_refits, "--ope: refits of the fitted Q on bootstrap resamples, whose spread widens the dm and dr intervals (docs/ope.md); 0 = none (faster, narrower)", 0, 1000);
  flags.String("fqe-hidden", &fqe_hidden, "--ope: fitted-Q network hidden widths, comma-separated");
  flags.Bool("quiet", &quiet, "no progress lines on stderr");
  flags.Bool("json", &json, "print JSON instead of tables (keys: docs/cli.md)");

  if (std::optional<int> done = ParseCommandFlags(flags, args, "apprentice eval")) return *done;
  auto usage = [](const std::string& what) {
    std::fprintf(stderr, "apprentice eval: %s (see --help)\n", what.c_str());
    return 2;
  };
  if (policy_paths.empty()) return usage("--policy is required");
  if (logs.empty() && env_name.empty()) return usage("--logs is required (or --env alone, to roll out)");
  if (ope && logs.empty()) return usage("--ope needs --logs");
  if (!ope && policy_paths.size() > 1) return usage("several --policy need --ope");
  if (!log_rollouts.empty() && env_name.empty()) return usage("--log-rollouts needs --env");
  if (!log_rollouts.empty() && policy_paths.size() > 1) {
    return usage("--log-rollouts takes one --policy");
  }
  if (no_fqe && (rank_by == "dr" || rank_by == "dm")) {
    if (flags.WasSet("rank-by")) {
      return usage("--rank-by " + rank_by + " needs the fitted Q (drop --no-fqe)");
    }
    rank_by = "wpdis";
  }
  OffPolicyOptions o;
  o.policy.sample = actions == "sample";
  o.policy.epsilon = epsilon;
  o.estimate.discount = discount;
  o.estimate.clip = clip;
  o.estimate.bootstrap = bootstrap;
  o.estimate.confidence = confidence;
  o.estimate.seed = static_cast<uint64_t>(seed);
  o.fit_q = !no_fqe;
  o.fqe.iterations = fqe_iterations;
  o.fqe.updates_per_iteration = fqe_updates;
  o.fqe_refits = fqe_refits;
  Result<std::vector<int64_t>> widths = ParseHiddenWidths(fqe_hidden);
  if (!widths.ok()) return usage("--fqe-hidden: " + widths.status().message());
  o.fqe.hidden = *widths;
  if (Status s = o.Validate(); !s.ok()) return usage(s.message());

  std::vector<LoadedSnapshot> policies;
  for (const std::string& path : policy_paths) {
    Result<LoadedSnapshot> policy = LoadSnapshot(path);
    if (!policy.ok()) {
      std::fprintf(stderr, "apprentice eval: --policy: %s\n", policy.status().message().c_str());
      return 1;
    }
    policies.push_back(std::move(*policy));
  }
  // The env is checked before the log is read, so that a mismatch costs nothing.
  if (!env_name.empty()) {
    std::unique_ptr<Env> env = MakeEnv(env_name).ValueOrThrow();
    for (size_t i = 0; i < policies.size(); ++i) {
      if (Status s = CheckSnapshotFitsEnv(policies[i].snapshot->spec(), *env); !s.ok()) {
        std::fprintf(stderr, "apprentice eval: --env: %s%s\n",
                     policies.size() > 1 ? (policy_paths[i] + ": ").c_str() : "",
                     s.message().c_str());
        return 2;
      }
      if (epsilon > 0.0 && !env->action_space().is_discrete()) {
        return usage("--epsilon applies to Discrete actions; " + env_name + "'s are " +
                     env->action_space().ToString());
      }
    }
  }
  const bool tty = isatty(STDERR_FILENO) != 0;
  RolloutOptions rollout_options;
  rollout_options.policy = o.policy;
  rollout_options.log_dir = log_rollouts;
  rollout_options.discount = discount;
  auto roll_out = [&](size_t i) -> std::unique_ptr<RolloutResult> {
    if (env_name.empty()) return nullptr;
    if (!quiet) {
      std::fprintf(stderr, "apprentice eval: rolling %s out in %s (%lld episodes)\n",
                   policy_paths[i].c_str(), env_name.c_str(), static_cast<long long>(episodes));
    }
    Result<RolloutResult> r = Rollout(policies[i].snapshot, env_name, episodes,
                                      static_cast<uint64_t>(seed), {}, rollout_options);
    if (!r.ok()) {
      std::fprintf(stderr, "apprentice eval: --env: %s\n", r.status().message().c_str());
      return nullptr;
    }
    return std::make_unique<RolloutResult>(std::move(*r));
  };

  if (logs.empty()) {  // rollouts alone
    std::unique_ptr<RolloutResult> rollout = roll_out(0);
    if (!rollout) return 1;
    if (json) {
      Json out = rollout->ToJson();
      out.Set("policy", policy_paths[0]);
      out.Set("actions", actions);
      out.Set("epsilon", epsilon);
      out.Set("log", log_rollouts.empty() ? Json() : Json(log_rollouts));
      std::printf("%s\n", out.Dump(2).c_str());
    } else {
      Table t({"metric", "value"});
      t.AddRow({"rollout return (" + rollout->env + ")",
                Format("mean %.2f, min %.1f, max %.1f  (%zu episodes, seed %llu)", rollout->mean(),
                       rollout->min(), rollout->max(), rollout->returns.size(),
                       static_cast<unsigned long long>(rollout->seed))});
      t.AddRow({"actions", epsilon > 0.0 ? Format("%s, epsilon %g", actions.c_str(), epsilon) : actions});
      if (!log_rollouts.empty()) t.AddRow({"episode log", log_rollouts});
      std::printf("apprentice eval: policy %s\n\n%s", policy_paths[0].c_str(), t.ToString().c_str());
    }
    return 0;
  }

  if (ope) {
    // A candidate that does not fit the log is bad usage, found on its first record.
    Result<std::optional<DecisionRecord>> first = FirstRecord(logs);
    if (!first.ok()) {
      std::fprintf(stderr, "apprentice eval: --logs: %s\n", first.status().message().c_str());
      return 1;
    }
    if (first->has_value()) {
      for (size_t i = 0; i < policies.size(); ++i) {
        if (Status s = CheckCandidateFits(policies[i].snapshot->spec(), **first); !s.ok()) {
          std::fprintf(stderr, "apprentice eval: --policy %s: %s\n", policy_paths[i].c_str(),
                       s.message().c_str());
          return 2;
        }
      }
    }
    std::vector<OffPolicyCandidate> candidates;
    for (size_t i = 0; i < policies.size(); ++i) {
      candidates.push_back({policy_paths[i], policies[i].snapshot});
    }
    auto last = std::chrono::steady_clock::now() - std::chrono::hours(1);
    std::function<void(const OffPolicyProgress&)> progress;
    if (!quiet) {
      progress = [&](const OffPolicyProgress& p) {
        const auto now = std::chrono::steady_clock::now();
        if (p.iteration != p.iterations && now - last < std::chrono::milliseconds(tty ? 250 : 1000)) return;
        last = now;
        const std::string line =
            Format("candidate %zu/%zu (%s): fitted Q %lld/%lld, iteration %lld/%lld, loss %.2e",
                   p.candidate + 1, p.candidates, policy_paths[p.candidate].c_str(),
                   static_cast<long long>(p.fit + 1), static_cast<long long>(p.fits),
                   static_cast<long long>(p.iteration), static_cast<long long>(p.iterations), p.loss);
        std::fprintf(stderr, tty ? "\r\033[K%s" : "%s\n", line.c_str());
      };
    }
    Result<OffPolicyEvaluation> ev = EvaluateOffPolicyOnLog(logs, candidates, o, progress, &ProcessStop());
    if (tty && !quiet) std::fprintf(stderr, "\n");
    if (!ev.ok()) {
      std::fprintf(stderr, "apprentice eval: --ope: %s\n", ev.status().message().c_str());
      return 1;
    }
    std::vector<std::unique_ptr<RolloutResult>> rollouts;
    for (size_t i = 0; i < ev->candidates.size() && !ev->interrupted; ++i) {
      rollouts.push_back(roll_out(i));
      if (!env_name.empty() && !rollouts.back()) return 1;
    }
    if (json) {
      std::printf("%s\n", OpeJson(*ev, o, rank_by, rollouts).Dump(2).c_str());
    } else {
      PrintOpeTables(*ev, o, rank_by, rollouts);
    }
    return ev->interrupted ? StopExitCode() : 0;
  }

  const LoadedSnapshot& policy = policies[0];
  const std::string& policy_path = policy_paths[0];
  // A policy that does not fit the log is bad usage, found on the first labelled record; a
  // log that changes shape later is a failure while running.
  Result<std::optional<DecisionRecord>> first = FirstLabelledRecord(logs);
  if (!first.ok()) {
    std::fprintf(stderr, "apprentice eval: --logs: %s\n", first.status().message().c_str());
    return 1;
  }
  if (first->has_value()) {
    PolicyScorer scorer(policy.snapshot);
    if (Status s = scorer.CheckFits(**first); !s.ok()) {
      std::fprintf(stderr, "apprentice eval: %s\n", s.message().c_str());
      return 2;
    }
  }
  Result<LogEvaluation> ev = EvaluateOnLog(logs, policy.snapshot);
  if (!ev.ok()) {
    std::fprintf(stderr, "apprentice eval: --logs: %s\n", ev.status().message().c_str());
    return 1;
  }
  if (ev->overall.decisions == 0) {
    std::fprintf(stderr,
                 "apprentice eval: the log at %s holds no labelled records (%lld records read): "
                 "nothing to compare the policy with (--ope estimates a policy's value without "
                 "labels)\n",
                 logs.c_str(), static_cast<long long>(ev->records));
    return 1;
  }
  std::unique_ptr<RolloutResult> rollout = roll_out(0);
  if (!env_name.empty() && !rollout) return 1;
  if (json) {
    std::printf("%s\n", ToJson(policy_path, policy, *ev, rollout.get()).Dump(2).c_str());
  } else {
    PrintTables(policy_path, policy, *ev, rollout.get());
  }
  return 0;
}

}  // namespace apprentice
