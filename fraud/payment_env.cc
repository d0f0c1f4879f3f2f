#include "fraud/payment_env.h"

#include <algorithm>
#include <cfloat>
#include <filesystem>
#include <map>
#include <mutex>
#include <typeinfo>

#include "core/rng.h"
#include "core/status.h"
#include "env/registry.h"
#include "fraud/generator.h"

namespace apprentice {
namespace {

// Datasets by what identifies them (the options of a generated one; the path, size and time of a
// file), held while an env uses them, so that the many envs and clones of a run share one copy.
std::shared_ptr<const FraudDataset> LoadDataset(const PaymentEnv::Options& o) {
  static std::mutex mutex;
  static auto& cache = *new std::map<std::string, std::weak_ptr<const FraudDataset>>();
  std::string key;
  if (o.data.empty()) {
    key = "generated " + std::to_string(o.customers) + " " + std::to_string(o.terminals) + " " +
          std::to_string(o.days) + " " + std::to_string(o.data_seed) + " " +
          std::to_string(o.delay_days);
  } else {
    std::error_code error;
    const auto size = std::filesystem::file_size(o.data, error);
    const auto time = std::filesystem::last_write_time(o.data, error);
    key = "file " + o.data + " " + std::to_string(error ? 0 : size) + " " +
          std::to_string(error ? 0 : time.time_since_epoch().count());
  }
  std::lock_guard<std::mutex> lock(mutex);
  if (std::shared_ptr<const FraudDataset> held = cache[key].lock()) return held;
  std::shared_ptr<const FraudDataset> dataset;
  if (o.data.empty()) {
    dataset = std::make_shared<const FraudDataset>(MakeFraudDataset(o.Generator(), o.delay_days));
  } else {
    Result<FraudDataset> read = ReadFraudDataset(o.data);
    if (!read.ok()) throw InvalidArgument("fraud env: " + read.status().message());
    dataset = std::make_shared<const FraudDataset>(std::move(read).value());
  }
  cache[key] = dataset;
  return dataset;
}

}  // namespace

void PaymentEnv::Options::Declare(OptionBinder& b) {
  b.String("data", &data,
           "a dataset file (apprentice fraud generate); empty: generate one with the options below");
  b.Int("customers", &customers, "customers of the generated stream", 1, 10'000'000);
  b.Int("terminals", &terminals, "terminals of the generated stream", 1, 10'000'000);
  b.Int("days", &days, "days of the generated stream", 1, 3'650);
  b.Int("data_seed", &data_seed, "seed of the generated stream", 0, INT64_MAX);
  b.Int("delay_days", &delay_days, "label delay the generated stream's features respect", 0, 365);
  b.Int("from_day", &from_day, "episodes draw the payments of this day and later", 0, 3'649);
  b.Double("decline_cost", &decline_cost, "cost of declining a genuine payment", 0.0, 1e9);
}

Status PaymentEnv::Options::Validate() const {
  if (data.empty() && from_day >= days) {
    return Status::InvalidArgument("fraud env: from_day (" + std::to_string(from_day) +
                                   ") must be before the stream's last day (days " +
                                   std::to_string(days) + ")");
  }
  if (!data.empty()) return Status::Ok();
  if (Status s = Generator().Validate(); !s.ok()) {
    return Status::InvalidArgument("fraud env: the generated stream's " + s.message());
  }
  return Status::Ok();
}

FraudSimOptions PaymentEnv::Options::Generator() const {
  FraudSimOptions sim;
  sim.customers = customers;
  sim.terminals = terminals;
  sim.days = days;
  sim.seed = static_cast<uint64_t>(data_seed);
  return sim;
}

PaymentEnv::PaymentEnv(const Options& options)
    : dataset_(LoadDataset(options)), decline_cost_(options.decline_cost), episode_("fraud", 1) {
  const std::vector<Transaction>& txs = dataset_->transactions;
  first_ = std::partition_point(txs.begin(), txs.end(),
                                [&](const Transaction& t) { return t.day < options.from_day; }) -
           txs.begin();
  if (first_ == static_cast<int64_t>(txs.size())) {
    throw InvalidArgument("fraud env: the stream has no payment on day " +
                          std::to_string(options.from_day) + " or later (from_day)");
  }
}

const Space& PaymentEnv::observation_space() const {
  // Never destroyed: see env/cartpole.cc.
  static const Space& space = *new Space(Space::Box(0.0f, FLT_MAX, {kFraudFeatures}));
  return space;
}

const Space& PaymentEnv::action_space() const {
  static const Space& space = *new Space(Space::Discrete(2));
  return space;
}

std::span<const float> PaymentEnv::Reset(uint64_t seed) {
  Rng rng(seed);
  const auto count = static_cast<uint64_t>(dataset_->transactions.size()) -
                     static_cast<uint64_t>(first_);
  current_ = first_ + static_cast<int64_t>(rng.Below(count));
  observation_ = dataset_->features[static_cast<size_t>(current_)];
  episode_.Begin();
  return observation_;
}

double PaymentEnv::Reward(int64_t index, int64_t action) const {
  const Transaction& t = dataset_->transactions.at(static_cast<size_t>(index));
  if (action == 0) return t.fraud ? -static_cast<double>(t.amount) : 0.0;
  return t.fraud ? 0.0 : -decline_cost_;
}

double PaymentEnv::MeanReward(
    const std::function<int64_t(std::span<const float>)>& decide) const {
  const auto payments = static_cast<int64_t>(dataset_->transactions.size());
  double total = 0.0;
  for (int64_t i = first_; i < payments; ++i) {
    total += Reward(i, decide(dataset_->features[static_cast<size_t>(i)]));
  }
  return total / static_cast<double>(payments - first_);
}

StepResult PaymentEnv::Step(const Action& action) {
  episode_.CheckStep(action_space(), action);
  StepResult result;
  result.reward = Reward(current_, action.index());
  result.terminated = true;
  episode_.EndStep(result);
  result.observation = observation_;
  return result;
}

std::unique_ptr<Env> PaymentEnv::Clone() const { return std::make_unique<PaymentEnv>(*this); }

Status PaymentEnv::CopyStateFrom(const Env& other) {
  if (typeid(other) != typeid(PaymentEnv)) {
    return Status::InvalidArgument("fraud: cannot copy the state of a " + other.name() + " env");
  }
  *this = static_cast<const PaymentEnv&>(other);
  return Status::Ok();
}

APPRENTICE_REGISTER_ENV(PaymentEnv, "fraud",
                        "the fraud stream, one payment per episode: approve (0) or decline (1); "
                        "reward minus the cost of the decision");

}  // namespace apprentice
