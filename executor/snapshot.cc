#include "executor/snapshot.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <utility>

#include "core/action.h"
#include "core/rng.h"
#include "core/seeds.h"
#include "core/space.h"

namespace apprentice {
namespace {

// Kernel rows are padded to this many floats (64 bytes: one cache line, two AVX vectors).
constexpr int64_t kRowAlign = 16;

int64_t RoundUp(int64_t n, int64_t multiple) { return (n + multiple - 1) / multiple * multiple; }

// Widths of the layers' inputs and outputs: input, hidden..., output().
std::vector<int64_t> Widths(const MlpSpec& spec) {
  std::vector<int64_t> widths;
  widths.reserve(spec.hidden.size() + 2);
  widths.push_back(spec.input);
  widths.insert(widths.end(), spec.hidden.begin(), spec.hidden.end());
  widths.push_back(spec.output());
  return widths;
}

void FreeFloats(float* p) { std::free(p); }

}  // namespace

int64_t MlpSpec::ParameterCount() const {
  const std::vector<int64_t> widths = Widths(*this);
  int64_t count = 0;
  for (size_t l = 0; l + 1 < widths.size(); ++l) count += widths[l + 1] * (widths[l] + 1);
  return count;
}

Status MlpSpec::Validate() const {
  auto width_ok = [](int64_t w) { return w >= 1 && w <= kMaxLayerWidth; };
  if (!width_ok(input)) {
    return Status::InvalidArgument("MLP input width must be in [1, " +
                                   std::to_string(kMaxLayerWidth) + "], got " +
                                   std::to_string(input));
  }
  if (hidden.size() > kMaxHiddenLayers) {
    return Status::InvalidArgument("MLP has " + std::to_string(hidden.size()) +
                                   " hidden layers; at most " + std::to_string(kMaxHiddenLayers) +
                                   " are supported");
  }
  for (size_t i = 0; i < hidden.size(); ++i) {
    if (!width_ok(hidden[i])) {
      return Status::InvalidArgument("MLP hidden layer " + std::to_string(i) +
                                     " width must be in [1, " + std::to_string(kMaxLayerWidth) +
                                     "], got " + std::to_string(hidden[i]));
    }
  }
  if (head != HeadKind::kCategorical && head != HeadKind::kGaussian) {
    return Status::InvalidArgument("MLP head kind " + std::to_string(static_cast<int>(head)) +
                                   " is unknown");
  }
  if (activation != Activation::kRelu && activation != Activation::kTanh) {
    return Status::InvalidArgument("MLP activation " +
                                   std::to_string(static_cast<int>(activation)) + " is unknown");
  }
  if (!width_ok(actions)) {
    return Status::InvalidArgument("MLP head must have [1, " + std::to_string(kMaxLayerWidth) +
                                   "] actions, got " + std::to_string(actions));
  }
  if (head == HeadKind::kGaussian && actions > kMaxActionDims) {
    return Status::InvalidArgument("Gaussian head has " + std::to_string(actions) +
                                   " components; at most " + std::to_string(kMaxActionDims) +
                                   " are supported");
  }
  return Status::Ok();
}

std::string MlpSpec::ToString() const {
  std::string s = std::to_string(input);
  // (Appended piecewise: "-" + std::to_string() trips GCC 12's -Wrestrict false positive.)
  for (int64_t h : hidden) {
    s += '-';
    s += std::to_string(h);
  }
  s += '-';
  s += std::to_string(actions);
  s += activation == Activation::kRelu ? " relu" : " tanh";
  s += head == HeadKind::kGaussian ? " gaussian" : " categorical";
  return s;
}

Result<std::shared_ptr<const Snapshot>> Snapshot::Create(MlpSpec spec,
                                                         std::span<const float> params,
                                                         int64_t version) {
  if (Status s = spec.Validate(); !s.ok()) return s;
  const int64_t expected = spec.ParameterCount();
  if (static_cast<int64_t>(params.size()) != expected) {
    return Status::InvalidArgument("snapshot of a " + spec.ToString() + " MLP needs " +
                                   std::to_string(expected) + " parameters, got " +
                                   std::to_string(params.size()));
  }
  for (size_t i = 0; i < params.size(); ++i) {
    if (!std::isfinite(params[i])) {
      return Status::InvalidArgument("snapshot parameter " + std::to_string(i) + " of " +
                                     std::to_string(params.size()) + " is not finite (" +
                                     std::to_string(params[i]) + ")");
    }
  }

  std::shared_ptr<Snapshot> snap(new Snapshot());
  snap->spec_ = std::move(spec);
  snap->version_ = version;
  snap->params_.assign(params.begin(), params.end());

  // Kernel layout, per layer: weight_t [in][stride], then bias [stride]; every block starts on
  // a 64-byte boundary (stride is a multiple of 16 floats).
  const std::vector<int64_t> widths = Widths(snap->spec_);
  const size_t num_layers = widths.size() - 1;
  int64_t total = 0;
  for (size_t l = 0; l < num_layers; ++l) {
    total += (widths[l] + 1) * RoundUp(widths[l + 1], kRowAlign);
    snap->max_width_ = std::max(snap->max_width_, widths[l + 1]);
  }
  const size_t bytes = static_cast<size_t>(total) * sizeof(float);  // a multiple of 64
  float* buffer = static_cast<float*>(std::aligned_alloc(64, bytes));
  if (buffer == nullptr) throw std::bad_alloc();
  snap->kernel_weights_ = {buffer, &FreeFloats};
  std::memset(buffer, 0, bytes);

  const float* src = snap->params_.data();
  float* dst = buffer;
  snap->layers_.reserve(num_layers);
  for (size_t l = 0; l < num_layers; ++l) {
    const int64_t in = widths[l];
    const int64_t out = widths[l + 1];
    const int64_t stride = RoundUp(out, kRowAlign);
    Layer layer{.weight_t = dst, .bias = dst + in * stride, .weight = src, .in = in, .out = out,
                .stride = stride};
    for (int64_t o = 0; o < out; ++o) {
      for (int64_t i = 0; i < in; ++i) dst[i * stride + o] = src[o * in + i];
    }
    src += out * in;
    std::copy(src, src + out, dst + in * stride);
    src += out;
    dst += (in + 1) * stride;
    snap->layers_.push_back(layer);
  }
  return std::shared_ptr<const Snapshot>(std::move(snap));
}

Result<MlpSpec> StudentSpec(const Space& observation_space, const Space& action_space,
                            std::vector<int64_t> hidden, Activation activation) {
  if (observation_space.is_discrete()) {
    return Status::InvalidArgument("the student needs a Box observation space, got " +
                                   observation_space.ToString());
  }
  MlpSpec spec;
  spec.input = observation_space.flat_size();
  spec.hidden = std::move(hidden);
  spec.activation = activation;
  if (action_space.is_discrete()) {
    spec.head = HeadKind::kCategorical;
    spec.actions = action_space.n();
  } else {
    spec.head = HeadKind::kGaussian;
    spec.actions = action_space.flat_size();
  }
  if (Status s = spec.Validate(); !s.ok()) return s;
  return spec;
}

std::vector<float> InitialParameters(const MlpSpec& spec, uint64_t seed) {
  Rng rng(StreamSeed(seed, SeedStream::kStudentInit));
  std::vector<float> params;
  params.reserve(static_cast<size_t>(spec.ParameterCount()));
  int64_t in = spec.input;
  std::vector<int64_t> widths = spec.hidden;
  widths.push_back(spec.output());
  for (int64_t out : widths) {
    const double bound = 1.0 / std::sqrt(static_cast<double>(in));
    for (int64_t i = 0; i < in * out + out; ++i) {
      params.push_back(static_cast<float>(rng.Uniform(-bound, bound)));
    }
    in = out;
  }
  return params;
}

}  // namespace apprentice
