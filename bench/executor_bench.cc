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

Network MakeNetwork(HeadKind head, int64_t actions) {
  MlpSpec spec{.input = 4, .hidden = {64, 64}, .actions = actions, .head = head,
               .activation = Activation::kTanh};
  Rng rng(2024);
  std::vector<float> params;
  std::vector<int64_t> widths = {spec.input, 64, 64, spec.output()};
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

}  // namespace
}  // namespace apprentice

int main(int argc, char** argv) {
  torch::set_num_threads(1);
  apprentice::CheckAgreement(apprentice::Categorical());
  apprentice::CheckAgreement(apprentice::Gaussian());
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
