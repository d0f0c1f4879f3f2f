// Flag values that several commands parse the same way.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"

namespace apprentice {

// --hidden: comma-separated layer widths in [1, 4096], e.g. "64,64". InvalidArgument naming the
// flag and the text otherwise.
Result<std::vector<int64_t>> ParseHiddenWidths(const std::string& text);

}  // namespace apprentice
