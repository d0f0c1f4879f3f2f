// Whole-file reads and crash-safe whole-file writes, for snapshot files, distiller checkpoints,
// run summaries and run identities.
//
// WriteFileAtomically writes `path`.tmp, fsyncs it, renames it over `path` and fsyncs the
// directory: after a crash, `path` holds either its old contents or the new ones, never a mix
// (a stale `path`.tmp may be left behind; the next write replaces it). Writers of the same path
// must not run concurrently. Any thread; blocks on the disk.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace apprentice {

// Unavailable (with the system's reason) when a step fails; the tmp file is then removed and
// `path` is untouched. The file is created with permissions `mode` (less the umask): 0600 for a
// secret.
Status WriteFileAtomically(const std::string& path, std::span<const uint8_t> bytes,
                           uint32_t mode = 0644);
Status WriteFileAtomically(const std::string& path, std::string_view text, uint32_t mode = 0644);

// Ok if a file could be written at `path` (its directory exists and takes a new file), found by
// creating and removing a temporary file beside it: `path` itself is not touched.
Status CheckWritable(const std::string& path);

// The whole file. NotFound when it does not exist, InvalidArgument when it is not a regular
// file, DataLoss when it is larger than `max_bytes`, Unavailable when reading fails.
Result<std::vector<uint8_t>> ReadFileBytes(const std::string& path, uint64_t max_bytes);

}  // namespace apprentice
