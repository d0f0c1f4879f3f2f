#include "fraud/generator.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <tuple>

#include "core/rng.h"

namespace apprentice {
namespace {

constexpr int64_t kDaySeconds = 86'400;

// Independent streams of the generator, so that changing one part (the fraud scenarios) leaves the
// others' draws as they were.
enum class Stream : uint64_t { kCustomers = 1, kTerminals, kTransactions, kTerminalFraud,
                               kCardFraud, kNewPattern };

Rng StreamRng(uint64_t seed, Stream stream, uint64_t index = 0) {
  // SplitMix-style mixing of (seed, stream, index) into one seed.
  uint64_t x = seed * 0x9E3779B97F4A7C15ULL + static_cast<uint64_t>(stream) * 0xBF58476D1CE4E5B9ULL +
               index * 0x94D049BB133111EBULL;
  x ^= x >> 31;
  return Rng(x);
}

// Knuth's method: fine for the small rates used here (at most 4 a day).
int64_t Poisson(Rng& rng, double lambda) {
  const double limit = std::exp(-lambda);
  int64_t k = 0;
  double p = 1.0;
  do {
    ++k;
    p *= rng.Uniform();
  } while (p > limit);
  return k - 1;
}

// `k` distinct values of [0, n) (all of them if k >= n), in draw order: a partial Fisher-Yates.
std::vector<int64_t> Sample(Rng& rng, int64_t n, int64_t k) {
  std::vector<int64_t> values(static_cast<size_t>(n));
  std::iota(values.begin(), values.end(), int64_t{0});
  k = std::min(k, n);
  for (int64_t i = 0; i < k; ++i) {
    const int64_t j = i + static_cast<int64_t>(rng.Below(static_cast<uint64_t>(n - i)));
    std::swap(values[static_cast<size_t>(i)], values[static_cast<size_t>(j)]);
  }
  values.resize(static_cast<size_t>(k));
  return values;
}

// For each value of `key` in [0, n), the indices of the payments that have it, in order.
std::vector<std::vector<size_t>> IndicesBy(const std::vector<Transaction>& txs, size_t n,
                                          int32_t Transaction::*key) {
  std::vector<std::vector<size_t>> out(n);
  for (size_t i = 0; i < txs.size(); ++i) out[static_cast<size_t>(txs[i].*key)].push_back(i);
  return out;
}

Status Check(bool ok, const std::string& what) {
  return ok ? Status::Ok() : Status::InvalidArgument("fraud generator: " + what);
}

}  // namespace

Status FraudSimOptions::Validate() const {
  for (const Status& s : {
           Check(customers >= 1 && customers <= 10'000'000, "customers must be in [1, 10000000]"),
           Check(terminals >= 1 && terminals <= 10'000'000, "terminals must be in [1, 10000000]"),
           Check(days >= 1 && days <= 3'650, "days must be in [1, 3650]"),
           Check(radius > 0 && radius <= 200, "the radius must be in (0, 200]"),
           Check(large_amount > 0, "the large amount must be > 0"),
           Check(terminals_per_day >= 0 && terminals_per_day <= terminals,
                 "compromised terminals a day must be in [0, terminals]"),
           Check(terminal_days >= 1, "terminal compromise days must be >= 1"),
           Check(cards_per_day >= 0 && cards_per_day <= customers,
                 "compromised cards a day must be in [0, customers]"),
           Check(card_days >= 1, "card compromise days must be >= 1"),
           Check(card_fraud_share >= 0 && card_fraud_share <= 1,
                 "the share of a compromised card's payments that are frauds must be in [0, 1]"),
           Check(card_amount_factor > 0, "the card fraud amount factor must be > 0"),
           Check(new_pattern_day >= -1 && new_pattern_day < days,
                 "the new pattern's first day must be -1 (never) or a day of the stream"),
           Check(new_pattern_cards_per_day >= 0 && new_pattern_cards_per_day <= customers,
                 "new-pattern cards a day must be in [0, customers]"),
           Check(new_pattern_days >= 1, "new-pattern days must be >= 1"),
           Check(new_pattern_burst >= 1 && new_pattern_burst <= 1'000,
                 "the new-pattern burst must be in [1, 1000]"),
       }) {
    if (!s.ok()) return s;
  }
  return Status::Ok();
}

Json FraudSimOptions::ToJson() const {
  return Json{{"customers", customers},
              {"terminals", terminals},
              {"days", days},
              {"radius", radius},
              {"seed", static_cast<int64_t>(seed)},
              {"large_amount", large_amount},
              {"terminals_per_day", terminals_per_day},
              {"terminal_days", terminal_days},
              {"cards_per_day", cards_per_day},
              {"card_days", card_days},
              {"card_fraud_share", card_fraud_share},
              {"card_amount_factor", card_amount_factor},
              {"new_pattern_day", new_pattern_day},
              {"new_pattern_cards_per_day", new_pattern_cards_per_day},
              {"new_pattern_days", new_pattern_days},
              {"new_pattern_burst", new_pattern_burst}};
}

Json FraudSimSummary::ToJson() const {
  Json::Array scenarios;
  for (int64_t n : by_scenario) scenarios.push_back(Json(n));
  return Json{{"transactions", transactions},
              {"frauds", frauds},
              {"fraud_rate", fraud_rate()},
              {"frauds_by_scenario", Json(std::move(scenarios))},
              {"fraud_cards", fraud_cards}};
}

std::vector<Transaction> GenerateTransactions(const FraudSimOptions& o) {
  RequireOk(o.Validate());
  struct Customer {
    double x = 0, y = 0, mean = 0, std = 0, rate = 0;
    std::vector<int32_t> terminals;
  };
  std::vector<Customer> customers(static_cast<size_t>(o.customers));
  {
    Rng rng = StreamRng(o.seed, Stream::kCustomers);
    for (Customer& c : customers) {
      c.x = rng.Uniform(0, 100);
      c.y = rng.Uniform(0, 100);
      c.mean = rng.Uniform(5, 100);
      c.std = c.mean / 2;
      c.rate = rng.Uniform(0, 4);
    }
  }
  std::vector<std::pair<double, double>> terminals(static_cast<size_t>(o.terminals));
  {
    Rng rng = StreamRng(o.seed, Stream::kTerminals);
    for (auto& [x, y] : terminals) {
      x = rng.Uniform(0, 100);
      y = rng.Uniform(0, 100);
    }
  }
  const double r2 = o.radius * o.radius;
  for (Customer& c : customers) {
    for (size_t t = 0; t < terminals.size(); ++t) {
      const double dx = c.x - terminals[t].first, dy = c.y - terminals[t].second;
      if (dx * dx + dy * dy < r2) c.terminals.push_back(static_cast<int32_t>(t));
    }
  }

  // Genuine payments, one random stream per customer.
  std::vector<Transaction> txs;
  for (size_t ci = 0; ci < customers.size(); ++ci) {
    const Customer& c = customers[ci];
    Rng rng = StreamRng(o.seed, Stream::kTransactions, ci);
    for (int64_t day = 0; day < o.days; ++day) {
      const int64_t n = Poisson(rng, c.rate);
      for (int64_t k = 0; k < n; ++k) {
        const auto t = static_cast<int64_t>(rng.Normal() * 20'000.0 + kDaySeconds / 2.0);
        double amount = rng.Normal() * c.std + c.mean;
        if (amount < 0) amount = rng.Uniform(0, 2 * c.mean);
        amount = std::round(amount * 100.0) / 100.0;
        if (t <= 0 || t >= kDaySeconds || c.terminals.empty()) continue;
        Transaction tx;
        tx.time_s = day * kDaySeconds + t;
        tx.day = static_cast<int32_t>(day);
        tx.customer = static_cast<int32_t>(ci);
        tx.terminal = c.terminals[rng.Below(c.terminals.size())];
        tx.amount = static_cast<float>(amount);
        txs.push_back(tx);
      }
    }
  }
  auto by_time = [](const Transaction& a, const Transaction& b) {
    return std::tie(a.time_s, a.customer, a.terminal) < std::tie(b.time_s, b.customer, b.terminal);
  };
  std::sort(txs.begin(), txs.end(), by_time);

  // 1. Large amounts.
  for (Transaction& tx : txs) {
    if (tx.amount > o.large_amount) {
      tx.fraud = 1;
      tx.scenario = 1;
    }
  }
  // 2. Compromised terminals: every payment there for terminal_days.
  {
    const auto at_terminal = IndicesBy(txs, terminals.size(), &Transaction::terminal);
    for (int64_t day = 0; day < o.days; ++day) {
      Rng rng = StreamRng(o.seed, Stream::kTerminalFraud, static_cast<uint64_t>(day));
      for (int64_t t : Sample(rng, o.terminals, o.terminals_per_day)) {
        for (size_t i : at_terminal[static_cast<size_t>(t)]) {
          Transaction& tx = txs[i];
          if (tx.day >= day && tx.day < day + o.terminal_days) {
            tx.fraud = 1;
            tx.scenario = 2;
          }
        }
      }
    }
  }
  // 3. Compromised cards: a share of their payments for card_days, with inflated amounts.
  {
    const auto of_customer = IndicesBy(txs, customers.size(), &Transaction::customer);
    for (int64_t day = 0; day < o.days; ++day) {
      Rng rng = StreamRng(o.seed, Stream::kCardFraud, static_cast<uint64_t>(day));
      std::vector<size_t> window;
      for (int64_t c : Sample(rng, o.customers, o.cards_per_day)) {
        for (size_t i : of_customer[static_cast<size_t>(c)]) {
          if (txs[i].day >= day && txs[i].day < day + o.card_days) window.push_back(i);
        }
      }
      const auto k = static_cast<int64_t>(static_cast<double>(window.size()) * o.card_fraud_share);
      for (int64_t pick : Sample(rng, static_cast<int64_t>(window.size()), k)) {
        Transaction& tx = txs[window[static_cast<size_t>(pick)]];
        tx.amount = static_cast<float>(std::round(tx.amount * o.card_amount_factor * 100.0) / 100.0);
        tx.fraud = 1;
        tx.scenario = 3;
      }
    }
  }
  // 4. The new pattern: night-time card-testing bursts of small payments anywhere.
  if (o.new_pattern_day >= 0) {
    for (int64_t day = o.new_pattern_day; day < o.days; ++day) {
      Rng rng = StreamRng(o.seed, Stream::kNewPattern, static_cast<uint64_t>(day));
      for (int64_t c : Sample(rng, o.customers, o.new_pattern_cards_per_day)) {
        for (int64_t d = day; d < std::min(o.days, day + o.new_pattern_days); ++d) {
          for (int64_t k = 0; k < o.new_pattern_burst; ++k) {
            Transaction tx;
            tx.time_s = d * kDaySeconds + static_cast<int64_t>(rng.Uniform(0, 6 * 3'600.0));
            tx.day = static_cast<int32_t>(d);
            tx.customer = static_cast<int32_t>(c);
            tx.terminal = static_cast<int32_t>(rng.Below(static_cast<uint64_t>(o.terminals)));
            tx.amount = static_cast<float>(std::round(rng.Uniform(1, 10) * 100.0) / 100.0);
            tx.fraud = 1;
            tx.scenario = 4;
            txs.push_back(tx);
          }
        }
      }
    }
    std::stable_sort(txs.begin(), txs.end(), by_time);
  }
  for (size_t i = 0; i < txs.size(); ++i) txs[i].id = static_cast<int64_t>(i);
  return txs;
}

FraudSimSummary Summarize(const std::vector<Transaction>& transactions) {
  FraudSimSummary s;
  std::vector<int32_t> cards;
  for (const Transaction& tx : transactions) {
    ++s.transactions;
    if (tx.fraud == 0) continue;
    ++s.frauds;
    ++s.by_scenario[std::min<int>(tx.scenario, 4)];
    cards.push_back(tx.customer);
  }
  std::sort(cards.begin(), cards.end());
  s.fraud_cards = std::unique(cards.begin(), cards.end()) - cards.begin();
  return s;
}

}  // namespace apprentice
