// CRC-32C (Castagnoli): the checksum of every episode-log frame and segment header, of snapshot
// files and of distiller checkpoints.
//
// Parameters (the "CRC-32C" of the CRC catalogue; also iSCSI, ext4, LevelDB, SSE4.2 `crc32`):
// polynomial 0x1EDC6F41 (reflected 0x82F63B78), initial value 0xFFFFFFFF, input and output
// reflected, final XOR 0xFFFFFFFF. Check value: Crc32c("123456789") == 0xE3069283.
//
// Thread-safe: pure functions over constant tables. On x86-64 CPUs with SSE4.2 (checked once at
// run time) the crc32 instruction is used; elsewhere a portable slicing-by-8 table, which gives
// the same results.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace apprentice {

// The CRC-32C of `size` bytes at `data`.
uint32_t Crc32c(const void* data, size_t size);
// `seed` continues a running checksum: Crc32c(ab) == Crc32c(b, /*seed=*/Crc32c(a)).
inline uint32_t Crc32c(std::span<const uint8_t> bytes, uint32_t seed = 0);

// Continues a CRC: Crc32cExtend(Crc32c(a), b) == Crc32c(a followed by b). Crc32cExtend(0, x)
// == Crc32c(x).
uint32_t Crc32cExtend(uint32_t crc, const void* data, size_t size);

inline uint32_t Crc32c(std::span<const uint8_t> bytes, uint32_t seed) {
  return Crc32cExtend(seed, bytes.data(), bytes.size());
}

// The two implementations, exposed so tests can compare them.
namespace crc32c_internal {
uint32_t ExtendPortable(uint32_t crc, const uint8_t* data, size_t size);
// True if this CPU has the SSE4.2 crc32 instruction (always false off x86-64).
bool HardwareAvailable();
// Precondition: HardwareAvailable().
uint32_t ExtendHardware(uint32_t crc, const uint8_t* data, size_t size);
}  // namespace crc32c_internal

}  // namespace apprentice
