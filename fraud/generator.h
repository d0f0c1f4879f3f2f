// A payment-card transaction stream with labelled frauds, generated the way the fraud-detection
// literature does when no real data can be shared (the simulator of the "Reproducible Machine
// Learning for Credit Card Fraud Detection" handbook, Le Borgne et al.), deterministic by seed:
//
//   customers (x, y on a 100 x 100 grid, mean amount, daily rate) ─┐
//   terminals (x, y)                                              ─┼─▶ each customer pays at the
//                                                                   │  terminals within `radius`
//   per day: Poisson(rate) transactions, around noon, Normal(mean, mean / 2) amounts
//   frauds:  1. any amount above `large_amount` (220)
//            2. every day `terminals_per_day` (2) terminals are compromised for
//               `terminal_days` (28): all their transactions are frauds
//            3. every day `cards_per_day` (3) cards are compromised for `card_days` (14): a third
//               of their transactions become frauds with the amount multiplied by 5
//            4. from `new_pattern_day` (off unless set): every day `new_pattern_cards_per_day`
//               cards start a card-testing burst: `new_pattern_burst` small (1-10) payments at
//               night, at terminals anywhere, over `new_pattern_days` days — a pattern the
//               earlier days never showed, to measure how fast a model adapts
//
// Scenarios 1-3 follow the handbook's parameters; what it leaves open (the random draws' order,
// the burst of scenario 4) is this file's. Day 0 is a Monday; times are seconds from its start.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/json.h"
#include "core/status.h"

namespace apprentice {

struct FraudSimOptions {
  int64_t customers = 5'000;
  int64_t terminals = 10'000;
  int64_t days = 182;             // six months
  double radius = 5.0;            // a customer pays at terminals this close
  uint64_t seed = 1;
  double large_amount = 220.0;    // scenario 1
  int64_t terminals_per_day = 2;  // scenario 2
  int64_t terminal_days = 28;
  int64_t cards_per_day = 3;      // scenario 3
  int64_t card_days = 14;
  double card_fraud_share = 1.0 / 3.0;
  double card_amount_factor = 5.0;
  int64_t new_pattern_day = -1;   // scenario 4; -1 = never
  int64_t new_pattern_cards_per_day = 5;
  int64_t new_pattern_days = 3;
  int64_t new_pattern_burst = 6;  // payments per compromised card and day
  Status Validate() const;
  Json ToJson() const;
};

struct Transaction {
  int64_t id = 0;        // from 0, in time order
  int64_t time_s = 0;    // seconds since the start of day 0
  int32_t day = 0;
  int32_t customer = 0;
  int32_t terminal = 0;
  float amount = 0.0f;
  uint8_t fraud = 0;     // 0 or 1
  uint8_t scenario = 0;  // 0 genuine, else the fraud scenario (1-4)
};

// Counts of a stream, for summaries and tests.
struct FraudSimSummary {
  int64_t transactions = 0, frauds = 0;
  int64_t by_scenario[5] = {0, 0, 0, 0, 0};
  int64_t fraud_cards = 0;  // cards with at least one fraud
  double fraud_rate() const {
    return transactions > 0 ? static_cast<double>(frauds) / static_cast<double>(transactions) : 0;
  }
  Json ToJson() const;
};

// The whole stream, sorted by time (ties by customer), ids from 0. Throws InvalidArgument for
// invalid options.
std::vector<Transaction> GenerateTransactions(const FraudSimOptions& options);

FraudSimSummary Summarize(const std::vector<Transaction>& transactions);

}  // namespace apprentice
