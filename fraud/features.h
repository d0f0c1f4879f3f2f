// The features a fraud team computes online for each payment, from what is known when it is made
// (the handbook's baseline features), and the file that holds a stream with them.
//
//   index  name                  value
//   0      amount                log1p(amount)
//   1      weekend               1 on Saturday and Sunday (day 0 is a Monday)
//   2      night                 1 between 0:00 and 6:00
//   3-5    card_count_{1,7,30}d  log1p(payments of the card in the last 1, 7, 30 days, this one
//                                included)
//   6-8    card_mean_{1,7,30}d   log1p(mean amount of those payments)
//   9-11   term_count_{1,7,30}d  log1p(payments at the terminal in the 1, 7, 30 days that end
//                                `delay_days` before this payment)
//   12-14  term_risk_{1,7,30}d   the share of those payments that were frauds
//
// The label delay is respected: a payment's fraud label is known `delay_days` after it (a
// chargeback), so the terminal features look only at payments at least that old — never at a
// label not yet known. Windows are exact (seconds), not calendar days.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/json.h"
#include "core/status.h"
#include "fraud/generator.h"

namespace apprentice {

inline constexpr int kFraudFeatures = 15;
using FraudFeatures = std::array<float, kFraudFeatures>;

// The names above, in order.
const std::vector<std::string>& FraudFeatureNames();

// Features of a stream in time order, one payment at a time.
class OnlineFraudFeatures {
 public:
  explicit OnlineFraudFeatures(int64_t delay_days = 7);
  // The features of `tx` from the payments seen before it (and itself, for the card counts);
  // then `tx` joins the history. Payments must come in time order.
  FraudFeatures Next(const Transaction& tx);

 private:
  struct CardPayment {
    int64_t time_s;
    float amount;
  };
  struct TerminalPayment {
    int64_t time_s;
    uint8_t fraud;
  };
  const int64_t delay_s_;
  std::unordered_map<int32_t, std::deque<CardPayment>> cards_;
  std::unordered_map<int32_t, std::deque<TerminalPayment>> terminals_;
};

// A stream with its features: what `apprentice fraud generate` writes and the loop replays.
struct FraudDataset {
  Json generator;          // the generator's options (FraudSimOptions::ToJson), or {} for others
  int64_t delay_days = 7;  // the label delay the terminal features respect
  std::vector<Transaction> transactions;
  std::vector<FraudFeatures> features;  // one per transaction
};

// Generates the stream and computes its features.
FraudDataset MakeFraudDataset(const FraudSimOptions& options, int64_t delay_days);

// The file (docs/fraud.md has the layout): "APFRAUD1", u32 header length, a JSON header
// (generator options, delay, feature names, record count, record size, CRC32C of the records),
// then fixed-size little-endian records (numpy reads them with np.fromfile and the header's
// offset). Written atomically; Unavailable when it cannot be.
Status WriteFraudDataset(const std::string& path, const FraudDataset& dataset);
// Reads and checks it: NotFound for a missing file; InvalidArgument naming what is wrong for a
// file that is not a dataset, of another version, truncated, damaged (CRC), or with records out
// of order or with impossible values.
Result<FraudDataset> ReadFraudDataset(const std::string& path);

}  // namespace apprentice
