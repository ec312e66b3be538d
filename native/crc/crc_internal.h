/* crc_internal.h: what the CRC implementation files share; not part of the public API.
 *
 * Every implementation works on the "raw" register (the finished CRC inverted), so that a fold path
 * can hand its last 16 bytes and its tail to the portable code without inverting twice. The
 * polynomial-specific constants (slicing tables, fold multipliers, powers of x for combine) are
 * computed once at load time from the polynomial itself by crc_portable.c, rather than pasted in as
 * magic numbers: a wrong constant would then be a wrong formula, which the shared tests catch.
 */
#ifndef STEADFAST_CRC_INTERNAL_H
#define STEADFAST_CRC_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "steadfast/crc.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "steadfast's CRC code assumes a little-endian CPU (x86-64, riscv64, arm64)"
#endif

/* Reflected generator polynomials (bit 31 - t holds the coefficient of x^t). */
#define SF__CRC32C_POLY 0x82F63B78u /* Castagnoli, RFC 3720 section B.4 */
#define SF__CRC32_POLY 0xEDB88320u  /* IEEE 802.3, as zlib */

/* Fold distances in units of 128 bits: fold[i] moves a 128-bit lane (i + 1) * 128 bits forward. */
#define SF__CRC_FOLD_MAX 16

/* Block sizes of the 3-way interleaved loops (portable and sse42): three chains run side by side over
 * three adjacent blocks, then are joined by shifting the earlier registers over the later blocks. */
#define SF__CRC_BLOCK_LONG 2048
#define SF__CRC_BLOCK_SHORT 256

typedef struct sf__crc_poly_s {
  uint32_t poly;
  /* Slicing-by-8: table[k][b] is the register after byte b followed by k zero bytes. */
  uint32_t table[8][256];
  /* fold[i][0] multiplies the low 64 bits of a lane (the first bytes), fold[i][1] the high 64 bits.
   * Each is x^e mod P in a 64-bit reflected word (bit 63 - t holds x^t), see crc_portable.c. */
  uint64_t fold[SF__CRC_FOLD_MAX][2];
  /* finish[0] = x^96 mod P, finish[1] = x^64 mod P, with x^t at bit 32 - t: they shrink the last
   * 16-byte lane to an 8-byte word with the same remainder (see sf__crc_lane_to_word users). */
  uint64_t finish[2];
  /* x2n[k] = x^(2^k) mod P, for combine: bit 63 of a byte count needs x^(2^66). */
  uint32_t x2n[67];
  /* Shifting a raw register over B zero bytes multiplies it by x^(8B) mod P, which is linear in the
   * register: shift_long[j][b] is that product for byte j of the register equal to b, B = BLOCK_LONG. */
  uint32_t shift_long[4][256];
  uint32_t shift_short[4][256];
} sf__crc_poly_t;

extern sf__crc_poly_t sf__crc32c_poly;
extern sf__crc_poly_t sf__crc32_poly;

/* Both are filled by a constructor in crc_portable.c when the library is loaded. */
/* a * b mod P, and x^(8n) mod P (n zero bytes appended), on reflected values. */
uint32_t sf__crc_multiply(uint32_t poly, uint32_t a, uint32_t b);
uint32_t sf__crc_xpow8n(const sf__crc_poly_t *c, uint64_t n);

/* The portable slicing-by-8 loop on the raw register. */
uint32_t sf__crc_portable_raw(const sf__crc_poly_t *c, uint32_t raw, const uint8_t *p, size_t n);

/* Each implementation file defines these; the ones that do not apply to the target compile to
 * nothing and the dispatcher never names them. */
uint32_t sf__crc32c_portable(uint32_t crc, const void *data, size_t len);
uint32_t sf__crc32_portable(uint32_t crc, const void *data, size_t len);
uint32_t sf__crc32c_sse42(uint32_t crc, const void *data, size_t len);
uint32_t sf__crc32c_pclmul(uint32_t crc, const void *data, size_t len);
uint32_t sf__crc32_pclmul(uint32_t crc, const void *data, size_t len);
uint32_t sf__crc32c_vpclmul(uint32_t crc, const void *data, size_t len);
uint32_t sf__crc32_vpclmul(uint32_t crc, const void *data, size_t len);
uint32_t sf__crc32c_zbc(uint32_t crc, const void *data, size_t len);
uint32_t sf__crc32_zbc(uint32_t crc, const void *data, size_t len);
uint32_t sf__crc32c_armcrc(uint32_t crc, const void *data, size_t len);
uint32_t sf__crc32_armcrc(uint32_t crc, const void *data, size_t len);
uint32_t sf__crc32c_pmull(uint32_t crc, const void *data, size_t len);
uint32_t sf__crc32_pmull(uint32_t crc, const void *data, size_t len);

/* The serial CRC-32C instruction loop on the raw register (crc_sse42.c, x86-64 only). */
uint32_t sf__crc32c_sse42_raw(uint32_t raw, const uint8_t *p, size_t n);

/* The serial Armv8 CRC32 instruction loop on the raw register, for either polynomial (crc_armcrc.c,
 * arm64 only). */
uint32_t sf__crc_armcrc_raw(const sf__crc_poly_t *c, uint32_t raw, const uint8_t *p, size_t n);

static inline uint32_t sf__crc_shift(const uint32_t table[4][256], uint32_t raw) {
  return table[0][raw & 0xff] ^ table[1][(raw >> 8) & 0xff] ^ table[2][(raw >> 16) & 0xff] ^ table[3][raw >> 24];
}

/* The raw register after eight message bytes held in w (little-endian), from a zero register: one
 * slicing-by-8 step. XOR a register into w first to continue from it. */
static inline uint32_t sf__crc_word(const sf__crc_poly_t *c, uint64_t w) {
  const uint32_t(*t)[256] = c->table;
  return t[7][w & 0xff] ^ t[6][(w >> 8) & 0xff] ^ t[5][(w >> 16) & 0xff] ^ t[4][(w >> 24) & 0xff] ^
         t[3][(w >> 32) & 0xff] ^ t[2][(w >> 40) & 0xff] ^ t[1][(w >> 48) & 0xff] ^ t[0][w >> 56];
}

static inline uint64_t sf__load64(const uint8_t *p) {
  uint64_t v;
  memcpy(&v, p, sizeof v);
  return v;
}

#endif /* STEADFAST_CRC_INTERNAL_H */
