#include "apps/extension_flags.h"

#include <algorithm>

namespace apprentice {
namespace {

std::string Dashed(std::string s) {
  std::replace(s.begin(), s.end(), '_', '-');
  return s;
}

// Checks `text` against `spec`, with messages naming `flag`.
Status CheckValue(const OptionSpec& spec, const std::string& flag, const std::string& text) {
  const std::string label = "--" + flag;
  switch (spec.kind) {
    case OptionKind::kInt:
      return ParseInt(text, spec.int_min(), spec.int_max(), label).status();
    case OptionKind::kDouble: return ParseDouble(text, spec.min, spec.max, label).status();
    case OptionKind::kBool: return ParseBool(text, label).status();
    case OptionKind::kString: return ParseChoice(text, spec.choices, label).status();
  }
  return Status::Ok();
}

}  // namespace

ExtensionFlags::ExtensionFlags(FlagSet& flags, std::string title, std::string kind,
                               std::string opt_flag, std::vector<Extension> extensions)
    : flags_(flags), kind_(std::move(kind)), opt_flag_(std::move(opt_flag)) {
  flags.Section(title);
  flags.List(opt_flag_, &opt_values_,
             "an option of the chosen " + kind_ + ", key=value or k1=v1,k2=v2");
  for (const Extension& e : extensions) {
    for (const OptionSpec& spec : e.options) {
      Bound b;
      b.extension = e.name;
      b.option = spec.name;
      b.flag = e.name + "-" + Dashed(spec.name);
      b.value = std::make_unique<std::string>(spec.default_text);
      flags.Text(b.flag, b.value.get(), e.name + ": " + spec.help, spec.Describe(),
                 [spec, flag = b.flag](const std::string& text) {
                   return CheckValue(spec, flag, text);
                 });
      bound_.push_back(std::move(b));
    }
  }
}

Result<OptionValues> ExtensionFlags::ValuesFor(const std::string& selected) const {
  OptionValues values;
  for (const std::string& entry : opt_values_) {
    if (Status s = values.ParseInto(entry, "--" + opt_flag_); !s.ok()) return s;
  }
  // "a,b": several extensions together (a planner ensemble); their options are named
  // "<extension>.<option>".
  const std::vector<std::string> members = SplitCommas(selected);
  for (const Bound& b : bound_) {
    if (!flags_.WasSet(b.flag)) continue;
    if (std::find(members.begin(), members.end(), b.extension) == members.end()) {
      return Status::InvalidArgument("--" + b.flag + " is an option of " + kind_ + " " +
                                     b.extension + ", but the " + kind_ +
                                     (members.size() > 1 ? "s are " : " is ") + selected);
    }
    values.Set(members.size() > 1 ? b.extension + "." + b.option : b.option, *b.value);
  }
  return values;
}

}  // namespace apprentice
