#include "apps/flag_values.h"

#include <cstdlib>
#include <sstream>

namespace apprentice {

Result<std::vector<int64_t>> ParseHiddenWidths(const std::string& text) {
  std::vector<int64_t> widths;
  if (!text.empty() && text.back() == ',') {
    return Status::InvalidArgument("--hidden: '" + text + "' ends with a comma");
  }
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    char* end = nullptr;
    const long long w = std::strtoll(item.c_str(), &end, 10);
    if (item.empty() || *end != '\0' || w < 1 || w > 4096) {
      return Status::InvalidArgument("--hidden: '" + text +
                                     "' is not a comma-separated list of widths in [1, 4096]");
    }
    widths.push_back(w);
  }
  if (widths.empty()) return Status::InvalidArgument("--hidden: give at least one width");
  return widths;
}

}  // namespace apprentice
