#include "core/flags.h"

#include <algorithm>

#include "core/options.h"

namespace apprentice {
void FlagSet::Add(Flag flag) {
  Require(Find(flag.name) == nullptr, "flag --" + flag.name + " registered twice");
  flag.section = std::move(pending_section_);
  pending_section_.clear();
  flags_.push_back(std::move(flag));
}

void FlagSet::Section(const std::string& title) { pending_section_ = title; }

void FlagSet::List(const std::string& name, std::vector<std::string>* values,
                   const std::string& help) {
  Flag f;
  f.name = name;
  f.help = help + " (repeatable)";
  f.kind = "TEXT";
  f.assign = [values](const std::string& text) {
    values->push_back(text);
    return Status::Ok();
  };
  Add(std::move(f));
}

void FlagSet::Text(const std::string& name, std::string* value, const std::string& help,
                   const std::string& kind, std::function<Status(const std::string&)> check) {
  Flag f;
  f.name = name;
  f.help = help;
  f.default_text = *value;
  f.kind = kind;
  f.assign = [value, check = std::move(check)](const std::string& text) {
    if (Status s = check(text); !s.ok()) return s;
    *value = text;
    return Status::Ok();
  };
  Add(std::move(f));
}

FlagSet::Flag* FlagSet::Find(const std::string& name) {
  for (auto& f : flags_) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

bool FlagSet::WasSet(const std::string& name) const {
  for (const auto& f : flags_) {
    if (f.name == name) return f.set;
  }
  return false;
}

void FlagSet::String(const std::string& name, std::string* value, const std::string& help,
                     std::vector<std::string> choices) {
  Flag f;
  f.name = name;
  f.help = help;
  f.default_text = *value;
  f.kind = choices.empty() ? "STRING" : JoinChoices(choices);
  f.assign = [name, value, choices](const std::string& text) {
    Result<std::string> v = ParseChoice(text, choices, "--" + name);
    if (!v.ok()) return v.status();
    *value = std::move(*v);
    return Status::Ok();
  };
  Add(std::move(f));
}

void FlagSet::Int(const std::string& name, int64_t* value, const std::string& help, int64_t min,
                  int64_t max) {
  Flag f;
  f.name = name;
  f.help = help;
  f.default_text = std::to_string(*value);
  f.kind = "INT";
  f.assign = [name, value, min, max](const std::string& text) {
    Result<int64_t> v = ParseInt(text, min, max, "--" + name);
    if (!v.ok()) return v.status();
    *value = *v;
    return Status::Ok();
  };
  Add(std::move(f));
}

void FlagSet::Double(const std::string& name, double* value, const std::string& help, double min,
                     double max) {
  Flag f;
  f.name = name;
  f.help = help;
  f.default_text = FormatNumber(*value);
  f.kind = "NUMBER";
  f.assign = [name, value, min, max](const std::string& text) {
    Result<double> v = ParseDouble(text, min, max, "--" + name);
    if (!v.ok()) return v.status();
    *value = *v;
    return Status::Ok();
  };
  Add(std::move(f));
}

void FlagSet::Bool(const std::string& name, bool* value, const std::string& help) {
  Flag f;
  f.name = name;
  f.help = help;
  f.default_text = *value ? "true" : "false";
  f.kind = "BOOL";
  f.is_bool = true;
  f.assign = [name, value](const std::string& text) {
    Result<bool> v = ParseBool(text, "--" + name);
    if (!v.ok()) return v.status();
    *value = *v;
    return Status::Ok();
  };
  Add(std::move(f));
}

Status FlagSet::Parse(std::span<const std::string> args) {
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--help" || arg == "-h") {
      help_requested_ = true;
      return Status::Ok();
    }
    if (arg.rfind("--", 0) != 0 || arg.size() == 2) {
      return Status::InvalidArgument("unexpected argument '" + arg + "' (flags look like --name value)");
    }
    std::string name = arg.substr(2);
    std::string value;
    bool has_value = false;
    if (const auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      has_value = true;
    }
    Flag* flag = Find(name);
    if (flag == nullptr) {
      return Status::InvalidArgument("unknown flag --" + name + " (see --help)");
    }
    if (!has_value) {
      if (flag->is_bool) {
        value = "true";
      } else if (i + 1 < args.size()) {
        value = args[++i];
      } else {
        return Status::InvalidArgument("--" + name + " needs a value");
      }
    }
    if (Status s = flag->assign(value); !s.ok()) return s;
    flag->set = true;
  }
  return Status::Ok();
}

std::string FlagSet::Help() const {
  std::string out = usage_ + "\n\nFlags:\n";
  size_t width = 0;
  for (const auto& f : flags_) width = std::max(width, f.name.size() + f.kind.size() + 4);
  width = std::min<size_t>(width, 44);  // a longer flag gets its help after two spaces
  for (const auto& f : flags_) {
    if (!f.section.empty()) out += "\n" + f.section + ":\n";
    std::string left = "  --" + f.name + " " + f.kind;
    left.resize(std::max(left.size() + 2, width + 4), ' ');
    out += left + f.help;
    if (f.kind != "TEXT") {
      out += " (default: " + (f.default_text.empty() ? "\"\"" : f.default_text) + ")";
    }
    out += "\n";
  }
  out += "  --help" + std::string(width > 4 ? width - 4 : 2, ' ') + "show this help\n";
  return out;
}

}  // namespace apprentice
