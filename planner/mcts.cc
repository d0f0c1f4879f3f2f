#include "planner/mcts.h"

#include <cmath>
#include <limits>

#include "core/clock.h"
#include "planner/registry.h"

namespace apprentice {

Status MctsPlanner::Options::Validate() const {
  if (simulations < 1) return Status::InvalidArgument("mcts simulations must be >= 1");
  if (!(exploration >= 0.0)) return Status::InvalidArgument("mcts exploration must be >= 0");
  if (rollout_horizon < 0) return Status::InvalidArgument("mcts rollout horizon must be >= 0");
  if (!(discount > 0.0 && discount <= 1.0)) {
    return Status::InvalidArgument("mcts discount must be in (0, 1]");
  }
  return Status::Ok();
}

MctsPlanner::MctsPlanner(Options options) : options_(options) { RequireOk(options_.Validate()); }

Status MctsPlanner::Supports(const Space& action_space) const {
  if (action_space.is_discrete()) return Status::Ok();
  return Status::InvalidArgument("mcts plans over discrete actions, not " + action_space.ToString());
}

void MctsPlanner::UpdateBounds(double q) {
  q_min_ = std::min(q_min_, q);
  q_max_ = std::max(q_max_, q);
}

int32_t MctsPlanner::SelectChild(const Node& node, int64_t n_actions) {
  // Unvisited children first, in a random order so that no action is favoured.
  int32_t best = -1;
  double best_score = -std::numeric_limits<double>::infinity();
  const double log_n = std::log(static_cast<double>(std::max<int64_t>(node.visits, 1)));
  const double range = q_max_ - q_min_;
  for (int64_t a = 0; a < n_actions; ++a) {
    const Node& child = nodes_[node.first_child + a];
    double score;
    if (child.visits == 0) {
      score = 1e9 + rng_.Uniform();
    } else {
      const double q = child.return_sum / child.visits;
      const double q_norm = range > 0 ? (q - q_min_) / range : 0.5;
      score = q_norm + options_.exploration * std::sqrt(log_n / child.visits);
    }
    if (score > best_score) {
      best_score = score;
      best = static_cast<int32_t>(a);
    }
  }
  return best;
}

double MctsPlanner::Rollout(Env& env, int64_t n_actions) {
  double ret = 0.0, scale = 1.0;
  for (int64_t t = 0; t < options_.rollout_horizon; ++t) {
    const StepResult r = env.Step(Action::Discrete(static_cast<int64_t>(rng_.Below(n_actions))));
    ret += scale * r.reward;
    scale *= options_.discount;
    if (r.done()) break;
  }
  return ret;
}

Result<PlanDecision> MctsPlanner::Plan(const PlanRequest& request) {
  const int64_t start = NowNs();
  if (request.env == nullptr) {
    return Status::InvalidArgument("mcts needs the environment's state (an env clone) to plan");
  }
  const Space& space = request.env->action_space();
  if (Status s = Supports(space); !s.ok()) return s;
  const int64_t n = space.n();
  rng_.Seed(request.seed);
  nodes_.assign(1, Node{});
  q_min_ = std::numeric_limits<double>::infinity();
  q_max_ = -std::numeric_limits<double>::infinity();

  int64_t sims = 0;
  for (; sims < options_.simulations; ++sims) {
    // The first simulation expands the root; the next n try every action once. Only then may a
    // deadline cut the search.
    if (request.deadline_ns != 0 && sims > n && NowNs() >= request.deadline_ns) break;
    std::unique_ptr<Env> sim = request.env->Clone();
    path_.assign(1, 0);
    int32_t node = 0;
    bool ended = false;
    // Selection: descend while the node has children.
    while (nodes_[node].first_child >= 0) {
      const int32_t a = SelectChild(nodes_[node], n);
      const int32_t child = nodes_[node].first_child + a;
      const StepResult r = sim->Step(Action::Discrete(a));
      nodes_[child].reward = r.reward;
      path_.push_back(child);
      node = child;
      if (r.done()) {
        ended = true;
        break;
      }
    }
    // Expansion and evaluation.
    double value = 0.0;
    if (!ended) {
      const auto first = static_cast<int32_t>(nodes_.size());
      nodes_.resize(nodes_.size() + n);
      nodes_[node].first_child = first;
      value = Rollout(*sim, n);
    }
    // Backup: G = reward into node + discount * G, from the leaf to the root.
    double g = value;
    for (auto it = path_.rbegin(); it != path_.rend(); ++it) {
      Node& nd = nodes_[*it];
      if (*it != 0) g = nd.reward + options_.discount * g;
      nd.visits += 1;
      nd.return_sum += g;
      if (*it != 0) UpdateBounds(nd.return_sum / nd.visits);
    }
  }

  last_simulations_ = sims;
  const Node& root = nodes_[0];
  PlanDecision decision;
  // The first simulation expands the root without visiting a child, so normalise by the
  // children's visits.
  int64_t child_visits = 0;
  for (int64_t a = 0; a < n; ++a) child_visits += nodes_[root.first_child + a].visits;
  std::vector<float> probs(n, 0.0f);
  int64_t best = 0;
  double best_q = -std::numeric_limits<double>::infinity();
  int64_t best_visits = -1;
  for (int64_t a = 0; a < n; ++a) {
    const Node& child = nodes_[root.first_child + a];
    probs[a] = child_visits ? static_cast<float>(child.visits) / static_cast<float>(child_visits)
                            : 1.0f / static_cast<float>(n);
    const double q = child.visits ? child.return_sum / child.visits : best_q;
    if (child.visits > best_visits || (child.visits == best_visits && q > best_q)) {
      best = a;
      best_visits = child.visits;
      best_q = q;
    }
  }
  decision.distribution = PolicyOutput::FromProbabilities(probs);
  decision.action = Action::Discrete(best);
  decision.value = root.return_sum / std::max<int64_t>(root.visits, 1);
  decision.latency_ns = NowNs() - start;
  return decision;
}

APPRENTICE_REGISTER_PLANNER(MctsPlanner, "mcts",
                            "Monte-Carlo tree search (UCT) on env clones, discrete actions",
                            /*heavy=*/"simulations=100000000");

}  // namespace apprentice
