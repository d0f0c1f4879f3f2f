#include "executor/executor.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>

#include "core/agreement.h"
#include "core/policy.h"

namespace apprentice {
namespace {

// ---------------------------------------------------------------------------------------------
// The kernel.
//
// Written with GCC vector extensions rather than intrinsics, templated on the vector type: V8
// (8 floats) for AVX2 + FMA, V4 (4 floats) for baseline SSE2, each the target's native width
// (a V8 on SSE2 gets comparisons split into scalars). Every helper is always_inline, so it is
// compiled for the target of the entry point that calls it.
// ---------------------------------------------------------------------------------------------
using V4 = float __attribute__((vector_size(16)));
using V8 = float __attribute__((vector_size(32)));
using V16 = float __attribute__((vector_size(64)));

template <typename V>
constexpr int64_t kLanes = static_cast<int64_t>(sizeof(V) / sizeof(float));

// Layers with fewer outputs than this are computed as dot products (see DotLayer).
constexpr int64_t kNarrowWidth = 8;

// What a layer applies to its outputs: the hidden activation, or nothing (the head).
enum class Post : uint8_t { kNone, kRelu, kTanh };

// tanh as a rational function (the single-precision coefficients of Eigen, XLA and ONNX
// Runtime): max abs error ~3e-7 against std::tanh, using only multiply-adds, min/max and one
// division, so it runs on whole vectors; std::tanh is a scalar libm call per element.
constexpr float kTanhClamp = 7.90531110763549805f;  // tanh(kTanhClamp) is 1 - 1 ulp in float
constexpr float kTanhP[7] = {-2.76076847742355e-16f, 2.00018790482477e-13f,
                             -8.60467152213735e-11f, 5.12229709037114e-08f,
                             1.48572235717979e-05f,  6.37261928875436e-04f,
                             4.89352455891786e-03f};
constexpr float kTanhQ[4] = {1.19825839466702e-06f, 1.18534705686654e-04f,
                             2.26843463243900e-03f, 4.89352518554385e-03f};

// T is float or a vector type. By reference, to keep vector types out of function ABIs.
template <typename T>
[[gnu::always_inline]] inline void TanhInPlace(T& v) {
  const T hi = T{} + kTanhClamp;
  const T lo = T{} - kTanhClamp;
  T x = v < lo ? lo : v;
  x = x > hi ? hi : x;
  const T x2 = x * x;
  T p = T{} + kTanhP[0];
#pragma GCC unroll 8
  for (int k = 1; k < 7; ++k) p = p * x2 + kTanhP[k];
  p = p * x;
  T q = T{} + kTanhQ[0];
#pragma GCC unroll 4
  for (int k = 1; k < 4; ++k) q = q * x2 + kTanhQ[k];
  v = p / q;
}

template <typename T>
[[gnu::always_inline]] inline void PostInPlace(Post post, T& v) {
  if (post == Post::kTanh) {
    TanhInPlace(v);
  } else if (post == Post::kRelu) {
    const T zero{};
    v = v > zero ? v : zero;
  }
}

// v = p[0:lanes], unaligned. (Out-parameter: a vector return value would change the ABI.)
template <typename V>
[[gnu::always_inline]] inline void Load(V& v, const float* p) {
  std::memcpy(&v, p, sizeof(V));
}

// kVecs vectors of outputs starting at wt/bias/y, kept in registers across the whole input
// loop: y = post(bias + sum_i x[i] * wt[i][:]). Reads whole vectors (rows are zero-padded to
// the stride); writes `valid` floats to y.
template <typename V, int kVecs>
[[gnu::always_inline]] inline void AxpyBlock(const float* __restrict x, int64_t in,
                                             const float* __restrict wt, int64_t stride,
                                             const float* __restrict bias, Post post,
                                             int64_t valid, float* __restrict y) {
  constexpr int64_t kL = kLanes<V>;
  V acc[kVecs];
#pragma GCC unroll 16
  for (int v = 0; v < kVecs; ++v) Load(acc[v], bias + kL * v);
  for (int64_t i = 0; i < in; ++i) {
    const float xi = x[i];
    const float* w = wt + i * stride;
#pragma GCC unroll 16
    for (int v = 0; v < kVecs; ++v) {
      V wv;
      Load(wv, w + kL * v);
      acc[v] += xi * wv;
    }
  }
#pragma GCC unroll 16
  for (int v = 0; v < kVecs; ++v) PostInPlace(post, acc[v]);
  if (valid == kVecs * kL) {
#pragma GCC unroll 16
    for (int v = 0; v < kVecs; ++v) std::memcpy(y + kL * v, &acc[v], sizeof(V));
  } else {
    float tail[kVecs * kL];
#pragma GCC unroll 16
    for (int v = 0; v < kVecs; ++v) std::memcpy(tail + kL * v, &acc[v], sizeof(V));
    std::memcpy(y, tail, static_cast<size_t>(valid) * sizeof(float));
  }
}

// AxpyBlock<V, vecs> for a runtime vecs in [1, kVecs].
template <typename V, int kVecs>
[[gnu::always_inline]] inline void AxpyBlockOf(int64_t vecs, const float* __restrict x,
                                               int64_t in, const float* __restrict wt,
                                               int64_t stride, const float* __restrict bias,
                                               Post post, int64_t valid, float* __restrict y) {
  if constexpr (kVecs > 1) {
    if (vecs < kVecs) {
      AxpyBlockOf<V, kVecs - 1>(vecs, x, in, wt, stride, bias, post, valid, y);
      return;
    }
  }
  AxpyBlock<V, kVecs>(x, in, wt, stride, bias, post, valid, y);
}

// Wide layer (out >= kNarrowWidth): blocks of up to kMaxVecs vectors of outputs over the
// transposed weights.
template <typename V, int kMaxVecs>
[[gnu::always_inline]] inline void WideLayer(const Snapshot::Layer& layer, Post post,
                                             const float* __restrict x, float* __restrict y) {
  constexpr int64_t kL = kLanes<V>;
  const int64_t out = layer.out;
  for (int64_t col = 0; col < out;) {
    const int64_t left = out - col;
    const int64_t vecs = std::min<int64_t>((left + kL - 1) / kL, kMaxVecs);
    const int64_t valid = std::min<int64_t>(left, vecs * kL);
    AxpyBlockOf<V, kMaxVecs>(vecs, x, layer.in, layer.weight_t + col, layer.stride,
                             layer.bias + col, post, valid, y + col);
    col += valid;
  }
}

// Narrow layer (out < kNarrowWidth, e.g. the head): one dot product per output over the
// row-major weights, so the multiply-adds run along the inputs (a handful of outputs would
// leave the axpy form one short dependency chain per input).
template <typename V>
[[gnu::always_inline]] inline void DotLayer(const Snapshot::Layer& layer, Post post,
                                            const float* __restrict x, float* __restrict y) {
  constexpr int64_t kL = kLanes<V>;
  const int64_t in = layer.in;
  for (int64_t o = 0; o < layer.out; ++o) {
    const float* w = layer.weight + o * in;
    V acc0 = {};
    V acc1 = {};
    int64_t i = 0;
    V xv, wv;
    for (; i + 2 * kL <= in; i += 2 * kL) {
      Load(xv, x + i);
      Load(wv, w + i);
      acc0 += xv * wv;
      Load(xv, x + i + kL);
      Load(wv, w + i + kL);
      acc1 += xv * wv;
    }
    if (i + kL <= in) {
      Load(xv, x + i);
      Load(wv, w + i);
      acc0 += xv * wv;
      i += kL;
    }
    acc0 += acc1;
    float sum = layer.bias[o];
    for (int64_t lane = 0; lane < kL; ++lane) sum += acc0[lane];
    for (; i < in; ++i) sum += x[i] * w[i];
    PostInPlace(post, sum);
    y[o] = sum;
  }
}

// The whole forward pass. kMaxVecs: the widest block of vectors kept in registers across a
// layer's inputs (half the target's vector registers).
template <typename V, int kMaxVecs>
[[gnu::always_inline]] inline void ForwardImpl(const Snapshot::Layer* layers, int64_t num_layers,
                                               Activation activation, const float* input,
                                               float* buffer_a, float* buffer_b, float* output) {
  const Post hidden_post = activation == Activation::kTanh ? Post::kTanh : Post::kRelu;
  const float* x = input;
  for (int64_t l = 0; l < num_layers; ++l) {
    const Snapshot::Layer& layer = layers[l];
    const bool last = l + 1 == num_layers;
    float* y = last ? output : (l % 2 == 0 ? buffer_a : buffer_b);
    const Post post = last ? Post::kNone : hidden_post;
    if (layer.out < kNarrowWidth) {
      DotLayer<V>(layer, post, x, y);
    } else {
      WideLayer<V, kMaxVecs>(layer, post, x, y);
    }
    x = y;
  }
}

// ---- Batches: kRows observations at once, each weight vector loaded once for all of them. ----
// Every output is accumulated exactly as in the single-observation path (bias, then + x_i * w_i
// in input order, the same post), so a batch equals that many single calls bit for bit.

// kVecs vectors of outputs for kRows rows of x (row stride x_stride), y rows at y_stride.
template <typename V, int kVecs, int kRows>
[[gnu::always_inline]] inline void AxpyRows(const float* __restrict x, int64_t x_stride,
                                            int64_t in, const float* __restrict wt,
                                            int64_t stride, const float* __restrict bias,
                                            Post post, int64_t valid, float* __restrict y,
                                            int64_t y_stride) {
  constexpr int64_t kL = kLanes<V>;
  V acc[kRows][kVecs];
#pragma GCC unroll 16
  for (int r = 0; r < kRows; ++r) {
#pragma GCC unroll 16
    for (int v = 0; v < kVecs; ++v) Load(acc[r][v], bias + kL * v);
  }
  for (int64_t i = 0; i < in; ++i) {
    const float* w = wt + i * stride;
    V wv[kVecs];
#pragma GCC unroll 16
    for (int v = 0; v < kVecs; ++v) Load(wv[v], w + kL * v);
#pragma GCC unroll 16
    for (int r = 0; r < kRows; ++r) {
      const float xi = x[r * x_stride + i];
#pragma GCC unroll 16
      for (int v = 0; v < kVecs; ++v) acc[r][v] += xi * wv[v];
    }
  }
#pragma GCC unroll 16
  for (int r = 0; r < kRows; ++r) {
    float* yr = y + r * y_stride;
#pragma GCC unroll 16
    for (int v = 0; v < kVecs; ++v) PostInPlace(post, acc[r][v]);
    if (valid == kVecs * kL) {
#pragma GCC unroll 16
      for (int v = 0; v < kVecs; ++v) std::memcpy(yr + kL * v, &acc[r][v], sizeof(V));
    } else {
      float tail[kVecs * kL];
#pragma GCC unroll 16
      for (int v = 0; v < kVecs; ++v) std::memcpy(tail + kL * v, &acc[r][v], sizeof(V));
      std::memcpy(yr, tail, static_cast<size_t>(valid) * sizeof(float));
    }
  }
}

// AxpyRows<V, vecs, kRows> for a runtime vecs in [1, kVecs].
template <typename V, int kVecs, int kRows>
[[gnu::always_inline]] inline void AxpyRowsOf(int64_t vecs, const float* __restrict x,
                                              int64_t x_stride, int64_t in,
                                              const float* __restrict wt, int64_t stride,
                                              const float* __restrict bias, Post post,
                                              int64_t valid, float* __restrict y,
                                              int64_t y_stride) {
  if constexpr (kVecs > 1) {
    if (vecs < kVecs) {
      AxpyRowsOf<V, kVecs - 1, kRows>(vecs, x, x_stride, in, wt, stride, bias, post, valid, y,
                                      y_stride);
      return;
    }
  }
  AxpyRows<V, kVecs, kRows>(x, x_stride, in, wt, stride, bias, post, valid, y, y_stride);
}

// A wide layer for n rows: groups of kRows rows by blocks of up to kVecs vectors of outputs (the
// accumulators, kRows x kVecs, and kVecs weight vectors fill the registers); the last rows one
// by one as in the single path.
template <typename V, int kVecs, int kRows, int kMaxVecs>
[[gnu::always_inline]] inline void WideLayerRows(const Snapshot::Layer& layer, Post post,
                                                 const float* __restrict x, int64_t n,
                                                 float* __restrict y) {
  constexpr int64_t kL = kLanes<V>;
  const int64_t out = layer.out, in = layer.in;
  int64_t row = 0;
  for (; row + kRows <= n; row += kRows) {
    for (int64_t col = 0; col < out;) {
      const int64_t left = out - col;
      const int64_t vecs = std::min<int64_t>((left + kL - 1) / kL, kVecs);
      const int64_t valid = std::min<int64_t>(left, vecs * kL);
      AxpyRowsOf<V, kVecs, kRows>(vecs, x + row * in, in, in, layer.weight_t + col, layer.stride,
                                  layer.bias + col, post, valid, y + row * out + col, out);
      col += valid;
    }
  }
  for (; row < n; ++row) WideLayer<V, kMaxVecs>(layer, post, x + row * in, y + row * out);
}

// The forward pass of n rows, layer by layer (each layer's weights stay in cache for the batch).
template <typename V, int kVecs, int kRows, int kMaxVecs>
[[gnu::always_inline]] inline void ForwardBatchImpl(const Snapshot::Layer* layers,
                                                    int64_t num_layers, Activation activation,
                                                    const float* input, int64_t n,
                                                    float* buffer_a, float* buffer_b,
                                                    float* output) {
  const Post hidden_post = activation == Activation::kTanh ? Post::kTanh : Post::kRelu;
  const float* x = input;
  for (int64_t l = 0; l < num_layers; ++l) {
    const Snapshot::Layer& layer = layers[l];
    const bool last = l + 1 == num_layers;
    float* y = last ? output : (l % 2 == 0 ? buffer_a : buffer_b);
    const Post post = last ? Post::kNone : hidden_post;
    if (layer.out < kNarrowWidth) {
      for (int64_t r = 0; r < n; ++r) DotLayer<V>(layer, post, x + r * layer.in, y + r * layer.out);
    } else {
      WideLayerRows<V, kVecs, kRows, kMaxVecs>(layer, post, x, n, y);
    }
    x = y;
  }
}

using ForwardBatchFn = void (*)(const Snapshot::Layer*, int64_t, Activation, const float*,
                                int64_t, float*, float*, float*);

void ForwardBatchBaseline(const Snapshot::Layer* layers, int64_t num_layers,
                          Activation activation, const float* input, int64_t n, float* buffer_a,
                          float* buffer_b, float* output) {
  ForwardBatchImpl<V4, 3, 4, 8>(layers, num_layers, activation, input, n, buffer_a, buffer_b,
                                output);
}

#if defined(__x86_64__) || defined(__i386__)
[[gnu::target("arch=x86-64-v3")]] void ForwardBatchX86V3(const Snapshot::Layer* layers,
                                                         int64_t num_layers,
                                                         Activation activation,
                                                         const float* input, int64_t n,
                                                         float* buffer_a, float* buffer_b,
                                                         float* output) {
  ForwardBatchImpl<V8, 3, 4, 8>(layers, num_layers, activation, input, n, buffer_a, buffer_b,
                                output);
}

// x86-64-v4 (AVX-512: 32 registers of 16 floats): 4 rows x 6 vectors of accumulators.
[[gnu::target("arch=x86-64-v4")]] void ForwardBatchX86V4(const Snapshot::Layer* layers,
                                                         int64_t num_layers,
                                                         Activation activation,
                                                         const float* input, int64_t n,
                                                         float* buffer_a, float* buffer_b,
                                                         float* output) {
  ForwardBatchImpl<V16, 6, 4, 8>(layers, num_layers, activation, input, n, buffer_a, buffer_b,
                                 output);
}
#endif

using ForwardFn = void (*)(const Snapshot::Layer*, int64_t, Activation, const float*, float*,
                           float*, float*);

// Baseline (SSE2 on x86-64: 16 registers of 4 floats).
void ForwardBaseline(const Snapshot::Layer* layers, int64_t num_layers, Activation activation,
                     const float* input, float* buffer_a, float* buffer_b, float* output) {
  ForwardImpl<V4, 8>(layers, num_layers, activation, input, buffer_a, buffer_b, output);
}

#if defined(__x86_64__) || defined(__i386__)
// x86-64-v3 (AVX2 + FMA: 16 registers of 8 floats): one FMA per weight.
//
// Dispatched by hand rather than with target_clones: the ifunc resolver that target_clones
// emits is instrumented under -fsanitize=thread and runs before TSan is initialised (the
// program crashes at load).
[[gnu::target("arch=x86-64-v3")]] void ForwardX86V3(const Snapshot::Layer* layers,
                                                   int64_t num_layers, Activation activation,
                                                   const float* input, float* buffer_a,
                                                   float* buffer_b, float* output) {
  ForwardImpl<V8, 8>(layers, num_layers, activation, input, buffer_a, buffer_b, output);
}

// x86-64-v4 (AVX-512: 32 registers of 16 floats).
[[gnu::target("arch=x86-64-v4")]] void ForwardX86V4(const Snapshot::Layer* layers,
                                                   int64_t num_layers, Activation activation,
                                                   const float* input, float* buffer_a,
                                                   float* buffer_b, float* output) {
  ForwardImpl<V16, 8>(layers, num_layers, activation, input, buffer_a, buffer_b, output);
}
#endif

// The widest kernel this CPU runs, or the one APPRENTICE_EXECUTOR_ISA names (sse2, avx2,
// avx512; a name the CPU cannot run falls back to the widest it can). The older
// APPRENTICE_EXECUTOR_BASELINE=1 means sse2.
enum class Kernel : uint8_t { kSse2, kAvx2, kAvx512 };

Kernel ChooseKernel() {
  Kernel widest = Kernel::kSse2;
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("x86-64-v3")) widest = Kernel::kAvx2;
  if (__builtin_cpu_supports("x86-64-v4")) widest = Kernel::kAvx512;
#endif
  const char* baseline = std::getenv("APPRENTICE_EXECUTOR_BASELINE");
  if (baseline != nullptr && std::string_view(baseline) == "1") return Kernel::kSse2;
  const char* isa = std::getenv("APPRENTICE_EXECUTOR_ISA");
  if (isa == nullptr) return widest;
  const std::string_view want(isa);
  const Kernel wanted = want == "sse2" ? Kernel::kSse2
                        : want == "avx2" ? Kernel::kAvx2
                        : Kernel::kAvx512;
  return std::min(wanted, widest);
}

Kernel TheKernel() {
  static const Kernel kernel = ChooseKernel();
  return kernel;
}

ForwardFn ChooseForward() {
#if defined(__x86_64__) || defined(__i386__)
  if (TheKernel() == Kernel::kAvx512) return &ForwardX86V4;
  if (TheKernel() == Kernel::kAvx2) return &ForwardX86V3;
#endif
  return &ForwardBaseline;
}

ForwardBatchFn ChooseForwardBatch() {
#if defined(__x86_64__) || defined(__i386__)
  if (TheKernel() == Kernel::kAvx512) return &ForwardBatchX86V4;
  if (TheKernel() == Kernel::kAvx2) return &ForwardBatchX86V3;
#endif
  return &ForwardBatchBaseline;
}

const MlpSpec& SpecOf(const std::shared_ptr<const Snapshot>& snapshot) {
  Require(snapshot != nullptr, "SnapshotSlot needs an initial snapshot, got null");
  return snapshot->spec();
}

}  // namespace

void ForwardUnchecked(const Snapshot& snapshot, std::span<const float> input,
                      std::span<float> scratch, std::span<float> output) {
  const int64_t width = snapshot.max_width();
  assert(static_cast<int64_t>(input.size()) == snapshot.spec().input);
  assert(static_cast<int64_t>(scratch.size()) >= 2 * width);
  assert(static_cast<int64_t>(output.size()) == snapshot.spec().output());
  const std::span<const Snapshot::Layer> layers = snapshot.layers();
  static const ForwardFn forward = ChooseForward();
  forward(layers.data(), static_cast<int64_t>(layers.size()), snapshot.spec().activation,
          input.data(), scratch.data(), scratch.data() + width, output.data());
}

std::string_view ExecutorKernel() {
  switch (TheKernel()) {
    case Kernel::kSse2: return "sse2";
    case Kernel::kAvx2: return "avx2";
    case Kernel::kAvx512: return "avx512";
  }
  return "sse2";
}

void ForwardBatchUnchecked(const Snapshot& snapshot, std::span<const float> inputs, int64_t n,
                           std::span<float> scratch, std::span<float> outputs) {
  const int64_t width = snapshot.max_width();
  assert(static_cast<int64_t>(inputs.size()) == n * snapshot.spec().input);
  assert(static_cast<int64_t>(scratch.size()) >= 2 * n * width);
  assert(static_cast<int64_t>(outputs.size()) == n * snapshot.spec().output());
  const std::span<const Snapshot::Layer> layers = snapshot.layers();
  static const ForwardBatchFn forward = ChooseForwardBatch();
  forward(layers.data(), static_cast<int64_t>(layers.size()), snapshot.spec().activation,
          inputs.data(), n, scratch.data(), scratch.data() + n * width, outputs.data());
}

// ---------------------------------------------------------------------------------------------
// SnapshotSlot
// ---------------------------------------------------------------------------------------------

SnapshotSlot::SnapshotSlot(std::shared_ptr<const Snapshot> initial)
    : spec_(SpecOf(initial)), current_(initial.get()), current_version_(initial->version()) {
  owned_.push_back(std::move(initial));
}

SnapshotSlot::~SnapshotSlot() {
  for ([[maybe_unused]] const Hazard& h : hazards_) {
    assert(!h.claimed.load() && "an Executor outlived its SnapshotSlot");
  }
}

Status SnapshotSlot::Publish(std::shared_ptr<const Snapshot> next) {
  if (next == nullptr) return Status::InvalidArgument("cannot publish a null snapshot");
  if (!(next->spec() == spec_)) {
    return Status::InvalidArgument("snapshot version " + std::to_string(next->version()) +
                                   " is a " + next->spec().ToString() +
                                   " MLP; this slot serves a " + spec_.ToString() + " MLP");
  }
  std::lock_guard<std::mutex> lock(publish_mu_);
  const Snapshot* raw = next.get();
  owned_.push_back(std::move(next));
  current_.exchange(raw, std::memory_order_seq_cst);
  current_version_.store(raw->version(), std::memory_order_release);
  FreeUnpinnedLocked();
  return Status::Ok();
}

std::shared_ptr<const Snapshot> SnapshotSlot::Current() const {
  std::lock_guard<std::mutex> lock(publish_mu_);
  const Snapshot* current = current_.load(std::memory_order_acquire);
  for (const auto& s : owned_) {
    if (s.get() == current) return s;
  }
  assert(false && "the current snapshot is always owned");
  return nullptr;
}

int SnapshotSlot::ClaimHazard() {
  for (int i = 0; i < kMaxReaders; ++i) {
    bool expected = false;
    if (hazards_[i].claimed.compare_exchange_strong(expected, true, std::memory_order_acq_rel)) {
      return i;
    }
  }
  throw InvalidArgument("all " + std::to_string(kMaxReaders) +
                        " reader slots of the SnapshotSlot are taken (one per live Executor)");
}

void SnapshotSlot::ReleaseHazard(int index) {
  hazards_[index].ptr.store(nullptr, std::memory_order_release);
  hazards_[index].claimed.store(false, std::memory_order_release);
}

const Snapshot* SnapshotSlot::Acquire(int index) {
  std::atomic<const Snapshot*>& hazard = hazards_[index].ptr;
  for (;;) {
    const Snapshot* p = current_.load(std::memory_order_seq_cst);
    hazard.store(p, std::memory_order_seq_cst);
    // Pinned only if it is still current after the hazard became visible: a publisher that
    // retires p afterwards scans the hazards after its exchange and so sees the pin.
    if (current_.load(std::memory_order_seq_cst) == p) return p;
  }
}

void SnapshotSlot::FreeUnpinnedLocked() {
  const Snapshot* pinned[kMaxReaders];
  for (int i = 0; i < kMaxReaders; ++i) pinned[i] = hazards_[i].ptr.load(std::memory_order_seq_cst);
  const Snapshot* current = current_.load(std::memory_order_seq_cst);
  std::erase_if(owned_, [&](const std::shared_ptr<const Snapshot>& s) {
    return s.get() != current && std::find(pinned, pinned + kMaxReaders, s.get()) ==
                                     pinned + kMaxReaders;
  });
}

// ---------------------------------------------------------------------------------------------
// Executor
// ---------------------------------------------------------------------------------------------

Executor::Executor(SnapshotSlot& slot, Space action_space)
    : slot_(slot), action_space_(std::move(action_space)), hazard_(-1) {
  const MlpSpec& spec = slot_.spec();
  if (spec.head == HeadKind::kCategorical) {
    Require(action_space_.is_discrete() && action_space_.n() == spec.actions,
            "a " + spec.ToString() + " MLP needs the action space Discrete(" +
                std::to_string(spec.actions) + "), got " + action_space_.ToString());
  } else {
    Require(!action_space_.is_discrete() && action_space_.flat_size() == spec.actions,
            "a " + spec.ToString() + " MLP needs a Box action space with " +
                std::to_string(spec.actions) + " components, got " + action_space_.ToString());
    continuous_action_ = Action::Continuous(std::vector<float>(spec.actions, 0.0f));
  }
  scratch_.assign(2 * static_cast<size_t>(slot_.Current()->max_width()), 0.0f);
  output_.assign(static_cast<size_t>(spec.output()), 0.0f);
  hazard_ = slot_.ClaimHazard();  // last: nothing above may throw with the slot claimed
}

Executor::~Executor() { slot_.ReleaseHazard(hazard_); }

void Executor::CheckLegal(std::span<const uint8_t> legal, int64_t rows) const {
  if (legal.empty()) return;
  const MlpSpec& spec = slot_.spec();
  if (spec.head != HeadKind::kCategorical) {
    throw InvalidArgument("a legal-move mask needs a categorical head (Discrete actions)");
  }
  if (static_cast<int64_t>(legal.size()) != rows * spec.actions) {
    throw InvalidArgument("legal-move mask has " + std::to_string(legal.size()) + " entries; " +
                          std::to_string(rows) + " decisions over " +
                          std::to_string(spec.actions) + " actions need " +
                          std::to_string(rows * spec.actions));
  }
  for (int64_t r = 0; r < rows; ++r) {
    const uint8_t* row = legal.data() + r * spec.actions;
    if (std::none_of(row, row + spec.actions, [](uint8_t b) { return b != 0; })) {
      throw InvalidArgument("legal-move mask of decision " + std::to_string(r) +
                            " allows no action");
    }
  }
}

ExecutorDecision Executor::Act(std::span<const float> observation,
                               std::span<const uint8_t> legal) {
  const MlpSpec& spec = slot_.spec();
  if (static_cast<int64_t>(observation.size()) != spec.input) {
    // Not Require(): its message would be built (and allocated) on every call.
    throw InvalidArgument("observation has " + std::to_string(observation.size()) +
                          " floats; the executor's network takes " + std::to_string(spec.input));
  }
  CheckLegal(legal, 1);
  const Snapshot* snapshot = slot_.Acquire(hazard_);
  ForwardUnchecked(*snapshot, observation, scratch_, output_);
  ExecutorDecision decision;
  decision.version = snapshot->version();
  slot_.Unpin(hazard_);

  decision.output = output_;
  if (!legal.empty()) (void)MaskLogits(output_, legal);  // checked above
  DecideHead(output_, decision.action, decision.confidence);
  return decision;
}

void Executor::DecideHead(std::span<float> out, Action& action, float& confidence) const {
  if (spec().head == HeadKind::kCategorical) {
    const int64_t best = Argmax(out);
    action = Action::Discrete(best);
    confidence = CategoricalConfidence(out, best);
  } else {
    const size_t d = static_cast<size_t>(spec().actions);
    for (size_t i = d; i < 2 * d; ++i) out[i] = std::clamp(out[i], kMinLogStd, kMaxLogStd);
    action = continuous_action_;
    std::copy_n(out.begin(), d, action.mutable_values().begin());
    action_space_.Clip(action);
    confidence = GaussianConfidence(action_space_, std::span<const float>(out).subspan(d, d));
  }
}

int64_t Executor::ActBatch(std::span<const float> observations, std::span<Action> actions,
                           std::span<float> outputs, std::span<float> confidences,
                           std::span<const uint8_t> legal) {
  const MlpSpec& spec = slot_.spec();
  const auto n = static_cast<int64_t>(actions.size());
  const int64_t out_size = spec.output();
  if (static_cast<int64_t>(observations.size()) != n * spec.input ||
      (!outputs.empty() && static_cast<int64_t>(outputs.size()) != n * out_size) ||
      (!confidences.empty() && static_cast<int64_t>(confidences.size()) != n)) {
    throw InvalidArgument(
        "ActBatch: " + std::to_string(n) + " actions need " + std::to_string(n * spec.input) +
        " observation floats (got " + std::to_string(observations.size()) + "), " +
        std::to_string(n * out_size) + " output floats or none (got " +
        std::to_string(outputs.size()) + "), " + std::to_string(n) +
        " confidences or none (got " + std::to_string(confidences.size()) + ")");
  }
  CheckLegal(legal, n);
  if (n == 0) return slot_.version();
  if (outputs.empty()) {
    if (static_cast<int64_t>(batch_output_.size()) < n * out_size) {
      batch_output_.resize(static_cast<size_t>(n * out_size));
    }
    outputs = std::span<float>(batch_output_).first(static_cast<size_t>(n * out_size));
  }
  const Snapshot* snapshot = slot_.Acquire(hazard_);
  const int64_t need = 2 * n * snapshot->max_width();
  if (static_cast<int64_t>(batch_scratch_.size()) < need) {
    batch_scratch_.resize(static_cast<size_t>(need));
  }
  ForwardBatchUnchecked(*snapshot, observations, n, batch_scratch_, outputs);
  const int64_t version = snapshot->version();
  slot_.Unpin(hazard_);
  float ignored = 0.0f;
  for (int64_t r = 0; r < n; ++r) {
    const std::span<float> row =
        outputs.subspan(static_cast<size_t>(r * out_size), static_cast<size_t>(out_size));
    if (!legal.empty()) {
      (void)MaskLogits(row, legal.subspan(static_cast<size_t>(r * out_size),
                                          static_cast<size_t>(out_size)));  // checked above
    }
    DecideHead(row, actions[static_cast<size_t>(r)],
               confidences.empty() ? ignored : confidences[static_cast<size_t>(r)]);
  }
  return version;
}

void Executor::Sample(ExecutorDecision& decision, Rng& rng) const {
  const std::span<const float> out = decision.output;
  if (spec().head == HeadKind::kCategorical) {
    // An entry kMinLogit or more below the largest has probability 0 here: a masked (illegal)
    // action is never drawn, even by rounding.
    const float max = out[Argmax(out)];
    const float floor = max + kMinLogit;
    double total = 0.0;
    for (const float l : out) {
      if (l > floor) total += std::exp(static_cast<double>(l - max));
    }
    double u = rng.Uniform() * total;
    int64_t chosen = Argmax(out);
    for (int64_t k = 0; k < static_cast<int64_t>(out.size()); ++k) {
      if (out[k] <= floor) continue;
      chosen = k;
      u -= std::exp(static_cast<double>(out[k] - max));
      if (u < 0.0) break;
    }
    decision.action = Action::Discrete(chosen);
    return;
  }
  const size_t d = static_cast<size_t>(spec().actions);
  std::span<float> v = decision.action.mutable_values();
  for (size_t i = 0; i < d; ++i) {
    v[i] = static_cast<float>(out[i] + std::exp(static_cast<double>(out[d + i])) * rng.Normal());
  }
  action_space_.Clip(decision.action);
}

}  // namespace apprentice
