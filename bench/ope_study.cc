// Off-policy estimates against the truth: for each task, a candidate policy whose true value is
// measured by live rollouts, and logs of a different behaviour policy, one per seed; every
// estimator of runtime/ope.h is run on every log and compared with the truth.
//
//   ope_study [--envs cartpole,pendulum,fraud] [--seeds 20] [--episodes N] [--truth-episodes N]
//             [--discount 0.95] [--fqe-refits 5] [--json]
//
// Tasks (bench/ope_controllers.h: hand-written controllers as executor snapshots, so the truth
// does not depend on a training run); logs of 20 episodes and a truth from 1000 rollouts unless
// the flags say otherwise:
//   cartpole  candidate: a linear controller acting greedily; behaviour: the same controller
//             with epsilon 0.2 (a random push one step in five);
//   pendulum  candidate: a linear Gaussian controller with std 0.4, sampling; behaviour: the
//             same mean with std 0.5 (V̂ from 8 draws of the candidate, to halve the cost);
//   fraud     the fraud stream as a one-decision-per-payment env (fraud/payment_env.h, its
//             default stream); candidate: decline when 2 log1p(amount) + 20 term_risk_7d > 10.6,
//             greedily; behaviour: another rule (2 log1p(amount) + 8 term_risk_7d > 10.9, which
//             lets more frauds at compromised terminals through) with epsilon 0.2. Logs of 5000
//             payments (a fraud team logs many decisions, each one step); the truth is exact:
//             the candidate's mean reward over every payment the env draws from.
// Per estimator: the bias (mean estimate - truth), the spread (standard deviation over seeds),
// the RMSE, and the coverage: the share of seeds whose 95 % bootstrap interval holds the truth.
// Progress goes to stderr; a markdown table (or --json) to stdout.
#include <unistd.h>

#include <array>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "bench/ope_controllers.h"
#include "core/flags.h"
#include "core/json.h"
#include "core/rng.h"
#include "fraud/payment_env.h"
#include "runtime/offline.h"
#include "runtime/ope.h"

namespace {

using namespace apprentice;

struct Task {
  std::string env;
  std::shared_ptr<const Snapshot> candidate, behaviour;
  CandidateOptions candidate_policy, behaviour_policy;
  std::string description;
  int64_t episodes = 20;  // the default of --episodes
  // The candidate's exact value where it can be worked out (no rollouts then), else empty.
  std::function<double()> exact_truth;
};

// The fraud env's payments are known: the candidate's value is its mean reward over all of them.
double ExactFraudValue(const std::shared_ptr<const Snapshot>& candidate) {
  const PaymentEnv env{PaymentEnv::Options()};
  CandidatePolicy greedy(candidate, env.action_space(), CandidateOptions{});
  Rng rng(1);
  double log_prob = 0.0;
  return env.MeanReward([&](std::span<const float> features) {
    return greedy.Choose(features, {}, rng, log_prob).index();
  });
}

std::vector<Task> Tasks() {
  Task cartpole;
  cartpole.env = "cartpole";
  cartpole.candidate = bench::CartPoleController({0.0f, 0.2f, 3.0f, 0.6f}, 4.0f);
  cartpole.behaviour = cartpole.candidate;
  cartpole.behaviour_policy.epsilon = 0.2;
  cartpole.description = "greedy linear controller; logs: the same with epsilon 0.2";
  Task pendulum;
  pendulum.env = "pendulum";
  pendulum.candidate = bench::PendulumController({0.0f, -2.0f, -0.6f}, 1.5f, std::log(0.4f));
  pendulum.behaviour = bench::PendulumController({0.0f, -2.0f, -0.6f}, 1.5f, std::log(0.5f));
  pendulum.candidate_policy.sample = true;
  pendulum.candidate_policy.gaussian_draws = 8;
  pendulum.behaviour_policy.sample = true;
  pendulum.description = "linear Gaussian controller, std 0.4; logs: the same mean, std 0.5";
  Task fraud;
  fraud.env = "fraud";
  std::array<float, 15> rule{};
  rule[0] = 2.0f;    // log1p(amount)
  rule[13] = 20.0f;  // term_risk_7d
  fraud.candidate = bench::FraudController(rule, -10.6f, 4.0f);
  rule[13] = 8.0f;
  fraud.behaviour = bench::FraudController(rule, -10.9f, 4.0f);
  fraud.behaviour_policy.epsilon = 0.2;
  fraud.episodes = 5000;
  fraud.exact_truth = [candidate = fraud.candidate] { return ExactFraudValue(candidate); };
  fraud.description =
      "greedy rule on amount and terminal risk; logs: a laxer rule with epsilon 0.2";
  return {cartpole, pendulum, fraud};
}

struct Cell {
  std::vector<double> values, lows, highs;
  int64_t covered = 0;
  double width = 0.0;
};

}  // namespace

int main(int argc, char** argv) {
  std::string envs = "cartpole,pendulum,fraud";
  int64_t seeds = 20, first_seed = 1, episodes_flag = 0, truth_episodes_flag = 0;
  double discount = 0.95;
  int64_t fqe_updates = 20, fqe_iterations = 0, fqe_batch = 256, fqe_refits = 5;
  double fqe_lr = 1e-3;
  bool json = false;
  FlagSet flags(
      "usage: ope_study [flags]\n\nEvery off-policy estimator against the true value of a "
      "candidate policy, over many seeds of behaviour logs (docs/ope.md).");
  flags.String("envs", &envs, "comma-separated tasks: cartpole, pendulum, fraud");
  flags.Int("seeds", &seeds, "behaviour logs (and estimates) per task", 1, 10'000);
  flags.Int("first-seed", &first_seed, "seed of the first behaviour log", 0, INT64_MAX / 2);
  flags.Int("episodes", &episodes_flag,
            "episodes per behaviour log; 0: the task's (20, fraud 5000)", 0, 10'000'000);
  flags.Int("truth-episodes", &truth_episodes_flag,
            "rollouts of the candidate for its true value; 0: 1000 (fraud: exact, no rollouts)", 0,
            100'000'000);
  flags.Double("discount", &discount, "discount of the returns estimated", 1e-6, 1.0);
  flags.Int("fqe-updates", &fqe_updates, "Adam steps per fitted-Q iteration", 1, 100'000);
  flags.Int("fqe-iterations", &fqe_iterations, "fitted-Q iterations; 0: automatic", 0, 100'000);
  flags.Double("fqe-lr", &fqe_lr, "fitted-Q Adam learning rate", 1e-9, 1.0);
  flags.Int("fqe-refits", &fqe_refits, "refits of the fitted Q on resamples (dm, dr intervals)", 0, 1000);
  flags.Int("fqe-batch", &fqe_batch, "fitted-Q batch size", 1, 1'000'000);
  flags.Bool("json", &json, "print JSON instead of a markdown table");
  if (Status s = flags.Parse(std::vector<std::string>(argv + 1, argv + argc)); !s.ok()) {
    std::fprintf(stderr, "ope_study: %s\n", s.message().c_str());
    return 2;
  }
  if (flags.help_requested()) {
    std::printf("%s", flags.Help().c_str());
    return 0;
  }
  const std::string scratch =
      (std::filesystem::temp_directory_path() / ("ope_study." + std::to_string(getpid()))).string();
  Json::Array out_rows;
  std::string table =
      "| task | estimator | truth | mean estimate | bias | spread (sd) | RMSE | 95 % coverage | "
      "mean interval width |\n|---|---|---|---|---|---|---|---|---|\n";
  for (const Task& task : Tasks()) {
    if (("," + envs + ",").find("," + task.env + ",") == std::string::npos) continue;
    const int64_t episodes = episodes_flag > 0 ? episodes_flag : task.episodes;
    const int64_t truth_episodes = truth_episodes_flag > 0 ? truth_episodes_flag : 1000;
    double truth_value = 0.0;
    if (task.exact_truth) {
      truth_value = task.exact_truth();
      std::fprintf(stderr, "%s: candidate's true value %.4f (exact)\n", task.env.c_str(),
                   truth_value);
    } else {
      RolloutOptions truth_options;
      truth_options.policy = task.candidate_policy;
      truth_options.discount = discount;
      const RolloutResult truth =
          Rollout(task.candidate, task.env, truth_episodes, 999'999, {}, truth_options)
              .ValueOrThrow();
      truth_value = truth.discounted_mean();
      double truth_sd = 0.0;
      for (double g : truth.discounted_returns) truth_sd += (g - truth_value) * (g - truth_value);
      truth_sd = std::sqrt(truth_sd / static_cast<double>(truth.discounted_returns.size()));
      std::fprintf(stderr, "%s: candidate's true value %.3f (standard error %.3f, %lld rollouts)\n",
                   task.env.c_str(), truth_value,
                   truth_sd / std::sqrt(static_cast<double>(truth_episodes)),
                   static_cast<long long>(truth_episodes));
    }
    std::map<std::string, Cell> cells;
    std::vector<std::string> names;
    double logged = 0.0;
    for (int64_t seed = first_seed; seed < first_seed + seeds; ++seed) {
      const std::string dir = scratch + "/" + task.env + "-" + std::to_string(seed);
      std::filesystem::remove_all(dir);
      RolloutOptions behaviour;
      behaviour.policy = task.behaviour_policy;
      behaviour.log_dir = dir;
      Rollout(task.behaviour, task.env, episodes, static_cast<uint64_t>(seed), {}, behaviour)
          .ValueOrThrow();
      OffPolicyOptions o;
      o.fqe.updates_per_iteration = fqe_updates;
      o.fqe.iterations = fqe_iterations;
      o.fqe.learning_rate = fqe_lr;
      o.fqe.batch_size = fqe_batch;
      o.fqe_refits = fqe_refits;
      o.policy = task.candidate_policy;
      o.estimate.discount = discount;
      o.estimate.seed = static_cast<uint64_t>(seed);
      const OffPolicyCandidate candidate{"candidate", task.candidate};
      const OffPolicyEvaluation ev =
          EvaluateOffPolicyOnLog(dir, {&candidate, 1}, o).ValueOrThrow();
      std::filesystem::remove_all(dir);
      logged += ev.logged_return / static_cast<double>(seeds);
      const CandidateEstimate& c = ev.candidates.at(0);
      std::string line;
      for (const OpeEstimate& e : c.report.estimates) {
        if (!cells.contains(e.estimator)) names.push_back(e.estimator);
        Cell& cell = cells[e.estimator];
        cell.values.push_back(e.value);
        cell.lows.push_back(e.low);
        cell.highs.push_back(e.high);
        cell.covered += e.low <= truth_value && truth_value <= e.high;
        cell.width += (e.high - e.low) / static_cast<double>(seeds);
        line += " " + e.estimator + " " + std::to_string(e.value).substr(0, 7);
      }
      std::fprintf(stderr, "%s seed %lld/%lld: logged %.2f;%s (fqe %.1f s)\n", task.env.c_str(),
                   static_cast<long long>(seed - first_seed + 1), static_cast<long long>(seeds),
                   ev.logged_return,
                   line.c_str(), c.fqe_seconds);
    }
    for (const std::string& name : names) {
      const Cell& cell = cells[name];
      double mean = 0.0, sq = 0.0, err = 0.0;
      for (double v : cell.values) mean += v / static_cast<double>(cell.values.size());
      for (double v : cell.values) {
        sq += (v - mean) * (v - mean);
        err += (v - truth_value) * (v - truth_value);
      }
      const double n = static_cast<double>(cell.values.size());
      const double sd = n > 1 ? std::sqrt(sq / (n - 1.0)) : 0.0;
      const double rmse = std::sqrt(err / n);
      const double coverage = static_cast<double>(cell.covered) / n;
      char row[512];
      std::snprintf(row, sizeof row, "| %s | %s | %.2f | %.2f | %+.2f | %.2f | %.2f | %lld/%lld (%.0f %%) | %.2f |\n",
                    task.env.c_str(), name.c_str(), truth_value, mean, mean - truth_value, sd, rmse,
                    static_cast<long long>(cell.covered), static_cast<long long>(n),
                    100.0 * coverage, cell.width);
      table += row;
      Json::Array per_seed;
      for (size_t k = 0; k < cell.values.size(); ++k) {
        per_seed.push_back(Json{{"seed", first_seed + static_cast<int64_t>(k)},
                                {"value", cell.values[k]},
                                {"low", cell.lows[k]},
                                {"high", cell.highs[k]}});
      }
      out_rows.push_back(Json{{"task", task.env},
                              {"per_seed", std::move(per_seed)},
                              {"estimator", name},
                              {"truth", truth_value},
                              {"mean", mean},
                              {"bias", mean - truth_value},
                              {"sd", sd},
                              {"rmse", rmse},
                              {"coverage", coverage},
                              {"mean_width", cell.width},
                              {"logged_return", logged},
                              {"seeds", static_cast<int64_t>(n)}});
    }
    std::fprintf(stderr, "%s: %s; logged policy's mean return %.2f\n", task.env.c_str(),
                 task.description.c_str(), logged);
  }
  std::filesystem::remove_all(scratch);
  if (json) {
    std::printf("%s\n", Json(std::move(out_rows)).Dump(2).c_str());
  } else {
    std::printf("%s", table.c_str());
  }
  return 0;
}
