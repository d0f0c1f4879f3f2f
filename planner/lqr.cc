#include "planner/lqr.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "core/clock.h"
#include "env/cartpole.h"
#include "planner/registry.h"

namespace apprentice {
namespace {

using Vec4 = LqrPlanner::Vec4;
using Mat4 = LqrPlanner::Mat4;

bool FinitePositive(double v) { return std::isfinite(v) && v > 0.0; }

Mat4 Transpose(const Mat4& m) {
  Mat4 t{};
  for (int i = 0; i < 4; ++i) {
    for (int j = 0; j < 4; ++j) t[i][j] = m[j][i];
  }
  return t;
}

Mat4 Multiply(const Mat4& x, const Mat4& y) {
  Mat4 out{};
  for (int i = 0; i < 4; ++i) {
    for (int j = 0; j < 4; ++j) {
      double sum = 0.0;
      for (int k = 0; k < 4; ++k) sum += x[i][k] * y[k][j];
      out[i][j] = sum;
    }
  }
  return out;
}

Vec4 Multiply(const Mat4& m, const Vec4& v) {
  Vec4 out{};
  for (int i = 0; i < 4; ++i) {
    for (int j = 0; j < 4; ++j) out[i] += m[i][j] * v[j];
  }
  return out;
}

double Dot(const Vec4& x, const Vec4& y) {
  double sum = 0.0;
  for (int i = 0; i < 4; ++i) sum += x[i] * y[i];
  return sum;
}

// sᵀ P s.
double Quadratic(const Mat4& p, const Vec4& s) { return Dot(s, Multiply(p, s)); }

std::string VecToString(const Vec4& v) {
  std::string out = "{";
  for (int i = 0; i < 4; ++i) out += (i ? ", " : "") + std::to_string(v[i]);
  return out + "}";
}

}  // namespace

Status LqrPlanner::Options::Validate() const {
  for (double w : q) {
    if (!FinitePositive(w)) {
      return Status::InvalidArgument("lqr state weights q must be finite and > 0");
    }
  }
  if (!FinitePositive(r)) {
    return Status::InvalidArgument("lqr force weight r must be finite and > 0");
  }
  if (!FinitePositive(temperature)) {
    return Status::InvalidArgument("lqr temperature must be finite and > 0");
  }
  if (!(std::isfinite(termination_penalty) && termination_penalty >= 0.0)) {
    return Status::InvalidArgument("lqr termination penalty must be finite and >= 0");
  }
  return Status::Ok();
}

LqrPlanner::LinearModel LqrPlanner::LineariseCartPole() {
  // Around theta = theta_dot = 0, CartPole's accelerations are linear in theta and the force f:
  //   theta_acc = (g theta - f / M) / d,      d = l (4/3 - m / M)
  //   x_acc     = f / M - (m l / M) theta_acc
  // (the theta_dot² and cos² terms vanish to first order). Explicit Euler then gives
  // A = I + tau Ac and B = tau Bc.
  constexpr double g = CartPole::kGravity, m = CartPole::kMassPole, l = CartPole::kLength;
  constexpr double big_m = CartPole::kTotalMass, tau = CartPole::kTau;
  constexpr double d = l * (4.0 / 3.0 - m / big_m);
  constexpr double theta_acc_theta = g / d;
  constexpr double theta_acc_f = -1.0 / (big_m * d);
  constexpr double x_acc_theta = -(m * l / big_m) * theta_acc_theta;
  constexpr double x_acc_f = 1.0 / big_m - (m * l / big_m) * theta_acc_f;

  LinearModel model{};
  for (int i = 0; i < 4; ++i) model.a[i][i] = 1.0;
  model.a[0][1] = tau;                    // x' = x + tau x_dot
  model.a[1][2] = tau * x_acc_theta;      // x_dot' = x_dot + tau x_acc
  model.a[2][3] = tau;                    // theta' = theta + tau theta_dot
  model.a[3][2] = tau * theta_acc_theta;  // theta_dot' = theta_dot + tau theta_acc
  model.b = {0.0, tau * x_acc_f, 0.0, tau * theta_acc_f};
  return model;
}

Result<LqrPlanner::Riccati> LqrPlanner::SolveRiccati(const LinearModel& model, const Vec4& q,
                                                     double r, int64_t max_iterations) {
  const Mat4 at = Transpose(model.a);
  Mat4 p{};
  for (int i = 0; i < 4; ++i) p[i][i] = q[i];
  for (int64_t it = 1; it <= max_iterations; ++it) {
    // With one input, (R + BᵀPB) is a scalar and AᵀPB a vector.
    const Vec4 pb = Multiply(p, model.b);
    const double s = r + Dot(model.b, pb);
    const Vec4 at_pb = Multiply(at, pb);
    const Mat4 at_p_a = Multiply(at, Multiply(p, model.a));
    Mat4 next{};
    double change = 0.0, largest = 0.0;
    for (int i = 0; i < 4; ++i) {
      for (int j = 0; j < 4; ++j) {
        next[i][j] = (i == j ? q[i] : 0.0) + at_p_a[i][j] - at_pb[i] * at_pb[j] / s;
        change = std::max(change, std::abs(next[i][j] - p[i][j]));
        largest = std::max(largest, std::abs(next[i][j]));
      }
    }
    // Symmetrise against rounding drift.
    for (int i = 0; i < 4; ++i) {
      for (int j = i + 1; j < 4; ++j) next[i][j] = next[j][i] = 0.5 * (next[i][j] + next[j][i]);
    }
    p = next;
    if (!std::isfinite(largest)) break;
    if (change <= 1e-12 * largest) {
      Riccati out;
      out.p = p;
      // K = (R + BᵀPB)⁻¹ BᵀPA, so that f = -K s.
      const Vec4 p_b = Multiply(p, model.b);
      const double denom = r + Dot(model.b, p_b);
      const Vec4 bt_p_a = Multiply(at, p_b);  // (BᵀPA)ᵀ = AᵀPB, P symmetric
      for (int i = 0; i < 4; ++i) out.k[i] = bt_p_a[i] / denom;
      out.iterations = it;
      return out;
    }
  }
  return Status::InvalidArgument("lqr: the Riccati iteration did not converge in " +
                                 std::to_string(max_iterations) +
                                 " iterations for q = " + VecToString(q) +
                                 ", r = " + std::to_string(r) + " (weight ratios too extreme)");
}

LqrPlanner::LqrPlanner(Options options) : options_(options), model_(LineariseCartPole()) {
  RequireOk(options_.Validate());
  riccati_ = SolveRiccati(model_, options_.q, options_.r).ValueOrThrow();
  cost_per_newton_ =
      4.0 * CartPole::kForceMag * (options_.r + Dot(model_.b, Multiply(riccati_.p, model_.b)));
}

Status LqrPlanner::Supports(const Space& action_space) const {
  if (action_space.is_discrete() && action_space.n() == 2) return Status::Ok();
  return Status::InvalidArgument("lqr plans over CartPole's Discrete(2) pushes, not " +
                                 action_space.ToString());
}

Status LqrPlanner::CanTeach(const Env& env) const {
  if (dynamic_cast<const CartPole*>(&env) == nullptr) {
    return Status::InvalidArgument("lqr teaches on cartpole only, not " + env.name());
  }
  return Supports(env.action_space());
}

Result<PlanDecision> LqrPlanner::Plan(const PlanRequest& request) {
  const int64_t start = NowNs();
  if (request.env == nullptr) {
    return Status::InvalidArgument("lqr needs the environment's state (a cartpole) to plan");
  }
  const auto* cartpole = dynamic_cast<const CartPole*>(request.env);
  if (cartpole == nullptr) {
    return Status::InvalidArgument("lqr plans on cartpole only; the request's env is '" +
                                   request.env->name() + "'");
  }

  std::array<double, 2> cost{};
  for (int64_t a = 0; a < 2; ++a) {
    CartPole sim(*cartpole);  // a copy on the stack: the spaces are shared statics
    const StepResult r = sim.Step(Action::Discrete(a));
    const double force = a == 1 ? CartPole::kForceMag : -CartPole::kForceMag;
    cost[a] = Quadratic(riccati_.p, sim.state()) + options_.r * force * force +
              (r.terminated ? options_.termination_penalty : 0.0);
  }
  const int64_t best = cost[1] < cost[0] ? 1 : 0;
  const double min_cost = cost[best];

  // log softmax(-cost / scale), computed in double from the cost gaps so that no probability
  // underflows before its log is taken; floored at kMinLogit like every planner's output.
  const double scale = options_.temperature * cost_per_newton_;
  double sum = 0.0;
  for (double c : cost) sum += std::exp(-(c - min_cost) / scale);
  const double log_sum = std::log(sum);
  std::array<float, 2> log_probs{};
  for (int64_t a = 0; a < 2; ++a) {
    const double lp = -(cost[a] - min_cost) / scale - log_sum;
    log_probs[a] = std::max(static_cast<float>(lp), kMinLogit);
  }

  PlanDecision decision;
  decision.distribution = PolicyOutput::FromLogits(log_probs);
  decision.action = Action::Discrete(best);
  decision.value = -min_cost;
  decision.latency_ns = NowNs() - start;
  return decision;
}

APPRENTICE_REGISTER_PLANNER(LqrPlanner, "lqr",
                            "LQR with one-step lookahead: a decisive teacher for cartpole only",
                            /*heavy=*/"");

}  // namespace apprentice
