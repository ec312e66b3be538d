/* sha256.c: SHA-256 (FIPS 180-4, section 6.2) and HMAC-SHA-256 (RFC 2104), written from the
 * specifications for the heartbeat packet tags (packet.c). Portable C11: every word is assembled
 * from bytes in big-endian order as the standard defines it, so the code gives the same result on
 * any host byte order and any alignment. Speed is not the point here (a heartbeat is ~100 bytes);
 * clarity and having no dependency are. Checked against the FIPS/NIST examples and RFC 4231 in
 * test/native/heartbeat_packet_test.c. */
#include <stdint.h>
#include <string.h>

#include "steadfast/heartbeat.h"
#include "../store/bytes.h"
#include "engine_internal.h"

/* FIPS 180-4, section 4.2.2: the first 32 bits of the fractional parts of the cube roots of the
 * first 64 primes. */
static const uint32_t sf__k[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

typedef struct sf__sha256_s {
  uint32_t h[8];
  uint8_t block[64];
  size_t used;    /* bytes in block */
  uint64_t total; /* bytes hashed so far */
} sf__sha256_t;

static uint32_t sf__rotr(uint32_t x, int n) {
  return (x >> n) | (x << (32 - n));
}

/* Section 6.2.2: one 512-bit block. */
static void sf__sha256_block(uint32_t h[8], const uint8_t *p) {
  uint32_t w[64];
  for (int t = 0; t < 16; t++) w[t] = sf__get32be(p + 4 * t);
  for (int t = 16; t < 64; t++) {
    uint32_t s0 = sf__rotr(w[t - 15], 7) ^ sf__rotr(w[t - 15], 18) ^ (w[t - 15] >> 3);
    uint32_t s1 = sf__rotr(w[t - 2], 17) ^ sf__rotr(w[t - 2], 19) ^ (w[t - 2] >> 10);
    w[t] = s1 + w[t - 7] + s0 + w[t - 16];
  }
  uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
  for (int t = 0; t < 64; t++) {
    uint32_t t1 = hh + (sf__rotr(e, 6) ^ sf__rotr(e, 11) ^ sf__rotr(e, 25)) + ((e & f) ^ (~e & g)) + sf__k[t] + w[t];
    uint32_t t2 = (sf__rotr(a, 2) ^ sf__rotr(a, 13) ^ sf__rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
    hh = g;
    g = f;
    f = e;
    e = d + t1;
    d = c;
    c = b;
    b = a;
    a = t1 + t2;
  }
  h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e, h[5] += f, h[6] += g, h[7] += hh;
}

static void sf__sha256_init(sf__sha256_t *s) {
  /* Section 5.3.3: the fractional parts of the square roots of the first 8 primes. */
  static const uint32_t iv[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  memcpy(s->h, iv, sizeof iv);
  s->used = 0;
  s->total = 0;
}

static void sf__sha256_update(sf__sha256_t *s, const void *data, size_t len) {
  const uint8_t *p = data;
  s->total += len;
  while (len > 0) {
    if (s->used == 0 && len >= 64) {
      sf__sha256_block(s->h, p);
      p += 64, len -= 64;
      continue;
    }
    size_t n = 64 - s->used < len ? 64 - s->used : len;
    memcpy(s->block + s->used, p, n);
    s->used += n, p += n, len -= n;
    if (s->used == 64) {
      sf__sha256_block(s->h, s->block);
      s->used = 0;
    }
  }
}

/* Section 5.1.1: a 1 bit, zeros, and the message length in bits as a 64-bit big-endian number. */
static void sf__sha256_final(sf__sha256_t *s, uint8_t out[32]) {
  uint64_t bits = s->total * 8;
  s->block[s->used++] = 0x80;
  if (s->used > 56) {
    memset(s->block + s->used, 0, 64 - s->used);
    sf__sha256_block(s->h, s->block);
    s->used = 0;
  }
  memset(s->block + s->used, 0, 56 - s->used);
  sf__put64be(s->block + 56, bits);
  sf__sha256_block(s->h, s->block);
  for (int i = 0; i < 8; i++) sf__put32be(out + 4 * i, s->h[i]);
}

void sf_sha256(const void *data, size_t len, uint8_t out[32]) {
  sf__sha256_t s;
  sf__sha256_init(&s);
  sf__sha256_update(&s, data, len);
  sf__sha256_final(&s, out);
}

/* RFC 2104, section 2: H(K ^ opad, H(K ^ ipad, text)), with a key longer than the block size (64
 * bytes) first replaced by its hash, and a shorter one padded with zeros. K ^ ipad and K ^ opad are
 * one block each, so the hash states after them depend on the key only: section 4 suggests keeping
 * them, which sf__hb_hmac_prepare does. */
void sf__hb_hmac_prepare(const uint8_t *key, size_t key_len, sf__hb_hmac_key_t *out) {
  uint8_t k[64] = {0}, pad[64];
  if (key_len > 64)
    sf_sha256(key, key_len, k);
  else if (key_len > 0)
    memcpy(k, key, key_len);
  sf__sha256_t s;
  for (int i = 0; i < 64; i++) pad[i] = k[i] ^ 0x36;
  sf__sha256_init(&s);
  sf__sha256_update(&s, pad, 64);
  memcpy(out->inner, s.h, sizeof out->inner);
  for (int i = 0; i < 64; i++) pad[i] = k[i] ^ 0x5c;
  sf__sha256_init(&s);
  sf__sha256_update(&s, pad, 64);
  memcpy(out->outer, s.h, sizeof out->outer);
}

/* The hash continued from a state left after one whole block. */
static void sf__sha256_resume(sf__sha256_t *s, const uint32_t h[8]) {
  memcpy(s->h, h, sizeof s->h);
  s->used = 0;
  s->total = 64;
}

void sf__hb_hmac_prepared(const sf__hb_hmac_key_t *k, const void *data, size_t len, uint8_t out[32]) {
  uint8_t inner[32];
  sf__sha256_t s;
  sf__sha256_resume(&s, k->inner);
  sf__sha256_update(&s, data, len);
  sf__sha256_final(&s, inner);
  sf__sha256_resume(&s, k->outer);
  sf__sha256_update(&s, inner, 32);
  sf__sha256_final(&s, out);
}

void sf_hmac_sha256(const uint8_t *key, size_t key_len, const void *data, size_t len, uint8_t out[32]) {
  sf__hb_hmac_key_t k;
  sf__hb_hmac_prepare(key, key_len, &k);
  sf__hb_hmac_prepared(&k, data, len, out);
}
