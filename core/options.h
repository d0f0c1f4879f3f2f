// Options of an extension (an environment, a planner, a replay sampler), declared next to the
// code that reads them: a name, a default, a range or a list of choices, and one line of help.
//
//   extension's Options struct ── Declare(OptionBinder&) ──▶ specs(): what --help and the
//                                                            registries show
//   text from a flag, --planner-opt k=v, a file ── OptionValues ──▶ Apply() ──▶ fields, checked
//
// An Options struct binds its fields once, in a `void Declare(OptionBinder&)` member, and that one
// function serves both sides: binding a default-constructed struct lists the declarations (with
// its defaults), binding the struct to fill applies values to it. A value outside its range, a
// malformed number or an unknown key is an InvalidArgument naming the extension and the option;
// Apply() changes nothing unless every value is valid. Current() reads the fields back as text,
// so an extension can print its options and be rebuilt from them (round trip).
//
// Not thread-safe: a binder and its values belong to one thread while they are used.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/json.h"
#include "core/status.h"

namespace apprentice {

enum class OptionKind : uint8_t { kInt, kDouble, kBool, kString };

struct OptionSpec {
  std::string name;
  OptionKind kind = OptionKind::kInt;
  std::string default_text;          // the default, as text
  std::string help;                  // one line
  double min = 0, max = 0;           // numbers: the closed range of valid values
  std::vector<std::string> choices;  // strings: the valid values; empty = any

  // "INT in [1, 10000000]", "NUMBER in [0, 1]", "BOOL", "a|b|c", "STRING".
  std::string Describe() const;
  // kInt: the range as integers (min and max are stored as doubles).
  int64_t int_min() const;
  int64_t int_max() const;
  // {"name", "kind", "default", "help", "min", "max" | "choices"}.
  Json ToJson() const;
};

// Option values as text, by key, in the order given; setting a key again replaces its value.
class OptionValues {
 public:
  OptionValues() = default;
  OptionValues(std::initializer_list<std::pair<std::string, std::string>> items);

  void Set(std::string key, std::string value);
  // The value of `key`, or null.
  const std::string* Find(std::string_view key) const;
  // Adds every entry of `other` (its values win).
  void Merge(const OptionValues& other);

  // "key=value" (one pair) or "k1=v1,k2=v2": InvalidArgument naming `what` (e.g. "--planner-opt")
  // for an entry without '=' or with an empty key.
  Status ParseInto(std::string_view text, std::string_view what);

  const std::vector<std::pair<std::string, std::string>>& items() const { return items_; }
  bool empty() const { return items_.empty(); }
  // "k1=v1 k2=v2" (for progress lines and notes).
  std::string ToString() const;
  Json ToJson() const;  // an object of strings

  friend bool operator==(const OptionValues&, const OptionValues&) = default;

 private:
  std::vector<std::pair<std::string, std::string>> items_;
};

class OptionBinder {
 public:
  void Int(std::string name, int64_t* field, std::string help, int64_t min = INT64_MIN,
           int64_t max = INT64_MAX);
  void Double(std::string name, double* field, std::string help, double min = -1e300,
              double max = 1e300);
  void Bool(std::string name, bool* field, std::string help);
  void String(std::string name, std::string* field, std::string help,
              std::vector<std::string> choices = {});

  const std::vector<OptionSpec>& specs() const { return specs_; }
  const OptionSpec* Find(std::string_view name) const;

  // Checks every value against its declaration, then assigns them all. `owner` names the
  // extension in errors ("planner mcts"). InvalidArgument (nothing assigned) for an unknown key
  // (the message lists the known ones) or a value that does not parse or is out of range.
  Status Apply(const OptionValues& values, std::string_view owner);
  // The bound fields' current values, as text, in declaration order.
  OptionValues Current() const;

 private:
  struct Bound {
    std::function<Status(std::string_view text, bool assign)> set;
    std::function<std::string()> get;
  };
  void Add(OptionSpec spec, Bound bound);

  std::vector<OptionSpec> specs_;
  std::vector<Bound> bound_;
};

// The fields of a comma-separated list, in order, empty ones included: "a,b" -> {"a", "b"},
// "a," -> {"a", ""}, "" -> {""}.
std::vector<std::string> SplitCommas(std::string_view text);

// The shortest decimal text that reads back as exactly `v` ("0.1", "2.0000002", "1e-06"), so that
// an error can show why 2.0000002 is outside [-2, 2]. "inf", "-inf" and "nan" otherwise.
std::string FormatNumber(double v);
std::string FormatNumber(float v);

// Text to value, with the error messages every option and flag uses. `label` names the value in
// the message ("--steps", "planner mcts: simulations").
Result<int64_t> ParseInt(std::string_view text, int64_t min, int64_t max, std::string_view label);
Result<double> ParseDouble(std::string_view text, double min, double max, std::string_view label);
Result<bool> ParseBool(std::string_view text, std::string_view label);
Result<std::string> ParseChoice(std::string_view text, const std::vector<std::string>& choices,
                                std::string_view label);
// "a|b|c"
std::string JoinChoices(const std::vector<std::string>& choices);

}  // namespace apprentice
