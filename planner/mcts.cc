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
    if (!child.legal) continue;
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

int64_t MctsPlanner::RandomAction(const Env& env, int64_t n_actions) {
  if (!env.LegalActions(legal_)) return static_cast<int64_t>(rng_.Below(n_actions));
  int64_t count = 0;
  for (int64_t a = 0; a < n_actions; ++a) count += legal_[a] != 0;
  auto k = static_cast<int64_t>(rng_.Below(static_cast<uint64_t>(count)));
  for (int64_t a = 0; a < n_actions; ++a) {
    if (legal_[a] != 0 && k-- == 0) return a;
  }
  return -1;  // unreachable: count > 0 (an env with no legal move has ended)
}

double MctsPlanner::Rollout(Env& env, int64_t n_actions, bool turns) {
  // The return for the player to move at the leaf: with alternating turns the opponent's rewards
  // count against it.
  double ret = 0.0, scale = 1.0;
  for (int64_t t = 0; t < options_.rollout_horizon; ++t) {
    const StepResult r = env.Step(Action::Discrete(RandomAction(env, n_actions)));
    ret += scale * r.reward;
    scale *= turns ? -options_.discount : options_.discount;
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
  const bool turns = request.env->alternating_turns();
  legal_.assign(static_cast<size_t>(n), 1);
  rng_.Seed(request.seed);
  nodes_.assign(1, Node{});
  // One simulation env, refreshed from the request's for every simulation (no allocation once
  // it exists).
  if (sim_ == nullptr || !sim_->CopyStateFrom(*request.env).ok()) sim_ = request.env->Clone();
  q_min_ = std::numeric_limits<double>::infinity();
  q_max_ = -std::numeric_limits<double>::infinity();

  int64_t sims = 0;
  for (; sims < options_.simulations; ++sims) {
    // The first simulation expands the root; the next n try every action once. Only then may a
    // deadline cut the search.
    if (request.deadline_ns != 0 && sims > n && NowNs() >= request.deadline_ns) break;
    Env* sim = sim_.get();
    if (sims > 0) RequireOk(sim->CopyStateFrom(*request.env));
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
    // Expansion (the legal children only) and evaluation.
    double value = 0.0;
    if (!ended) {
      const auto first = static_cast<int32_t>(nodes_.size());
      nodes_.resize(nodes_.size() + n);
      nodes_[node].first_child = first;
      if (sim->LegalActions(legal_)) {
        for (int64_t a = 0; a < n; ++a) nodes_[first + a].legal = legal_[a] != 0;
      }
      value = Rollout(*sim, n, turns);
    }
    // Backup: G = reward into node + discount * G, from the leaf to the root; with alternating
    // turns the value after a move is the opponent's, so it counts negated (negamax).
    const double carry = turns ? -options_.discount : options_.discount;
    double g = value;
    for (auto it = path_.rbegin(); it != path_.rend(); ++it) {
      Node& nd = nodes_[*it];
      if (*it != 0) g = nd.reward + carry * g;
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
  int64_t best = -1;
  double best_q = -std::numeric_limits<double>::infinity();
  int64_t best_visits = -1;
  int64_t legal_count = 0;
  for (int64_t a = 0; a < n; ++a) legal_count += nodes_[root.first_child + a].legal;
  for (int64_t a = 0; a < n; ++a) {
    const Node& child = nodes_[root.first_child + a];
    if (!child.legal) continue;  // probability 0, never the action
    probs[a] = child_visits ? static_cast<float>(child.visits) / static_cast<float>(child_visits)
                            : 1.0f / static_cast<float>(legal_count);
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
