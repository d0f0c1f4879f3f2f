#include "fraud/features.h"

#include <bit>
#include <cmath>
#include <cstring>
#include <fstream>

#include "core/atomic_file.h"
#include "core/crc32c.h"

namespace apprentice {
namespace {

constexpr int64_t kDaySeconds = 86'400;
constexpr int64_t kWindows[3] = {1, 7, 30};
constexpr char kMagic[8] = {'A', 'P', 'F', 'R', 'A', 'U', 'D', '1'};
constexpr int64_t kFormatVersion = 1;
constexpr uint64_t kMaxHeaderBytes = 1 << 20;

// One record on disk, little-endian, no padding surprises: 36 bytes of transaction, then the
// features.
struct DiskRecord {
  int64_t id;
  int64_t time_s;
  int32_t day;
  int32_t customer;
  int32_t terminal;
  float amount;
  uint8_t fraud;
  uint8_t scenario;
  uint8_t pad[2];
  float features[kFraudFeatures];
};
static_assert(sizeof(DiskRecord) == 96, "the dataset record layout is 96 bytes");
static_assert(std::endian::native == std::endian::little, "the dataset is little-endian");

Status Bad(const std::string& path, const std::string& what) {
  return Status::InvalidArgument("fraud dataset " + path + ": " + what);
}

}  // namespace

const std::vector<std::string>& FraudFeatureNames() {
  static const std::vector<std::string> names = {
      "amount",         "weekend",        "night",          "card_count_1d",  "card_count_7d",
      "card_count_30d", "card_mean_1d",   "card_mean_7d",   "card_mean_30d",  "term_count_1d",
      "term_count_7d",  "term_count_30d", "term_risk_1d",   "term_risk_7d",   "term_risk_30d"};
  return names;
}

OnlineFraudFeatures::OnlineFraudFeatures(int64_t delay_days) : delay_s_(delay_days * kDaySeconds) {
  Require(delay_days >= 0 && delay_days <= 365, "the label delay must be in [0, 365] days");
}

FraudFeatures OnlineFraudFeatures::Next(const Transaction& tx) {
  FraudFeatures f{};
  const int64_t t = tx.time_s;
  f[0] = std::log1p(std::max(0.0f, tx.amount));
  const int64_t weekday = (t / kDaySeconds) % 7;
  f[1] = weekday >= 5 ? 1.0f : 0.0f;
  f[2] = (t % kDaySeconds) < 6 * 3'600 ? 1.0f : 0.0f;

  std::deque<CardPayment>& card = cards_[tx.customer];
  card.push_back({t, tx.amount});
  while (!card.empty() && card.front().time_s <= t - 30 * kDaySeconds) card.pop_front();
  for (int w = 0; w < 3; ++w) {
    const int64_t since = t - kWindows[w] * kDaySeconds;
    double count = 0, sum = 0;
    for (auto it = card.rbegin(); it != card.rend() && it->time_s > since; ++it) {
      ++count;
      sum += it->amount;
    }
    f[static_cast<size_t>(3 + w)] = static_cast<float>(std::log1p(count));
    f[static_cast<size_t>(6 + w)] = static_cast<float>(std::log1p(count > 0 ? sum / count : 0.0));
  }

  std::deque<TerminalPayment>& terminal = terminals_[tx.terminal];
  const int64_t known_before = t - delay_s_;  // labels of payments before this are known
  while (!terminal.empty() && terminal.front().time_s <= known_before - 30 * kDaySeconds) {
    terminal.pop_front();
  }
  for (int w = 0; w < 3; ++w) {
    const int64_t since = known_before - kWindows[w] * kDaySeconds;
    double count = 0, frauds = 0;
    for (const TerminalPayment& p : terminal) {
      if (p.time_s >= known_before) break;
      if (p.time_s <= since) continue;
      ++count;
      frauds += p.fraud;
    }
    f[static_cast<size_t>(9 + w)] = static_cast<float>(std::log1p(count));
    f[static_cast<size_t>(12 + w)] = static_cast<float>(count > 0 ? frauds / count : 0.0);
  }
  terminal.push_back({t, tx.fraud});
  return f;
}

FraudDataset MakeFraudDataset(const FraudSimOptions& options, int64_t delay_days) {
  FraudDataset d;
  d.generator = options.ToJson();
  d.delay_days = delay_days;
  d.transactions = GenerateTransactions(options);
  OnlineFraudFeatures online(delay_days);
  d.features.reserve(d.transactions.size());
  for (const Transaction& tx : d.transactions) d.features.push_back(online.Next(tx));
  return d;
}

Status WriteFraudDataset(const std::string& path, const FraudDataset& d) {
  Require(d.features.size() == d.transactions.size(),
          "WriteFraudDataset: one feature vector per transaction");
  std::string body(d.transactions.size() * sizeof(DiskRecord), '\0');
  for (size_t i = 0; i < d.transactions.size(); ++i) {
    const Transaction& tx = d.transactions[i];
    DiskRecord r{};
    r.id = tx.id;
    r.time_s = tx.time_s;
    r.day = tx.day;
    r.customer = tx.customer;
    r.terminal = tx.terminal;
    r.amount = tx.amount;
    r.fraud = tx.fraud;
    r.scenario = tx.scenario;
    std::memcpy(r.features, d.features[i].data(), sizeof(r.features));
    std::memcpy(body.data() + i * sizeof(DiskRecord), &r, sizeof(DiskRecord));
  }
  Json::Array names;
  for (const std::string& n : FraudFeatureNames()) names.push_back(Json(n));
  const Json header{
      {"format_version", kFormatVersion},
      {"generator", d.generator},
      {"delay_days", d.delay_days},
      {"records", static_cast<int64_t>(d.transactions.size())},
      {"record_bytes", static_cast<int64_t>(sizeof(DiskRecord))},
      {"record_layout",
       "<i8 id, <i8 time_s, <i4 day, <i4 customer, <i4 terminal, <f4 amount, u1 fraud, "
       "u1 scenario, 2 pad bytes, 15 x <f4 features"},
      {"feature_names", Json(std::move(names))},
      {"records_crc32c",
       static_cast<int64_t>(Crc32c({reinterpret_cast<const uint8_t*>(body.data()), body.size()}))}};
  std::string header_text = header.Dump(-1);
  // Records start at a multiple of 8 bytes (numpy's offset, aligned reads).
  const size_t fixed = sizeof(kMagic) + 4;
  header_text.append((8 - (fixed + header_text.size()) % 8) % 8, ' ');
  std::string file(kMagic, sizeof(kMagic));
  const auto length = static_cast<uint32_t>(header_text.size());
  file.append(reinterpret_cast<const char*>(&length), 4);
  file += header_text;
  file += body;
  return WriteFileAtomically(path, file);
}

Result<FraudDataset> ReadFraudDataset(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::NotFound("fraud dataset " + path + " not found or not readable");
  char magic[8];
  uint32_t length = 0;
  if (!in.read(magic, 8) || std::memcmp(magic, kMagic, 8) != 0) {
    return Bad(path, "not a fraud dataset (no APFRAUD1 magic)");
  }
  if (!in.read(reinterpret_cast<char*>(&length), 4) || length > kMaxHeaderBytes) {
    return Bad(path, "the header length is missing or larger than 1 MiB");
  }
  std::string header_text(length, '\0');
  if (!in.read(header_text.data(), length)) return Bad(path, "the file ends inside its header");
  Result<Json> header = Json::Parse(header_text);
  if (!header.ok()) return Bad(path, "the header is not JSON: " + header.status().message());
  auto field = [&](const char* key) -> const Json* { return header->Find(key); };
  const Json* version = field("format_version");
  if (version == nullptr || !version->is_int() || version->AsInt() != kFormatVersion) {
    return Bad(path, "format version " + (version ? version->Dump(-1) : std::string("missing")) +
                         "; this build reads version 1");
  }
  const Json* records = field("records");
  const Json* record_bytes = field("record_bytes");
  const Json* crc = field("records_crc32c");
  const Json* delay = field("delay_days");
  if (records == nullptr || !records->is_int() || records->AsInt() < 0 || record_bytes == nullptr ||
      !record_bytes->is_int() || record_bytes->AsInt() != static_cast<int64_t>(sizeof(DiskRecord)) ||
      crc == nullptr || !crc->is_int() || delay == nullptr || !delay->is_int() ||
      delay->AsInt() < 0 || delay->AsInt() > 365) {
    return Bad(path, "the header lacks records, record_bytes (96), records_crc32c or delay_days, "
                     "or has impossible values");
  }
  const auto n = static_cast<size_t>(records->AsInt());
  std::string body(n * sizeof(DiskRecord), '\0');
  if (!in.read(body.data(), static_cast<std::streamsize>(body.size()))) {
    return Bad(path, "truncated: the header announces " + std::to_string(n) +
                         " records and the file ends before them");
  }
  if (in.peek() != std::char_traits<char>::eof()) {
    return Bad(path, "bytes after the " + std::to_string(n) + " records the header announces");
  }
  if (Crc32c({reinterpret_cast<const uint8_t*>(body.data()), body.size()}) !=
      static_cast<uint32_t>(crc->AsInt())) {
    return Bad(path, "the records fail their CRC32C: the file is damaged");
  }
  FraudDataset d;
  d.generator = field("generator") != nullptr ? *field("generator") : Json::Object{};
  d.delay_days = delay->AsInt();
  d.transactions.resize(n);
  d.features.resize(n);
  int64_t previous_time = INT64_MIN;
  for (size_t i = 0; i < n; ++i) {
    DiskRecord r;
    std::memcpy(&r, body.data() + i * sizeof(DiskRecord), sizeof(DiskRecord));
    const std::string where = "record " + std::to_string(i);
    if (r.time_s < previous_time) return Bad(path, where + " is earlier than the one before it");
    if (r.day != r.time_s / kDaySeconds || r.time_s < 0) {
      return Bad(path, where + ": day " + std::to_string(r.day) + " does not match time " +
                           std::to_string(r.time_s));
    }
    if (r.fraud > 1 || r.scenario > 4 || (r.fraud == 0) != (r.scenario == 0) || r.customer < 0 ||
        r.terminal < 0 || !std::isfinite(r.amount) || r.amount < 0) {
      return Bad(path, where + " has an impossible label, scenario, id or amount");
    }
    for (float v : r.features) {
      if (!std::isfinite(v)) return Bad(path, where + " has a non-finite feature");
    }
    previous_time = r.time_s;
    Transaction& tx = d.transactions[i];
    tx.id = r.id;
    tx.time_s = r.time_s;
    tx.day = r.day;
    tx.customer = r.customer;
    tx.terminal = r.terminal;
    tx.amount = r.amount;
    tx.fraud = r.fraud;
    tx.scenario = r.scenario;
    std::memcpy(d.features[i].data(), r.features, sizeof(r.features));
  }
  return d;
}

}  // namespace apprentice
