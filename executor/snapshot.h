// Snapshot: an immutable, flat copy of an MLP policy's weights, which the executor computes
// without LibTorch. Built once (by the distiller, or loaded from a file), then shared read-only
// between threads; a new version replaces it as a whole (see SnapshotSlot).
//
// Network: input -> [Linear -> activation] x hidden layers -> Linear head.
//   Categorical head (Discrete(n)): n logits.
//   Gaussian head (Box with d components): d means, then d log-stds (clamped to
//   [kMinLogStd, kMaxLogStd]); the action is the mean clipped into the box.
//
// Weight order in `params` (the order of torch.nn.Linear parameters, layer by layer):
//   for each layer: weight [out][in] row-major, then bias [out].
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/status.h"

namespace apprentice {

enum class Activation : uint8_t { kRelu, kTanh };
enum class HeadKind : uint8_t { kCategorical, kGaussian };

inline constexpr float kMinLogStd = -5.0f;
inline constexpr float kMaxLogStd = 2.0f;
// Limits MlpSpec::Validate enforces: far beyond any executor network, and they keep
// ParameterCount() far from overflowing int64_t.
inline constexpr int64_t kMaxLayerWidth = int64_t{1} << 20;
inline constexpr size_t kMaxHiddenLayers = 1024;

struct MlpSpec {
  int64_t input = 0;
  std::vector<int64_t> hidden;  // widths of the hidden layers
  int64_t actions = 0;          // n for categorical, d for gaussian
  HeadKind head = HeadKind::kCategorical;
  Activation activation = Activation::kTanh;

  // Width of the final layer: n, or 2d for a Gaussian head.
  int64_t output() const { return head == HeadKind::kGaussian ? 2 * actions : actions; }
  // Number of floats in `params` for this spec.
  int64_t ParameterCount() const;
  Status Validate() const;
  std::string ToString() const;  // e.g. "4-64-64-2 tanh categorical"

  friend bool operator==(const MlpSpec&, const MlpSpec&) = default;
};

class Space;

// The student network for an environment: input = the observation size, and a categorical head
// of n logits for Discrete(n) actions or a Gaussian head of d components for a Box of d floats.
// InvalidArgument for a Discrete observation space or widths the spec refuses.
Result<MlpSpec> StudentSpec(const Space& observation_space, const Space& action_space,
                            std::vector<int64_t> hidden, Activation activation);

// Initial parameters for `spec`, as torch.nn.Linear initialises them (weights and biases uniform
// in ±1/sqrt(in)), drawn from apprentice's Rng with `seed` so that a seed fixes them on every
// platform and with or without LibTorch. The distiller starts from these.
std::vector<float> InitialParameters(const MlpSpec& spec, uint64_t seed);

class Snapshot {
 public:
  // Validates spec and params (size, finiteness); InvalidArgument names what is wrong.
  static Result<std::shared_ptr<const Snapshot>> Create(MlpSpec spec,
                                                        std::span<const float> params,
                                                        int64_t version);

  const MlpSpec& spec() const { return spec_; }
  int64_t version() const { return version_; }
  // The parameters in torch order (see above).
  const std::vector<float>& params() const { return params_; }
  // Largest layer width: the scratch a kernel needs per buffer.
  int64_t max_width() const { return max_width_; }

  // Kernel view of layer l: weights transposed to [in][out] (so the kernel runs contiguous
  // multiply-adds over outputs), aligned to 64 bytes. Each row of weight_t is `stride` floats
  // (out rounded up to a multiple of 16, zero-padded), and bias is zero-padded to `stride`, so
  // the kernel may read whole vectors past `out`; it writes only `out` values.
  // Layers narrower than 8 outputs (e.g. the head) are computed as dot products over `weight`.
  struct Layer {
    const float* weight_t;  // [in][stride], 64-byte aligned
    const float* bias;      // [stride], 64-byte aligned
    const float* weight;    // [out][in] row-major (torch order, inside params())
    int64_t in, out;
    int64_t stride;
  };
  std::span<const Layer> layers() const { return layers_; }

 private:
  Snapshot() = default;
  MlpSpec spec_;
  int64_t version_ = 0;
  int64_t max_width_ = 0;
  std::vector<float> params_;
  std::unique_ptr<float[], void (*)(float*)> kernel_weights_{nullptr, nullptr};
  std::vector<Layer> layers_;
};

}  // namespace apprentice
