/* fuzz_packet.c: libFuzzer target for sf_hb_packet_decode, the one parser of untrusted heartbeat
 * datagrams (docs/protocol.md). Each input is decoded from a heap buffer of exactly its size, so
 * AddressSanitizer reports any read past the end, by three receivers: one without keys (CRC-32C only),
 * one holding an HMAC-SHA-256 key and one holding a SipHash-2-4 key (the keys of the worked examples:
 * id 1 = bytes 00..1f, id 2 = bytes 00..0f). Then it is decoded again with its tag recomputed for the
 * scheme byte it carries, so that mutations of lengths, ids and types get past the tag and reach the
 * checks behind it. The result must agree with itself: an error is one of the three decode errors, and
 * an accepted packet re-encodes to exactly the input bytes (one encoding per packet) and decodes back
 * to the same fields. Seeds: fuzz/corpus/packet (written by `heartbeat_packet_test --write-corpus <dir>`). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "steadfast/crc.h"
#include "steadfast/heartbeat.h"

static sf_hb_key_t keys[2];

static void init_keys(void) {
  if (keys[0].len != 0) return;
  keys[0].id = 1, keys[0].auth = SF_HB_AUTH_HMAC_SHA256, keys[0].len = 32;
  for (int i = 0; i < 32; i++) keys[0].bytes[i] = (uint8_t)i;
  keys[1].id = 2, keys[1].auth = SF_HB_AUTH_SIPHASH24, keys[1].len = 16;
  for (int i = 0; i < 16; i++) keys[1].bytes[i] = (uint8_t)i;
}

static int same(const sf_hb_packet_t *a, const sf_hb_packet_t *b) {
  return a->version == b->version && a->type == b->type && a->auth == b->auth && a->key_id == b->key_id &&
         a->flags == b->flags && strcmp(a->sender, b->sender) == 0 && a->incarnation == b->incarnation &&
         a->seq == b->seq && a->send_time == b->send_time && a->lag_us == b->lag_us &&
         a->interval_ms == b->interval_ms && a->rtt_us == b->rtt_us && strcmp(a->target, b->target) == 0 &&
         a->probe_id == b->probe_id && a->echo_time == b->echo_time;
}

/* Decodes bytes[0, size) with keys[0, nkeys) (key: the one that signs, NULL for CRC-32C). */
static void check(const uint8_t *bytes, size_t size, const sf_hb_key_t *keyset, size_t nkeys) {
  sf_hb_packet_t p;
  int rc = sf_hb_packet_decode(bytes, size, keyset, nkeys, &p);
  if (rc != 0) {
    if (rc != SF_EMALFORMED && rc != SF_EPROTO_VERSION && rc != SF_EAUTH) abort();
    return;
  }
  /* Accepted: the fields are within their documented bounds ... */
  if (p.version != SF_HB_PROTOCOL_VERSION || p.type < SF_HB_BEAT || p.type > SF_HB_PING_ACK) abort();
  size_t sl = strlen(p.sender), tl = strlen(p.target);
  if (sl < 1 || sl > SF_HB_MAX_ID || tl > SF_HB_MAX_ID || size > SF_HB_MAX_PACKET) abort();
  if (nkeys == 0 ? p.auth != SF_HB_AUTH_CRC32C || p.key_id != 0 : p.auth == SF_HB_AUTH_CRC32C) abort();
  /* ... and re-encoding gives back the very same bytes, which decode to the same fields. */
  const sf_hb_key_t *key = NULL;
  for (size_t i = 0; i < nkeys; i++)
    if (keyset[i].id == p.key_id) key = &keyset[i];
  if (nkeys != 0 && key == NULL) abort();
  uint8_t *out = malloc(size);
  if (out == NULL) return;
  int n = sf_hb_packet_encode(&p, key, out, size);
  if (n < 0 || (size_t)n != size || memcmp(out, bytes, size) != 0) abort();
  sf_hb_packet_t q;
  if (sf_hb_packet_decode(out, size, keyset, nkeys, &q) != 0 || !same(&p, &q)) abort();
  free(out);
}

static void check_all(const uint8_t *bytes, size_t size) {
  check(bytes, size, NULL, 0);
  check(bytes, size, &keys[0], 1);
  check(bytes, size, &keys[1], 1);
  check(bytes, size, keys, 2);
}

/* Rewrites the tag at the end of buf for the scheme its byte 6 names (with the fuzz keys), as a
 * sender holding those keys would have computed it over the bytes before it. */
static void reseal(uint8_t *buf, size_t size) {
  uint8_t auth = buf[6];
  if (auth == SF_HB_AUTH_CRC32C && size >= 4) {
    uint32_t c = sf_crc32c(0, buf, size - 4);
    for (int i = 0; i < 4; i++) buf[size - 4 + (size_t)i] = (uint8_t)(c >> (24 - 8 * i));
  } else if (auth == SF_HB_AUTH_HMAC_SHA256 && size >= 16) {
    uint8_t mac[32];
    sf_hmac_sha256(keys[0].bytes, keys[0].len, buf, size - 16, mac);
    memcpy(buf + size - 16, mac, 16);
  } else if (auth == SF_HB_AUTH_SIPHASH24 && size >= 8) {
    uint64_t h = sf_siphash24(keys[1].bytes, buf, size - 8);
    for (int i = 0; i < 8; i++) buf[size - 8 + (size_t)i] = (uint8_t)(h >> (8 * i));
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  init_keys();
  uint8_t *copy = malloc(size ? size : 1);
  if (copy == NULL) return 0;
  if (size) memcpy(copy, data, size);
  check_all(copy, size);
  if (size >= 48) {
    reseal(copy, size);
    check_all(copy, size);
  }
  free(copy);
  return 0;
}
