#include "core/space.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/options.h"

namespace apprentice {
Space Space::Discrete(int64_t n) {
  Require(n >= 1, "Discrete(n) needs n >= 1, got " + std::to_string(n));
  Space s;
  s.discrete_ = true;
  s.n_ = n;
  return s;
}

Space Space::Box(std::vector<float> low, std::vector<float> high, std::vector<int64_t> shape) {
  int64_t size = 1;
  for (int64_t d : shape) {
    Require(d >= 1, "Box shape dimensions must be >= 1");
    size *= d;
  }
  Require(static_cast<int64_t>(low.size()) == size && static_cast<int64_t>(high.size()) == size,
          "Box bounds must have product(shape) = " + std::to_string(size) + " elements");
  for (size_t i = 0; i < low.size(); ++i) {
    Require(!(low[i] > high[i]), "Box bound low[" + std::to_string(i) + "] > high[" +
                                     std::to_string(i) + "]");
  }
  Space s;
  s.discrete_ = false;
  s.low_ = std::move(low);
  s.high_ = std::move(high);
  s.shape_ = std::move(shape);
  return s;
}

Space Space::Box(float low, float high, std::vector<int64_t> shape) {
  int64_t size = 1;
  for (int64_t d : shape) size *= std::max<int64_t>(d, 0);
  return Box(std::vector<float>(size, low), std::vector<float>(size, high), std::move(shape));
}

Status Space::Check(const Action& action) const {
  if (discrete_) {
    if (!action.is_discrete()) {
      return Status::InvalidArgument("expected a discrete action for " + ToString() +
                                     ", got a continuous one");
    }
    if (action.index() < 0 || action.index() >= n_) {
      return Status::InvalidArgument("action " + std::to_string(action.index()) +
                                     " is out of range for " + ToString());
    }
    return Status::Ok();
  }
  if (action.is_discrete()) {
    return Status::InvalidArgument("expected a continuous action for " + ToString() +
                                   ", got discrete action " + std::to_string(action.index()));
  }
  if (action.dims() != flat_size()) {
    return Status::InvalidArgument("action has " + std::to_string(action.dims()) +
                                   " components; " + ToString() + " needs " +
                                   std::to_string(flat_size()));
  }
  const auto v = action.values();
  for (size_t i = 0; i < v.size(); ++i) {
    if (!std::isfinite(v[i]) || v[i] < low_[i] || v[i] > high_[i]) {
      return Status::InvalidArgument("action component " + std::to_string(i) + " = " +
                                     FormatNumber(v[i]) + " is outside [" + FormatNumber(low_[i]) +
                                     ", " + FormatNumber(high_[i]) + "] of " + ToString());
    }
  }
  return Status::Ok();
}

Status Space::CheckObservation(std::span<const float> x) const {
  if (discrete_) return Status::InvalidArgument("observations must come from a Box space");
  if (static_cast<int64_t>(x.size()) != flat_size()) {
    return Status::InvalidArgument("observation has " + std::to_string(x.size()) +
                                   " floats; " + ToString() + " needs " +
                                   std::to_string(flat_size()));
  }
  for (size_t i = 0; i < x.size(); ++i) {
    if (!std::isfinite(x[i]) || x[i] < low_[i] || x[i] > high_[i]) {
      return Status::InvalidArgument("observation element " + std::to_string(i) + " = " +
                                     FormatNumber(x[i]) + " is outside [" + FormatNumber(low_[i]) +
                                     ", " + FormatNumber(high_[i]) + "]");
    }
  }
  return Status::Ok();
}

void Space::Clip(Action& action) const {
  if (discrete_ || action.is_discrete()) return;
  auto v = action.mutable_values();
  for (size_t i = 0; i < v.size() && i < low_.size(); ++i) {
    if (std::isnan(v[i])) v[i] = low_[i];
    v[i] = std::clamp(v[i], low_[i], high_[i]);
  }
}

std::string Space::ToString() const {
  if (discrete_) return "Discrete(" + std::to_string(n_) + ")";
  std::string shape = "(";
  for (size_t i = 0; i < shape_.size(); ++i) {
    shape += std::to_string(shape_[i]);
    shape += (shape_.size() == 1 || i + 1 < shape_.size()) ? "," : "";
  }
  shape += ")";
  const bool uniform = std::all_of(low_.begin(), low_.end(), [&](float v) { return v == low_[0]; }) &&
                       std::all_of(high_.begin(), high_.end(), [&](float v) { return v == high_[0]; });
  if (uniform && !low_.empty()) {
    return "Box(" + FormatNumber(low_[0]) + ", " + FormatNumber(high_[0]) + ", " + shape + ")";
  }
  auto list = [](const std::vector<float>& v) {
    std::string s = "[";
    for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + FormatNumber(v[i]);
    return s + "]";
  };
  return "Box(" + list(low_) + ", " + list(high_) + ", " + shape + ")";
}

namespace {

// A cursor over the text of a space.
class SpaceText {
 public:
  explicit SpaceText(std::string_view text) : text_(text) {}
  void Space() {
    while (pos_ < text_.size() && text_[pos_] == ' ') ++pos_;
  }
  bool Eat(char c) {
    Space();
    if (pos_ < text_.size() && text_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  bool Eat(std::string_view word) {
    Space();
    if (text_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }
  bool Peek(char c) {
    Space();
    return pos_ < text_.size() && text_[pos_] == c;
  }
  // A number up to the next ',' ')' or ']'.
  bool Number(float& out) {
    std::string_view word;
    if (!Word(word)) return false;
    if (word == "inf") out = std::numeric_limits<float>::infinity();
    else if (word == "-inf") out = -std::numeric_limits<float>::infinity();
    else {
      Result<double> v = ParseDouble(word, -1e300, 1e300, "bound");
      if (!v.ok()) return false;
      out = static_cast<float>(*v);
    }
    return true;
  }
  // A whole number >= 0, exactly (no detour through float).
  bool Integer(int64_t& out) {
    std::string_view word;
    if (!Word(word)) return false;
    Result<int64_t> v = ParseInt(word, 0, std::numeric_limits<int64_t>::max(), "size");
    if (!v.ok()) return false;
    out = *v;
    return true;
  }
  bool AtEnd() {
    Space();
    return pos_ == text_.size();
  }

 private:
  // The text up to the next ',' ')' or ']', without surrounding spaces.
  bool Word(std::string_view& word) {
    Space();
    const size_t end = text_.find_first_of(",)]", pos_);
    if (end == std::string_view::npos) return false;
    word = text_.substr(pos_, end - pos_);
    while (!word.empty() && word.back() == ' ') word.remove_suffix(1);
    pos_ = end;
    return true;
  }

  std::string_view text_;
  size_t pos_ = 0;
};

}  // namespace

Result<Space> Space::Parse(std::string_view text) {
  constexpr int64_t kMaxParsedSize = int64_t{1} << 24;
  auto bad = [&] {
    std::string message = "'";
    message.append(text).append("' is not a space (Discrete(n) or Box(low, high, (shape)))");
    return Status::InvalidArgument(std::move(message));
  };
  SpaceText t(text);
  if (t.Eat("Discrete")) {
    int64_t n = 0;
    if (!t.Eat('(') || !t.Integer(n) || !t.Eat(')') || !t.AtEnd() || n < 1) return bad();
    if (n > kMaxParsedSize) return bad();  // larger than any space here
    return Space::Discrete(n);
  }
  if (!t.Eat("Box") || !t.Eat('(')) return bad();
  std::vector<float> low, high;
  auto bounds = [&](std::vector<float>& out) {
    if (t.Eat('[')) {
      do {
        float v = 0;
        if (!t.Number(v)) return false;
        out.push_back(v);
      } while (t.Eat(','));
      return t.Eat(']');
    }
    float v = 0;
    if (!t.Number(v)) return false;
    out.push_back(v);
    return true;
  };
  if (!bounds(low) || !t.Eat(',') || !bounds(high) || !t.Eat(',') || !t.Eat('(')) return bad();
  std::vector<int64_t> shape;
  while (!t.Peek(')')) {
    int64_t d = 0;
    if (!t.Integer(d) || d < 1) return bad();
    shape.push_back(d);
    if (!t.Eat(',')) break;
  }
  if (!t.Eat(')') || !t.Eat(')') || !t.AtEnd() || shape.empty()) return bad();
  int64_t size = 1;
  for (int64_t d : shape) {
    if (d > kMaxParsedSize / size) return bad();  // larger than any space here
    size *= d;
  }
  if (low.size() == 1 && high.size() == 1) {
    low.assign(static_cast<size_t>(size), low[0]);
    high.assign(static_cast<size_t>(size), high[0]);
  }
  if (static_cast<int64_t>(low.size()) != size || low.size() != high.size()) return bad();
  for (size_t i = 0; i < low.size(); ++i) {
    if (!(low[i] <= high[i])) return bad();
  }
  return Space::Box(std::move(low), std::move(high), std::move(shape));
}

std::string Action::ToString() const {
  if (discrete_) return std::to_string(index_);
  std::string s = "[";
  for (int i = 0; i < dims_; ++i) s += (i ? ", " : "") + FormatNumber(values_[i]);
  return s + "]";
}

}  // namespace apprentice
