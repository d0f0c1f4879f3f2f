#include <gtest/gtest.h>

#include <array>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <memory>
#include <new>
#include <string>
#include <thread>
#include <vector>

#include "core/crc32c.h"
#include "core/rng.h"
#include "core/space.h"
#include "core/status.h"
#include "executor/executor.h"
#include "executor/snapshot.h"
#include "executor/snapshot_file.h"
#include "tests/allocation_counter.h"
#include "tests/temp_files.h"


namespace apprentice {
namespace {

MlpSpec Spec(int64_t input, std::vector<int64_t> hidden, int64_t actions, HeadKind head,
             Activation activation) {
  return MlpSpec{.input = input, .hidden = std::move(hidden), .actions = actions, .head = head,
                 .activation = activation};
}

std::vector<int64_t> Widths(const MlpSpec& spec) {
  std::vector<int64_t> widths = {spec.input};
  widths.insert(widths.end(), spec.hidden.begin(), spec.hidden.end());
  widths.push_back(spec.output());
  return widths;
}

// Random parameters in torch order, scaled so that pre-activations are O(1).
std::vector<float> RandomParams(const MlpSpec& spec, Rng& rng) {
  const std::vector<int64_t> widths = Widths(spec);
  std::vector<float> params;
  for (size_t l = 0; l + 1 < widths.size(); ++l) {
    const double scale = 1.5 / std::sqrt(static_cast<double>(widths[l]));
    for (int64_t k = 0; k < widths[l] * widths[l + 1]; ++k) {
      params.push_back(static_cast<float>(rng.Uniform(-scale, scale)));
    }
    for (int64_t k = 0; k < widths[l + 1]; ++k) {
      params.push_back(static_cast<float>(rng.Uniform(-0.5, 0.5)));
    }
  }
  return params;
}

// The network written out plainly, in double precision.
std::vector<double> ReferenceForward(const MlpSpec& spec, const std::vector<float>& params,
                                     const std::vector<float>& input) {
  const std::vector<int64_t> widths = Widths(spec);
  std::vector<double> x(input.begin(), input.end());
  size_t offset = 0;
  for (size_t l = 0; l + 1 < widths.size(); ++l) {
    const int64_t in = widths[l];
    const int64_t out = widths[l + 1];
    const size_t bias_offset = offset + static_cast<size_t>(in * out);
    std::vector<double> y(static_cast<size_t>(out));
    for (int64_t o = 0; o < out; ++o) {
      double sum = params[bias_offset + static_cast<size_t>(o)];
      for (int64_t i = 0; i < in; ++i) {
        sum += static_cast<double>(params[offset + static_cast<size_t>(o * in + i)]) *
               x[static_cast<size_t>(i)];
      }
      const bool hidden = l + 2 < widths.size();
      if (hidden) {
        sum = spec.activation == Activation::kTanh ? std::tanh(sum) : std::max(sum, 0.0);
      }
      y[static_cast<size_t>(o)] = sum;
    }
    offset = bias_offset + static_cast<size_t>(out);
    x = std::move(y);
  }
  return x;
}

std::shared_ptr<const Snapshot> MakeSnapshot(const MlpSpec& spec,
                                             const std::vector<float>& params,
                                             int64_t version = 1) {
  return Snapshot::Create(spec, params, version).ValueOrThrow();
}

// All weights and hidden biases zero; the head's bias is `head_bias`, so the output is
// exactly `head_bias` whatever the observation.
std::shared_ptr<const Snapshot> ConstantSnapshot(const MlpSpec& spec,
                                                 const std::vector<float>& head_bias,
                                                 int64_t version) {
  std::vector<float> params(static_cast<size_t>(spec.ParameterCount()), 0.0f);
  std::copy(head_bias.begin(), head_bias.end(), params.end() - spec.output());
  return MakeSnapshot(spec, params, version);
}

Space ActionSpaceFor(const MlpSpec& spec) {
  if (spec.head == HeadKind::kCategorical) return Space::Discrete(spec.actions);
  return Space::Box(-1e30f, 1e30f, {spec.actions});
}

// ---------------------------------------------------------------------------------------------
// MlpSpec and Snapshot
// ---------------------------------------------------------------------------------------------

TEST(MlpSpec, CountsParametersAndPrints) {
  const MlpSpec spec = Spec(4, {64, 64}, 2, HeadKind::kCategorical, Activation::kTanh);
  EXPECT_EQ(spec.ParameterCount(), (4 * 64 + 64) + (64 * 64 + 64) + (64 * 2 + 2));
  EXPECT_EQ(spec.ToString(), "4-64-64-2 tanh categorical");
  EXPECT_TRUE(spec.Validate().ok());

  const MlpSpec gaussian = Spec(3, {}, 1, HeadKind::kGaussian, Activation::kRelu);
  EXPECT_EQ(gaussian.output(), 2);
  EXPECT_EQ(gaussian.ParameterCount(), 3 * 2 + 2);
  EXPECT_EQ(gaussian.ToString(), "3-1 relu gaussian");
}

TEST(MlpSpec, ValidateNamesWhatIsWrong) {
  const Status no_input = Spec(0, {8}, 2, HeadKind::kCategorical, Activation::kTanh).Validate();
  EXPECT_EQ(no_input.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(no_input.message().find("input width"), std::string::npos) << no_input.message();

  const Status empty_hidden =
      Spec(4, {8, 0}, 2, HeadKind::kCategorical, Activation::kTanh).Validate();
  EXPECT_NE(empty_hidden.message().find("hidden layer 1"), std::string::npos)
      << empty_hidden.message();

  const Status no_actions = Spec(4, {8}, 0, HeadKind::kCategorical, Activation::kTanh).Validate();
  EXPECT_NE(no_actions.message().find("actions"), std::string::npos) << no_actions.message();

  const Status too_wide =
      Spec(4, {8}, kMaxActionDims + 1, HeadKind::kGaussian, Activation::kTanh).Validate();
  EXPECT_FALSE(too_wide.ok());
  EXPECT_TRUE(
      Spec(4, {8}, kMaxActionDims + 1, HeadKind::kCategorical, Activation::kTanh).Validate().ok());

  const std::vector<int64_t> deep(kMaxHiddenLayers + 1, 2);
  const Status too_deep = Spec(4, deep, 2, HeadKind::kCategorical, Activation::kTanh).Validate();
  EXPECT_NE(too_deep.message().find("hidden layers"), std::string::npos) << too_deep.message();
}

TEST(Snapshot, CreateRejectsBadSpecsCountsAndValues) {
  const MlpSpec spec = Spec(4, {64, 64}, 2, HeadKind::kCategorical, Activation::kTanh);
  std::vector<float> params(static_cast<size_t>(spec.ParameterCount()), 0.1f);
  EXPECT_TRUE(Snapshot::Create(spec, params, 0).ok());

  std::vector<float> short_params(params.begin(), params.end() - 1);
  const auto wrong_count = Snapshot::Create(spec, short_params, 0);
  ASSERT_FALSE(wrong_count.ok());
  EXPECT_EQ(wrong_count.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(wrong_count.status().message().find("needs 4610 parameters, got 4609"),
            std::string::npos)
      << wrong_count.status().message();

  std::vector<float> nan_params = params;
  nan_params[17] = std::numeric_limits<float>::quiet_NaN();
  const auto nan = Snapshot::Create(spec, nan_params, 0);
  ASSERT_FALSE(nan.ok());
  EXPECT_NE(nan.status().message().find("parameter 17"), std::string::npos)
      << nan.status().message();

  std::vector<float> inf_params = params;
  inf_params.back() = -std::numeric_limits<float>::infinity();
  EXPECT_FALSE(Snapshot::Create(spec, inf_params, 0).ok());

  const MlpSpec invalid = Spec(4, {0}, 2, HeadKind::kCategorical, Activation::kTanh);
  EXPECT_FALSE(Snapshot::Create(invalid, std::vector<float>(10, 0.0f), 0).ok());
}

TEST(Snapshot, KeepsTorchOrderAndBuildsAnAlignedTransposedLayout) {
  const MlpSpec spec = Spec(3, {20}, 2, HeadKind::kCategorical, Activation::kRelu);
  Rng rng(7);
  const std::vector<float> params = RandomParams(spec, rng);
  const auto snapshot = MakeSnapshot(spec, params, 42);
  EXPECT_EQ(snapshot->version(), 42);
  EXPECT_EQ(snapshot->spec(), spec);
  EXPECT_EQ(snapshot->params(), params);
  EXPECT_EQ(snapshot->max_width(), 20);
  ASSERT_EQ(snapshot->layers().size(), 2u);
  const Snapshot::Layer& first = snapshot->layers()[0];
  EXPECT_EQ(first.in, 3);
  EXPECT_EQ(first.out, 20);
  EXPECT_GE(first.stride, 20);
  for (const Snapshot::Layer& layer : snapshot->layers()) {
    EXPECT_EQ(reinterpret_cast<uintptr_t>(layer.weight_t) % 64, 0u);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(layer.bias) % 64, 0u);
  }
  // weight_t[i][o] == weight[o][i]; the bias follows.
  for (int64_t o = 0; o < 20; ++o) {
    for (int64_t i = 0; i < 3; ++i) {
      EXPECT_EQ(first.weight_t[i * first.stride + o], params[static_cast<size_t>(o * 3 + i)]);
    }
    EXPECT_EQ(first.bias[o], params[static_cast<size_t>(60 + o)]);
  }
}

// ---------------------------------------------------------------------------------------------
// The kernel against the reference
// ---------------------------------------------------------------------------------------------

TEST(Forward, MatchesDoublePrecisionReference) {
  const std::vector<MlpSpec> specs = {
      Spec(4, {}, 2, HeadKind::kCategorical, Activation::kTanh),
      Spec(4, {64}, 2, HeadKind::kCategorical, Activation::kRelu),
      Spec(4, {64, 64}, 2, HeadKind::kCategorical, Activation::kTanh),
      Spec(4, {64, 64}, 2, HeadKind::kCategorical, Activation::kRelu),
      Spec(4, {64, 64}, 1, HeadKind::kGaussian, Activation::kTanh),
      Spec(3, {100, 37}, 9, HeadKind::kCategorical, Activation::kTanh),
      Spec(17, {5}, 3, HeadKind::kGaussian, Activation::kRelu),
      Spec(33, {8, 130}, 2, HeadKind::kGaussian, Activation::kTanh),
      Spec(1, {1}, 1, HeadKind::kCategorical, Activation::kRelu),
      Spec(24, {256}, 16, HeadKind::kCategorical, Activation::kTanh),
  };
  Rng rng(12345);
  for (const MlpSpec& spec : specs) {
    SCOPED_TRACE(spec.ToString());
    const std::vector<float> params = RandomParams(spec, rng);
    const auto snapshot = MakeSnapshot(spec, params);
    std::vector<float> scratch(2 * static_cast<size_t>(snapshot->max_width()));
    std::vector<float> output(static_cast<size_t>(spec.output()));
    for (int trial = 0; trial < 20; ++trial) {
      // Later trials use larger inputs, so tanh saturates.
      const double range = trial < 10 ? 1.0 : 6.0;
      std::vector<float> x(static_cast<size_t>(spec.input));
      for (float& v : x) v = static_cast<float>(rng.Uniform(-range, range));
      ForwardUnchecked(*snapshot, x, scratch, output);
      const std::vector<double> expected = ReferenceForward(spec, params, x);
      for (size_t k = 0; k < output.size(); ++k) {
        EXPECT_NEAR(output[k], expected[k], 1e-5) << "output " << k << ", trial " << trial;
      }
    }
  }
}

TEST(Forward, ExecutorOutputMatchesReference) {
  const MlpSpec spec = Spec(4, {64, 64}, 3, HeadKind::kCategorical, Activation::kTanh);
  Rng rng(99);
  const std::vector<float> params = RandomParams(spec, rng);
  SnapshotSlot slot(MakeSnapshot(spec, params, 5));
  Executor executor(slot, Space::Discrete(3));
  for (int trial = 0; trial < 50; ++trial) {
    std::vector<float> x(4);
    for (float& v : x) v = static_cast<float>(rng.Uniform(-2.0, 2.0));
    const ExecutorDecision d = executor.Act(x);
    const std::vector<double> expected = ReferenceForward(spec, params, x);
    ASSERT_EQ(d.output.size(), 3u);
    int64_t best = 0;
    for (size_t k = 0; k < 3; ++k) {
      EXPECT_NEAR(d.output[k], expected[k], 1e-5);
      if (expected[k] > expected[static_cast<size_t>(best)]) best = static_cast<int64_t>(k);
    }
    EXPECT_EQ(d.action.index(), best);
    EXPECT_EQ(d.version, 5);
  }
}

// ---------------------------------------------------------------------------------------------
// Executor
// ---------------------------------------------------------------------------------------------

TEST(Executor, RejectsAWrongSizeObservation) {
  const MlpSpec spec = Spec(4, {8}, 2, HeadKind::kCategorical, Activation::kTanh);
  SnapshotSlot slot(ConstantSnapshot(spec, {0.0f, 1.0f}, 1));
  Executor executor(slot, Space::Discrete(2));
  const float three[] = {0.0f, 0.0f, 0.0f};
  try {
    executor.Act(three);
    FAIL() << "Act accepted 3 floats";
  } catch (const InvalidArgument& e) {
    EXPECT_STREQ(e.what(), "observation has 3 floats; the executor's network takes 4");
  }
  const float four[] = {0.0f, 0.0f, 0.0f, 0.0f};
  EXPECT_EQ(executor.Act(four).action.index(), 1);
}

TEST(Executor, RejectsAnActionSpaceThatDoesNotFitTheHead) {
  const MlpSpec categorical = Spec(4, {8}, 2, HeadKind::kCategorical, Activation::kTanh);
  SnapshotSlot cat_slot(ConstantSnapshot(categorical, {0.0f, 0.0f}, 1));
  EXPECT_THROW(Executor(cat_slot, Space::Discrete(3)), InvalidArgument);
  EXPECT_THROW(Executor(cat_slot, Space::Box(-1.0f, 1.0f, {2})), InvalidArgument);
  try {
    Executor executor(cat_slot, Space::Discrete(3));
    FAIL() << "a Discrete(3) space was accepted for a 2-logit head";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("Discrete(2)"), std::string::npos) << e.what();
  }

  const MlpSpec gaussian = Spec(4, {8}, 2, HeadKind::kGaussian, Activation::kTanh);
  SnapshotSlot gauss_slot(ConstantSnapshot(gaussian, {0.0f, 0.0f, 0.0f, 0.0f}, 1));
  EXPECT_THROW(Executor(gauss_slot, Space::Discrete(2)), InvalidArgument);
  EXPECT_THROW(Executor(gauss_slot, Space::Box(-1.0f, 1.0f, {3})), InvalidArgument);
  Executor ok(gauss_slot, Space::Box(-1.0f, 1.0f, {2}));
}

TEST(Executor, CategoricalPicksTheLowestArgmaxWithItsProbability) {
  const MlpSpec spec = Spec(2, {}, 4, HeadKind::kCategorical, Activation::kRelu);
  SnapshotSlot slot(ConstantSnapshot(spec, {1.0f, 3.0f, 3.0f, 0.0f}, 3));
  Executor executor(slot, Space::Discrete(4));
  const float x[] = {0.5f, -0.5f};
  const ExecutorDecision d = executor.Act(x);
  EXPECT_EQ(d.action, Action::Discrete(1));
  EXPECT_EQ(d.version, 3);
  const double e = std::exp(1.0);
  EXPECT_NEAR(d.confidence, std::exp(3.0) / (e + 2 * std::exp(3.0) + 1.0), 1e-6);
  ASSERT_EQ(d.output.size(), 4u);
  EXPECT_EQ(d.output[2], 3.0f);
}

TEST(Executor, GaussianClipsTheMeanAndClampsTheLogStd) {
  const MlpSpec spec = Spec(2, {16}, 3, HeadKind::kGaussian, Activation::kTanh);
  SnapshotSlot slot(ConstantSnapshot(spec, {5.0f, -5.0f, 0.25f, 10.0f, -10.0f, 0.5f}, 1));
  Executor executor(slot, Space::Box({-1.0f, -2.0f, -1.0f}, {1.0f, 2.0f, 0.2f}, {3}));
  const float x[] = {0.1f, 0.2f};
  const ExecutorDecision d = executor.Act(x);
  ASSERT_FALSE(d.action.is_discrete());
  ASSERT_EQ(d.action.dims(), 3);
  EXPECT_EQ(d.action.values()[0], 1.0f);
  EXPECT_EQ(d.action.values()[1], -2.0f);
  EXPECT_EQ(d.action.values()[2], 0.2f);
  ASSERT_EQ(d.output.size(), 6u);
  EXPECT_EQ(d.output[0], 5.0f);  // the raw mean; the action is clipped
  EXPECT_EQ(d.output[3], kMaxLogStd);
  EXPECT_EQ(d.output[4], kMinLogStd);
  EXPECT_EQ(d.output[5], 0.5f);
  // Confidence: the chance that a sample lands within 5 % of each range of the mean.
  const double ranges[] = {2.0, 4.0, 1.2};
  const double log_stds[] = {kMaxLogStd, kMinLogStd, 0.5};
  double expected = 1.0;
  for (int i = 0; i < 3; ++i) {
    expected *= std::erf(0.05 * ranges[i] / (std::exp(log_stds[i]) * std::sqrt(2.0)));
  }
  EXPECT_NEAR(d.confidence, expected, 1e-6);
  EXPECT_LT(d.confidence, 0.1f);
}

TEST(Executor, GaussianConfidenceIsHighForASharpHeadAndLowForAWideOne) {
  const MlpSpec spec = Spec(2, {16}, 1, HeadKind::kGaussian, Activation::kTanh);
  const Space box = Space::Box(-2.0f, 2.0f, {1});
  const float x[] = {0.1f, 0.2f};
  SnapshotSlot sharp(ConstantSnapshot(spec, {0.5f, -6.0f}, 1));  // std 0.0025, tolerance 0.2
  SnapshotSlot wide(ConstantSnapshot(spec, {0.5f, 0.0f}, 1));    // std 1
  Executor a(sharp, box), b(wide, box);
  EXPECT_GT(a.Act(x).confidence, 0.999f);
  EXPECT_NEAR(b.Act(x).confidence, std::erf(0.2 / std::sqrt(2.0)), 1e-6);
}

// Many agents per tick: a batch decides exactly as that many single calls, for every shape of
// layer (narrow heads, widths that are not multiples of the vector width, tails of fewer than
// four rows), on whichever kernel this process runs (the executor_test_sse2 and _avx2 CTest
// entries force the narrower ones).
TEST(Executor, ActBatchEqualsSingleCallsBitForBit) {
  Rng rng(21);
  for (const MlpSpec& spec : {Spec(4, {64, 64}, 2, HeadKind::kCategorical, Activation::kTanh),
                              Spec(17, {33, 130}, 9, HeadKind::kCategorical, Activation::kRelu),
                              Spec(5, {24}, 2, HeadKind::kGaussian, Activation::kTanh),
                              Spec(32, {256, 256}, 8, HeadKind::kCategorical, Activation::kTanh)}) {
    const std::vector<float> params = RandomParams(spec, rng);
    SnapshotSlot slot(MakeSnapshot(spec, params, 7));
    const Space space = ActionSpaceFor(spec);
    Executor single(slot, space), batched(slot, space);
    for (const int64_t n : {1, 3, 4, 5, 17, 64}) {
      std::vector<float> obs(static_cast<size_t>(n * spec.input));
      for (float& v : obs) v = static_cast<float>(rng.Uniform(-2.0, 2.0));
      std::vector<Action> actions(static_cast<size_t>(n));
      std::vector<float> outputs(static_cast<size_t>(n * spec.output()));
      std::vector<float> confidences(static_cast<size_t>(n));
      EXPECT_EQ(batched.ActBatch(obs, actions, outputs, confidences), 7);
      for (int64_t r = 0; r < n; ++r) {
        const ExecutorDecision d = single.Act(
            std::span<const float>(obs).subspan(static_cast<size_t>(r * spec.input),
                                                static_cast<size_t>(spec.input)));
        ASSERT_EQ(actions[static_cast<size_t>(r)], d.action) << spec.ToString() << " n=" << n;
        ASSERT_EQ(confidences[static_cast<size_t>(r)], d.confidence);
        for (int64_t k = 0; k < spec.output(); ++k) {
          ASSERT_EQ(outputs[static_cast<size_t>(r * spec.output() + k)], d.output[k])
              << spec.ToString() << " n=" << n << " row " << r << " output " << k;
        }
      }
    }
  }
}

// The kernel is the one APPRENTICE_EXECUTOR_ISA names, else the widest this CPU runs.
TEST(Executor, TheKernelIsTheForcedOneOrTheWidest) {
  std::string widest = "sse2";
#if defined(__x86_64__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("x86-64-v3")) widest = "avx2";
  if (__builtin_cpu_supports("x86-64-v4")) widest = "avx512";
#endif
  const char* isa = std::getenv("APPRENTICE_EXECUTOR_ISA");
  const std::string want = isa == nullptr ? widest : std::string(isa);
  const auto rank = [](std::string_view k) { return k == "sse2" ? 0 : k == "avx2" ? 1 : 2; };
  EXPECT_EQ(ExecutorKernel(), rank(want) <= rank(widest) ? want : widest);
}

TEST(Executor, ActBatchRefusesSizesThatDoNotFitAndAllocatesNothingOnceWarm) {
  const MlpSpec spec = Spec(4, {16}, 2, HeadKind::kCategorical, Activation::kTanh);
  SnapshotSlot slot(ConstantSnapshot(spec, {0.0f, 1.0f}, 1));
  Executor executor(slot, Space::Discrete(2));
  std::vector<Action> actions(8);
  std::vector<float> obs(8 * 4, 0.5f);
  EXPECT_THROW(executor.ActBatch(std::span<const float>(obs).first(31), actions), InvalidArgument);
  std::vector<float> wrong_outputs(3);
  EXPECT_THROW(executor.ActBatch(obs, actions, wrong_outputs), InvalidArgument);
  executor.ActBatch(obs, actions);  // warms the scratch
  const int64_t before = AllocationsOnThisThread();
  for (int i = 0; i < 100; ++i) executor.ActBatch(obs, actions);
  EXPECT_EQ(AllocationsOnThisThread(), before);
  EXPECT_EQ(actions[3], Action::Discrete(1));
}

// Sampling on request: draws follow the head's distribution; a Gaussian's are clipped.
TEST(Executor, SampleDrawsFromTheHeadsDistribution) {
  Rng rng(12);
  const float x[] = {0.5f, -0.5f};
  {
    const MlpSpec spec = Spec(2, {}, 3, HeadKind::kCategorical, Activation::kRelu);
    SnapshotSlot slot(ConstantSnapshot(spec, {0.0f, std::log(2.0f), std::log(5.0f)}, 1));
    Executor executor(slot, Space::Discrete(3));
    std::array<int, 3> counts{};
    constexpr int kDraws = 40'000;
    for (int i = 0; i < kDraws; ++i) {
      ExecutorDecision d = executor.Act(x);
      executor.Sample(d, rng);
      ++counts[static_cast<size_t>(d.action.index())];
    }
    EXPECT_NEAR(counts[0] / double(kDraws), 1.0 / 8, 0.01);
    EXPECT_NEAR(counts[1] / double(kDraws), 2.0 / 8, 0.01);
    EXPECT_NEAR(counts[2] / double(kDraws), 5.0 / 8, 0.01);
  }
  {
    const MlpSpec spec = Spec(2, {}, 2, HeadKind::kGaussian, Activation::kRelu);
    // Means 0.3 and 0.9, stds 0.2 and 0.5, in Box(-1, 1): the second is often clipped at 1.
    SnapshotSlot slot(ConstantSnapshot(spec, {0.3f, 0.9f, std::log(0.2f), std::log(0.5f)}, 1));
    Executor executor(slot, Space::Box(-1.0f, 1.0f, {2}));
    double sum = 0, sq = 0;
    int at_bound = 0;
    constexpr int kDraws = 40'000;
    for (int i = 0; i < kDraws; ++i) {
      ExecutorDecision d = executor.Act(x);
      executor.Sample(d, rng);
      const double a = d.action.values()[0];
      sum += a;
      sq += a * a;
      ASSERT_LE(d.action.values()[1], 1.0f);
      at_bound += d.action.values()[1] == 1.0f ? 1 : 0;
    }
    const double mean = sum / kDraws;
    EXPECT_NEAR(mean, 0.3, 0.01);
    EXPECT_NEAR(std::sqrt(sq / kDraws - mean * mean), 0.2, 0.01);
    EXPECT_NEAR(at_bound / double(kDraws), 0.42, 0.02);  // P(N(0.9, 0.5^2) >= 1)
  }
}

TEST(Executor, ActAllocatesNothing) {
  Rng rng(3);
  for (const MlpSpec& spec : {Spec(4, {64, 64}, 2, HeadKind::kCategorical, Activation::kTanh),
                              Spec(5, {33}, 2, HeadKind::kGaussian, Activation::kRelu)}) {
    SnapshotSlot slot(MakeSnapshot(spec, RandomParams(spec, rng)));
    Executor executor(slot, ActionSpaceFor(spec));
    std::vector<float> x(static_cast<size_t>(spec.input), 0.3f);
    executor.Act(x);  // warm up
    const int64_t before = AllocationsOnThisThread();
    for (int i = 0; i < 100; ++i) executor.Act(x);
    EXPECT_EQ(AllocationsOnThisThread() - before, 0) << spec.ToString();
  }
}

TEST(Executor, HazardSlotsAreLimitedAndReused) {
  const MlpSpec spec = Spec(1, {}, 2, HeadKind::kCategorical, Activation::kTanh);
  SnapshotSlot slot(ConstantSnapshot(spec, {0.0f, 1.0f}, 1));
  std::vector<std::unique_ptr<Executor>> executors;
  for (int i = 0; i < SnapshotSlot::kMaxReaders; ++i) {
    executors.push_back(std::make_unique<Executor>(slot, Space::Discrete(2)));
  }
  EXPECT_THROW(Executor(slot, Space::Discrete(2)), InvalidArgument);
  executors.pop_back();
  Executor again(slot, Space::Discrete(2));
  const float x[] = {0.0f};
  EXPECT_EQ(again.Act(x).action.index(), 1);
}

// ---------------------------------------------------------------------------------------------
// SnapshotSlot
// ---------------------------------------------------------------------------------------------

TEST(SnapshotSlot, RejectsASnapshotOfAnotherSpec) {
  const MlpSpec spec = Spec(4, {64, 64}, 2, HeadKind::kCategorical, Activation::kTanh);
  const MlpSpec other = Spec(4, {64}, 2, HeadKind::kCategorical, Activation::kTanh);
  SnapshotSlot slot(ConstantSnapshot(spec, {0.0f, 0.0f}, 1));
  const Status bad = slot.Publish(ConstantSnapshot(other, {0.0f, 0.0f}, 2));
  EXPECT_EQ(bad.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad.message().find("4-64-2 tanh categorical"), std::string::npos) << bad.message();
  EXPECT_NE(bad.message().find("4-64-64-2 tanh categorical"), std::string::npos) << bad.message();
  EXPECT_EQ(slot.version(), 1);
  EXPECT_FALSE(slot.Publish(nullptr).ok());
}

TEST(SnapshotSlot, VersionAndCurrentFollowPublishes) {
  const MlpSpec spec = Spec(2, {8}, 2, HeadKind::kCategorical, Activation::kTanh);
  SnapshotSlot slot(ConstantSnapshot(spec, {1.0f, 0.0f}, 1));
  Executor executor(slot, Space::Discrete(2));
  const float x[] = {0.0f, 0.0f};
  EXPECT_EQ(slot.version(), 1);
  EXPECT_EQ(executor.Act(x).action.index(), 0);
  EXPECT_EQ(executor.Act(x).version, 1);

  const auto v2 = ConstantSnapshot(spec, {0.0f, 1.0f}, 2);
  ASSERT_TRUE(slot.Publish(v2).ok());
  EXPECT_EQ(slot.version(), 2);
  EXPECT_EQ(slot.Current(), v2);
  const ExecutorDecision d = executor.Act(x);
  EXPECT_EQ(d.version, 2);
  EXPECT_EQ(d.action.index(), 1);
}

TEST(SnapshotSlot, FreesRetiredSnapshotsNoReaderPins) {
  const MlpSpec spec = Spec(2, {8}, 2, HeadKind::kCategorical, Activation::kTanh);
  auto v1 = ConstantSnapshot(spec, {1.0f, 0.0f}, 1);
  const std::weak_ptr<const Snapshot> weak_v1 = v1;
  SnapshotSlot slot(std::move(v1));
  Executor executor(slot, Space::Discrete(2));
  const float x[] = {0.0f, 0.0f};
  executor.Act(x);  // pins and unpins v1

  auto v2 = ConstantSnapshot(spec, {0.0f, 1.0f}, 2);
  const std::weak_ptr<const Snapshot> weak_v2 = v2;
  ASSERT_TRUE(slot.Publish(std::move(v2)).ok());
  EXPECT_TRUE(weak_v1.expired());
  EXPECT_FALSE(weak_v2.expired());

  executor.Act(x);
  ASSERT_TRUE(slot.Publish(ConstantSnapshot(spec, {0.0f, 2.0f}, 3)).ok());
  EXPECT_TRUE(weak_v2.expired());
  EXPECT_EQ(slot.Current()->version(), 3);
}

// Readers act in a loop while a writer publishes snapshots whose output encodes their version:
// every decision must be exactly the one of the version it reports, and versions only grow.
TEST(SnapshotSlot, HotSwapUnderConcurrentReaders) {
  constexpr int kReaders = 3;
  constexpr int kPublishes = 4000;
  const MlpSpec spec = Spec(4, {64, 64}, 2, HeadKind::kCategorical, Activation::kTanh);
  // Logits [v, 0.5]: action 0 for every version >= 1.
  auto logits_of = [](int64_t v) { return std::vector<float>{static_cast<float>(v), 0.5f}; };
  SnapshotSlot slot(ConstantSnapshot(spec, logits_of(0), 0));
  // Built before the threads start, so that the writer only publishes.
  std::vector<std::shared_ptr<const Snapshot>> snapshots;
  std::vector<std::weak_ptr<const Snapshot>> weak;
  for (int v = 1; v <= kPublishes; ++v) {
    snapshots.push_back(ConstantSnapshot(spec, logits_of(v), v));
    weak.push_back(snapshots.back());
  }

  std::atomic<int> ready{0};
  std::atomic<bool> done{false};
  std::atomic<int64_t> acts{0};
  std::atomic<int64_t> failures{0};
  std::atomic<int64_t> max_seen{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < kReaders; ++r) {
    readers.emplace_back([&] {
      Executor executor(slot, Space::Discrete(2));
      const float x[] = {0.1f, -0.2f, 0.3f, -0.4f};
      int64_t last = 0;
      ready.fetch_add(1);
      // Bounded: the writer sets `done` after its last publish.
      while (!done.load(std::memory_order_acquire)) {
        const ExecutorDecision d = executor.Act(x);
        const bool consistent = d.output.size() == 2 &&
                                d.output[0] == static_cast<float>(d.version) &&
                                d.output[1] == 0.5f &&
                                d.action.index() == (d.version >= 1 ? 0 : 1) &&
                                d.version >= last && d.version <= kPublishes;
        if (!consistent) failures.fetch_add(1);
        last = d.version;
        acts.fetch_add(1, std::memory_order_relaxed);
        std::this_thread::yield();  // with more threads than cores, let the writer in
      }
      int64_t seen = max_seen.load();
      while (last > seen && !max_seen.compare_exchange_weak(seen, last)) {
      }
    });
  }
  while (ready.load() < kReaders) std::this_thread::yield();

  for (int v = 1; v <= kPublishes; ++v) {
    // Let the readers act at least once between publishes, so that swaps overlap reads.
    const int64_t before = acts.load();
    while (acts.load() == before) std::this_thread::yield();
    const bool published = slot.Publish(std::move(snapshots[static_cast<size_t>(v - 1)])).ok();
    EXPECT_TRUE(published);  // not ASSERT: the readers must still be stopped and joined
    if (!published) break;
    EXPECT_EQ(slot.version(), v);
  }
  done.store(true, std::memory_order_release);
  for (std::thread& t : readers) t.join();

  EXPECT_EQ(failures.load(), 0);
  EXPECT_GE(acts.load(), kPublishes);
  EXPECT_GE(max_seen.load(), 1);
  // With no reader left, one more publish frees every retired snapshot.
  ASSERT_TRUE(slot.Publish(ConstantSnapshot(spec, logits_of(kPublishes + 1), kPublishes + 1)).ok());
  for (const auto& w : weak) EXPECT_TRUE(w.expired());
}

// ---------------------------------------------------------------------------------------------
// CRC-32C
// ---------------------------------------------------------------------------------------------

std::vector<uint8_t> Bytes(std::string_view s) { return {s.begin(), s.end()}; }

TEST(Crc32c, MatchesTheStandardCheckValues) {
  EXPECT_EQ(Crc32c(Bytes("123456789")), 0xE3069283u);
  EXPECT_EQ(Crc32c({}), 0u);
  // RFC 3720 (iSCSI), appendix B.4: 32 bytes of zeros, of ones, and ascending.
  EXPECT_EQ(Crc32c(std::vector<uint8_t>(32, 0x00)), 0x8A9136AAu);
  EXPECT_EQ(Crc32c(std::vector<uint8_t>(32, 0xFF)), 0x62A8AB43u);
  std::vector<uint8_t> ascending(32);
  for (size_t i = 0; i < ascending.size(); ++i) ascending[i] = static_cast<uint8_t>(i);
  EXPECT_EQ(Crc32c(ascending), 0x46DD794Eu);
}

TEST(Crc32c, SeedContinuesARunningChecksumAtEverySplit) {
  Rng rng(8);
  std::vector<uint8_t> data(100);
  for (uint8_t& b : data) b = static_cast<uint8_t>(rng.Next());
  const uint32_t whole = Crc32c(data);
  const std::span<const uint8_t> all(data);
  for (size_t split = 0; split <= data.size(); ++split) {
    EXPECT_EQ(Crc32c(all.subspan(split), Crc32c(all.first(split))), whole) << split;
  }
  // Unaligned starts take the same path as aligned ones.
  EXPECT_EQ(Crc32c(all.subspan(3)), Crc32c(std::vector<uint8_t>(data.begin() + 3, data.end())));
}

// ---------------------------------------------------------------------------------------------
// Snapshot files
// ---------------------------------------------------------------------------------------------


// Rewrites the header's checksum so that it matches the (modified) FlatBuffer.
void FixChecksum(std::vector<uint8_t>& file) {
  const uint32_t crc = Crc32c(std::span<const uint8_t>(file).subspan(kSnapshotFileHeaderSize));
  for (int i = 0; i < 4; ++i)
    file[12 + static_cast<size_t>(i)] = static_cast<uint8_t>(crc >> (8 * i));
}

const SnapshotFileInfo kInfo{.env = "CartPole-v1",
                             .observation_space = "Box(4)",
                             .action_space = "Discrete(3)",
                             .note = "run 7, 1200 labels"};

TEST(SnapshotFile, RoundTripGivesBitIdenticalExecutorOutputs) {
  Rng rng(21);
  for (const MlpSpec& spec : {Spec(4, {64, 64}, 3, HeadKind::kCategorical, Activation::kTanh),
                              Spec(5, {33, 7}, 2, HeadKind::kGaussian, Activation::kRelu),
                              Spec(2, {}, 1, HeadKind::kGaussian, Activation::kTanh)}) {
    SCOPED_TRACE(spec.ToString());
    const auto original = MakeSnapshot(spec, RandomParams(spec, rng), /*version=*/17);
    const TempFile temp("round_trip.apsnap");
    const std::string& path = temp.path();
    ASSERT_TRUE(SaveSnapshot(*original, kInfo, path).ok());
    EXPECT_FALSE(FileExists(path + ".tmp"));
    EXPECT_EQ(ReadBytes(path), EncodeSnapshotFile(*original, kInfo));

    auto loaded = LoadSnapshot(path);
    ASSERT_TRUE(loaded.ok()) << loaded.status().message();
    const Snapshot& copy = *loaded->snapshot;
    EXPECT_EQ(copy.spec(), spec);
    EXPECT_EQ(copy.version(), 17);
    EXPECT_EQ(copy.params(), original->params());
    EXPECT_EQ(loaded->info, kInfo);

    SnapshotSlot slot_a(original);
    SnapshotSlot slot_b(loaded->snapshot);
    Executor a(slot_a, ActionSpaceFor(spec));
    Executor b(slot_b, ActionSpaceFor(spec));
    for (int trial = 0; trial < 50; ++trial) {
      std::vector<float> x(static_cast<size_t>(spec.input));
      for (float& v : x) v = static_cast<float>(rng.Uniform(-3.0, 3.0));
      const ExecutorDecision da = a.Act(x);
      const ExecutorDecision db = b.Act(x);
      ASSERT_EQ(da.output.size(), db.output.size());
      for (size_t k = 0; k < da.output.size(); ++k) {
        EXPECT_EQ(std::memcmp(&da.output[k], &db.output[k], sizeof(float)), 0) << k;
      }
      EXPECT_EQ(da.action, db.action);
      EXPECT_EQ(db.version, 17);
    }
  }
}

TEST(SnapshotFile, EmptyMetadataAndOverwritesRoundTrip) {
  const MlpSpec spec = Spec(3, {4}, 2, HeadKind::kCategorical, Activation::kRelu);
  Rng rng(22);
  const TempFile temp("overwrite.apsnap");
  const std::string& path = temp.path();
  ASSERT_TRUE(SaveSnapshot(*MakeSnapshot(spec, RandomParams(spec, rng), 1), kInfo, path).ok());
  const auto second = MakeSnapshot(spec, RandomParams(spec, rng), 2);
  ASSERT_TRUE(SaveSnapshot(*second, {}, path).ok());
  auto loaded = LoadSnapshot(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  EXPECT_EQ(loaded->snapshot->version(), 2);
  EXPECT_EQ(loaded->snapshot->params(), second->params());
  EXPECT_EQ(loaded->info, SnapshotFileInfo{});
}

TEST(SnapshotFile, DecodesFromAnUnalignedBuffer) {
  const MlpSpec spec = Spec(3, {4}, 2, HeadKind::kGaussian, Activation::kTanh);
  Rng rng(23);
  const auto snapshot = MakeSnapshot(spec, RandomParams(spec, rng), 3);
  const std::vector<uint8_t> file = EncodeSnapshotFile(*snapshot, kInfo);
  std::vector<uint8_t> shifted(file.size() + 1);
  std::copy(file.begin(), file.end(), shifted.begin() + 1);
  auto decoded = DecodeSnapshotFile(std::span<const uint8_t>(shifted).subspan(1));
  ASSERT_TRUE(decoded.ok()) << decoded.status().message();
  EXPECT_EQ(decoded->snapshot->params(), snapshot->params());
}

TEST(SnapshotFile, SaveReportsAnUnwritablePath) {
  const MlpSpec spec = Spec(1, {}, 2, HeadKind::kCategorical, Activation::kTanh);
  const auto snapshot = ConstantSnapshot(spec, {0.0f, 1.0f}, 1);
  const std::string path = ::testing::TempDir() + "no_such_directory_4711/s.apsnap";
  const Status s = SaveSnapshot(*snapshot, {}, path);
  EXPECT_EQ(s.code(), StatusCode::kUnavailable);
  EXPECT_NE(s.message().find("no_such_directory_4711"), std::string::npos) << s.message();
}

TEST(SnapshotFile, LoadReportsMissingFilesDirectoriesAndForeignFiles) {
  const auto missing = LoadSnapshot(TempFile("missing.apsnap").path());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("missing.apsnap"), std::string::npos);

  EXPECT_EQ(LoadSnapshot(::testing::TempDir()).status().code(), StatusCode::kInvalidArgument);

  const TempFile temp("foreign.apsnap");
  const std::string& path = temp.path();
  WriteBytes(path, {});
  const auto empty = LoadSnapshot(path);
  EXPECT_EQ(empty.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(empty.status().message().find("not an apprentice snapshot file"), std::string::npos)
      << empty.status().message();
  EXPECT_NE(empty.status().message().find(path), std::string::npos) << empty.status().message();

  Rng rng(24);
  for (size_t size : {1, 3, 16, 17, 100, 4096}) {
    std::vector<uint8_t> garbage(size);
    for (uint8_t& b : garbage) b = static_cast<uint8_t>(rng.Next());
    WriteBytes(path, garbage);
    EXPECT_FALSE(LoadSnapshot(path).ok()) << size;
    // Garbage behind a valid magic, version and length.
    if (size >= kSnapshotFileHeaderSize) {
      std::memcpy(garbage.data(), "APSN\x01\0\0\0", 8);
      const auto body = static_cast<uint32_t>(size - kSnapshotFileHeaderSize);
      std::memcpy(garbage.data() + 8, &body, 4);  // (little-endian hosts)
      EXPECT_FALSE(DecodeSnapshotFile(garbage).ok()) << size;
      FixChecksum(garbage);
      const auto decoded = DecodeSnapshotFile(garbage);
      ASSERT_FALSE(decoded.ok()) << size;
      EXPECT_EQ(decoded.status().code(), StatusCode::kDataLoss);
    }
  }
}

// A small file, damaged every way a disk or a transfer can damage it: each must be an error.
TEST(SnapshotFile, EveryTruncationAndEveryByteFlipIsAnError) {
  const MlpSpec spec = Spec(3, {4}, 2, HeadKind::kCategorical, Activation::kTanh);
  Rng rng(25);
  const auto snapshot = MakeSnapshot(spec, RandomParams(spec, rng), 9);
  const std::vector<uint8_t> file = EncodeSnapshotFile(*snapshot, kInfo);
  ASSERT_TRUE(DecodeSnapshotFile(file).ok());
  const TempFile temp("damaged.apsnap");
  const std::string& path = temp.path();

  for (size_t size = 0; size < file.size(); ++size) {
    WriteBytes(path, std::span<const uint8_t>(file).first(size));
    const auto loaded = LoadSnapshot(path);
    ASSERT_FALSE(loaded.ok()) << "truncated to " << size << " of " << file.size() << " bytes";
    if (size >= kSnapshotFileHeaderSize) {
      EXPECT_NE(loaded.status().message().find("truncated"), std::string::npos)
          << loaded.status().message();
    }
  }
  std::vector<uint8_t> longer = file;
  longer.push_back(0);
  const auto trailing = DecodeSnapshotFile(longer);
  EXPECT_EQ(trailing.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(trailing.status().message().find("trailing bytes"), std::string::npos);

  for (size_t i = 0; i < file.size(); ++i) {
    for (uint8_t mask : {uint8_t{0xFF}, static_cast<uint8_t>(1u << (i % 8))}) {
      std::vector<uint8_t> damaged = file;
      damaged[i] ^= mask;
      WriteBytes(path, damaged);
      EXPECT_FALSE(LoadSnapshot(path).ok()) << "byte " << i << " ^ " << int{mask};
    }
  }
  std::vector<uint8_t> flipped = file;
  flipped.back() ^= 1;
  EXPECT_NE(DecodeSnapshotFile(flipped).status().message().find("checksum mismatch"),
            std::string::npos);
}

// Damage behind a valid checksum (a buggy or hostile writer) reaches the FlatBuffer verifier
// and the content checks: the result is an error or a fully valid snapshot, never a crash.
TEST(SnapshotFile, DamageBehindAValidChecksumIsVerified) {
  const MlpSpec spec = Spec(3, {4}, 2, HeadKind::kGaussian, Activation::kRelu);
  Rng rng(26);
  const auto snapshot = MakeSnapshot(spec, RandomParams(spec, rng), 9);
  const std::vector<uint8_t> file = EncodeSnapshotFile(*snapshot, kInfo);
  int errors = 0;
  for (size_t i = kSnapshotFileHeaderSize; i < file.size(); ++i) {
    for (uint8_t mask : {uint8_t{0xFF}, uint8_t{0x80}, uint8_t{0x01}}) {
      std::vector<uint8_t> damaged = file;
      damaged[i] ^= mask;
      FixChecksum(damaged);
      const auto decoded = DecodeSnapshotFile(damaged);
      if (!decoded.ok()) {
        ++errors;
        EXPECT_EQ(decoded.status().code(), StatusCode::kDataLoss) << decoded.status().message();
        continue;
      }
      // A flip inside a weight or a metadata string can leave a valid file.
      const Snapshot& s = *decoded->snapshot;
      EXPECT_TRUE(s.spec().Validate().ok());
      EXPECT_EQ(static_cast<int64_t>(s.params().size()), s.spec().ParameterCount());
      for (float p : s.params()) EXPECT_TRUE(std::isfinite(p));
    }
  }
  EXPECT_GT(errors, 0);

  // Several bytes at once, anywhere in the FlatBuffer.
  for (int trial = 0; trial < 20000; ++trial) {
    std::vector<uint8_t> damaged = file;
    for (uint64_t k = 1 + rng.Next() % 8; k > 0; --k) {
      damaged[kSnapshotFileHeaderSize + rng.Next() % (file.size() - kSnapshotFileHeaderSize)] =
          static_cast<uint8_t>(rng.Next());
    }
    FixChecksum(damaged);
    const auto decoded = DecodeSnapshotFile(damaged);
    if (decoded.ok()) {
      EXPECT_TRUE(decoded->snapshot->spec().Validate().ok());
      EXPECT_EQ(static_cast<int64_t>(decoded->snapshot->params().size()),
                decoded->snapshot->spec().ParameterCount());
    }
  }

  // Random bodies of every size up to the real one, with a valid header.
  for (size_t size = 0; size < file.size(); ++size) {
    std::vector<uint8_t> garbage(kSnapshotFileHeaderSize + size);
    std::copy(file.begin(), file.begin() + 8, garbage.begin());
    for (size_t i = kSnapshotFileHeaderSize; i < garbage.size(); ++i) {
      garbage[i] = static_cast<uint8_t>(rng.Next());
    }
    for (int i = 0; i < 4; ++i)
      garbage[8 + static_cast<size_t>(i)] = static_cast<uint8_t>(size >> (8 * i));
    FixChecksum(garbage);
    EXPECT_FALSE(DecodeSnapshotFile(garbage).ok()) << size;
  }
}

TEST(SnapshotFile, RejectsNonFiniteWeightsEvenWithAValidChecksum) {
  const MlpSpec spec = Spec(2, {3}, 2, HeadKind::kCategorical, Activation::kTanh);
  std::vector<float> params(static_cast<size_t>(spec.ParameterCount()), 0.25f);
  params[5] = 1234.5f;  // a marker to find in the file
  const std::vector<uint8_t> file = EncodeSnapshotFile(*MakeSnapshot(spec, params), {});
  uint8_t marker[4];
  std::memcpy(marker, &params[5], 4);  // FlatBuffers stores floats little-endian, as the host
  const auto at = std::search(file.begin(), file.end(), marker, marker + 4);
  ASSERT_NE(at, file.end());
  for (float bad :
       {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity()}) {
    std::vector<uint8_t> damaged = file;
    std::memcpy(&damaged[static_cast<size_t>(at - file.begin())], &bad, 4);
    FixChecksum(damaged);
    const auto decoded = DecodeSnapshotFile(damaged);
    ASSERT_FALSE(decoded.ok());
    EXPECT_EQ(decoded.status().code(), StatusCode::kDataLoss);
    EXPECT_NE(decoded.status().message().find("parameter 5"), std::string::npos)
        << decoded.status().message();
  }
}

TEST(SnapshotFile, RejectsOtherFormatVersions) {
  const MlpSpec spec = Spec(1, {}, 2, HeadKind::kCategorical, Activation::kTanh);
  std::vector<uint8_t> file = EncodeSnapshotFile(*ConstantSnapshot(spec, {0.0f, 1.0f}, 1), {});
  EXPECT_EQ(file[4], kSnapshotFileFormatVersion);
  file[4] = 2;
  const auto decoded = DecodeSnapshotFile(file);
  EXPECT_EQ(decoded.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(decoded.status().message().find("format version 2; this build reads version 1"),
            std::string::npos)
      << decoded.status().message();
}

}  // namespace
}  // namespace apprentice
