// apprentice distill --logs PATH --out FILE: trains an executor offline from the planner labels
// of an episode log, scores it on held-out episodes, and saves it as a snapshot file.
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <sstream>

#include "apps/commands.h"
#include "apps/flag_values.h"
#include "apps/log_report.h"
#include "apps/signals.h"
#include "apps/table.h"
#include "core/flags.h"
#include "env/registry.h"
#include "executor/snapshot_file.h"
#include "runtime/offline.h"

namespace apprentice {
namespace {

constexpr const char* kUsage =
    "usage: apprentice distill --logs PATH --out FILE [--holdout F] [--epochs N | --updates N]\n"
    "                          [--seed S] [--hidden W,W] [--batch-size B] [--lr X]\n"
    "                          [--temperature T] [--alpha A] [--env NAME] [--json] [--quiet]\n"
    "\n"
    "Trains an executor from scratch on the labelled records of the episode log PATH (a segment\n"
    "file or a log directory) with the distiller's online loss, in epochs of shuffled\n"
    "mini-batches. A fraction of the EPISODES is held out (split by episode id, drawn from\n"
    "--seed), so held-out states are not near-duplicates of training states; the final weights\n"
    "are scored on them (agreement with the planner, mean KL(planner || policy)). The snapshot\n"
    "is saved to FILE with the log's env and spaces; --env also rolls it out alone for its\n"
    "return. Progress goes to stderr (--quiet turns it off), the result to stdout (--json).\n"
    "The same log and flags give the same snapshot, bit for bit.\n"
    "\n"
    "Exit codes: 1 when the log cannot be read or cannot serve (no labels, one episode with a\n"
    "holdout) or FILE cannot be written, 2 for bad flags or an --env the log does not fit.";

constexpr size_t kDamageShown = 3;

// Ok if `path` can be created: its directory exists and is writable. Checked before training,
// so that a typo does not cost the whole run.
Status CheckOutPath(const std::string& path) {
  namespace fs = std::filesystem;
  const fs::path p(path);
  if (p.filename().empty())
    return Status::InvalidArgument("--out: '" + path + "' names a directory");
  std::error_code ec;
  if (fs::is_directory(p, ec)) {
    return Status::InvalidArgument("--out: '" + path + "' is a directory; give a file name");
  }
  const fs::path dir = p.parent_path().empty() ? fs::path(".") : p.parent_path();
  if (!fs::is_directory(dir, ec)) {
    return Status::InvalidArgument("--out: cannot write " + path + ": directory " + dir.string() +
                                   " does not exist");
  }
  if (access(dir.c_str(), W_OK) != 0) {
    return Status::InvalidArgument("--out: cannot write " + path + ": directory " + dir.string() +
                                   " is not writable");
  }
  return Status::Ok();
}

struct Distilled {
  std::string out_path;
  const LabelledLog* log = nullptr;
  const OfflineDistillOptions* options = nullptr;
  const OfflineDistillResult* result = nullptr;
  const RolloutResult* rollout = nullptr;  // null without --env
};

Json ToJson(const Distilled& o) {
  const OfflineDistillResult& r = *o.result;
  const EpisodeSplit& split = r.split;
  Json::Array holdout_ids;
  for (int64_t id : split.holdout_episodes) holdout_ids.push_back(id);
  Json out = Json{{"logs", o.log->path},
                  {"out", o.out_path},
                  {"seed", static_cast<int64_t>(o.options->seed)},
                  {"spec", r.snapshot->spec().ToString()},
                  {"records", o.log->records_read},
                  {"labelled", static_cast<int64_t>(o.log->records.size())}};
  out.Set("train_episodes", static_cast<int64_t>(split.train_episodes.size()));
  out.Set("holdout_episodes", static_cast<int64_t>(split.holdout_episodes.size()));
  out.Set("train_records", static_cast<int64_t>(split.train.size()));
  out.Set("holdout_records", static_cast<int64_t>(split.holdout.size()));
  out.Set("holdout_episode_ids", std::move(holdout_ids));
  out.Set("updates", r.updates);
  out.Set("epochs", r.updates_per_epoch > 0
                        ? static_cast<double>(r.updates) / static_cast<double>(r.updates_per_epoch)
                        : 0.0);
  out.Set("final_loss", r.final_loss);
  out.Set("train_agreement", r.train.agreement());
  out.Set("train_mean_kl", r.train.mean_kl());
  out.Set("holdout_agreement", r.holdout.agreement());
  out.Set("holdout_mean_kl", r.holdout.mean_kl());
  out.Set("holdout_action_rmse", r.holdout.action_rmse());
  out.Set("train_seconds", r.seconds);
  out.Set("interrupted", r.interrupted);
  out.Set("damage_count", static_cast<int64_t>(o.log->damage.size()));
  out.Set("damage", DamageJson(o.log->damage));
  out.Set("rollout", o.rollout != nullptr ? o.rollout->ToJson() : Json());
  return out;
}

void PrintTable(const Distilled& o) {
  const OfflineDistillResult& r = *o.result;
  const EpisodeSplit& split = r.split;
  const bool categorical = r.snapshot->spec().head == HeadKind::kCategorical;
  Table t({"metric", "value"});
  t.AddRow({"labelled records", Format("%zu  (of %lld read)", o.log->records.size(),
                                       static_cast<long long>(o.log->records_read))});
  t.AddRow({"split", Format("train %zu episodes (%zu records), held out %zu (%zu records)",
                            split.train_episodes.size(), split.train.size(),
                            split.holdout_episodes.size(), split.holdout.size())});
  t.AddRow({"training",
            Format("%lld updates (%.1f epochs), %.1f s, final loss %.4f%s",
                   static_cast<long long>(r.updates),
                   r.updates_per_epoch > 0
                       ? static_cast<double>(r.updates) / static_cast<double>(r.updates_per_epoch)
                       : 0.0,
                   r.seconds, r.final_loss, r.interrupted ? "  interrupted" : "")});
  if (categorical) {
    t.AddRow({"train agreement", Percent(r.train.agreement())});
    t.AddRow({"held-out agreement", Percent(r.holdout.agreement())});
  } else {
    t.AddRow({"held-out action RMSE", Num("%.4f", r.holdout.action_rmse())});
  }
  t.AddRow({"held-out mean KL(planner || policy)", Num("%.4f nats", r.holdout.mean_kl())});
  if (o.rollout != nullptr) {
    t.AddRow({"rollout return (" + o.rollout->env + ")",
              Format("mean %.1f, min %.1f, max %.1f  (%zu episodes, seed %llu)", o.rollout->mean(),
                     o.rollout->min(), o.rollout->max(), o.rollout->returns.size(),
                     static_cast<unsigned long long>(o.rollout->seed))});
  }
  t.AddRow({"snapshot", o.out_path + "  (" + r.snapshot->spec().ToString() + ")"});
  t.AddRow({"damage", DamageCount(o.log->damage)});
  std::printf("apprentice distill: log %s, seed %llu\n\n%s", o.log->path.c_str(),
              static_cast<unsigned long long>(o.options->seed), t.ToString().c_str());
  if (!o.log->damage.empty()) {
    std::printf("\ndamage (skipped):\n%s", DamageTable(o.log->damage, kDamageShown).c_str());
  }
}

}  // namespace

int DistillCommand(const std::vector<std::string>& args) {
  OfflineDistillOptions o;
  std::string logs, out_path, env_name, hidden = "64,64";
  int64_t seed = static_cast<int64_t>(o.seed), episodes = 10;
  bool json = false, quiet = false;
  FlagSet flags(kUsage);
  flags.String("logs", &logs, "required: the episode log: a segment file, a log directory or a run directory");
  flags.String("out", &out_path, "required: the snapshot file to write");
  flags.Double("holdout", &o.holdout, "fraction of the episodes held out for scoring", 0, 0.9);
  flags.Int("epochs", &o.epochs, "passes over the training records", 1, 1'000'000);
  flags.Int("updates", &o.updates, "optimiser steps, instead of --epochs; 0 = use --epochs", 0,
            1'000'000'000);
  flags.Int("seed", &seed, "seeds the split, the initial weights and the batch order", 0,
            INT64_MAX);
  DeclareDistillerFlags(flags, o.distiller, hidden, /*publish_every=*/false);
  std::vector<std::string> env_choices = EnvNames();
  flags.String("env", &env_name, "roll the result out alone in this environment", env_choices);
  flags.Int("episodes", &episodes, "--env: rollout episodes", 1, 1'000'000);
  flags.Bool("json", &json, "print JSON instead of a table (keys: docs/cli.md)");
  flags.Bool("quiet", &quiet, "no progress lines on stderr");

  if (std::optional<int> done = ParseCommandFlags(flags, args, "apprentice distill")) return *done;
  for (const char* required : {"logs", "out"}) {
    if (!flags.WasSet(required)) {
      std::fprintf(stderr, "apprentice distill: --%s is required (see --help)\n", required);
      return 2;
    }
  }
  if (flags.WasSet("epochs") && o.updates > 0) {
    std::fprintf(stderr, "apprentice distill: give --epochs or --updates, not both\n");
    return 2;
  }
  Result<std::vector<int64_t>> widths = ParseHiddenWidths(hidden);
  if (!widths.ok()) {
    std::fprintf(stderr, "apprentice distill: %s\n", widths.status().message().c_str());
    return 2;
  }
  o.distiller.hidden = *widths;
  o.seed = static_cast<uint64_t>(seed);
  if (Status s = CheckOutPath(out_path); !s.ok()) {
    std::fprintf(stderr, "apprentice distill: %s\n", s.message().c_str());
    return 2;
  }

  Result<LabelledLog> log = ReadLabelledLog(logs);
  if (!log.ok()) {
    std::fprintf(stderr, "apprentice distill: --logs: %s\n", log.status().message().c_str());
    return 1;
  }
  std::unique_ptr<Env> env;
  if (!env_name.empty()) {
    env = MakeEnv(env_name).ValueOrThrow();
    const int64_t obs = log->observation_space.flat_size();
    const Space& act = log->action_space;
    const bool fits = env->observation_space().flat_size() == obs &&
                      env->action_space().is_discrete() == act.is_discrete() &&
                      (act.is_discrete() ? env->action_space().n() == act.n()
                                         : env->action_space().flat_size() == act.flat_size());
    if (!fits) {
      std::fprintf(stderr,
                   "apprentice distill: --env: %s (observations %s, actions %s) does not fit the "
                   "log (observations of %lld floats, actions %s)\n",
                   env_name.c_str(), env->observation_space().ToString().c_str(),
                   env->action_space().ToString().c_str(), static_cast<long long>(obs),
                   act.ToString().c_str());
      return 2;
    }
  }

  const bool tty = isatty(STDERR_FILENO) != 0;
  o.progress_interval_ns = tty ? 250'000'000 : 1'000'000'000;
  if (!quiet) {
    std::fprintf(stderr,
                 "apprentice distill: logs=%s labelled=%zu holdout=%g %s=%lld seed=%llu "
                 "hidden=%s batch=%lld lr=%g T=%g alpha=%g\n",
                 logs.c_str(), log->records.size(), o.holdout, o.updates > 0 ? "updates" : "epochs",
                 static_cast<long long>(o.updates > 0 ? o.updates : o.epochs),
                 static_cast<unsigned long long>(o.seed), hidden.c_str(),
                 static_cast<long long>(o.distiller.batch_size), o.distiller.learning_rate,
                 o.distiller.temperature, o.distiller.alpha);
    if (!log->damage.empty()) {
      std::fprintf(stderr, "apprentice distill: the log is damaged (%s); intact records used\n",
                   DamageCount(log->damage).c_str());
    }
  }
  OfflineDistillCallback progress;
  if (!quiet) {
    progress = [tty](const OfflineDistillProgress& p) {
      const std::string line =
          Format("[%6.1fs] update %lld/%lld  loss %.4f  train agreement %s", p.elapsed_s,
                 static_cast<long long>(p.update), static_cast<long long>(p.total_updates), p.loss,
                 Percent(p.train_agreement).c_str());
      std::fprintf(stderr, tty ? "\r\033[K%s" : "%s\n", line.c_str());
    };
  }
  Result<OfflineDistillResult> result = DistillOffline(*log, o, progress, &ProcessStop());
  if (tty && !quiet) std::fprintf(stderr, "\n");
  if (!result.ok()) {
    std::fprintf(stderr, "apprentice distill: %s\n", result.status().message().c_str());
    return 1;
  }

  SnapshotFileInfo info;
  info.env = !log->metadata.env.empty() ? log->metadata.env : env_name;
  info.observation_space = !log->metadata.observation_space.empty()
                               ? log->metadata.observation_space
                               : log->observation_space.ToString();
  info.action_space = !log->metadata.action_space.empty() ? log->metadata.action_space
                                                          : log->action_space.ToString();
  info.note = Format(
      "apprentice distill: %zu labelled records, %zu training episodes, %zu held "
      "out, seed %llu, %lld updates; held-out agreement %s, mean KL %s",
      log->records.size(), result->split.train_episodes.size(),
      result->split.holdout_episodes.size(), static_cast<unsigned long long>(o.seed),
      static_cast<long long>(result->updates), Percent(result->holdout.agreement()).c_str(),
      Num("%.4f", result->holdout.mean_kl()).c_str());
  if (Status s = SaveSnapshot(*result->snapshot, info, out_path); !s.ok()) {
    std::fprintf(stderr, "apprentice distill: --out: %s\n", s.message().c_str());
    return 1;
  }

  std::unique_ptr<RolloutResult> rollout;
  if (!env_name.empty()) {
    rollout = std::make_unique<RolloutResult>(
        Rollout(result->snapshot, env_name, episodes, o.seed).ValueOrThrow());
  }
  const Distilled outcome{out_path, &*log, &o, &*result, rollout.get()};
  if (json) {
    std::printf("%s\n", ToJson(outcome).Dump(2).c_str());
  } else {
    PrintTable(outcome);
  }
  return result->interrupted ? StopExitCode() : 0;
}

}  // namespace apprentice
