/* crc_reference.h: a CRC computed one bit at a time from its definition (reflected polynomial, initial
 * and final XOR ~0), independent of every table and hardware path the library has. The CRC suite checks
 * each implementation against it; the log suite checks its frames' CRCs (CRC-32C: poly 0x82F63B78,
 * RFC 3720, B.4). Included once per program. */
#ifndef STEADFAST_TEST_CRC_REFERENCE_H
#define STEADFAST_TEST_CRC_REFERENCE_H

#include <stddef.h>
#include <stdint.h>

#define SF_TEST_CRC32C_POLY 0x82F63B78u

static uint32_t reference(uint32_t poly, uint32_t crc, const uint8_t *p, size_t n) {
  crc = ~crc;
  while (n--) {
    crc ^= *p++;
    for (int k = 0; k < 8; k++) crc = (crc & 1) ? (crc >> 1) ^ poly : crc >> 1;
  }
  return ~crc;
}

#endif /* STEADFAST_TEST_CRC_REFERENCE_H */
