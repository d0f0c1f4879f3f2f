#include <gtest/gtest.h>

#include <cmath>

#include "core/action.h"
#include "core/decision.h"
#include "core/flags.h"
#include "core/json.h"
#include "core/latency_histogram.h"
#include "core/policy.h"
#include "core/rng.h"
#include "core/space.h"
#include "core/status.h"

namespace apprentice {
namespace {

TEST(Space, DiscreteChecksRangeAndKind) {
  const Space s = Space::Discrete(2);
  EXPECT_TRUE(s.Check(Action::Discrete(0)).ok());
  EXPECT_TRUE(s.Check(Action::Discrete(1)).ok());
  const Status bad = s.Check(Action::Discrete(2));
  EXPECT_FALSE(bad.ok());
  EXPECT_NE(bad.message().find("out of range for Discrete(2)"), std::string::npos);
  const float v[] = {0.5f};
  EXPECT_FALSE(s.Check(Action::Continuous(v)).ok());
  EXPECT_THROW(Space::Discrete(0), InvalidArgument);
}

TEST(Space, BoxChecksSizeBoundsAndFiniteness) {
  const Space s = Space::Box(-2.0f, 2.0f, {1});
  EXPECT_EQ(s.ToString(), "Box(-2, 2, (1,))");
  const float ok[] = {1.5f};
  const float high[] = {2.5f};
  const float two[] = {0.0f, 0.0f};
  const float nan[] = {NAN};
  EXPECT_TRUE(s.Check(Action::Continuous(ok)).ok());
  EXPECT_FALSE(s.Check(Action::Continuous(high)).ok());
  EXPECT_FALSE(s.Check(Action::Continuous(two)).ok());
  EXPECT_FALSE(s.Check(Action::Continuous(nan)).ok());
  EXPECT_FALSE(s.Check(Action::Discrete(0)).ok());
  Action a = Action::Continuous(high);
  s.Clip(a);
  EXPECT_EQ(a.values()[0], 2.0f);
}

TEST(Space, ObservationSizeIsChecked) {
  const Space s = Space::Box(-1.0f, 1.0f, {4});
  const float four[] = {0, 0, 0, 0};
  const float three[] = {0, 0, 0};
  EXPECT_TRUE(s.CheckObservation(four).ok());
  const Status bad = s.CheckObservation(three);
  EXPECT_NE(bad.message().find("observation has 3 floats"), std::string::npos);
  const float outside[] = {0, 1.5f, 0, 0};
  const float infinite[] = {0, 0, INFINITY, 0};
  EXPECT_NE(s.CheckObservation(outside).message().find("element 1 = 1.5 is outside [-1, 1]"),
            std::string::npos);
  EXPECT_FALSE(s.CheckObservation(infinite).ok());
}

TEST(Action, ContinuousRejectsTooManyComponents) {
  std::vector<float> v(kMaxActionDims + 1, 0.0f);
  EXPECT_THROW(Action::Continuous(v), InvalidArgument);
}

TEST(PolicyOutput, ProbabilitiesRoundTripThroughLogits) {
  const float p[] = {0.7f, 0.3f, 0.0f};
  const PolicyOutput out = PolicyOutput::FromProbabilities(p);
  const auto q = out.Probabilities();
  EXPECT_NEAR(q[0], 0.7f, 1e-6);
  EXPECT_NEAR(q[1], 0.3f, 1e-6);
  EXPECT_LT(q[2], 1e-12);
  EXPECT_EQ(out.Mode().index(), 0);
  EXPECT_TRUE(out.CheckFits(Space::Discrete(3)).ok());
  EXPECT_FALSE(out.CheckFits(Space::Discrete(2)).ok());
}

TEST(PolicyOutput, TemperatureSoftens) {
  const float logits[] = {2.0f, 0.0f};
  const auto sharp = PolicyOutput::FromLogits(logits).Probabilities(1.0f);
  const auto soft = PolicyOutput::FromLogits(logits).Probabilities(4.0f);
  EXPECT_GT(sharp[0], soft[0]);
  EXPECT_NEAR(soft[0], 1.0 / (1.0 + std::exp(-0.5)), 1e-6);
}

TEST(Rng, SameSeedSameStreamAndUniformInRange) {
  Rng a(42), b(42), c(43);
  bool differs = false;
  for (int i = 0; i < 1000; ++i) {
    const uint64_t x = a.Next();
    EXPECT_EQ(x, b.Next());
    differs |= x != c.Next();
  }
  EXPECT_TRUE(differs);
  double sum = 0;
  for (int i = 0; i < 10000; ++i) {
    const double u = a.Uniform(-0.05, 0.05);
    ASSERT_GE(u, -0.05);
    ASSERT_LT(u, 0.05);
    sum += u;
  }
  EXPECT_NEAR(sum / 10000, 0.0, 0.003);
}

TEST(Rng, NormalHasUnitVariance) {
  Rng rng(7);
  double s = 0, s2 = 0;
  const int n = 20000;
  for (int i = 0; i < n; ++i) {
    const double x = rng.Normal();
    s += x;
    s2 += x * x;
  }
  EXPECT_NEAR(s / n, 0.0, 0.03);
  EXPECT_NEAR(s2 / n, 1.0, 0.05);
}

TEST(LatencyHistogram, QuantilesWithinBucketPrecision) {
  LatencyHistogram h;
  for (int64_t v = 1; v <= 10000; ++v) h.Record(v);
  EXPECT_EQ(h.count(), 10000);
  EXPECT_NEAR(h.Quantile(0.5), 5000, 5000 * 0.016);
  EXPECT_NEAR(h.Quantile(0.99), 9900, 9900 * 0.016);
  EXPECT_EQ(h.Quantile(1.0), 10000);
  EXPECT_EQ(h.min_ns(), 1);
  LatencyHistogram small;
  small.Record(100);
  EXPECT_EQ(small.Quantile(0.5), 100);
  small.Merge(h);
  EXPECT_EQ(small.count(), 10001);
}

TEST(Json, DumpsStableOrderAndEscapes) {
  Json j;
  j.Set("b", 1).Set("a", "x\"y").Set("n", Json::Object{{"p50", 0.5}});
  j.Set("bad", std::nan(""));
  EXPECT_EQ(j.Dump(-1), R"({"b":1,"a":"x\"y","n":{"p50":0.5},"bad":null})");
}

TEST(FlagSet, ParsesAndRejectsBadInput) {
  std::string env = "cartpole";
  int64_t steps = 10;
  double beta = 0.5;
  bool verbose = false;
  FlagSet flags("usage");
  flags.String("env", &env, "environment", {"cartpole", "pendulum"});
  flags.Int("steps", &steps, "steps", 1, 1000);
  flags.Double("beta", &beta, "mixture", 0.0, 1.0);
  flags.Bool("verbose", &verbose, "chatty");
  const std::vector<std::string> good = {"--env", "pendulum", "--steps=20", "--verbose",
                                         "--beta", "0.25"};
  ASSERT_TRUE(flags.Parse(good).ok());
  EXPECT_EQ(env, "pendulum");
  EXPECT_EQ(steps, 20);
  EXPECT_TRUE(verbose);
  EXPECT_EQ(beta, 0.25);
  EXPECT_TRUE(flags.WasSet("steps"));

  auto error = [&](std::vector<std::string> args) {
    FlagSet f("usage");
    f.String("env", &env, "environment", {"cartpole", "pendulum"});
    f.Int("steps", &steps, "steps", 1, 1000);
    return f.Parse(args).message();
  };
  EXPECT_NE(error({"--env", "mars"}).find("unknown value 'mars'"), std::string::npos);
  EXPECT_NE(error({"--steps", "0"}).find("out of range"), std::string::npos);
  EXPECT_NE(error({"--steps", "ten"}).find("not an integer"), std::string::npos);
  EXPECT_NE(error({"--nope"}).find("unknown flag --nope"), std::string::npos);
  EXPECT_NE(error({"--steps"}).find("needs a value"), std::string::npos);
  EXPECT_NE(error({"stray"}).find("unexpected argument"), std::string::npos);
}

TEST(Result, CarriesValueOrStatus) {
  Result<int> good = 3;
  Result<int> bad = Status::NotFound("no such thing");
  EXPECT_TRUE(good.ok());
  EXPECT_EQ(*good, 3);
  EXPECT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kNotFound);
  EXPECT_THROW(std::move(bad).ValueOrThrow(), InvalidArgument);
}

}  // namespace
}  // namespace apprentice
