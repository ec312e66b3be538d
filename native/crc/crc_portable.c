/* crc_portable.c: the constants every path shares, and the portable slicing-by-8 path.
 *
 * The portable path is the only one on riscv64 cores without carry-less multiply (SiFive U74, T-Head
 * C910, SiFive P550), so it is written for them: it aligns the pointer first and then reads whole
 * 64-bit words, because an unaligned 64-bit load on those boards either traps into firmware or, built
 * for rv64gc, compiles into eight byte loads. At about 5.6 rv64gc instructions per byte it is close to
 * the floor for table lookups without indexed loads (shift, mask, add, load, xor per byte).
 */
#include <stdint.h>

#include "crc_internal.h"
#include "crc_three_way.h"

sf__crc_poly_t sf__crc32c_poly;
sf__crc_poly_t sf__crc32_poly;

/* x^e mod P on the reflected 32-bit register: multiplying by x is a right shift, and when x^31 falls
 * off the end, x^32 is replaced by the rest of P. */
static uint32_t sf__crc_xpow(uint32_t poly, unsigned e) {
  uint32_t r = 0x80000000u; /* x^0 */
  while (e--) r = (r & 1) ? (r >> 1) ^ poly : r >> 1;
  return r;
}

/* Fold multipliers. A 128-bit lane loaded little-endian holds the polynomial L(x) x^64 + H(x), where
 * L is its low 64-bit word (the first eight bytes) and H its high word. Moving the lane D bits
 * forward means multiplying by x^D, and modulo P:
 *     L x^(64 + D) + H x^D  ==  L (x^(D + 63) mod P) x + H (x^(D - 1) mod P) x.
 * A 64 x 64 carry-less multiply of reflected operands yields the product already multiplied by x
 * (bit m of the 128-bit result holds x^(126 - m), where a lane's bit m holds x^(127 - m)), which
 * absorbs the extra factor x. The multipliers are stored with x^t at bit 63 - t, i.e. the reflected
 * 32-bit remainder shifted into the high half of the word. */
static void sf__crc_fold_init(sf__crc_poly_t *c) {
  for (unsigned i = 0; i < SF__CRC_FOLD_MAX; i++) {
    unsigned d = (i + 1) * 128;
    c->fold[i][0] = (uint64_t)sf__crc_xpow(c->poly, d + 63) << 32;
    c->fold[i][1] = (uint64_t)sf__crc_xpow(c->poly, d - 1) << 32;
  }
  /* The last lane X = L1 x^96 + L0 x^64 + H (L1, L0: its first and second four bytes, H: its last
   * eight) has the remainder of Y = L1 (x^96 mod P) + L0 (x^64 mod P) + H, whose degree is below 64:
   * an 8-byte message with the same CRC. L1 and L0 are multiplied as they sit in the low 32 bits of
   * a word (bit i holds x^(31 - i)); with x^t of the multiplier at bit 32 - t, the low 64 bits of
   * the carry-less product hold x^t at bit 63 - t, which is H's layout. */
  c->finish[0] = (uint64_t)sf__crc_xpow(c->poly, 96) << 1;
  c->finish[1] = (uint64_t)sf__crc_xpow(c->poly, 64) << 1;
}

static void sf__crc_table_init(sf__crc_poly_t *c) {
  for (unsigned b = 0; b < 256; b++) {
    uint32_t r = b;
    for (int k = 0; k < 8; k++) r = (r & 1) ? (r >> 1) ^ c->poly : r >> 1;
    c->table[0][b] = r;
  }
  for (unsigned b = 0; b < 256; b++)
    for (int k = 1; k < 8; k++) c->table[k][b] = (c->table[k - 1][b] >> 8) ^ c->table[0][c->table[k - 1][b] & 0xff];
}

/* shift[j][b] = (b << 8j) * x^(8 bytes) mod P. Multiplication is linear, so each table needs only
 * the products for the eight single bits; every other entry is an XOR of two earlier ones. */
static void sf__crc_shift_init(const sf__crc_poly_t *c, uint32_t shift[4][256], uint64_t bytes) {
  uint32_t k = sf__crc_xpow8n(c, bytes);
  for (unsigned j = 0; j < 4; j++) {
    shift[j][0] = 0;
    for (unsigned b = 1; b < 256; b++) {
      unsigned low = b & -b;
      shift[j][b] = b == low ? sf__crc_multiply(c->poly, (uint32_t)b << (8 * j), k) : shift[j][b ^ low] ^ shift[j][low];
    }
  }
}

static void sf__crc_poly_init(sf__crc_poly_t *c, uint32_t poly) {
  c->poly = poly;
  sf__crc_table_init(c);
  sf__crc_fold_init(c);
  c->x2n[0] = sf__crc_xpow(poly, 1);
  for (int k = 1; k < 67; k++) c->x2n[k] = sf__crc_multiply(poly, c->x2n[k - 1], c->x2n[k - 1]);
  sf__crc_shift_init(c, c->shift_long, SF__CRC_BLOCK_LONG);
  sf__crc_shift_init(c, c->shift_short, SF__CRC_BLOCK_SHORT);
}

/* Priority 101: before the dispatcher's constructor and before any default-priority constructor or
 * C++ static initializer of the same binary, so that nothing can compute a CRC with empty tables.
 * It lives here, with the constants, so that a program linking only sf_crc32c_combine() gets it. */
__attribute__((constructor(101))) static void sf__crc_constants_init(void) {
  sf__crc_poly_init(&sf__crc32c_poly, SF__CRC32C_POLY);
  sf__crc_poly_init(&sf__crc32_poly, SF__CRC32_POLY);
}

static inline uint64_t sf__table_step(const sf__crc_poly_t *c, uint64_t raw, uint64_t word) {
  return sf__crc_word(c, word ^ raw);
}

/* Whole words, then the last bytes; p is aligned. */
static inline uint32_t sf__words_then_bytes(const sf__crc_poly_t *c, uint32_t raw, const uint8_t *p, size_t n) {
  for (; n >= 8; p += 8, n -= 8) raw = sf__crc_word(c, sf__load64(__builtin_assume_aligned(p, 8)) ^ raw);
  while (n--) raw = (raw >> 8) ^ c->table[0][(raw ^ *p++) & 0xff];
  return raw;
}

/* Inputs long enough for the 3-way blocks (crc_three_way.h). Kept out of line and reached by a tail
 * call: its register pressure would otherwise make every call, short ones included, save and restore
 * a dozen registers. */
__attribute__((noinline)) static uint32_t sf__crc_portable_long(const sf__crc_poly_t *c, uint32_t raw, const uint8_t *p,
                                                                size_t n) {
  raw = sf__crc_three_way_blocks(c, sf__table_step, raw, &p, &n);
  return sf__words_then_bytes(c, raw, p, n);
}

uint32_t sf__crc_portable_raw(const sf__crc_poly_t *c, uint32_t raw, const uint8_t *p, size_t n) {
  while (n && ((uintptr_t)p & 7)) {
    raw = (raw >> 8) ^ c->table[0][(raw ^ *p++) & 0xff];
    n--;
  }
  if (n >= 3 * SF__CRC_BLOCK_SHORT) return sf__crc_portable_long(c, raw, p, n);
  return sf__words_then_bytes(c, raw, p, n);
}

uint32_t sf__crc32c_portable(uint32_t crc, const void *data, size_t len) {
  return ~sf__crc_portable_raw(&sf__crc32c_poly, ~crc, data, len);
}

uint32_t sf__crc32_portable(uint32_t crc, const void *data, size_t len) {
  return ~sf__crc_portable_raw(&sf__crc32_poly, ~crc, data, len);
}
