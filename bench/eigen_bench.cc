// The executor's kernel against Eigen 3.4 (Debian's libeigen3-dev) computing the same networks,
// in the same run. This target alone is compiled with -march=native, so that Eigen gets every
// vector unit of this CPU (its best case); the executor's kernel is the library's, dispatched at
// run time (ExecutorKernel(), printed first).
//
//   BM_Executor/<net>/N        ForwardUnchecked (N = 1) or ForwardBatchUnchecked: the forward
//                              pass alone (no head), tanh hidden layers.
//   BM_EigenDynamic/<net>/N    Eigen::MatrixXf weights; batch as one matrix (GEMM per layer),
//                              y = tanh(W x + b) with Eigen's vectorised tanh.
//   BM_EigenFixed/<net>/N      fixed-size Eigen::Matrix weights (the small net only: fixed sizes
//                              of 256 x 256 are not what Eigen recommends), one column at a time.
// items/s = forward passes per second. Before running, checks that all agree within 1e-5.
#include <benchmark/benchmark.h>

#include <Eigen/Dense>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "core/rng.h"
#include "executor/executor.h"
#include "executor/snapshot.h"

namespace apprentice {
namespace {

struct Net {
  MlpSpec spec;
  std::vector<float> params;  // torch order: W (out x in) row-major, then b, per layer
};

Net MakeNet(int64_t input, int64_t hidden, int64_t actions) {
  Net net{MlpSpec{.input = input, .hidden = {hidden, hidden}, .actions = actions,
                  .head = HeadKind::kCategorical, .activation = Activation::kTanh},
          {}};
  Rng rng(11);
  const std::vector<int64_t> widths = {input, hidden, hidden, actions};
  for (size_t l = 0; l + 1 < widths.size(); ++l) {
    const double bound = 1.0 / std::sqrt(static_cast<double>(widths[l]));
    for (int64_t k = 0; k < widths[l] * widths[l + 1] + widths[l + 1]; ++k) {
      net.params.push_back(static_cast<float>(rng.Uniform(-bound, bound)));
    }
  }
  return net;
}

const Net& Small() {
  static const Net net = MakeNet(4, 64, 2);
  return net;
}
const Net& Medium() {
  static const Net net = MakeNet(32, 256, 8);
  return net;
}
const Net& Wide() {
  static const Net net = MakeNet(64, 512, 16);
  return net;
}

std::vector<float> Inputs(int64_t n, int64_t input) {
  Rng rng(3);
  std::vector<float> x(static_cast<size_t>(n * input));
  for (float& v : x) v = static_cast<float>(rng.Uniform(-2.0, 2.0));
  return x;
}

// Eigen, dynamic sizes: the layers as matrices, a batch as the columns of one matrix.
struct EigenMlp {
  std::vector<Eigen::MatrixXf> w;
  std::vector<Eigen::VectorXf> b;
  explicit EigenMlp(const Net& net) {
    const std::vector<int64_t> widths = {net.spec.input, net.spec.hidden[0], net.spec.hidden[1],
                                         net.spec.output()};
    const float* p = net.params.data();
    for (size_t l = 0; l + 1 < widths.size(); ++l) {
      const auto in = static_cast<Eigen::Index>(widths[l]);
      const auto out = static_cast<Eigen::Index>(widths[l + 1]);
      w.push_back(Eigen::Map<const Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic,
                                                 Eigen::RowMajor>>(p, out, in));
      p += out * in;
      b.push_back(Eigen::Map<const Eigen::VectorXf>(p, out));
      p += out;
    }
  }
  // x: in x n (column per input); the result: out x n.
  void Forward(const Eigen::MatrixXf& x, Eigen::MatrixXf& h1, Eigen::MatrixXf& h2,
               Eigen::MatrixXf& y) const {
    h1.noalias() = w[0] * x;
    h1 = (h1.colwise() + b[0]).array().tanh();
    h2.noalias() = w[1] * h1;
    h2 = (h2.colwise() + b[1]).array().tanh();
    y.noalias() = w[2] * h2;
    y.colwise() += b[2];
  }
};

// Eigen, fixed sizes (4 -> 64 -> 64 -> 2).
struct EigenSmallFixed {
  Eigen::Matrix<float, 64, 4> w0;
  Eigen::Matrix<float, 64, 1> b0;
  Eigen::Matrix<float, 64, 64> w1;
  Eigen::Matrix<float, 64, 1> b1;
  Eigen::Matrix<float, 2, 64> w2;
  Eigen::Matrix<float, 2, 1> b2;
  explicit EigenSmallFixed(const Net& net) {
    const float* p = net.params.data();
    w0 = Eigen::Map<const Eigen::Matrix<float, 64, 4, Eigen::RowMajor>>(p);
    p += 64 * 4;
    b0 = Eigen::Map<const Eigen::Matrix<float, 64, 1>>(p);
    p += 64;
    w1 = Eigen::Map<const Eigen::Matrix<float, 64, 64, Eigen::RowMajor>>(p);
    p += 64 * 64;
    b1 = Eigen::Map<const Eigen::Matrix<float, 64, 1>>(p);
    p += 64;
    w2 = Eigen::Map<const Eigen::Matrix<float, 2, 64, Eigen::RowMajor>>(p);
    p += 2 * 64;
    b2 = Eigen::Map<const Eigen::Matrix<float, 2, 1>>(p);
  }
  Eigen::Matrix<float, 2, 1> Forward(const Eigen::Matrix<float, 4, 1>& x) const {
    const Eigen::Matrix<float, 64, 1> h1 = (w0 * x + b0).array().tanh();
    const Eigen::Matrix<float, 64, 1> h2 = (w1 * h1 + b1).array().tanh();
    return w2 * h2 + b2;
  }
};

void CheckAgreement(const Net& net) {
  const int64_t n = 9;
  auto snapshot = Snapshot::Create(net.spec, net.params, 1).ValueOrThrow();
  const std::vector<float> x = Inputs(n, net.spec.input);
  std::vector<float> scratch(static_cast<size_t>(2 * n * snapshot->max_width()));
  std::vector<float> ours(static_cast<size_t>(n * net.spec.output()));
  ForwardBatchUnchecked(*snapshot, x, n, scratch, ours);
  const EigenMlp eigen(net);
  Eigen::MatrixXf h1, h2, y;
  eigen.Forward(Eigen::Map<const Eigen::MatrixXf>(x.data(), net.spec.input, n), h1, h2, y);
  double max_diff = 0;
  for (int64_t r = 0; r < n; ++r) {
    for (int64_t k = 0; k < net.spec.output(); ++k) {
      max_diff = std::max<double>(max_diff, std::abs(ours[r * net.spec.output() + k] - y(k, r)));
    }
  }
  std::printf("%s: executor vs Eigen max abs difference %.2g\n", net.spec.ToString().c_str(),
              max_diff);
  if (!(max_diff <= 1e-5)) std::abort();
}

void BM_Executor(benchmark::State& state, const Net& net) {
  const int64_t n = state.range(0);
  auto snapshot = Snapshot::Create(net.spec, net.params, 1).ValueOrThrow();
  const std::vector<float> x = Inputs(n, net.spec.input);
  std::vector<float> scratch(static_cast<size_t>(2 * n * snapshot->max_width()));
  std::vector<float> out(static_cast<size_t>(n * net.spec.output()));
  for (auto _ : state) {
    if (n == 1) {
      ForwardUnchecked(*snapshot, x, scratch, out);
    } else {
      ForwardBatchUnchecked(*snapshot, x, n, scratch, out);
    }
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * n);
}

void BM_EigenDynamic(benchmark::State& state, const Net& net) {
  const int64_t n = state.range(0);
  const EigenMlp eigen(net);
  const std::vector<float> data = Inputs(n, net.spec.input);
  const Eigen::MatrixXf x = Eigen::Map<const Eigen::MatrixXf>(data.data(), net.spec.input, n);
  Eigen::MatrixXf h1(net.spec.hidden[0], n), h2(net.spec.hidden[1], n), y(net.spec.output(), n);
  for (auto _ : state) {
    eigen.Forward(x, h1, h2, y);
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * n);
}

void BM_EigenFixed(benchmark::State& state) {
  const int64_t n = state.range(0);
  const EigenSmallFixed eigen(Small());
  const std::vector<float> data = Inputs(n, 4);
  std::vector<Eigen::Matrix<float, 2, 1>> y(static_cast<size_t>(n));
  for (auto _ : state) {
    for (int64_t r = 0; r < n; ++r) {
      y[static_cast<size_t>(r)] =
          eigen.Forward(Eigen::Map<const Eigen::Matrix<float, 4, 1>>(data.data() + 4 * r));
    }
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * n);
}

#define APPRENTICE_SIZES ->Arg(1)->Arg(8)->Arg(64)->Arg(256)
BENCHMARK_CAPTURE(BM_Executor, tanh_4_64_64_2, Small()) APPRENTICE_SIZES;
BENCHMARK_CAPTURE(BM_EigenDynamic, tanh_4_64_64_2, Small()) APPRENTICE_SIZES;
BENCHMARK(BM_EigenFixed) APPRENTICE_SIZES;
BENCHMARK_CAPTURE(BM_Executor, tanh_32_256_256_8, Medium()) APPRENTICE_SIZES;
BENCHMARK_CAPTURE(BM_EigenDynamic, tanh_32_256_256_8, Medium()) APPRENTICE_SIZES;
BENCHMARK_CAPTURE(BM_Executor, tanh_64_512_512_16, Wide()) APPRENTICE_SIZES;
BENCHMARK_CAPTURE(BM_EigenDynamic, tanh_64_512_512_16, Wide()) APPRENTICE_SIZES;

}  // namespace
}  // namespace apprentice

int main(int argc, char** argv) {
  std::printf("executor kernel: %s; Eigen %d.%d.%d with -march=native\n",
              std::string(apprentice::ExecutorKernel()).c_str(), EIGEN_WORLD_VERSION,
              EIGEN_MAJOR_VERSION, EIGEN_MINOR_VERSION);
  apprentice::CheckAgreement(apprentice::Small());
  apprentice::CheckAgreement(apprentice::Medium());
  apprentice::CheckAgreement(apprentice::Wide());
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
