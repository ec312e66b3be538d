/* crc_armcrc.c: CRC-32C and CRC-32 with the Armv8 CRC32 instructions (crc32cx/crc32cb for CRC-32C,
 * crc32x/crc32b for CRC-32). arm64 only; this file alone is built with -march=armv8-a+crc, and the
 * dispatcher calls it only when the kernel reports HWCAP_CRC32.
 *
 * One instruction per 8 bytes, with a latency of two or three cycles and a throughput of one per
 * cycle on the Cortex-A72/A76 and Neoverse cores, so long inputs use the 3-way loop of
 * crc_three_way.h to keep the unit busy. */
#if defined(__aarch64__)

#include <arm_acle.h>

#include "crc_internal.h"
#include "crc_three_way.h"

static inline uint64_t sf__step_castagnoli(const sf__crc_poly_t *c, uint64_t raw, uint64_t word) {
  (void)c;
  return __crc32cd((uint32_t)raw, word);
}

static inline uint64_t sf__step_ieee(const sf__crc_poly_t *c, uint64_t raw, uint64_t word) {
  (void)c;
  return __crc32d((uint32_t)raw, word);
}

/* One chain: whole words, then the last bytes. castagnoli is a constant in every caller. */
static inline uint32_t sf__serial(int castagnoli, uint32_t raw, const uint8_t *p, size_t n) {
  for (; n >= 8; p += 8, n -= 8) raw = castagnoli ? __crc32cd(raw, sf__load64(p)) : __crc32d(raw, sf__load64(p));
  for (; n; p++, n--) raw = castagnoli ? __crc32cb(raw, *p) : __crc32b(raw, *p);
  return raw;
}

uint32_t sf__crc_armcrc_raw(const sf__crc_poly_t *c, uint32_t raw, const uint8_t *p, size_t n) {
  return c == &sf__crc32c_poly ? sf__serial(1, raw, p, n) : sf__serial(0, raw, p, n);
}

static inline uint32_t sf__armcrc(int castagnoli, uint32_t crc, const uint8_t *p, size_t len) {
  uint32_t raw = ~crc;
  if (len >= 3 * SF__CRC_BLOCK_SHORT + 7) {
    size_t head = (8 - ((uintptr_t)p & 7)) & 7;
    raw = sf__serial(castagnoli, raw, p, head);
    p += head;
    len -= head;
    raw = (uint32_t)sf__crc_three_way_blocks(castagnoli ? &sf__crc32c_poly : &sf__crc32_poly,
                                             castagnoli ? sf__step_castagnoli : sf__step_ieee, raw, &p, &len);
  }
  return ~sf__serial(castagnoli, raw, p, len);
}

uint32_t sf__crc32c_armcrc(uint32_t crc, const void *data, size_t len) {
  return sf__armcrc(1, crc, data, len);
}

uint32_t sf__crc32_armcrc(uint32_t crc, const void *data, size_t len) {
  return sf__armcrc(0, crc, data, len);
}

#endif /* __aarch64__ */
