// The executor's per-decision cost against LibTorch's forward of the same network, batch 1.
//
//   BM_ExecutorAct/<net>       mean time of one Executor::Act (pin, forward, head).
//   BM_ForwardUnchecked/<net>  the kernel alone.
//   BM_TorchForward/<net>      torch::nn::Sequential forward of the same weights: wrap the
//                              observation (from_blob), forward, read the output. One thread,
//                              InferenceMode.
//   BM_*Latency/<net>          per-call steady_clock timings of individual calls, as counters
//                              p50_ns / p99_ns / max_ns (clock_ns: the cost of the clock read
//                              itself, included in the percentiles).
//   BM_StdTanh/128             std::tanh over 128 floats (the two hidden layers' activations),
//                              for comparison with the executor's rational tanh.
//   BM_ExecutorActBatch/<net>/N  Executor::ActBatch of N observations (many agents per tick):
//                              items/s = decisions/s; counter GFLOPS = 2 x multiply-adds x
//                              decisions / s (the network's weights, biases not counted).
//   BM_TorchForwardBatch/<net>/N LibTorch's forward of the same N x input batch (one thread).
//   BM_FmaPeak/avx2, /avx512   this core's measured multiply-add peak for the kernels the
//                              executor runs: 12 independent chains of 8-float FMAs, or 24 of
//                              16-float ones (enough to cover the FMA latency on two ports),
//                              GFLOPS = 2 x lanes x FMAs / s. The executor runs the widest
//                              (`ExecutorKernel()`, printed first).
//
// Before running, checks that torch and the executor agree on random inputs (aborts otherwise).
#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/latency_histogram.h"
#include "core/rng.h"
#include "core/space.h"
#include "executor/executor.h"
#include "executor/snapshot.h"

namespace apprentice {
namespace {

constexpr int kObservations = 64;  // cycled through, so every call sees a fresh input

struct Network {
  MlpSpec spec;
  std::vector<float> params;
  Space action_space;
};

Network MakeNetwork(HeadKind head, int64_t actions, int64_t input = 4, int64_t hidden = 64) {
  MlpSpec spec{.input = input, .hidden = {hidden, hidden}, .actions = actions, .head = head,
               .activation = Activation::kTanh};
  Rng rng(2024);
  std::vector<float> params;
  std::vector<int64_t> widths = {spec.input, hidden, hidden, spec.output()};
  for (size_t l = 0; l + 1 < widths.size(); ++l) {
    const double bound = 1.0 / std::sqrt(static_cast<double>(widths[l]));  // torch's default
    for (int64_t k = 0; k < widths[l] * widths[l + 1] + widths[l + 1]; ++k) {
      params.push_back(static_cast<float>(rng.Uniform(-bound, bound)));
    }
  }
  Space space = head == HeadKind::kCategorical ? Space::Discrete(actions)
                                               : Space::Box(-2.0f, 2.0f, {actions});
  return Network{std::move(spec), std::move(params), std::move(space)};
}

const Network& Categorical() {
  static const Network net = MakeNetwork(HeadKind::kCategorical, 2);
  return net;
}
const Network& Gaussian() {
  static const Network net = MakeNetwork(HeadKind::kGaussian, 1);
  return net;
}
const Network& Wide() {
  static const Network net = MakeNetwork(HeadKind::kCategorical, 8, 32, 256);
  return net;
}

double MultiplyAdds(const MlpSpec& spec) {
  double macs = 0;
  int64_t in = spec.input;
  for (const int64_t h : spec.hidden) {
    macs += static_cast<double>(in * h);
    in = h;
  }
  return macs + static_cast<double>(in * spec.output());
}

std::vector<std::vector<float>> Observations(int64_t size) {
  Rng rng(7);
  std::vector<std::vector<float>> obs(kObservations, std::vector<float>(size));
  for (auto& o : obs) {
    for (float& v : o) v = static_cast<float>(rng.Uniform(-2.0, 2.0));
  }
  return obs;
}

torch::nn::Sequential TorchMlp(const Network& net) {
  torch::nn::Sequential seq;
  std::vector<int64_t> widths = {net.spec.input};
  widths.insert(widths.end(), net.spec.hidden.begin(), net.spec.hidden.end());
  widths.push_back(net.spec.output());
  torch::NoGradGuard no_grad;
  const float* p = net.params.data();
  for (size_t l = 0; l + 1 < widths.size(); ++l) {
    const int64_t in = widths[l];
    const int64_t out = widths[l + 1];
    torch::nn::Linear linear(in, out);
    linear->weight.copy_(torch::from_blob(const_cast<float*>(p), {out, in}));
    p += out * in;
    linear->bias.copy_(torch::from_blob(const_cast<float*>(p), {out}));
    p += out;
    seq->push_back(linear);
    if (l + 2 < widths.size()) seq->push_back(torch::nn::Tanh());
  }
  seq->eval();
  return seq;
}

// Runs torch on one observation; returns its output.
std::vector<float> TorchForward(torch::nn::Sequential& seq, std::vector<float>& obs) {
  const torch::Tensor out =
      seq->forward(torch::from_blob(obs.data(), {1, static_cast<int64_t>(obs.size())}));
  const float* data = out.data_ptr<float>();
  return std::vector<float>(data, data + out.numel());
}

// Aborts unless torch and the executor compute the same outputs (before the head).
void CheckAgreement(const Network& net) {
  c10::InferenceMode guard;
  torch::nn::Sequential seq = TorchMlp(net);
  auto snapshot = Snapshot::Create(net.spec, net.params, 1).ValueOrThrow();
  std::vector<float> scratch(2 * static_cast<size_t>(snapshot->max_width()));
  std::vector<float> output(static_cast<size_t>(net.spec.output()));
  double max_diff = 0.0;
  for (std::vector<float>& obs : Observations(net.spec.input)) {
    ForwardUnchecked(*snapshot, obs, scratch, output);
    const std::vector<float> expected = TorchForward(seq, obs);
    for (size_t k = 0; k < output.size(); ++k) {
      max_diff = std::max(max_diff, static_cast<double>(std::abs(output[k] - expected[k])));
    }
  }
  std::fprintf(stderr, "torch vs executor on %s: max abs diff %.3g\n",
               net.spec.ToString().c_str(), max_diff);
  if (!(max_diff <= 1e-5)) {
    std::fprintf(stderr, "executor_bench: torch and the executor disagree (max abs diff %.3g > "
                 "1e-5) on %s\n", max_diff, net.spec.ToString().c_str());
    std::abort();
  }
}

void BM_ExecutorAct(benchmark::State& state, const Network& net) {
  SnapshotSlot slot(Snapshot::Create(net.spec, net.params, 1).ValueOrThrow());
  Executor executor(slot, net.action_space);
  const auto obs = Observations(net.spec.input);
  size_t i = 0;
  for (auto _ : state) {
    ExecutorDecision d = executor.Act(obs[i++ % kObservations]);
    benchmark::DoNotOptimize(d);
  }
  state.SetItemsProcessed(state.iterations());
}

// The kernel alone: no pin, no head.
void BM_ForwardUnchecked(benchmark::State& state, const Network& net) {
  auto snapshot = Snapshot::Create(net.spec, net.params, 1).ValueOrThrow();
  std::vector<float> scratch(2 * static_cast<size_t>(snapshot->max_width()));
  std::vector<float> output(static_cast<size_t>(net.spec.output()));
  const auto obs = Observations(net.spec.input);
  size_t i = 0;
  for (auto _ : state) {
    ForwardUnchecked(*snapshot, obs[i++ % kObservations], scratch, output);
    benchmark::DoNotOptimize(output.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_TorchForward(benchmark::State& state, const Network& net) {
  c10::InferenceMode guard;
  torch::nn::Sequential seq = TorchMlp(net);
  auto obs = Observations(net.spec.input);
  size_t i = 0;
  for (auto _ : state) {
    std::vector<float>& o = obs[i++ % kObservations];
    const torch::Tensor out = seq->forward(torch::from_blob(o.data(), {1, net.spec.input}));
    float first = *out.data_ptr<float>();
    benchmark::DoNotOptimize(first);
  }
  state.SetItemsProcessed(state.iterations());
}

// Times `calls` individual calls of `fn` and reports percentiles as counters, with the same
// clock and histogram (nearest rank) as `apprentice run` uses.
template <typename Fn>
void TimeCalls(benchmark::State& state, int calls, Fn&& fn) {
  LatencyHistogram ns, clock_ns;
  for (auto _ : state) {
    for (int i = 0; i < 1000; ++i) fn(i);  // warm up
    for (int i = 0; i < calls; ++i) {
      const int64_t t0 = NowNs();
      fn(i);
      ns.Record(NowNs() - t0);
    }
    for (int i = 0; i < 10000; ++i) {
      const int64_t t0 = NowNs();
      clock_ns.Record(NowNs() - t0);
    }
  }
  state.counters["p50_ns"] = ns.Quantile(0.50);
  state.counters["p99_ns"] = ns.Quantile(0.99);
  state.counters["max_ns"] = static_cast<double>(ns.max_ns());
  state.counters["clock_ns"] = clock_ns.Quantile(0.50);
  state.counters["calls"] = calls;
}

void BM_ExecutorActLatency(benchmark::State& state, const Network& net) {
  SnapshotSlot slot(Snapshot::Create(net.spec, net.params, 1).ValueOrThrow());
  Executor executor(slot, net.action_space);
  const auto obs = Observations(net.spec.input);
  TimeCalls(state, 200000, [&](int i) {
    ExecutorDecision d = executor.Act(obs[static_cast<size_t>(i) % kObservations]);
    benchmark::DoNotOptimize(d);
  });
}

void BM_TorchForwardLatency(benchmark::State& state, const Network& net) {
  c10::InferenceMode guard;
  torch::nn::Sequential seq = TorchMlp(net);
  auto obs = Observations(net.spec.input);
  TimeCalls(state, 20000, [&](int i) {
    std::vector<float>& o = obs[static_cast<size_t>(i) % kObservations];
    const torch::Tensor out = seq->forward(torch::from_blob(o.data(), {1, net.spec.input}));
    float first = *out.data_ptr<float>();
    benchmark::DoNotOptimize(first);
  });
}

void BM_StdTanh(benchmark::State& state) {
  std::vector<float> x(static_cast<size_t>(state.range(0)));
  Rng rng(1);
  for (float& v : x) v = static_cast<float>(rng.Uniform(-3.0, 3.0));
  std::vector<float> y(x.size());
  for (auto _ : state) {
    benchmark::DoNotOptimize(x.data());
    for (size_t i = 0; i < x.size(); ++i) y[i] = std::tanh(x[i]);
    benchmark::ClobberMemory();
  }
}

BENCHMARK_CAPTURE(BM_ExecutorAct, tanh_4_64_64_2_categorical, Categorical());
BENCHMARK_CAPTURE(BM_ForwardUnchecked, tanh_4_64_64_2_categorical, Categorical());
BENCHMARK_CAPTURE(BM_TorchForward, tanh_4_64_64_2_categorical, Categorical());
BENCHMARK_CAPTURE(BM_ExecutorAct, tanh_4_64_64_1_gaussian, Gaussian());
BENCHMARK_CAPTURE(BM_TorchForward, tanh_4_64_64_1_gaussian, Gaussian());
BENCHMARK_CAPTURE(BM_ExecutorActLatency, tanh_4_64_64_2_categorical, Categorical())
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_ExecutorActLatency, tanh_4_64_64_1_gaussian, Gaussian())
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_TorchForwardLatency, tanh_4_64_64_2_categorical, Categorical())
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_StdTanh)->Arg(128);

void BM_ExecutorActBatch(benchmark::State& state, const Network& net) {
  const int64_t n = state.range(0);
  SnapshotSlot slot(Snapshot::Create(net.spec, net.params, 1).ValueOrThrow());
  Executor executor(slot, net.action_space);
  Rng rng(5);
  std::vector<float> obs(static_cast<size_t>(n * net.spec.input));
  for (float& v : obs) v = static_cast<float>(rng.Uniform(-2.0, 2.0));
  std::vector<Action> actions(static_cast<size_t>(n));
  for (auto _ : state) {
    executor.ActBatch(obs, actions);
    benchmark::DoNotOptimize(actions.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * n);
  state.counters["GFLOPS"] = benchmark::Counter(
      2e-9 * MultiplyAdds(net.spec) * static_cast<double>(n), benchmark::Counter::kIsIterationInvariantRate);
}

void BM_TorchForwardBatch(benchmark::State& state, const Network& net) {
  const int64_t n = state.range(0);
  c10::InferenceMode guard;
  torch::nn::Sequential seq = TorchMlp(net);
  Rng rng(5);
  std::vector<float> obs(static_cast<size_t>(n * net.spec.input));
  for (float& v : obs) v = static_cast<float>(rng.Uniform(-2.0, 2.0));
  for (auto _ : state) {
    const torch::Tensor out = seq->forward(torch::from_blob(obs.data(), {n, net.spec.input}));
    float first = *out.data_ptr<float>();
    benchmark::DoNotOptimize(first);
  }
  state.SetItemsProcessed(state.iterations() * n);
  state.counters["GFLOPS"] = benchmark::Counter(
      2e-9 * MultiplyAdds(net.spec) * static_cast<double>(n), benchmark::Counter::kIsIterationInvariantRate);
}

#if defined(__x86_64__)
using V8f = float __attribute__((vector_size(32)));
using V16f = float __attribute__((vector_size(64)));

[[gnu::target("arch=x86-64-v4"), gnu::noinline]] void FmaChains512(int64_t rounds, float seed,
                                                                    float* sink) {
  V16f acc[24];
  for (int k = 0; k < 24; ++k) acc[k] = V16f{} + (seed + static_cast<float>(k));
  const V16f a = V16f{} + 0.999999f, b = V16f{} + 1e-7f;
  for (int64_t r = 0; r < rounds; ++r) {
#pragma GCC unroll 24
    for (int k = 0; k < 24; ++k) acc[k] = acc[k] * a + b;
  }
  V16f total{};
  for (int k = 0; k < 24; ++k) total += acc[k];
  *sink = total[0] + total[15];
}
[[gnu::target("arch=x86-64-v3"), gnu::noinline]] void FmaChains(int64_t rounds, float seed,
                                                                 float* sink) {
  V8f acc[12];
  for (int k = 0; k < 12; ++k) acc[k] = V8f{} + (seed + static_cast<float>(k));
  const V8f a = V8f{} + 0.999999f, b = V8f{} + 1e-7f;
  for (int64_t r = 0; r < rounds; ++r) {
#pragma GCC unroll 12
    for (int k = 0; k < 12; ++k) acc[k] = acc[k] * a + b;
  }
  V8f total{};
  for (int k = 0; k < 12; ++k) total += acc[k];
  *sink = total[0] + total[7];
}

void BM_FmaPeak(benchmark::State& state) {
  const bool wide = state.range(0) == 512;
  __builtin_cpu_init();
  if (!(wide ? __builtin_cpu_supports("x86-64-v4") : __builtin_cpu_supports("x86-64-v3"))) {
    state.SkipWithError("this CPU does not have the instructions");
    return;
  }
  constexpr int64_t kRounds = 1 << 20;
  float sink = 0;
  for (auto _ : state) {
    if (wide) {
      FmaChains512(kRounds, 1.0f, &sink);
    } else {
      FmaChains(kRounds, 1.0f, &sink);
    }
    benchmark::DoNotOptimize(sink);
  }
  const double flops_per_round = wide ? 2.0 * 16 * 24 : 2.0 * 8 * 12;
  state.counters["GFLOPS"] = benchmark::Counter(1e-9 * flops_per_round * kRounds,
                                                benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_FmaPeak)->ArgName("bits")->Arg(256)->Arg(512);
#endif

BENCHMARK_CAPTURE(BM_ExecutorActBatch, tanh_4_64_64_2, Categorical())
    ->Arg(1)->Arg(8)->Arg(64)->Arg(256)->Arg(1024);
BENCHMARK_CAPTURE(BM_TorchForwardBatch, tanh_4_64_64_2, Categorical())
    ->Arg(1)->Arg(8)->Arg(64)->Arg(256)->Arg(1024);
BENCHMARK_CAPTURE(BM_ExecutorActBatch, tanh_32_256_256_8, Wide())
    ->Arg(1)->Arg(8)->Arg(64)->Arg(256)->Arg(1024);
BENCHMARK_CAPTURE(BM_TorchForwardBatch, tanh_32_256_256_8, Wide())
    ->Arg(1)->Arg(8)->Arg(64)->Arg(256)->Arg(1024);

}  // namespace
}  // namespace apprentice

int main(int argc, char** argv) {
  torch::set_num_threads(1);
  std::printf("executor kernel: %s\n", std::string(apprentice::ExecutorKernel()).c_str());
  apprentice::CheckAgreement(apprentice::Categorical());
  apprentice::CheckAgreement(apprentice::Gaussian());
  apprentice::CheckAgreement(apprentice::Wide());
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
