// LqrPlanner: a linear-quadratic regulator with one-step lookahead, for CartPole only. A decisive,
// deterministic teacher: its action is (almost) the sign of a linear function of the state, so a
// student can match it far more often than it can match MCTS visit counts near upright.
//
//   construction: linearise CartPole's explicit-Euler step around upright rest (s = 0, f = 0)
//                 into s' = A s + B f, then solve the discrete algebraic Riccati equation
//                   P = Q + AᵀPA - AᵀPB (R + BᵀPB)⁻¹ BᵀPA
//                 by value iteration from P = Q until it stops changing.
//   Plan():       for each action a (0: f = -10 N, 1: f = +10 N) step a copy of the request's
//                 CartPole once, on the true nonlinear model, and score
//                   cost(a) = s'ᵀ P s' + R f_a²  (+ termination_penalty if that step terminates)
//                 action = argmin cost (ties: action 0); value = -min cost;
//                 distribution = softmax(-cost / (temperature * cost_per_newton())).
//
// Why the temperature is in newtons: on the linear model the cost gap is exactly
//   cost(0) - cost(1) = 4 f_max (R + BᵀPB) f*,   f* = -K s, the unclipped LQR force,
// (R f² is the same for both pushes, so R shapes P but not the choice), so
//   p(push right) ~= sigmoid(f* / temperature)
// whatever the weights Q and R: the argmax is the sign of a linear function of the state and the
// soft target is a logistic of it. The default 0.01 N makes ~95 % of the decisions on the states
// the planner visits itself have a max probability >= 0.9 (bang-bang control keeps the state
// near the switching surface f* = 0, where the remaining ones carry graded probabilities).
//
// `value` is the negative LQR cost of the better push (successor cost-to-go plus R f²), not a
// return in reward units: higher is better, and it is always below -R f_max².
//
// Contract: as every Planner, one thread at a time; Plan() never modifies `request.env`, which
// must be a CartPole mid-episode (stepping an ended episode throws, as it does for MCTS). The
// decision is a deterministic function of the env's exact (double) state: the request's seed is
// unused, and the deadline is ignored because Plan() takes microseconds. Plan() does not allocate
// except for the returned distribution.
#pragma once

#include <array>
#include <cstdint>

#include "core/options.h"
#include "planner/planner.h"

namespace apprentice {

class LqrPlanner : public Planner {
 public:
  using Vec4 = std::array<double, 4>;
  using Mat4 = std::array<Vec4, 4>;  // row-major: m[row][col]

  struct Options {
    // Diagonal of Q: weights on x, x_dot, theta, theta_dot in the per-step cost sᵀQs.
    Vec4 q = {1.0, 1.0, 10.0, 1.0};
    double r = 0.1;  // weight on the force (N²) in the per-step cost R f²
    // Softmax temperature over the action costs, in newtons of LQR force (see above).
    double temperature = 0.01;
    double termination_penalty = 1e6;  // added to the cost of an action whose step terminates
    void Declare(OptionBinder& b) {
      static constexpr const char* kNames[] = {"q_x", "q_x_dot", "q_theta", "q_theta_dot"};
      static constexpr const char* kHelp[] = {
          "state cost weight on the cart position", "state cost weight on the cart velocity",
          "state cost weight on the pole angle", "state cost weight on the pole's angular velocity"};
      for (size_t i = 0; i < q.size(); ++i) b.Double(kNames[i], &q[i], kHelp[i], 1e-9, 1e9);
      b.Double("r", &r, "cost weight on the force (per N^2)", 1e-9, 1e9);
      b.Double("temperature", &temperature, "softmax temperature of the soft target, in newtons",
               1e-9, 1e9);
      b.Double("termination_penalty", &termination_penalty,
               "cost added to a push whose step ends the episode", 0, 1e300);
    }
    Status Validate() const;
  };

  // The explicit-Euler CartPole step linearised around upright rest: s' = a s + b f.
  struct LinearModel {
    Mat4 a;
    Vec4 b;
  };
  // The solution of the discrete algebraic Riccati equation and its optimal linear controller
  // f = -k·s.
  struct Riccati {
    Mat4 p;
    Vec4 k;
    int64_t iterations = 0;  // value-iteration steps until convergence
  };

  // Throws InvalidArgument if `options` do not validate, or if the Riccati iteration does not
  // converge for them (only for extreme weight ratios).
  explicit LqrPlanner(Options options);

  std::string name() const override { return "lqr"; }
  bool needs_env() const override { return true; }
  // Ok for Discrete(2); CanTeach() also needs the env to be a CartPole.
  Status Supports(const Space& action_space) const override;
  Status CanTeach(const Env& env) const override;
  // Errors: no env in the request, or an env that is not a CartPole (the message names it).
  Result<PlanDecision> Plan(const PlanRequest& request) override;

  const Options& options() const { return options_; }
  const LinearModel& model() const { return model_; }
  const Riccati& riccati() const { return riccati_; }
  // The cost gap between the two pushes per newton of LQR force f*: 4 f_max (R + BᵀPB).
  double cost_per_newton() const { return cost_per_newton_; }

  // CartPole's linearisation, derived analytically from its public constants.
  static LinearModel LineariseCartPole();
  // Value iteration P <- Q + AᵀPA - AᵀPB (R + BᵀPB)⁻¹ BᵀPA from P = Q with Q = diag(q), until the
  // largest change is below 1e-12 of the largest entry. InvalidArgument if it has not converged
  // after `max_iterations`.
  static Result<Riccati> SolveRiccati(const LinearModel& model, const Vec4& q, double r,
                                      int64_t max_iterations = 1'000'000);

 private:
  Options options_;
  LinearModel model_;
  Riccati riccati_;
  double cost_per_newton_ = 0.0;
};

}  // namespace apprentice
