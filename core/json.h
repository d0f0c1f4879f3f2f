// Json: a small JSON value for summaries, metrics and run files (objects keep insertion order so
// output is stable for tools), Dump() to text and Parse() from it. Numbers that are not finite
// are written as null.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "core/status.h"

namespace apprentice {

class Json {
 public:
  using Object = std::vector<std::pair<std::string, Json>>;
  using Array = std::vector<Json>;

  Json() = default;                                   // null
  Json(bool b) : v_(b) {}                             // NOLINT
  Json(int v) : v_(static_cast<int64_t>(v)) {}        // NOLINT
  Json(int64_t v) : v_(v) {}                          // NOLINT
  Json(double v) : v_(v) {}                           // NOLINT
  Json(const char* s) : v_(std::string(s)) {}         // NOLINT
  Json(std::string s) : v_(std::move(s)) {}           // NOLINT
  Json(Array a) : v_(std::move(a)) {}                 // NOLINT
  Json(Object o) : v_(std::move(o)) {}                // NOLINT
  Json(std::initializer_list<std::pair<std::string, Json>> o) : v_(Object(o)) {}  // NOLINT

  // Adds or replaces `key` in an object (a null value becomes an empty object first).
  Json& Set(const std::string& key, Json value);

  // Compact when indent < 0, else pretty-printed with `indent` spaces per level.
  std::string Dump(int indent = 2) const;

  // A JSON text (RFC 8259; \u escapes of the Basic Multilingual Plane, surrogate pairs) into a
  // value. InvalidArgument naming the byte offset of the first error; nesting deeper than 256
  // levels is refused.
  static Result<Json> Parse(std::string_view text);

  bool is_null() const { return std::holds_alternative<std::monostate>(v_); }
  bool is_bool() const { return std::holds_alternative<bool>(v_); }
  bool is_int() const { return std::holds_alternative<int64_t>(v_); }
  bool is_number() const {
    return std::holds_alternative<int64_t>(v_) || std::holds_alternative<double>(v_);
  }
  bool is_string() const { return std::holds_alternative<std::string>(v_); }
  bool is_array() const { return std::holds_alternative<Array>(v_); }
  bool is_object() const { return std::holds_alternative<Object>(v_); }
  // Accessors: the value, or the fallback when this is not of that kind.
  bool AsBool(bool fallback = false) const;
  double AsNumber(double fallback = 0.0) const;
  int64_t AsInt(int64_t fallback = 0) const;
  std::string AsString(std::string fallback = {}) const;
  const Array& AsArray() const;    // empty when not an array
  const Object& AsObject() const;  // empty when not an object
  // The member `key` of an object, or null (also when this is not an object).
  const Json* Find(std::string_view key) const;

 private:
  void DumpTo(std::string& out, int indent, int depth) const;
  std::variant<std::monostate, bool, int64_t, double, std::string, Array, Object> v_;
};

}  // namespace apprentice
