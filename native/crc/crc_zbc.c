/* crc_zbc.c: CRC-32C and CRC-32 by folding with the RISC-V carry-less multiply (Zbc or Zbkc:
 * clmul, clmulh). riscv64 only; this one file is built with -march=rv64gc_zbc so that the rest of the
 * library stays rv64gc and loads on every board. The dispatcher calls it only when riscv_hwprobe
 * reports Zbc or Zbkc, or when a test forces it.
 *
 * The arithmetic is that of crc_pclmul.c with each 128-bit lane held as two 64-bit words: clmul gives
 * the low and clmulh the high half of a 64 x 64 product. Four lanes (64 bytes) move per step so that
 * an in-order core can overlap the multiplies. The pointer is aligned to 8 first, with the portable
 * code, because misaligned loads are emulated by firmware on most boards.
 */
#if defined(__riscv) && __riscv_xlen == 64

#include "crc_internal.h"

static inline uint64_t sf__clmul(uint64_t a, uint64_t b) {
  uint64_t r;
  __asm__("clmul %0, %1, %2" : "=r"(r) : "r"(a), "r"(b));
  return r;
}

static inline uint64_t sf__clmulh(uint64_t a, uint64_t b) {
  uint64_t r;
  __asm__("clmulh %0, %1, %2" : "=r"(r) : "r"(a), "r"(b));
  return r;
}

typedef struct {
  uint64_t lo, hi;
} sf__lane_t;

/* x * k(distance i) + (lo, hi) */
static inline sf__lane_t sf__fold(sf__lane_t x, const uint64_t k[2], uint64_t lo, uint64_t hi) {
  sf__lane_t r;
  r.lo = sf__clmul(x.lo, k[0]) ^ sf__clmul(x.hi, k[1]) ^ lo;
  r.hi = sf__clmulh(x.lo, k[0]) ^ sf__clmulh(x.hi, k[1]) ^ hi;
  return r;
}

static inline sf__lane_t sf__load_lane(const uint8_t *p) {
  sf__lane_t x = {sf__load64(__builtin_assume_aligned(p, 8)), sf__load64(__builtin_assume_aligned(p + 8, 8))};
  return x;
}

static uint32_t sf__crc_zbc_raw(const sf__crc_poly_t *c, uint32_t raw, const uint8_t *p, size_t n) {
  size_t head = (8 - ((uintptr_t)p & 7)) & 7;
  if (n < 64 + head) return sf__crc_portable_raw(c, raw, p, n);
  raw = sf__crc_portable_raw(c, raw, p, head);
  p += head;
  n -= head;

  sf__lane_t x0 = sf__load_lane(p), x1 = sf__load_lane(p + 16), x2 = sf__load_lane(p + 32), x3 = sf__load_lane(p + 48);
  x0.lo ^= raw;
  for (p += 64, n -= 64; n >= 64; p += 64, n -= 64) {
    sf__lane_t n0 = sf__load_lane(p), n1 = sf__load_lane(p + 16), n2 = sf__load_lane(p + 32),
               n3 = sf__load_lane(p + 48);
    x0 = sf__fold(x0, c->fold[3], n0.lo, n0.hi);
    x1 = sf__fold(x1, c->fold[3], n1.lo, n1.hi);
    x2 = sf__fold(x2, c->fold[3], n2.lo, n2.hi);
    x3 = sf__fold(x3, c->fold[3], n3.lo, n3.hi);
  }
  /* Lanes 0..2 move 384, 256 and 128 bits forward onto lane 3. */
  sf__lane_t a = sf__fold(x0, c->fold[2], x3.lo, x3.hi);
  sf__lane_t b = sf__fold(x1, c->fold[1], a.lo, a.hi);
  sf__lane_t x = sf__fold(x2, c->fold[0], b.lo, b.hi);
  for (; n >= 16; p += 16, n -= 16) {
    sf__lane_t next = sf__load_lane(p);
    x = sf__fold(x, c->fold[0], next.lo, next.hi);
  }
  /* The lane shrinks to one word with the same remainder (crc_portable.c, finish). */
  uint64_t word = sf__clmul(x.lo & 0xffffffff, c->finish[0]) ^ sf__clmul(x.lo >> 32, c->finish[1]) ^ x.hi;
  return sf__crc_portable_raw(c, sf__crc_word(c, word), p, n);
}

uint32_t sf__crc32c_zbc(uint32_t crc, const void *data, size_t len) {
  return ~sf__crc_zbc_raw(&sf__crc32c_poly, ~crc, data, len);
}

uint32_t sf__crc32_zbc(uint32_t crc, const void *data, size_t len) {
  return ~sf__crc_zbc_raw(&sf__crc32_poly, ~crc, data, len);
}

#endif /* riscv64 */
