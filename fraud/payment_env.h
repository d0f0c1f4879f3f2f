// PaymentEnv ("fraud"): the fraud stream as an environment, one payment per episode — the
// contextual bandit a fraud team's decisions form, for rollouts whose value is known (the truth
// an off-policy estimate on logged decisions is checked against, bench/ope_study.cc) and for runs
// with any planner.
//
// - The payments come from a dataset file (`data`, written by `apprentice fraud generate`) or,
//   when `data` is empty, from the generator with the options below (deterministic; generated
//   once per process and options, shared by every env and clone).
// - Reset(seed): a payment drawn uniformly, with Rng(seed), from those made on days >= `from_day`
//   (the earlier days only fill the features' windows); the observation is its 15 features
//   (fraud/features.h), all >= 0.
// - Actions: Discrete(2), 0 approve, 1 decline.
// - Reward, the negative of the cost of fraud/metrics.h: approving a fraud costs its amount,
//   declining a genuine payment costs `decline_cost`; the other two outcomes cost 0. The mean
//   reward of a policy over the payments is minus its cost per payment.
// - Every episode ends after its one step (terminated).
// - Options are checked when the env is made; a missing or damaged file is InvalidArgument naming
//   it (fraud/features.h's checks). Step() does not allocate. Not thread-safe (env/env.h).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>

#include "core/action.h"
#include "core/options.h"
#include "core/space.h"
#include "env/env.h"
#include "env/episode.h"
#include "fraud/features.h"
#include "fraud/generator.h"

namespace apprentice {

class PaymentEnv final : public Env {
 public:
  struct Options {
    std::string data;           // a dataset file; empty: generate one with the options below
    int64_t customers = 1'000;  // generator options (fraud/generator.h), used when data is empty
    int64_t terminals = 2'000;
    int64_t days = 60;
    int64_t data_seed = 1;
    int64_t delay_days = 7;     // the label delay the generated features respect
    int64_t from_day = 30;      // episodes draw payments from this day on
    double decline_cost = 5.0;  // the cost of declining a genuine payment
    void Declare(OptionBinder& b);
    Status Validate() const;
    // The generator's options these give (the handbook's scenarios at their defaults).
    FraudSimOptions Generator() const;
  };

  PaymentEnv() : PaymentEnv(Options()) {}
  // Throws InvalidArgument for a dataset that cannot be read or has no payment from `from_day`.
  explicit PaymentEnv(const Options& options);

  std::string name() const override { return "fraud"; }
  const Space& observation_space() const override;
  const Space& action_space() const override;
  int64_t max_episode_steps() const override { return 1; }

  std::span<const float> Reset(uint64_t seed) override;
  StepResult Step(const Action& action) override;
  std::unique_ptr<Env> Clone() const override;
  Status CopyStateFrom(const Env& other) override;
  int64_t elapsed_steps() const override { return episode_.elapsed(); }

  // The payments episodes draw from, and the one of the current episode (an index into
  // dataset().transactions; -1 before the first Reset()).
  const FraudDataset& dataset() const { return *dataset_; }
  int64_t first_payment() const { return first_; }
  int64_t payment() const { return current_; }
  // The reward of `action` (0 approve, 1 decline) on payment `index`.
  double Reward(int64_t index, int64_t action) const;
  // A deterministic policy's exact value: its mean reward over every payment Reset() draws from,
  // `decide` giving the action for a payment's features.
  double MeanReward(const std::function<int64_t(std::span<const float>)>& decide) const;

 private:
  std::shared_ptr<const FraudDataset> dataset_;
  double decline_cost_;
  int64_t first_ = 0;  // the first payment of day >= from_day
  int64_t current_ = -1;
  FraudFeatures observation_{};
  Episode episode_;
};

}  // namespace apprentice
