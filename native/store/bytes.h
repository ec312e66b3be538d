/* bytes.h: integer field access in both byte orders. Little-endian (sf__get32, sf__put64, ...) for the
 * on-disk formats (docs/format.md: "Every integer is little-endian"), shared by checkpoint.c and log.c,
 * and for SipHash's words (heartbeat/siphash.c); big-endian (sf__get32be, sf__put64be, ...) for the
 * heartbeat wire format (docs/protocol.md) and SHA-256's words (heartbeat/packet.c, sha256.c). Byte by
 * byte, so any alignment and any host byte order work; compilers turn these into single loads and
 * stores. */
#ifndef STEADFAST_STORE_BYTES_H
#define STEADFAST_STORE_BYTES_H

#include <stdint.h>

/* ---- Little-endian --------------------------------------------------------------------------------- */

static inline uint16_t sf__get16(const uint8_t *p) {
  return (uint16_t)(p[0] | (p[1] << 8));
}
static inline uint32_t sf__get32(const uint8_t *p) {
  return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static inline uint64_t sf__get64(const uint8_t *p) {
  return (uint64_t)sf__get32(p) | ((uint64_t)sf__get32(p + 4) << 32);
}
static inline void sf__put16(uint8_t *p, uint16_t v) {
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
}
static inline void sf__put32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static inline void sf__put64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* ---- Big-endian (network byte order) ------------------------------------------------------------- */

static inline uint16_t sf__get16be(const uint8_t *p) {
  return (uint16_t)(p[0] << 8 | p[1]);
}
static inline uint32_t sf__get32be(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline uint64_t sf__get64be(const uint8_t *p) {
  return (uint64_t)sf__get32be(p) << 32 | sf__get32be(p + 4);
}
static inline void sf__put16be(uint8_t *p, uint16_t v) {
  p[0] = (uint8_t)(v >> 8);
  p[1] = (uint8_t)v;
}
static inline void sf__put32be(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (24 - 8 * i));
}
static inline void sf__put64be(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (56 - 8 * i));
}

#endif /* STEADFAST_STORE_BYTES_H */
