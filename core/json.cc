#include "core/json.h"

#include <cmath>
#include <cstdio>

namespace apprentice {
namespace {

void Escape(std::string& out, const std::string& s) {
  out += '"';
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
}

void Newline(std::string& out, int indent, int depth) {
  if (indent < 0) return;
  out += '\n';
  out.append(static_cast<size_t>(indent * depth), ' ');
}

}  // namespace

Json& Json::Set(const std::string& key, Json value) {
  if (std::holds_alternative<std::monostate>(v_)) v_ = Object{};
  auto& obj = std::get<Object>(v_);
  for (auto& [k, v] : obj) {
    if (k == key) {
      v = std::move(value);
      return *this;
    }
  }
  obj.emplace_back(key, std::move(value));
  return *this;
}

std::string Json::Dump(int indent) const {
  std::string out;
  DumpTo(out, indent, 0);
  return out;
}

void Json::DumpTo(std::string& out, int indent, int depth) const {
  if (std::holds_alternative<std::monostate>(v_)) {
    out += "null";
  } else if (auto* b = std::get_if<bool>(&v_)) {
    out += *b ? "true" : "false";
  } else if (auto* i = std::get_if<int64_t>(&v_)) {
    out += std::to_string(*i);
  } else if (auto* d = std::get_if<double>(&v_)) {
    if (!std::isfinite(*d)) {
      out += "null";
    } else {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.17g", *d);
      // Prefer the shortest representation that reads back the same.
      for (int precision = 6; precision < 17; ++precision) {
        char shorter[32];
        std::snprintf(shorter, sizeof shorter, "%.*g", precision, *d);
        if (std::strtod(shorter, nullptr) == *d) {
          std::snprintf(buf, sizeof buf, "%s", shorter);
          break;
        }
      }
      out += buf;
    }
  } else if (auto* s = std::get_if<std::string>(&v_)) {
    Escape(out, *s);
  } else if (auto* a = std::get_if<Array>(&v_)) {
    out += '[';
    for (size_t k = 0; k < a->size(); ++k) {
      if (k) out += indent < 0 ? "," : ", ";
      (*a)[k].DumpTo(out, indent, depth + 1);
    }
    out += ']';
  } else if (auto* o = std::get_if<Object>(&v_)) {
    out += '{';
    for (size_t k = 0; k < o->size(); ++k) {
      if (k) out += ',';
      Newline(out, indent, depth + 1);
      Escape(out, (*o)[k].first);
      out += indent < 0 ? ":" : ": ";
      (*o)[k].second.DumpTo(out, indent, depth + 1);
    }
    if (!o->empty()) Newline(out, indent, depth);
    out += '}';
  }
}

}  // namespace apprentice
