// Text shared by the commands that read episode logs (inspect, eval, distill): numbers that may
// be undefined, the damage list, and the split of a command line into flags and paths.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "replay/episode_log.h"

namespace apprentice {

// printf-style number, or "n/a" when `value` is NaN.
std::string Num(const char* fmt, double value);
// "97.3 %", or "n/a" when `fraction` is NaN.
std::string Percent(double fraction);

// The first `limit` damage entries as a table (file, offset, bytes, reason) with a line saying
// how many were left out; "" when there is no damage.
std::string DamageTable(const std::vector<EpisodeLogDamage>& damage, size_t limit);
// "none", or "N stretches, B bytes skipped".
std::string DamageCount(const std::vector<EpisodeLogDamage>& damage);

}  // namespace apprentice
