#include "apps/log_report.h"

#include <cmath>

#include "apps/table.h"

namespace apprentice {

std::string Num(const char* fmt, double value) {
  return std::isnan(value) ? "n/a" : Format(fmt, value);
}

std::string Percent(double fraction) {
  return std::isnan(fraction) ? "n/a" : Format("%.1f %%", 100.0 * fraction);
}

std::string DamageTable(const std::vector<EpisodeLogDamage>& damage, size_t limit) {
  if (damage.empty()) return "";
  Table t({"file", "offset", "bytes", "reason"});
  for (size_t i = 0; i < damage.size() && i < limit; ++i) {
    const EpisodeLogDamage& d = damage[i];
    t.AddRow({d.file, std::to_string(d.offset), std::to_string(d.bytes), d.reason});
  }
  std::string out = t.ToString();
  if (damage.size() > limit) {
    out += Format("... and %zu more (--json lists them all)\n", damage.size() - limit);
  }
  return out;
}

std::string DamageCount(const std::vector<EpisodeLogDamage>& damage) {
  if (damage.empty()) return "none";
  long long bytes = 0;
  for (const EpisodeLogDamage& d : damage) bytes += d.bytes;
  return Format("%zu stretch%s, %lld bytes skipped", damage.size(), damage.size() == 1 ? "" : "es",
                bytes);
}

}  // namespace apprentice
