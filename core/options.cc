#include "core/options.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>

namespace apprentice {
namespace {

std::string Quote(std::string_view text) {
  std::string quoted;
  quoted.reserve(text.size() + 2);
  quoted.push_back('\'');
  quoted.append(text);
  quoted.push_back('\'');
  return quoted;
}

template <class T>
std::string ShortestText(T v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buffer[64];
  const auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, v);
  return ec == std::errc() ? std::string(buffer, end) : std::string("?");
}

}  // namespace

std::string FormatNumber(double v) { return ShortestText(v); }
std::string FormatNumber(float v) { return ShortestText(v); }

std::string JoinChoices(const std::vector<std::string>& choices) {
  std::string s;
  for (size_t i = 0; i < choices.size(); ++i) s += (i ? "|" : "") + choices[i];
  return s;
}

Result<int64_t> ParseInt(std::string_view text, int64_t min, int64_t max, std::string_view label) {
  int64_t v = 0;
  const char* first = text.data();
  const char* last = text.data() + text.size();
  if (!text.empty() && *first == '+') ++first;
  const auto [end, ec] = std::from_chars(first, last, v);
  if (text.empty() || ec != std::errc() || end != last) {
    return Status::InvalidArgument(std::string(label) + ": " + Quote(text) +
                                   " is not an integer");
  }
  if (v < min || v > max) {
    return Status::InvalidArgument(std::string(label) + ": " + std::string(text) +
                                   " is out of range [" + std::to_string(min) + ", " +
                                   std::to_string(max) + "]");
  }
  return v;
}

Result<double> ParseDouble(std::string_view text, double min, double max,
                           std::string_view label) {
  double v = 0;
  const char* first = text.data();
  const char* last = text.data() + text.size();
  if (!text.empty() && *first == '+') ++first;
  const auto [end, ec] = std::from_chars(first, last, v);
  if (text.empty() || ec != std::errc() || end != last || !std::isfinite(v)) {
    return Status::InvalidArgument(std::string(label) + ": " + Quote(text) +
                                   " is not a finite number");
  }
  if (v < min || v > max) {
    return Status::InvalidArgument(std::string(label) + ": " + FormatNumber(v) +
                                   " is out of range [" + FormatNumber(min) + ", " +
                                   FormatNumber(max) + "]");
  }
  return v;
}

Result<bool> ParseBool(std::string_view text, std::string_view label) {
  if (text == "true" || text == "1" || text == "yes") return true;
  if (text == "false" || text == "0" || text == "no") return false;
  return Status::InvalidArgument(std::string(label) + ": " + Quote(text) +
                                 " is not true or false");
}

Result<std::string> ParseChoice(std::string_view text, const std::vector<std::string>& choices,
                                std::string_view label) {
  if (!choices.empty() && std::find(choices.begin(), choices.end(), text) == choices.end()) {
    return Status::InvalidArgument(std::string(label) + ": unknown value " + Quote(text) +
                                   " (choose " + JoinChoices(choices) + ")");
  }
  return std::string(text);
}

namespace {
int64_t ToInt64(double v) {
  if (v >= 9.2e18) return INT64_MAX;
  if (v <= -9.2e18) return INT64_MIN;
  return static_cast<int64_t>(v);
}
}  // namespace

int64_t OptionSpec::int_min() const { return ToInt64(min); }
int64_t OptionSpec::int_max() const { return ToInt64(max); }

std::string OptionSpec::Describe() const {
  switch (kind) {
    case OptionKind::kInt: {
      const bool unbounded = min <= -9.2e18 && max >= 9.2e18;
      return unbounded ? "INT"
                       : "INT in [" + std::to_string(int_min()) + ", " +
                             std::to_string(int_max()) + "]";
    }
    case OptionKind::kDouble:
      return min <= -1e300 && max >= 1e300
                 ? "NUMBER"
                 : "NUMBER in [" + FormatNumber(min) + ", " + FormatNumber(max) + "]";
    case OptionKind::kBool: return "BOOL";
    case OptionKind::kString: return choices.empty() ? "STRING" : JoinChoices(choices);
  }
  return "?";
}

Json OptionSpec::ToJson() const {
  static constexpr const char* kKinds[] = {"int", "number", "bool", "string"};
  Json j{{"name", name},
         {"kind", kKinds[static_cast<int>(kind)]},
         {"default", default_text},
         {"help", help}};
  if (kind == OptionKind::kInt || kind == OptionKind::kDouble) {
    j.Set("min", min);
    j.Set("max", max);
  }
  if (!choices.empty()) {
    Json::Array c;
    for (const auto& choice : choices) c.emplace_back(choice);
    j.Set("choices", std::move(c));
  }
  return j;
}

// ---------------------------------------------------------------------------------------------

OptionValues::OptionValues(std::initializer_list<std::pair<std::string, std::string>> items) {
  for (const auto& [k, v] : items) Set(k, v);
}

void OptionValues::Set(std::string key, std::string value) {
  for (auto& [k, v] : items_) {
    if (k == key) {
      v = std::move(value);
      return;
    }
  }
  items_.emplace_back(std::move(key), std::move(value));
}

const std::string* OptionValues::Find(std::string_view key) const {
  for (const auto& [k, v] : items_) {
    if (k == key) return &v;
  }
  return nullptr;
}

void OptionValues::Merge(const OptionValues& other) {
  for (const auto& [k, v] : other.items_) Set(k, v);
}

std::vector<std::string> SplitCommas(std::string_view text) {
  std::vector<std::string> fields;
  for (size_t start = 0;;) {
    const size_t comma = text.find(',', start);
    fields.emplace_back(text.substr(start, comma == std::string_view::npos ? comma : comma - start));
    if (comma == std::string_view::npos) return fields;
    start = comma + 1;
  }
}

Status OptionValues::ParseInto(std::string_view text, std::string_view what) {
  OptionValues parsed;
  for (const std::string& entry : SplitCommas(text)) {
    const size_t eq = entry.find('=');
    if (eq == std::string::npos || eq == 0) {
      return Status::InvalidArgument(std::string(what) + ": " + Quote(entry) +
                                     " is not key=value");
    }
    parsed.Set(entry.substr(0, eq), entry.substr(eq + 1));
  }
  Merge(parsed);
  return Status::Ok();
}

std::string OptionValues::ToString() const {
  std::string s;
  for (const auto& [k, v] : items_) s += (s.empty() ? "" : " ") + k + "=" + v;
  return s;
}

Json OptionValues::ToJson() const {
  Json::Object o;
  for (const auto& [k, v] : items_) o.emplace_back(k, v);
  return o;
}

// ---------------------------------------------------------------------------------------------

void OptionBinder::Add(OptionSpec spec, Bound bound) {
  Require(Find(spec.name) == nullptr, "option '" + spec.name + "' declared twice");
  specs_.push_back(std::move(spec));
  bound_.push_back(std::move(bound));
}

const OptionSpec* OptionBinder::Find(std::string_view name) const {
  for (const auto& s : specs_) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

void OptionBinder::Int(std::string name, int64_t* field, std::string help, int64_t min,
                       int64_t max) {
  OptionSpec spec{name, OptionKind::kInt, std::to_string(*field), std::move(help),
                  static_cast<double>(min), static_cast<double>(max), {}};
  Add(std::move(spec),
      {[field, min, max, name](std::string_view text, bool assign) {
         Result<int64_t> v = ParseInt(text, min, max, name);
         if (!v.ok()) return v.status();
         if (assign) *field = *v;
         return Status::Ok();
       },
       [field] { return std::to_string(*field); }});
}

void OptionBinder::Double(std::string name, double* field, std::string help, double min,
                          double max) {
  OptionSpec spec{name, OptionKind::kDouble, FormatNumber(*field), std::move(help), min, max, {}};
  Add(std::move(spec),
      {[field, min, max, name](std::string_view text, bool assign) {
         Result<double> v = ParseDouble(text, min, max, name);
         if (!v.ok()) return v.status();
         if (assign) *field = *v;
         return Status::Ok();
       },
       [field] { return FormatNumber(*field); }});
}

void OptionBinder::Bool(std::string name, bool* field, std::string help) {
  OptionSpec spec{name, OptionKind::kBool, *field ? "true" : "false", std::move(help), 0, 0, {}};
  Add(std::move(spec),
      {[field, name](std::string_view text, bool assign) {
         Result<bool> v = ParseBool(text, name);
         if (!v.ok()) return v.status();
         if (assign) *field = *v;
         return Status::Ok();
       },
       [field] { return std::string(*field ? "true" : "false"); }});
}

void OptionBinder::String(std::string name, std::string* field, std::string help,
                          std::vector<std::string> choices) {
  OptionSpec spec{name, OptionKind::kString, *field, std::move(help), 0, 0, choices};
  Add(std::move(spec),
      {[field, choices, name](std::string_view text, bool assign) {
         Result<std::string> v = ParseChoice(text, choices, name);
         if (!v.ok()) return v.status();
         if (assign) *field = std::move(*v);
         return Status::Ok();
       },
       [field] { return *field; }});
}

Status OptionBinder::Apply(const OptionValues& values, std::string_view owner) {
  std::vector<size_t> targets;
  for (const auto& [key, text] : values.items()) {
    size_t i = 0;
    while (i < specs_.size() && specs_[i].name != key) ++i;
    if (i == specs_.size()) {
      std::string known;
      for (const auto& s : specs_) known += (known.empty() ? "" : ", ") + s.name;
      return Status::InvalidArgument(std::string(owner) + " has no option '" + key + "' (" +
                                     (known.empty() ? "it takes none" : "known: " + known) + ")");
    }
    if (Status s = bound_[i].set(text, /*assign=*/false); !s.ok()) {
      return Status::InvalidArgument(std::string(owner) + ": " + s.message());
    }
    targets.push_back(i);
  }
  size_t k = 0;
  for (const auto& item : values.items()) (void)bound_[targets[k++]].set(item.second, true);
  return Status::Ok();
}

OptionValues OptionBinder::Current() const {
  OptionValues v;
  for (size_t i = 0; i < specs_.size(); ++i) v.Set(specs_[i].name, bound_[i].get());
  return v;
}

}  // namespace apprentice
