// FlagSet: command-line flags that validate themselves. Each flag is bound to a variable that
// holds its default; Parse() accepts `--name value` and `--name=value` (booleans also bare
// `--name`), and rejects unknown flags, missing values, malformed numbers and values outside a
// flag's range with a message that names the flag. Help() lists every flag with its default,
// under the section headings added between them. A repeated flag keeps its last value, except
// those declared with List(), which collect every value.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "core/status.h"

namespace apprentice {

class FlagSet {
 public:
  explicit FlagSet(std::string usage) : usage_(std::move(usage)) {}

  void String(const std::string& name, std::string* value, const std::string& help,
              std::vector<std::string> choices = {});
  void Int(const std::string& name, int64_t* value, const std::string& help,
           int64_t min = INT64_MIN, int64_t max = INT64_MAX);
  void Double(const std::string& name, double* value, const std::string& help,
              double min = -1e300, double max = 1e300);
  void Bool(const std::string& name, bool* value, const std::string& help);
  // A repeatable flag: every value given, in order.
  void List(const std::string& name, std::vector<std::string>* values, const std::string& help);
  // A flag whose text `check` validates (Ok or an InvalidArgument naming the flag); `kind` is
  // what --help shows for its value ("INT in [1, 10]").
  void Text(const std::string& name, std::string* value, const std::string& help,
            const std::string& kind, std::function<Status(const std::string&)> check);
  // A heading in Help() before the flags declared after it.
  void Section(const std::string& title);

  // Parses `args` (without the program and command names). Sets help_requested() on
  // --help / -h and stops there.
  Status Parse(std::span<const std::string> args);
  bool help_requested() const { return help_requested_; }
  // Whether the flag was given on the command line.
  bool WasSet(const std::string& name) const;

  std::string Help() const;

 private:
  struct Flag {
    std::string name, help, default_text, kind;
    std::string section;  // a heading printed before this flag
    bool is_bool = false;
    bool set = false;
    std::function<Status(const std::string&)> assign;
  };
  Flag* Find(const std::string& name);
  void Add(Flag flag);

  std::string usage_;
  std::vector<Flag> flags_;
  std::string pending_section_;
  bool help_requested_ = false;
};

}  // namespace apprentice
