#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <memory>
#include <new>
#include <string>
#include <thread>
#include <vector>

#include "core/rng.h"
#include "core/space.h"
#include "core/status.h"
#include "executor/executor.h"
#include "executor/snapshot.h"

// Counts this thread's heap allocations, to check that Act() makes none. (noinline: inlined
// into the standard library, these pairings trip GCC's -Wmismatched-new-delete.)
namespace {
thread_local int64_t t_allocations = 0;
}  // namespace

[[gnu::noinline]] void* operator new(std::size_t size) {
  ++t_allocations;
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
[[gnu::noinline]] void operator delete(void* p) noexcept { std::free(p); }
[[gnu::noinline]] void operator delete(void* p, std::size_t) noexcept { std::free(p); }

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
  EXPECT_EQ(d.confidence, 1.0f);
}

TEST(Executor, ActAllocatesNothing) {
  Rng rng(3);
  for (const MlpSpec& spec : {Spec(4, {64, 64}, 2, HeadKind::kCategorical, Activation::kTanh),
                              Spec(5, {33}, 2, HeadKind::kGaussian, Activation::kRelu)}) {
    SnapshotSlot slot(MakeSnapshot(spec, RandomParams(spec, rng)));
    Executor executor(slot, ActionSpaceFor(spec));
    std::vector<float> x(static_cast<size_t>(spec.input), 0.3f);
    executor.Act(x);  // warm up
    const int64_t before = t_allocations;
    for (int i = 0; i < 100; ++i) executor.Act(x);
    EXPECT_EQ(t_allocations - before, 0) << spec.ToString();
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

}  // namespace
}  // namespace apprentice
