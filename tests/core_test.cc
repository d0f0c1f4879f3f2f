#include <gtest/gtest.h>

#include <cmath>

#include "core/action.h"
#include "core/agreement.h"
#include "core/decision.h"
#include "core/flags.h"
#include "core/json.h"
#include "core/latency_histogram.h"
#include "core/options.h"
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

TEST(LatencyHistogram, BinsRegroupEveryCountByTenthsOfADecade) {
  LatencyHistogram h;
  EXPECT_TRUE(h.Bins().empty());
  h.Record(0);          // the 1 ns bin: [0.001, 0.00126) us
  h.Record(1'000);      // 1 us: [1, 1.26) us
  h.Record(1'000);
  h.Record(150'000);    // 150 us: [126, 158) us
  const std::vector<LatencyHistogram::Bin> bins = h.Bins(10);
  ASSERT_EQ(bins.size(), 52u);  // from 10^-3 to 10^2.2 us, every tenth of a decade
  int64_t total = 0;
  for (const LatencyHistogram::Bin& b : bins) total += b.count;
  EXPECT_EQ(total, 4);
  EXPECT_EQ(bins.front().count, 1);
  EXPECT_NEAR(bins.front().upper_us, std::pow(10.0, -2.9), 1e-12);
  EXPECT_EQ(bins[30].count, 2);
  EXPECT_NEAR(bins[30].upper_us, std::pow(10.0, 0.1), 1e-12);
  EXPECT_EQ(bins.back().count, 1);
  EXPECT_NEAR(bins.back().upper_us, std::pow(10.0, 2.2), 1e-9);
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

namespace apprentice {
namespace {

TEST(FormatNumber, PrintsTheShortestTextThatReadsBack) {
  EXPECT_EQ(FormatNumber(0.1), "0.1");
  EXPECT_EQ(FormatNumber(2.0), "2");
  EXPECT_EQ(FormatNumber(std::nextafter(2.0f, 3.0f)), "2.0000002");
  EXPECT_EQ(FormatNumber(-INFINITY), "-inf");
}

TEST(Space, RangeErrorsShowEnoughDigitsToSeeWhy) {
  const Space box = Space::Box(-2.0f, 2.0f, {1});
  const float just_over = std::nextafter(2.0f, 3.0f);
  const Status s = box.Check(Action::Continuous(std::span<const float>(&just_over, 1)));
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("2.0000002 is outside [-2, 2]"), std::string::npos) << s.message();
}

struct ToyOptions {
  int64_t simulations = 512;
  double exploration = 1.0;
  bool open_loop = true;
  std::string rollout = "random";
  void Declare(OptionBinder& b) {
    b.Int("simulations", &simulations, "simulations per decision", 1, 1'000'000);
    b.Double("exploration", &exploration, "UCB constant", 0, 100);
    b.Bool("open_loop", &open_loop, "replay actions from the root");
    b.String("rollout", &rollout, "rollout policy", {"random", "greedy"});
  }
};

TEST(OptionBinder, DeclaresDefaultsAndRangesFromTheStruct) {
  ToyOptions defaults;
  OptionBinder b;
  defaults.Declare(b);
  ASSERT_EQ(b.specs().size(), 4u);
  EXPECT_EQ(b.specs()[0].name, "simulations");
  EXPECT_EQ(b.specs()[0].default_text, "512");
  EXPECT_EQ(b.specs()[0].Describe(), "INT in [1, 1000000]");
  EXPECT_EQ(b.specs()[1].Describe(), "NUMBER in [0, 100]");
  EXPECT_EQ(b.specs()[3].Describe(), "random|greedy");
}

TEST(OptionBinder, AppliesValuesAndRoundTrips) {
  ToyOptions o;
  OptionBinder b;
  o.Declare(b);
  ASSERT_TRUE(b.Apply({{"simulations", "64"}, {"exploration", "0.5"}, {"rollout", "greedy"}},
                      "planner toy")
                  .ok());
  EXPECT_EQ(o.simulations, 64);
  EXPECT_EQ(o.exploration, 0.5);
  EXPECT_EQ(o.rollout, "greedy");
  // Current() reads the fields back; applying them to fresh options gives the same options.
  ToyOptions copy;
  OptionBinder c;
  copy.Declare(c);
  ASSERT_TRUE(c.Apply(b.Current(), "planner toy").ok());
  EXPECT_EQ(c.Current(), b.Current());
}

TEST(OptionBinder, RejectsUnknownKeysAndBadValuesAndChangesNothing) {
  ToyOptions o;
  OptionBinder b;
  o.Declare(b);
  Status s = b.Apply({{"simulations", "64"}, {"simulatoins", "3"}}, "planner toy");
  EXPECT_EQ(s.message(),
            "planner toy has no option 'simulatoins' (known: simulations, exploration, "
            "open_loop, rollout)");
  EXPECT_EQ(o.simulations, 512);  // nothing assigned
  s = b.Apply({{"simulations", "0"}}, "planner toy");
  EXPECT_EQ(s.message(), "planner toy: simulations: 0 is out of range [1, 1000000]");
  s = b.Apply({{"exploration", "lots"}}, "planner toy");
  EXPECT_EQ(s.message(), "planner toy: exploration: 'lots' is not a finite number");
  s = b.Apply({{"rollout", "smart"}}, "planner toy");
  EXPECT_EQ(s.message(), "planner toy: rollout: unknown value 'smart' (choose random|greedy)");
}

TEST(SplitCommas, KeepsEveryFieldInOrderEmptyOnesIncluded) {
  EXPECT_EQ(SplitCommas("mcts,lqr"), (std::vector<std::string>{"mcts", "lqr"}));
  EXPECT_EQ(SplitCommas("a,,b,"), (std::vector<std::string>{"a", "", "b", ""}));
  EXPECT_EQ(SplitCommas("one"), (std::vector<std::string>{"one"}));
  EXPECT_EQ(SplitCommas(""), (std::vector<std::string>{""}));
}

TEST(OptionValues, ParsesKeyValueListsAndLaterValuesWin) {
  OptionValues v;
  ASSERT_TRUE(v.ParseInto("a=1,b=x", "--planner-opt").ok());
  ASSERT_TRUE(v.ParseInto("a=2", "--planner-opt").ok());
  EXPECT_EQ(v.ToString(), "a=2 b=x");
  EXPECT_EQ(v.ParseInto("novalue", "--planner-opt").message(),
            "--planner-opt: 'novalue' is not key=value");
  EXPECT_FALSE(v.ParseInto("=3", "--planner-opt").ok());
}

TEST(Agreement, DiscreteIsTopOne) {
  const Space d = Space::Discrete(3);
  EXPECT_TRUE(ActionsAgree(d, Action::Discrete(2), Action::Discrete(2)));
  EXPECT_FALSE(ActionsAgree(d, Action::Discrete(1), Action::Discrete(2)));
}

TEST(Agreement, BoxIsWithinTheToleranceOfEachRange) {
  const Space box = Space::Box({-2.0f, 0.0f}, {2.0f, 1.0f}, {2});
  auto a = [](float x, float y) {
    const float v[] = {x, y};
    return Action::Continuous(v);
  };
  // 5 % of the ranges: 0.2 and 0.05.
  EXPECT_TRUE(ActionsAgree(box, a(0.0f, 0.5f), a(0.19f, 0.54f)));
  EXPECT_FALSE(ActionsAgree(box, a(0.0f, 0.5f), a(0.21f, 0.5f)));
  EXPECT_FALSE(ActionsAgree(box, a(0.0f, 0.5f), a(0.0f, 0.56f)));
  EXPECT_FALSE(ActionsAgree(box, a(0.0f, NAN), a(0.0f, 0.5f)));
  // An unbounded component compares absolutely.
  const Space open = Space::Box(-INFINITY, INFINITY, {1});
  const float x = 10.0f, y = 10.04f, z = 10.06f;
  EXPECT_TRUE(ActionsAgree(open, Action::Continuous({&x, 1}), Action::Continuous({&y, 1})));
  EXPECT_FALSE(ActionsAgree(open, Action::Continuous({&x, 1}), Action::Continuous({&z, 1})));
}

TEST(Agreement, KlOfIdenticalPoliciesIsZeroAndMismatchedIsNan) {
  const float logits[] = {0.3f, -1.0f};
  const PolicyOutput p = PolicyOutput::FromLogits(logits);
  EXPECT_NEAR(KlToHeadOutput(p, logits), 0.0, 1e-9);
  const float three[] = {0.0f, 0.0f, 0.0f};
  EXPECT_TRUE(std::isnan(KlToHeadOutput(p, three)));
  const float mean[] = {0.5f}, log_std[] = {-1.0f};
  const PolicyOutput g = PolicyOutput::Gaussian(mean, log_std);
  EXPECT_NEAR(PolicyKl(g, g), 0.0, 1e-9);
  EXPECT_TRUE(std::isnan(PolicyKl(g, p)));
}

TEST(AgreementWindow, KeepsTheLastCapacityPushes) {
  AgreementWindow w(4);
  EXPECT_EQ(w.rate(), 0.0);
  EXPECT_TRUE(std::isnan(w.mean_kl()));
  for (int i = 0; i < 4; ++i) w.Push(true, 1.0);
  w.Push(false, 3.0);
  w.Push(false, NAN);  // unknown KL: left out of the mean
  EXPECT_EQ(w.count(), 4);
  EXPECT_DOUBLE_EQ(w.rate(), 0.5);
  EXPECT_DOUBLE_EQ(w.mean_kl(), 5.0 / 3.0);
}

}  // namespace
}  // namespace apprentice

namespace apprentice {
namespace {

TEST(Json, ParsesWhatDumpWritesAndAnswersKinds) {
  const Json j{{"a", 1}, {"b", Json::Array{1.5, "x", true, Json()}}, {"s", "q\"\\\n\u00e9"}};
  const Result<Json> back = Json::Parse(j.Dump(2));
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(back->Dump(-1), j.Dump(-1));
  EXPECT_EQ(back->Find("a")->AsInt(), 1);
  EXPECT_EQ(back->Find("b")->AsArray()[1].AsString(), "x");
  EXPECT_EQ(back->Find("s")->AsString(), "q\"\\\n\u00e9");
  EXPECT_EQ(back->Find("missing"), nullptr);
  EXPECT_EQ(Json::Parse("\"\\ud83d\\ude00\"")->AsString(), "\U0001F600");
  EXPECT_EQ(Json::Parse("-12.5e1")->AsNumber(), -125.0);
}

TEST(Json, MalformedTextIsAnErrorNamingTheOffset) {
  for (const char* bad : {"", "{", "{\"a\" 1}", "[1,]", "tru", "\"\\x\"", "\"\\ud800\"", "01x",
                          "{\"a\":1} 2", "\"unterminated"}) {
    const Result<Json> j = Json::Parse(bad);
    ASSERT_FALSE(j.ok()) << bad;
    EXPECT_NE(j.status().message().find("at byte"), std::string::npos) << j.status().message();
  }
  EXPECT_FALSE(Json::Parse(std::string(300, '[')).ok());  // deeper than 256 levels
}

// Random bytes and random damage to a valid document: an answer or an error, never a crash
// (this test also runs under AddressSanitizer and UBSan in CI: label "damage").
TEST(Json, GarbageNeverCrashesTheParser) {
  Rng rng(17);
  const std::string valid =
      Json{{"env", "cartpole"}, {"hidden", Json::Array{64, 64}}, {"x", -1.25e-3}}.Dump(2);
  for (int i = 0; i < 20000; ++i) {
    std::string text;
    if (i % 2 == 0) {
      text.resize(rng.Below(64));
      for (char& c : text) c = static_cast<char>(rng.Below(256));
    } else {
      text = valid;
      for (int k = 0; k < 3; ++k) {
        text[rng.Below(text.size())] = static_cast<char>(rng.Below(256));
      }
      text.resize(rng.Below(text.size() + 1));
    }
    (void)Json::Parse(text);
  }
}

TEST(Space, ParsesWhatToStringWrites) {
  for (const Space& s : {Space::Discrete(3), Space::Discrete(16'777'216),
                         Space::Box(-2.0f, 2.0f, {1}),
                         Space::Box({-4.8f, -INFINITY}, {4.8f, INFINITY}, {2}),
                         Space::Box(0.0f, 1.0f, {2, 3})}) {
    const Result<Space> back = Space::Parse(s.ToString());
    ASSERT_TRUE(back.ok()) << s.ToString() << ": " << back.status().message();
    EXPECT_EQ(*back, s) << s.ToString();
  }
  Rng rng(19);
  for (int i = 0; i < 20000; ++i) {  // garbage: an answer or an error, never a crash
    std::string text = i % 2 ? "Box([1, 2], [3, 4], (2,))" : "Discrete(7)";
    for (int k = 0; k < 2; ++k) text[rng.Below(text.size())] = static_cast<char>(rng.Below(128));
    (void)Space::Parse(text);
  }
  EXPECT_FALSE(Space::Parse("Box(0, 1, (100000000,))").ok());  // no huge allocation
  EXPECT_FALSE(Space::Parse("Box(2, 1, (1,))").ok());
  EXPECT_FALSE(Space::Parse("Discrete(16777217)").ok());  // larger than any space here
  EXPECT_FALSE(Space::Parse("Discrete(99999999999999999999)").ok());
  EXPECT_FALSE(Space::Parse("Discrete(2.5)").ok());
  EXPECT_FALSE(Space::Parse("Discrete(1e3)").ok());  // sizes are written as whole numbers
  EXPECT_FALSE(Space::Parse("Box(0, 1, (2.0,))").ok());
}

}  // namespace
}  // namespace apprentice
