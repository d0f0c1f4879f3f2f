#include "runtime/ope.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>

#include "core/rng.h"

namespace apprentice {
namespace {

struct Values {
  double is = 0.0, wis = 0.0, pdis = 0.0, wpdis = 0.0;
};

// The four estimates over the episodes `pick` selects (indices, repeats allowed).
Values Estimate(std::span<const OpeEpisode> episodes, std::span<const size_t> pick,
                const OpeOptions& o) {
  double is_sum = 0.0, w_sum = 0.0, pdis_sum = 0.0;
  // wpdis: per step t, Σ w r and Σ w over the episodes still running.
  std::vector<double> step_wr, step_w;
  for (const size_t i : pick) {
    const OpeEpisode& e = episodes[i];
    double w = 1.0, g = 0.0, scale = 1.0, pd = 0.0;
    for (size_t t = 0; t < e.size(); ++t) {
      double rho = std::exp(e[t].log_ratio);
      if (o.clip > 0.0) rho = std::min(rho, o.clip);
      w *= rho;
      g += scale * e[t].reward;
      pd += scale * w * e[t].reward;
      if (step_w.size() <= t) {
        step_w.push_back(0.0);
        step_wr.push_back(0.0);
      }
      step_w[t] += w;
      step_wr[t] += w * e[t].reward;
      scale *= o.discount;
    }
    is_sum += w * g;
    w_sum += w;
    pdis_sum += pd;
  }
  Values v;
  const auto n = static_cast<double>(pick.size());
  v.is = is_sum / n;
  v.wis = w_sum > 0.0 ? is_sum / w_sum : 0.0;
  v.pdis = pdis_sum / n;
  double scale = 1.0;
  for (size_t t = 0; t < step_w.size(); ++t) {
    if (step_w[t] > 0.0) v.wpdis += scale * step_wr[t] / step_w[t];
    scale *= o.discount;
  }
  return v;
}

double Quantile(std::vector<double>& values, double q) {
  const auto k = static_cast<size_t>(
      std::clamp(q * static_cast<double>(values.size() - 1), 0.0,
                 static_cast<double>(values.size() - 1)));
  std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(k), values.end());
  return values[k];
}

}  // namespace

Status OpeOptions::Validate() const {
  if (!(discount > 0.0 && discount <= 1.0)) {
    return Status::InvalidArgument("ope discount must be in (0, 1]");
  }
  if (!(clip >= 0.0) || !std::isfinite(clip)) {
    return Status::InvalidArgument("ope clip must be a finite number >= 0 (0: no clipping)");
  }
  if (bootstrap < 0) return Status::InvalidArgument("ope bootstrap must be >= 0 resamples");
  if (!(confidence > 0.0 && confidence < 1.0)) {
    return Status::InvalidArgument("ope confidence must be in (0, 1)");
  }
  return Status::Ok();
}

Result<std::vector<OpeEpisode>> OpeEpisodes(
    std::span<const DecisionRecord> records,
    const std::function<double(const DecisionRecord&)>& candidate_log_prob) {
  int64_t unknown = 0;
  for (const DecisionRecord& r : records) unknown += r.behaviour == Behaviour::kUnknown;
  if (unknown > 0) {
    return Status::InvalidArgument(
        std::to_string(unknown) + " of " + std::to_string(records.size()) +
        " logged decisions carry no behaviour probability (a log of record revision 1, written "
        "before it was recorded, or choices no probability describes); importance-sampling "
        "estimates need it for every decision");
  }
  std::map<int64_t, std::vector<const DecisionRecord*>> by_episode;
  for (const DecisionRecord& r : records) by_episode[r.episode].push_back(&r);
  std::vector<OpeEpisode> out;
  out.reserve(by_episode.size());
  for (auto& [episode, steps] : by_episode) {
    std::sort(steps.begin(), steps.end(),
              [](const DecisionRecord* a, const DecisionRecord* b) { return a->step < b->step; });
    OpeEpisode e;
    e.reserve(steps.size());
    for (const DecisionRecord* r : steps) {
      const double behaviour = r->behaviour == Behaviour::kStochastic ? r->behaviour_log_prob : 0.0;
      e.push_back({r->reward, candidate_log_prob(*r) - behaviour});
    }
    out.push_back(std::move(e));
  }
  return out;
}

Result<OpeReport> EstimateOffPolicy(std::span<const OpeEpisode> episodes,
                                    const OpeOptions& options) {
  if (Status s = options.Validate(); !s.ok()) return s;
  if (episodes.empty()) return Status::InvalidArgument("no logged episodes to estimate from");
  OpeReport report;
  report.episodes = static_cast<int64_t>(episodes.size());
  std::vector<size_t> all(episodes.size());
  double w_sum = 0.0, w2_sum = 0.0, return_sum = 0.0;
  int64_t zero = 0;
  for (size_t i = 0; i < episodes.size(); ++i) {
    all[i] = i;
    report.decisions += static_cast<int64_t>(episodes[i].size());
    double w = 1.0, g = 0.0, scale = 1.0;
    for (const OpeStep& s : episodes[i]) {
      double rho = std::exp(s.log_ratio);
      if (options.clip > 0.0) rho = std::min(rho, options.clip);
      w *= rho;
      g += scale * s.reward;
      scale *= options.discount;
    }
    w_sum += w;
    w2_sum += w * w;
    zero += w == 0.0;
    return_sum += g;
  }
  report.logged_return = return_sum / static_cast<double>(episodes.size());
  report.effective_sample_size = w2_sum > 0.0 ? w_sum * w_sum / w2_sum : 0.0;
  report.zero_weight_share = static_cast<double>(zero) / static_cast<double>(episodes.size());

  const Values point = Estimate(episodes, all, options);
  std::vector<std::vector<double>> resampled(4);
  Rng rng(options.seed);
  std::vector<size_t> pick(episodes.size());
  for (int64_t b = 0; b < options.bootstrap; ++b) {
    for (size_t& p : pick) p = static_cast<size_t>(rng.Below(episodes.size()));
    const Values v = Estimate(episodes, pick, options);
    resampled[0].push_back(v.is);
    resampled[1].push_back(v.wis);
    resampled[2].push_back(v.pdis);
    resampled[3].push_back(v.wpdis);
  }
  const char* names[4] = {"is", "wis", "pdis", "wpdis"};
  const double values[4] = {point.is, point.wis, point.pdis, point.wpdis};
  const double tail = (1.0 - options.confidence) / 2.0;
  for (int k = 0; k < 4; ++k) {
    OpeEstimate e;
    e.estimator = names[k];
    e.value = values[k];
    e.low = e.high = e.value;
    if (!resampled[k].empty()) {
      e.low = Quantile(resampled[k], tail);
      e.high = Quantile(resampled[k], 1.0 - tail);
    }
    report.estimates.push_back(e);
  }
  return report;
}

}  // namespace apprentice
