/* packet.c: the heartbeat wire format (docs/protocol.md): sf_hb_packet_encode, sf_hb_packet_decode
 * and sf_hb_error_name. Every integer is big-endian and read or written byte by byte, so the code
 * has no alignment or byte-order assumption. Decoding is the only place untrusted bytes are parsed:
 * every offset is checked against the datagram's length before it is read, every length against
 * its bound, and the packet must be exactly as long as its fields say (no trailing bytes), so each
 * valid packet has one encoding and decode(encode(p)) == p (fuzz/fuzz_packet.c checks it). Tags are
 * compared in constant time. */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "steadfast/crc.h"
#include "steadfast/heartbeat.h"
#include "steadfast/store.h" /* sf_store_error_name: the errno names */
#include "../store/bytes.h"
#include "engine_internal.h"
#include "packet_internal.h"

static const uint8_t sf__magic[4] = {'S', 'F', 'H', 'B'};

static int sf__has_body(uint8_t type) {
  return type == SF_HB_ACK || type == SF_HB_PING || type == SF_HB_PING_REQ || type == SF_HB_PING_ACK;
}

/* PING_REQ and PING_ACK are about a member, so they must name it; ACK and PING may name one. */
static size_t sf__min_target(uint8_t type) {
  return type == SF_HB_PING_REQ || type == SF_HB_PING_ACK ? 1 : 0;
}

static size_t sf__tag_len(uint8_t auth) {
  switch (auth) {
    case SF_HB_AUTH_CRC32C:
      return 4;
    case SF_HB_AUTH_HMAC_SHA256:
      return 16;
    case SF_HB_AUTH_SIPHASH24:
      return 8;
  }
  return 0;
}

/* A key this code can use: HMAC keys of 16..64 bytes (RFC 2104 section 3 advises no less than the
 * 32-byte output; 16 bytes, 128 bits, is the floor we accept), SipHash keys of exactly 16. */
int sf__hb_key_ok(const sf_hb_key_t *k) {
  if (k->auth == SF_HB_AUTH_HMAC_SHA256) return k->len >= 16 && k->len <= SF_HB_MAX_KEY_LEN;
  if (k->auth == SF_HB_AUTH_SIPHASH24) return k->len == 16;
  return 0;
}

/* Node ids are 1..64 bytes of well-formed UTF-8 without NUL (RFC 3629: no overlong forms, no
 * surrogates, nothing above U+10FFFF), so that JS decodes each id to exactly one string and two
 * different ids never decode to the same one. min is 0 or 1. */
int sf__hb_id_ok(const uint8_t *s, size_t n, size_t min) {
  if (n < min || n > SF_HB_MAX_ID) return 0;
  size_t i = 0;
  while (i < n) {
    uint8_t c = s[i];
    size_t extra;
    uint32_t cp;
    if (c == 0) return 0;
    if (c < 0x80) {
      i++;
      continue;
    } else if (c >= 0xc2 && c <= 0xdf) {
      extra = 1, cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
      extra = 2, cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      extra = 3, cp = c & 0x07;
    } else {
      return 0;
    }
    if (n - i - 1 < extra) return 0;
    for (size_t j = 1; j <= extra; j++) {
      if ((s[i + j] & 0xc0) != 0x80) return 0;
      cp = cp << 6 | (s[i + j] & 0x3f);
    }
    if ((extra == 2 && cp < 0x800) || (extra == 3 && (cp < 0x10000 || cp > 0x10ffff)) || (cp >= 0xd800 && cp <= 0xdfff))
      return 0;
    i += extra + 1;
  }
  return 1;
}

/* strnlen (POSIX, not C11) of an id field: 65 means "not terminated within the field". */
size_t sf__hb_id_len(const char *s) {
  size_t n = 0;
  while (n < SF_HB_MAX_ID + 1 && s[n] != '\0') n++;
  return n;
}

/* The tag of buf[0, len) under auth/key, tag_len bytes (sf__tag_len); prepared: key's HMAC schedule,
 * or NULL. */
static void sf__tag(uint8_t auth, const sf_hb_key_t *key, const sf__hb_hmac_key_t *prepared, const uint8_t *buf,
                    size_t len, uint8_t *tag) {
  if (auth == SF_HB_AUTH_CRC32C) {
    sf__put32be(tag, sf_crc32c(0, buf, len));
  } else if (auth == SF_HB_AUTH_HMAC_SHA256) {
    uint8_t mac[32];
    if (prepared != NULL)
      sf__hb_hmac_prepared(prepared, buf, len, mac);
    else
      sf_hmac_sha256(key->bytes, key->len, buf, len, mac);
    memcpy(tag, mac, 16); /* RFC 2104 section 5: the leftmost bits */
  } else {
    /* The 64-bit result as the reference implementation outputs it, least significant byte first,
     * so the tag bytes equal the published byte vectors. */
    sf__put64(tag, sf_siphash24(key->bytes, buf, len));
  }
}

int sf_hb_packet_encode(const sf_hb_packet_t *p, const sf_hb_key_t *key, uint8_t *buf, size_t cap) {
  return sf__hb_packet_encode_prepared(p, key, NULL, buf, cap);
}

int sf__hb_packet_encode_prepared(const sf_hb_packet_t *p, const sf_hb_key_t *key, const sf__hb_hmac_key_t *prepared,
                                  uint8_t *buf, size_t cap) {
  uint8_t auth = SF_HB_AUTH_CRC32C, key_id = 0;
  if (key != NULL) {
    if (!sf__hb_key_ok(key)) return -EINVAL;
    auth = (uint8_t)key->auth, key_id = key->id;
  }
  if (p->type < SF_HB_BEAT || p->type > SF_HB_PING_ACK) return SF_EMALFORMED;
  size_t sender_len = sf__hb_id_len(p->sender);
  if (!sf__hb_id_ok((const uint8_t *)p->sender, sender_len, 1)) return SF_EMALFORMED;
  size_t target_len = 0, body = 0;
  if (sf__has_body(p->type)) {
    target_len = sf__hb_id_len(p->target);
    if (!sf__hb_id_ok((const uint8_t *)p->target, target_len, sf__min_target(p->type))) return SF_EMALFORMED;
    body = SF__BODY_FIXED + target_len;
  }
  size_t tag_off = SF__HEADER + sender_len + body, total = tag_off + sf__tag_len(auth);
  if (total > cap) return -ENOSPC;

  memcpy(buf + SF__OFF_MAGIC, sf__magic, 4);
  buf[SF__OFF_VERSION] = SF_HB_PROTOCOL_VERSION;
  buf[SF__OFF_TYPE] = p->type;
  buf[SF__OFF_AUTH] = auth;
  buf[SF__OFF_KEY_ID] = key_id;
  sf__put16be(buf + SF__OFF_LENGTH, (uint16_t)total);
  buf[SF__OFF_SENDER_LEN] = (uint8_t)sender_len;
  buf[SF__OFF_FLAGS] = p->flags;
  sf__put64be(buf + SF__OFF_INCARNATION, p->incarnation);
  sf__put64be(buf + SF__OFF_SEQ, p->seq);
  sf__put64be(buf + SF__OFF_SEND_TIME, p->send_time);
  sf__put32be(buf + SF__OFF_LAG, p->lag_us);
  sf__put32be(buf + SF__OFF_INTERVAL, p->interval_ms);
  sf__put32be(buf + SF__OFF_RTT, p->rtt_us);
  memcpy(buf + SF__HEADER, p->sender, sender_len);
  if (body) {
    uint8_t *b = buf + SF__HEADER + sender_len;
    b[0] = (uint8_t)target_len;
    memcpy(b + 1, p->target, target_len);
    sf__put64be(b + 1 + target_len, p->probe_id);
    sf__put64be(b + 9 + target_len, p->echo_time);
  }
  sf__tag(auth, key, auth == SF_HB_AUTH_HMAC_SHA256 ? prepared : NULL, buf, tag_off, buf + tag_off);
  return (int)total;
}

/* The index of the key that verifies a packet of (auth, key_id), or -1. */
static int sf__find_key(const sf_hb_key_t *keys, size_t nkeys, uint8_t auth, uint8_t key_id) {
  for (size_t i = 0; i < nkeys; i++)
    if (keys[i].id == key_id) return keys[i].auth == auth && sf__hb_key_ok(&keys[i]) ? (int)i : -1;
  return -1;
}

int sf_hb_packet_decode(const uint8_t *buf, size_t len, const sf_hb_key_t *keys, size_t nkeys, sf_hb_packet_t *out) {
  return sf__hb_packet_decode_prepared(buf, len, keys, NULL, nkeys, out);
}

int sf__hb_packet_decode_prepared(const uint8_t *buf, size_t len, const sf_hb_key_t *keys,
                                  const sf__hb_hmac_key_t *prepared, size_t nkeys, sf_hb_packet_t *out) {
  /* Steps 1-4: big enough for the header, ours, and exactly as long as it says. */
  if (len < SF__HEADER) return SF_EMALFORMED;
  if (memcmp(buf + SF__OFF_MAGIC, sf__magic, 4) != 0) return SF_EPROTO_VERSION;
  if (buf[SF__OFF_VERSION] != SF_HB_PROTOCOL_VERSION) return SF_EPROTO_VERSION;
  if (sf__get16be(buf + SF__OFF_LENGTH) != len) return SF_EMALFORMED;

  /* Steps 5-7: a known type, a known scheme, and lengths that add up to the datagram exactly. */
  uint8_t type = buf[SF__OFF_TYPE], auth = buf[SF__OFF_AUTH], key_id = buf[SF__OFF_KEY_ID];
  if (type < SF_HB_BEAT || type > SF_HB_PING_ACK) return SF_EMALFORMED;
  size_t tag_len = sf__tag_len(auth);
  if (tag_len == 0) return SF_EAUTH;
  size_t sender_len = buf[SF__OFF_SENDER_LEN];
  if (sender_len < 1 || sender_len > SF_HB_MAX_ID) return SF_EMALFORMED;
  size_t tag_off = SF__HEADER + sender_len, target_len = 0;
  if (sf__has_body(type)) {
    if (tag_off >= len) return SF_EMALFORMED; /* the target length byte itself is missing */
    target_len = buf[tag_off];
    if (target_len > SF_HB_MAX_ID) return SF_EMALFORMED;
    tag_off += SF__BODY_FIXED + target_len;
  }
  if (tag_off + tag_len != len) return SF_EMALFORMED;

  /* Step 8: ids a JS string can hold faithfully. */
  const uint8_t *sender = buf + SF__HEADER, *body = sender + sender_len;
  if (!sf__hb_id_ok(sender, sender_len, 1)) return SF_EMALFORMED;
  if (sf__has_body(type) && !sf__hb_id_ok(body + 1, target_len, sf__min_target(type))) return SF_EMALFORMED;

  /* Step 9: a scheme and key this receiver accepts. Without keys, only CRC-32C (key id 0): a MAC'd
   * packet cannot be checked, so it is not trusted. With keys, never CRC-32C: anyone can compute it. */
  const sf_hb_key_t *key = NULL;
  const sf__hb_hmac_key_t *schedule = NULL;
  if (nkeys == 0) {
    if (auth != SF_HB_AUTH_CRC32C || key_id != 0) return SF_EAUTH;
  } else {
    if (auth == SF_HB_AUTH_CRC32C) return SF_EAUTH;
    int k = sf__find_key(keys, nkeys, auth, key_id);
    if (k < 0) return SF_EAUTH;
    key = &keys[k];
    if (prepared != NULL && auth == SF_HB_AUTH_HMAC_SHA256) schedule = &prepared[k];
  }

  /* Step 10: the tag, compared without an early exit so the time taken tells nothing of where the
   * first wrong byte is. */
  uint8_t want[16];
  sf__tag(auth, key, schedule, buf, tag_off, want);
  uint8_t diff = 0;
  for (size_t i = 0; i < tag_len; i++) diff |= (uint8_t)(want[i] ^ buf[tag_off + i]);
  if (diff != 0) return SF_EAUTH;

  memset(out, 0, sizeof *out);
  out->version = buf[SF__OFF_VERSION];
  out->type = type;
  out->auth = auth;
  out->key_id = key_id;
  out->flags = buf[SF__OFF_FLAGS];
  memcpy(out->sender, sender, sender_len);
  out->incarnation = sf__get64be(buf + SF__OFF_INCARNATION);
  out->seq = sf__get64be(buf + SF__OFF_SEQ);
  out->send_time = sf__get64be(buf + SF__OFF_SEND_TIME);
  out->lag_us = sf__get32be(buf + SF__OFF_LAG);
  out->interval_ms = sf__get32be(buf + SF__OFF_INTERVAL);
  out->rtt_us = sf__get32be(buf + SF__OFF_RTT);
  if (sf__has_body(type)) {
    memcpy(out->target, body + 1, target_len);
    out->probe_id = sf__get64be(body + 1 + target_len);
    out->echo_time = sf__get64be(body + 9 + target_len);
  }
  return 0;
}

const char *sf_hb_error_name(int code) {
  switch (code) {
    case SF_EMALFORMED:
      return "SF_MALFORMED";
    case SF_EPROTO_VERSION:
      return "SF_PROTO_VERSION";
    case SF_EAUTH:
      return "SF_AUTH";
    case SF_EREPLAY:
      return "SF_REPLAY";
  }
  /* 0 and errno values: one table for all the native code. */
  return sf_store_error_name(code);
}
