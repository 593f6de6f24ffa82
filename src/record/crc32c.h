// CRC-32C (Castagnoli), the checksum of record batch v2.
//
// The hardware path uses SSE4.2's crc32 instruction, eight bytes at a time, when the
// CPU has it (checked at run time, so one binary serves every x86-64); elsewhere a
// slicing-by-8 table implementation gives the same results. Both are exposed so the
// tests can check them against each other and the benchmarks can compare them.
#pragma once

#include <cstdint>
#include <span>

namespace weir::record {

// Extends `crc` (the CRC of the bytes before `data`; 0 to start) over `data`.
uint32_t crc32c(std::span<const uint8_t> data, uint32_t crc = 0);

uint32_t crc32c_software(std::span<const uint8_t> data, uint32_t crc = 0);
// Only when crc32c_hardware_available(); otherwise a programmer error.
uint32_t crc32c_hardware(std::span<const uint8_t> data, uint32_t crc = 0);
bool crc32c_hardware_available();

}  // namespace weir::record
