// Json: a small JSON value for summaries and metrics (objects keep insertion order so output is
// stable for tools), and Dump() to text. Numbers that are not finite are written as null.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <utility>
#include <variant>
#include <vector>

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

 private:
  void DumpTo(std::string& out, int indent, int depth) const;
  std::variant<std::monostate, bool, int64_t, double, std::string, Array, Object> v_;
};

}  // namespace apprentice
