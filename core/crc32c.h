// Crc32c: CRC-32C (Castagnoli polynomial, reflected 0x82F63B78), the checksum of iSCSI, ext4 and
// LevelDB. Guards files and framed records against torn writes and flipped bits.
//
// Pure function, any thread. `seed` continues a running checksum:
//   Crc32c(ab) == Crc32c(b, /*seed=*/Crc32c(a)), and Crc32c("123456789") == 0xE3069283.
#pragma once

#include <cstdint>
#include <span>

namespace apprentice {

uint32_t Crc32c(std::span<const uint8_t> data, uint32_t seed = 0);

}  // namespace apprentice
