/* siphash.c: SipHash-2-4 (Jean-Philippe Aumasson and Daniel J. Bernstein, "SipHash: a fast
 * short-input PRF", 2012), written from the paper for the 64-bit heartbeat packet tag (packet.c).
 * The key and the message are read as little-endian 64-bit words, as the paper defines them, one
 * byte at a time: no unaligned loads and no dependence on the host byte order, so riscv64, arm64 and
 * x86-64 agree. Checked against the paper's Appendix A example and the reference vectors in
 * test/native/heartbeat_packet_test.c. */
#include <stdint.h>

#include "steadfast/heartbeat.h"
#include "../store/bytes.h"

static uint64_t sf__rotl(uint64_t x, int b) {
  return (x << b) | (x >> (64 - b));
}

/* The paper's SipRound (section 2, figure 2). */
#define SF__SIPROUND       \
  do {                     \
    v0 += v1;              \
    v1 = sf__rotl(v1, 13); \
    v1 ^= v0;              \
    v0 = sf__rotl(v0, 32); \
    v2 += v3;              \
    v3 = sf__rotl(v3, 16); \
    v3 ^= v2;              \
    v0 += v3;              \
    v3 = sf__rotl(v3, 21); \
    v3 ^= v0;              \
    v2 += v1;              \
    v1 = sf__rotl(v1, 17); \
    v1 ^= v2;              \
    v2 = sf__rotl(v2, 32); \
  } while (0)

uint64_t sf_siphash24(const uint8_t key[16], const void *data, size_t len) {
  const uint8_t *m = data;
  uint64_t k0 = sf__get64(key), k1 = sf__get64(key + 8);
  /* Initialization: the key XORed with "somepseudorandomlygeneratedbytes". */
  uint64_t v0 = k0 ^ 0x736f6d6570736575ull;
  uint64_t v1 = k1 ^ 0x646f72616e646f6dull;
  uint64_t v2 = k0 ^ 0x6c7967656e657261ull;
  uint64_t v3 = k1 ^ 0x7465646279746573ull;
  size_t whole = len - len % 8;
  for (size_t i = 0; i < whole; i += 8) {
    uint64_t w = sf__get64(m + i);
    v3 ^= w;
    SF__SIPROUND;
    SF__SIPROUND;
    v0 ^= w;
  }
  /* The last word: the remaining 0..7 bytes, zeros, and len mod 256 in the top byte. */
  uint64_t last = (uint64_t)(len & 0xff) << 56;
  for (size_t i = 0; i < len % 8; i++) last |= (uint64_t)m[whole + i] << (8 * i);
  v3 ^= last;
  SF__SIPROUND;
  SF__SIPROUND;
  v0 ^= last;
  /* Finalization: four rounds after XORing 0xff into v2. */
  v2 ^= 0xff;
  SF__SIPROUND;
  SF__SIPROUND;
  SF__SIPROUND;
  SF__SIPROUND;
  return v0 ^ v1 ^ v2 ^ v3;
}
