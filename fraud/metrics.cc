#include "fraud/metrics.h"

#include <algorithm>
#include <map>
#include <numeric>
#include <unordered_map>

#include "core/status.h"

namespace apprentice {
namespace {

void CheckSizes(std::span<const Transaction> t, std::span<const ScoredPayment> s) {
  Require(t.size() == s.size(), "fraud metrics: one score per transaction");
}

// Indices sorted by score, highest first (ties by index, so that results are deterministic).
std::vector<size_t> ByScore(std::span<const ScoredPayment> s) {
  std::vector<size_t> order(s.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return s[a].score > s[b].score; });
  return order;
}

}  // namespace

double AveragePrecision(std::span<const Transaction> t, std::span<const ScoredPayment> s) {
  CheckSizes(t, s);
  int64_t positives = 0;
  for (const Transaction& tx : t) positives += tx.fraud;
  if (positives == 0) return 0.0;
  const std::vector<size_t> order = ByScore(s);
  double ap = 0.0, previous_recall = 0.0;
  int64_t seen = 0, true_positives = 0;
  for (size_t i = 0; i < order.size(); ++i) {
    ++seen;
    true_positives += t[order[i]].fraud;
    // A threshold ends where the next score differs.
    if (i + 1 < order.size() && s[order[i + 1]].score == s[order[i]].score) continue;
    const double recall = static_cast<double>(true_positives) / static_cast<double>(positives);
    const double precision = static_cast<double>(true_positives) / static_cast<double>(seen);
    ap += (recall - previous_recall) * precision;
    previous_recall = recall;
  }
  return ap;
}

double CardPrecisionAtK(std::span<const Transaction> t, std::span<const ScoredPayment> s,
                        int64_t k) {
  CheckSizes(t, s);
  Require(k >= 1, "card precision@k: k must be >= 1");
  struct Card {
    float score = -1.0f;
    bool fraud = false;
  };
  std::map<int32_t, std::unordered_map<int32_t, Card>> days;
  for (size_t i = 0; i < t.size(); ++i) {
    Card& c = days[t[i].day][t[i].customer];
    c.score = std::max(c.score, s[i].score);
    c.fraud = c.fraud || t[i].fraud != 0;
  }
  if (days.empty()) return 0.0;
  double sum = 0.0;
  for (const auto& [day, cards] : days) {
    std::vector<std::pair<float, int32_t>> ranked;  // (score, customer)
    for (const auto& [customer, card] : cards) ranked.emplace_back(card.score, customer);
    std::sort(ranked.begin(), ranked.end(), [](const auto& a, const auto& b) {
      return a.first != b.first ? a.first > b.first : a.second < b.second;
    });
    const size_t top = std::min<size_t>(ranked.size(), static_cast<size_t>(k));
    int64_t hits = 0;
    for (size_t i = 0; i < top; ++i) hits += cards.at(ranked[i].second).fraud ? 1 : 0;
    sum += static_cast<double>(hits) / static_cast<double>(k);
  }
  return sum / static_cast<double>(days.size());
}

double RecallAtFalsePositiveRate(std::span<const Transaction> t, std::span<const ScoredPayment> s,
                                 double fpr) {
  CheckSizes(t, s);
  int64_t positives = 0, negatives = 0;
  for (const Transaction& tx : t) (tx.fraud ? positives : negatives) += 1;
  if (positives == 0) return 0.0;
  const std::vector<size_t> order = ByScore(s);
  double best = 0.0;
  int64_t true_positives = 0, false_positives = 0;
  for (size_t i = 0; i < order.size(); ++i) {
    (t[order[i]].fraud ? true_positives : false_positives) += 1;
    if (i + 1 < order.size() && s[order[i + 1]].score == s[order[i]].score) continue;
    const double rate = negatives > 0 ? static_cast<double>(false_positives) /
                                            static_cast<double>(negatives)
                                      : 0.0;
    if (rate > fpr) break;
    best = static_cast<double>(true_positives) / static_cast<double>(positives);
  }
  return best;
}

FraudCost Cost(std::span<const Transaction> t, std::span<const ScoredPayment> s) {
  CheckSizes(t, s);
  FraudCost c;
  for (size_t i = 0; i < t.size(); ++i) {
    if (t[i].fraud) {
      if (s[i].declined) {
        ++c.caught;
      } else {
        ++c.missed;
        c.missed_fraud_amount += t[i].amount;
      }
    } else if (s[i].declined) {
      ++c.declined_genuine;
    }
  }
  return c;
}

Json FraudMetricsJson(std::span<const Transaction> t, std::span<const ScoredPayment> s,
                      double decline_cost) {
  const FraudCost cost = Cost(t, s);
  int64_t frauds = 0;
  for (const Transaction& tx : t) frauds += tx.fraud;
  return Json{{"payments", static_cast<int64_t>(t.size())},
              {"frauds", frauds},
              {"average_precision", AveragePrecision(t, s)},
              {"card_precision_at_100", CardPrecisionAtK(t, s, 100)},
              {"recall_at_fpr_1pct", RecallAtFalsePositiveRate(t, s, 0.01)},
              {"cost", cost.total(decline_cost)},
              {"missed_fraud_amount", cost.missed_fraud_amount},
              {"declined_genuine", cost.declined_genuine},
              {"frauds_caught", cost.caught},
              {"frauds_missed", cost.missed}};
}

}  // namespace apprentice
