// The measures fraud teams use, on scored payments:
//
//   average precision   the area under the precision-recall curve, as a step function (sklearn's
//                       average_precision_score: sum over thresholds of (R_k - R_{k-1}) * P_k;
//                       payments with equal scores form one threshold)
//   card precision@k    per day, the share of the k cards with the highest score (a card's score
//                       that day: its highest) that had a fraud that day; the mean over days
//   recall at FPR       the share of frauds caught at the lowest threshold whose false-positive
//                       rate is at most the given one
//   cost                fraud amount let through + `decline_cost` per genuine payment declined
//
// A score is the probability of fraud a model gives; "declined" is what a model did.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "core/json.h"
#include "fraud/generator.h"

namespace apprentice {

struct ScoredPayment {
  float score = 0.0f;     // probability of fraud
  bool declined = false;  // the decision taken
};

double AveragePrecision(std::span<const Transaction> transactions,
                        std::span<const ScoredPayment> scored);
double CardPrecisionAtK(std::span<const Transaction> transactions,
                        std::span<const ScoredPayment> scored, int64_t k);
double RecallAtFalsePositiveRate(std::span<const Transaction> transactions,
                                 std::span<const ScoredPayment> scored, double fpr);

struct FraudCost {
  double missed_fraud_amount = 0.0;  // frauds approved
  int64_t declined_genuine = 0;      // genuine payments declined
  int64_t caught = 0, missed = 0;    // frauds declined, approved
  double total(double decline_cost) const {
    return missed_fraud_amount + decline_cost * static_cast<double>(declined_genuine);
  }
};
FraudCost Cost(std::span<const Transaction> transactions, std::span<const ScoredPayment> scored);

// All of the above as JSON ({"average_precision", "card_precision_at_100", "recall_at_fpr_1pct",
// "cost", "missed_fraud_amount", "declined_genuine", "frauds", "payments"}).
Json FraudMetricsJson(std::span<const Transaction> transactions,
                      std::span<const ScoredPayment> scored, double decline_cost);

}  // namespace apprentice
