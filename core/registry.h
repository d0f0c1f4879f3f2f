// Registry: extensions of one kind (environments, planners, replay samplers) by name, each with
// the options it declares. An extension registers itself with one line next to its code:
//
//   // env/cartpole.cc
//   APPRENTICE_REGISTER_ENV(CartPole, "cartpole", "Gymnasium's CartPole-v1");
//
// which requires of the class (here CartPole):
//   struct Options { void Declare(OptionBinder&); Status Validate() const; };  (core/options.h)
//   a constructor Class(const Options&, Args...) (Args: what the kind passes, e.g. a capacity).
//
//   registration ──▶ Entry {name, help, declared options, make(values, args...)}
//   MakeX(name, values) ──▶ Find ──▶ apply values to the defaults ──▶ Validate ──▶ new object
//
// Registrations usually run during static initialisation (the libraries that hold them are linked
// whole, see CMakeLists.txt); tests and programs may also Add() at run time. Every member is
// thread-safe. Entries live as long as the process, so pointers to them stay valid.
#pragma once

#include <algorithm>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/options.h"
#include "core/status.h"

namespace apprentice {

template <class Product, class... Args>
class Registry {
 public:
  struct Entry {
    std::string name;
    std::string help;                  // one line
    std::vector<OptionSpec> options;   // declared, with defaults
    // A new object from option values (unknown keys and bad values are InvalidArgument).
    std::function<Result<std::unique_ptr<Product>>(const OptionValues&, Args...)> make;
    // Every declared option's value after applying `values` to the defaults, validated: what a
    // run prints and records, and what rebuilds the same object.
    std::function<Result<OptionValues>(const OptionValues&)> resolve;
    // Options under which one call does a lot of work (seconds), for extensions that stop at a
    // deadline (planners): the conformance suite checks the deadline with them. Empty when the
    // extension is always fast.
    OptionValues heavy;
  };

  // `kind` names the extensions in messages: "environment", "planner", "replay sampler".
  explicit Registry(std::string kind) : kind_(std::move(kind)) {}

  // InvalidArgument if the name is empty, taken, or not lower-case letters, digits and '-'.
  Status Add(Entry entry) {
    const bool well_formed =
        !entry.name.empty() && std::all_of(entry.name.begin(), entry.name.end(), [](char c) {
          return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
        });
    if (!well_formed) {
      return Status::InvalidArgument(kind_ + " name '" + entry.name +
                                     "' must be lower-case letters, digits and '-'");
    }
    if (!entry.make || !entry.resolve) {
      return Status::InvalidArgument(kind_ + " " + entry.name + " registered without a factory");
    }
    std::lock_guard lock(mu_);
    for (const Entry& e : entries_) {
      if (e.name == entry.name) {
        return Status::InvalidArgument(kind_ + " '" + entry.name + "' is registered twice");
      }
    }
    entries_.push_back(std::move(entry));
    return Status::Ok();
  }

  // The entry called `name`, or NotFound("unknown planner 'x' (known: a, b)").
  Result<const Entry*> Find(std::string_view name) const {
    std::lock_guard lock(mu_);
    for (const Entry& e : entries_) {
      if (e.name == name) return &e;
    }
    std::string known;
    for (const std::string& n : NamesLocked()) known += (known.empty() ? "" : ", ") + n;
    return Status::NotFound("unknown " + kind_ + " '" + std::string(name) + "' (known: " + known +
                            ")");
  }

  Result<std::unique_ptr<Product>> Make(std::string_view name, const OptionValues& values,
                                        Args... args) const {
    Result<const Entry*> entry = Find(name);
    if (!entry.ok()) return entry.status();
    return (*entry)->make(values, args...);
  }

  Result<OptionValues> Resolve(std::string_view name, const OptionValues& values) const {
    Result<const Entry*> entry = Find(name);
    if (!entry.ok()) return entry.status();
    return (*entry)->resolve(values);
  }

  // The registered names, sorted.
  std::vector<std::string> Names() const {
    std::lock_guard lock(mu_);
    return NamesLocked();
  }
  // Every entry, sorted by name.
  std::vector<const Entry*> Entries() const {
    std::lock_guard lock(mu_);
    std::vector<const Entry*> out;
    for (const Entry& e : entries_) out.push_back(&e);
    std::sort(out.begin(), out.end(), [](const Entry* a, const Entry* b) { return a->name < b->name; });
    return out;
  }
  const std::string& kind() const { return kind_; }

  // The entry of class `Impl` (see the top of this file).
  template <class Impl>
  Entry Describe(std::string name, std::string help) const {
    Entry e;
    e.name = name;
    e.help = std::move(help);
    {
      typename Impl::Options defaults;
      OptionBinder binder;
      defaults.Declare(binder);
      e.options = binder.specs();
    }
    const std::string owner = kind_ + " " + name;
    e.resolve = [owner](const OptionValues& values) -> Result<OptionValues> {
      typename Impl::Options options;
      if (Status s = Build<Impl>(values, owner, options); !s.ok()) return s;
      OptionBinder binder;
      options.Declare(binder);
      return binder.Current();
    };
    e.make = [owner](const OptionValues& values, Args... args) -> Result<std::unique_ptr<Product>> {
      typename Impl::Options options;
      if (Status s = Build<Impl>(values, owner, options); !s.ok()) return s;
      try {  // a constructor that refuses its inputs (a model file that does not load)
        return std::unique_ptr<Product>(std::make_unique<Impl>(options, args...));
      } catch (const InvalidArgument& refused) {
        return Status::InvalidArgument(refused.what());
      }
    };
    return e;
  }

  // `values` applied to Impl's default options (into `options`), then validated; the errors name
  // `owner` ("planner mcts").
  template <class Impl>
  static Status Build(const OptionValues& values, const std::string& owner,
                      typename Impl::Options& options) {
    OptionBinder binder;
    options.Declare(binder);
    if (Status s = binder.Apply(values, owner); !s.ok()) return s;
    if (Status s = options.Validate(); !s.ok()) {
      return Status::InvalidArgument(owner + ": " + s.message());
    }
    return Status::Ok();
  }

  // Registers class `Impl`; throws InvalidArgument when Add() fails (a duplicate name is a bug
  // of the program, found at start-up).
  template <class Impl>
  bool RegisterClass(std::string name, std::string help, std::string_view heavy = {}) {
    Entry entry = Describe<Impl>(std::move(name), std::move(help));
    if (!heavy.empty()) RequireOk(entry.heavy.ParseInto(heavy, entry.name));
    RequireOk(Add(std::move(entry)));
    return true;
  }

 private:
  std::vector<std::string> NamesLocked() const {
    std::vector<std::string> names;
    for (const Entry& e : entries_) names.push_back(e.name);
    std::sort(names.begin(), names.end());
    return names;
  }

  const std::string kind_;
  mutable std::mutex mu_;
  std::deque<Entry> entries_;  // guarded by mu_; a deque keeps entries in place
};

}  // namespace apprentice
