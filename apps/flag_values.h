// Flag values that several commands parse the same way.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/flags.h"
#include "core/status.h"
#include "distiller/distiller.h"

namespace apprentice {

// --hidden: comma-separated layer widths in [1, 4096], e.g. "64,64". InvalidArgument naming the
// flag and the text otherwise.
Result<std::vector<int64_t>> ParseHiddenWidths(const std::string& text);

// The distillation flags (--hidden into `hidden`, for ParseHiddenWidths; --temperature, --alpha,
// --lr, --batch-size, and with `publish_every` --publish-every) into `options`.
void DeclareDistillerFlags(FlagSet& flags, Distiller::Options& options, std::string& hidden,
                           bool publish_every);

}  // namespace apprentice
