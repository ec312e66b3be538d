/* heartbeat_packet_test.c: the heartbeat wire format and its primitives (native/heartbeat/{sha256.c,
 * siphash.c, packet.c, replay.c}), one behaviour per test: SHA-256, HMAC-SHA-256 and SipHash-2-4
 * against their published vectors; round trips of every packet type under every authentication
 * scheme; the byte layout read back at the offsets docs/protocol.md documents; the worked examples of
 * docs/protocol.md byte for byte; every truncation and every single-bit flip refused; each decode
 * step's error; and the anti-replay window. Every decode reads from a heap buffer of exactly the
 * datagram's size, so AddressSanitizer catches any read past the end. Prints "N passed, N failed".
 *
 * `heartbeat_packet_test --write-corpus <dir>` writes the fuzz seeds (fuzz/corpus/packet) instead. */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "steadfast/crc.h"
#include "steadfast/heartbeat.h"
#include "../../native/heartbeat/replay.h"

#include "expect.h"

/* ---- Helpers -------------------------------------------------------------------------------------- */

static size_t from_hex(const char *hex, uint8_t *out, size_t cap) {
  size_t n = 0;
  for (const char *p = hex; p[0] != '\0' && p[1] != '\0' && n < cap; p += 2) {
    unsigned v;
    if (sscanf(p, "%2x", &v) != 1) break;
    out[n++] = (uint8_t)v;
  }
  return n;
}

static void to_hex(const uint8_t *b, size_t n, char *out) {
  for (size_t i = 0; i < n; i++) sprintf(out + 2 * i, "%02x", b[i]);
  out[2 * n] = '\0';
}

static int hex_equal(const uint8_t *b, size_t n, const char *hex) {
  char got[2 * SF_HB_MAX_PACKET + 1];
  if (n > SF_HB_MAX_PACKET) return 0;
  to_hex(b, n, got);
  return strcmp(got, hex) == 0;
}

static uint64_t be(const uint8_t *p, int n) {
  uint64_t v = 0;
  for (int i = 0; i < n; i++) v = v << 8 | p[i];
  return v;
}

/* Decodes a copy of buf[0, len) held in a heap block of exactly len bytes. */
static int decode_exact(const uint8_t *buf, size_t len, const sf_hb_key_t *keys, size_t nkeys, sf_hb_packet_t *out) {
  uint8_t *copy = malloc(len ? len : 1);
  if (len) memcpy(copy, buf, len);
  sf_hb_packet_t scratch;
  int rc = sf_hb_packet_decode(len ? copy : copy + 1, len, keys, nkeys, out ? out : &scratch);
  free(copy);
  return rc;
}

/* The keys used throughout, also by the worked examples of docs/protocol.md and fuzz/fuzz_packet.c:
 * HMAC-SHA-256 key id 1 = bytes 00 01 .. 1f; SipHash-2-4 key id 2 = bytes 00 01 .. 0f. */
static sf_hb_key_t hmac_key, sip_key;

static void init_keys(void) {
  memset(&hmac_key, 0, sizeof hmac_key);
  hmac_key.id = 1, hmac_key.auth = SF_HB_AUTH_HMAC_SHA256, hmac_key.len = 32;
  for (int i = 0; i < 32; i++) hmac_key.bytes[i] = (uint8_t)i;
  memset(&sip_key, 0, sizeof sip_key);
  sip_key.id = 2, sip_key.auth = SF_HB_AUTH_SIPHASH24, sip_key.len = 16;
  for (int i = 0; i < 16; i++) sip_key.bytes[i] = (uint8_t)i;
}

/* The three schemes: the key to encode with (NULL: CRC-32C), the keys a receiver holds. */
typedef struct scheme_s {
  const char *name;
  const sf_hb_key_t *key;
  size_t nkeys;
  size_t tag_len;
} scheme_t;

static scheme_t schemes[3];

static void init_schemes(void) {
  schemes[0] = (scheme_t){"crc32c", NULL, 0, 4};
  schemes[1] = (scheme_t){"hmac-sha256", &hmac_key, 1, 16};
  schemes[2] = (scheme_t){"siphash-2-4", &sip_key, 1, 8};
}

static const uint8_t all_types[] = {SF_HB_BEAT, SF_HB_ACK, SF_HB_PING_REQ, SF_HB_PING, SF_HB_PING_ACK};

static int has_body(uint8_t type) {
  return type != SF_HB_BEAT;
}

/* A packet of `type` with every field set to something distinct (and with big values, so a field
 * written short or at the wrong offset shows). */
static sf_hb_packet_t sample(uint8_t type) {
  sf_hb_packet_t p;
  memset(&p, 0, sizeof p);
  p.type = type;
  p.flags = type == SF_HB_BEAT ? SF_HB_FLAG_WANT_ACK : 0;
  strcpy(p.sender, "node-\xc3\xa9t\xc3\xa9-\xe2\x9c\x93"); /* "node-été-✓": multi-byte UTF-8 */
  p.incarnation = 0x1122334455667788ull;
  p.seq = 0x8877665544332211ull;
  p.send_time = 0xfedcba9876543210ull;
  p.lag_us = 0xa1b2c3d4u;
  p.interval_ms = 0x000186a0u;
  p.rtt_us = 0x0badf00du;
  if (has_body(type)) {
    if (type == SF_HB_PING_REQ || type == SF_HB_PING_ACK) strcpy(p.target, "target-7");
    p.probe_id = 0x0102030405060708ull;
    p.echo_time = 0xf0e0d0c0b0a09080ull;
  }
  return p;
}

static int same_packet(const sf_hb_packet_t *a, const sf_hb_packet_t *b) {
  return a->type == b->type && a->flags == b->flags && strcmp(a->sender, b->sender) == 0 &&
         a->incarnation == b->incarnation && a->seq == b->seq && a->send_time == b->send_time &&
         a->lag_us == b->lag_us && a->interval_ms == b->interval_ms && a->rtt_us == b->rtt_us &&
         strcmp(a->target, b->target) == 0 && a->probe_id == b->probe_id && a->echo_time == b->echo_time;
}

/* Recomputes the CRC-32C tag of a CRC packet after a test edited it, so that the edit, not the tag,
 * is what decode must refuse. Uses the length the edited buffer really has. */
static void reseal_crc(uint8_t *buf, size_t len) {
  uint32_t c = sf_crc32c(0, buf, len - 4);
  for (size_t i = 0; i < 4; i++) buf[len - 4 + i] = (uint8_t)(c >> (24 - 8 * i));
}

/* ---- Primitives: SHA-256 -------------------------------------------------------------------------- */

static void test_sha256_matches_the_fips_180_4_examples(void) {
  current = "sha256 FIPS 180-4 examples";
  /* FIPS 180-4 / NIST CSRC "Examples with intermediate values" (SHA256.pdf, SHA2_Additional.pdf). */
  static const struct {
    const char *msg;
    const char *digest;
  } v[] = {
      {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
      {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
      {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
       "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
      {"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopq"
       "rstu",
       "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"},
  };
  for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
    uint8_t d[32];
    sf_sha256(v[i].msg, strlen(v[i].msg), d);
    expect(hex_equal(d, 32, v[i].digest), "SHA-256 of \"%s\"", v[i].msg);
  }
  char *million = malloc(1000000);
  memset(million, 'a', 1000000);
  uint8_t d[32];
  sf_sha256(million, 1000000, d);
  expect(hex_equal(d, 32, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"),
         "SHA-256 of one million 'a'");
  free(million);
}

static void test_sha256_pads_correctly_at_every_block_boundary(void) {
  current = "sha256 padding edges";
  /* 55 bytes is the longest message whose padding fits its block; 56..63 need a second block; 64 is
   * exactly one. Digests of n 'a' bytes from an independent implementation (Python hashlib). */
  static const struct {
    size_t n;
    const char *digest;
  } v[] = {
      {55, "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318"},
      {56, "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a"},
      {57, "f13b2d724659eb3bf47f2dd6af1accc87b81f09f59f2b75e5c0bed6589dfe8c6"},
      {63, "7d3e74a05d7db15bce4ad9ec0658ea98e3f06eeecf16b4c6fff2da457ddc2f34"},
      {64, "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb"},
      {65, "635361c48bb9eab14198e76ea8ab7f1a41685d6ad62aa9146d301d4f17eb0ae0"},
      {119, "31eba51c313a5c08226adf18d4a359cfdfd8d2e816b13f4af952f7ea6584dcfb"},
      {120, "2f3d335432c70b580af0e8e1b3674a7c020d683aa5f73aaaedfdc55af904c21c"},
      {128, "6836cf13bac400e9105071cd6af47084dfacad4e5e302c94bfed24e013afb73e"},
  };
  char buf[129];
  memset(buf, 'a', sizeof buf);
  for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
    uint8_t d[32];
    /* From an odd address too: the code must not depend on alignment. */
    char *odd = malloc(v[i].n + 1);
    memcpy(odd + 1, buf, v[i].n);
    sf_sha256(odd + 1, v[i].n, d);
    expect(hex_equal(d, 32, v[i].digest), "SHA-256 of %zu 'a' bytes", v[i].n);
    free(odd);
  }
}

static void test_hmac_sha256_matches_rfc_4231(void) {
  current = "hmac-sha256 RFC 4231";
  /* RFC 4231, section 4, test cases 1-7 (case 5 is checked truncated to 128 bits, as published). */
  uint8_t k1[20], k3[20], k4[25], k5[20], k6[131], d3[50], d4[50];
  memset(k1, 0x0b, 20);
  memset(k3, 0xaa, 20);
  for (int i = 0; i < 25; i++) k4[i] = (uint8_t)(i + 1);
  memset(k5, 0x0c, 20);
  memset(k6, 0xaa, 131);
  memset(d3, 0xdd, 50);
  memset(d4, 0xcd, 50);
  static const char *m6 = "Test Using Larger Than Block-Size Key - Hash Key First";
  static const char *m7 =
      "This is a test using a larger than block-size key and a larger than block-size data. The key needs to be "
      "hashed before being used by the HMAC algorithm.";
  const struct {
    const uint8_t *key;
    size_t key_len;
    const void *data;
    size_t len;
    size_t out_len;
    const char *mac;
  } v[] = {
      {k1, 20, "Hi There", 8, 32, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"},
      {(const uint8_t *)"Jefe", 4, "what do ya want for nothing?", 28, 32,
       "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
      {k3, 20, d3, 50, 32, "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"},
      {k4, 25, d4, 50, 32, "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"},
      {k5, 20, "Test With Truncation", 20, 16, "a3b6167473100ee06e0c796c2955552b"},
      {k6, 131, m6, strlen(m6), 32, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"},
      {k6, 131, m7, strlen(m7), 32, "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"},
  };
  for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
    uint8_t mac[32];
    sf_hmac_sha256(v[i].key, v[i].key_len, v[i].data, v[i].len, mac);
    expect(hex_equal(mac, v[i].out_len, v[i].mac), "RFC 4231 test case %zu", i + 1);
  }
}

/* ---- Primitives: SipHash-2-4 ---------------------------------------------------------------------- */

/* The reference implementation's vectors_sip64 (github.com/veorq/SipHash, vectors.h): SipHash-2-4
 * with key 00 01 .. 0f of the messages (), (00), (00 01), ..., (00 .. 3e), each output as its 8 bytes
 * least significant first. */
static const char *sip64_vectors[64] = {
    "310e0edd47db6f72", "fd67dc93c539f874", "5a4fa9d909806c0d", "2d7efbd796666785", "b7877127e09427cf",
    "8da699cd64557618", "cee3fe586e46c9cb", "37d1018bf50002ab", "6224939a79f5f593", "b0e4a90bdf82009e",
    "f3b9dd94c5bb5d7a", "a7ad6b22462fb3f4", "fbe50e86bc8f1e75", "903d84c02756ea14", "eef27a8e90ca23f7",
    "e545be4961ca29a1", "db9bc2577fcc2a3f", "9447be2cf5e99a69", "9cd38d96f0b3c14b", "bd6179a71dc96dbb",
    "98eea21af25cd6be", "c7673b2eb0cbf2d0", "883ea3e395675393", "c8ce5ccd8c030ca8", "94af49f6c650adb8",
    "eab8858ade92e1bc", "f315bb5bb835d817", "adcf6b0763612e2f", "a5c91da7acaa4dde", "716595876650a2a6",
    "28ef495c53a387ad", "42c341d8fa92d832", "ce7cf2722f512771", "e37859f94623f3a7", "381205bb1ab0e012",
    "ae97a10fd434e015", "b4a31508beff4d31", "81396229f0907902", "4d0cf49ee5d4dcca", "5c73336a76d8bf9a",
    "d0a704536ba93e0e", "925958fcd6420cad", "a915c29bc8067318", "952b79f3bc0aa6d4", "f21df2e41d4535f9",
    "87577519048f53a9", "10a56cf5dfcd9adb", "eb75095ccd986cd0", "51a9cb9ecba312e6", "96afadfc2ce666c7",
    "72fe52975a4364ee", "5a1645b276d592a1", "b274cb8ebf87870a", "6f9bb4203de7b381", "eaecb2a30b22a87f",
    "9924a43cc1315724", "bd838d3aafbf8db7", "0b1a2a3265d51aea", "135079a3231ce660", "932b2846e4d70666",
    "e1915f5cb1eca46c", "f325965ca16d629f", "575ff28e60381be5", "724506eb4c328a95"};

static void test_siphash24_matches_the_paper_example(void) {
  current = "siphash paper example";
  /* Aumasson and Bernstein, "SipHash: a fast short-input PRF", Appendix A: key 00 .. 0f, message
   * 00 .. 0e (15 bytes), output a129ca6149be45e5. */
  uint8_t key[16], msg[15];
  for (int i = 0; i < 16; i++) key[i] = (uint8_t)i;
  for (int i = 0; i < 15; i++) msg[i] = (uint8_t)i;
  uint64_t h = sf_siphash24(key, msg, 15);
  expect(h == 0xa129ca6149be45e5ull, "SipHash-2-4 of the Appendix A message is %016" PRIx64, h);
}

static void test_siphash24_matches_the_64_reference_vectors(void) {
  current = "siphash reference vectors";
  uint8_t key[16], msg[64 + 1];
  for (int i = 0; i < 16; i++) key[i] = (uint8_t)i;
  for (int i = 0; i < 64; i++) msg[1 + i] = (uint8_t)i;
  for (size_t len = 0; len < 64; len++) {
    /* The message starts at an odd address: words are assembled byte by byte, never loaded. */
    uint64_t h = sf_siphash24(key, msg + 1, len);
    uint8_t out[8];
    for (int i = 0; i < 8; i++) out[i] = (uint8_t)(h >> (8 * i));
    expect(hex_equal(out, 8, sip64_vectors[len]), "SipHash-2-4 vector of length %zu", len);
  }
}

/* ---- Round trips and layout ----------------------------------------------------------------------- */

static void test_every_type_round_trips_under_every_scheme(void) {
  current = "round trips";
  for (size_t s = 0; s < 3; s++) {
    for (size_t t = 0; t < sizeof all_types; t++) {
      sf_hb_packet_t p = sample(all_types[t]), q;
      uint8_t buf[SF_HB_MAX_PACKET];
      int n = sf_hb_packet_encode(&p, schemes[s].key, buf, sizeof buf);
      size_t want = 48 + strlen(p.sender) + (has_body(p.type) ? 17 + strlen(p.target) : 0) + schemes[s].tag_len;
      expect(n == (int)want, "%s type %u encodes to %d bytes, want %zu", schemes[s].name, p.type, n, want);
      if (n <= 0) continue;
      int rc = decode_exact(buf, (size_t)n, schemes[s].key, schemes[s].nkeys, &q);
      expect(rc == 0, "%s type %u decodes: %s", schemes[s].name, p.type, sf_hb_error_name(rc));
      expect(rc == 0 && same_packet(&p, &q), "%s type %u decodes to the same fields", schemes[s].name, p.type);
      expect(rc == 0 && q.version == 1 && q.auth == (s == 0 ? 0 : schemes[s].key->auth) &&
                 q.key_id == (s == 0 ? 0 : schemes[s].key->id),
             "%s type %u reports version, scheme and key id", schemes[s].name, p.type);
    }
  }
}

static void test_ids_of_1_and_64_bytes_round_trip(void) {
  current = "id bounds";
  for (size_t s = 0; s < 3; s++) {
    sf_hb_packet_t p = sample(SF_HB_PING_ACK), q;
    memset(p.sender, 'S', 64);
    p.sender[64] = '\0';
    memset(p.target, 'T', 64);
    p.target[64] = '\0';
    uint8_t buf[SF_HB_MAX_PACKET];
    int n = sf_hb_packet_encode(&p, schemes[s].key, buf, sizeof buf);
    expect(n == (int)(48 + 64 + 17 + 64 + schemes[s].tag_len), "%s: the largest packet is %d bytes", schemes[s].name,
           n);
    expect(n > 0 && n <= SF_HB_MAX_PACKET, "%s: the largest packet fits SF_HB_MAX_PACKET", schemes[s].name);
    expect(n > 0 && decode_exact(buf, (size_t)n, schemes[s].key, schemes[s].nkeys, &q) == 0 && same_packet(&p, &q),
           "%s: 64-byte ids round trip", schemes[s].name);
    p = sample(SF_HB_ACK);
    strcpy(p.sender, "a");
    p.target[0] = '\0';
    n = sf_hb_packet_encode(&p, schemes[s].key, buf, sizeof buf);
    expect(n == (int)(48 + 1 + 17 + schemes[s].tag_len), "%s: a 1-byte sender and no target: %d bytes", schemes[s].name,
           n);
    expect(n > 0 && decode_exact(buf, (size_t)n, schemes[s].key, schemes[s].nkeys, &q) == 0 && same_packet(&p, &q),
           "%s: 1-byte sender round trips", schemes[s].name);
  }
}

static void test_a_beat_has_no_body_and_decodes_with_zero_body_fields(void) {
  current = "beat without body";
  sf_hb_packet_t p = sample(SF_HB_BEAT), q;
  strcpy(p.target, "ignored");
  p.probe_id = 99, p.echo_time = 98;
  uint8_t buf[SF_HB_MAX_PACKET];
  int n = sf_hb_packet_encode(&p, NULL, buf, sizeof buf);
  expect(n == (int)(48 + strlen(p.sender) + 4), "a BEAT is header + sender + CRC: %d bytes", n);
  int rc = decode_exact(buf, (size_t)n, NULL, 0, &q);
  expect(rc == 0 && q.target[0] == '\0' && q.probe_id == 0 && q.echo_time == 0,
         "a BEAT decodes with an empty target, probe_id 0 and echo_time 0");
}

static void test_byte_layout_matches_the_documented_offsets(void) {
  current = "documented offsets";
  /* The offsets of docs/protocol.md, "Header", "Body" and "Tag", read back from encoded packets. */
  for (size_t s = 0; s < 3; s++) {
    sf_hb_packet_t p = sample(SF_HB_PING_REQ);
    p.flags = 0x03;
    uint8_t buf[SF_HB_MAX_PACKET];
    int n = sf_hb_packet_encode(&p, schemes[s].key, buf, sizeof buf);
    if (n <= 0) {
      expect(0, "%s: encode failed", schemes[s].name);
      continue;
    }
    size_t S = strlen(p.sender), T = strlen(p.target);
    uint8_t auth = s == 0 ? 0 : (uint8_t)schemes[s].key->auth, kid = s == 0 ? 0 : schemes[s].key->id;
    expect(memcmp(buf + 0, "SFHB", 4) == 0, "%s: offset 0: magic SFHB", schemes[s].name);
    expect(buf[4] == 1, "%s: offset 4: version 1", schemes[s].name);
    expect(buf[5] == SF_HB_PING_REQ, "%s: offset 5: type", schemes[s].name);
    expect(buf[6] == auth, "%s: offset 6: auth scheme %u", schemes[s].name, buf[6]);
    expect(buf[7] == kid, "%s: offset 7: key id %u", schemes[s].name, buf[7]);
    expect(be(buf + 8, 2) == (uint64_t)n, "%s: offset 8: total length", schemes[s].name);
    expect(buf[10] == S, "%s: offset 10: sender length", schemes[s].name);
    expect(buf[11] == 0x03, "%s: offset 11: flags", schemes[s].name);
    expect(be(buf + 12, 8) == p.incarnation, "%s: offset 12: incarnation", schemes[s].name);
    expect(be(buf + 20, 8) == p.seq, "%s: offset 20: seq", schemes[s].name);
    expect(be(buf + 28, 8) == p.send_time, "%s: offset 28: send_time", schemes[s].name);
    expect(be(buf + 36, 4) == p.lag_us, "%s: offset 36: lag_us", schemes[s].name);
    expect(be(buf + 40, 4) == p.interval_ms, "%s: offset 40: interval_ms", schemes[s].name);
    expect(be(buf + 44, 4) == p.rtt_us, "%s: offset 44: rtt_us", schemes[s].name);
    expect(memcmp(buf + 48, p.sender, S) == 0, "%s: offset 48: sender id", schemes[s].name);
    size_t b = 48 + S;
    expect(buf[b] == T, "%s: body offset 0: target length", schemes[s].name);
    expect(memcmp(buf + b + 1, p.target, T) == 0, "%s: body offset 1: target id", schemes[s].name);
    expect(be(buf + b + 1 + T, 8) == p.probe_id, "%s: body offset 1+T: probe_id", schemes[s].name);
    expect(be(buf + b + 9 + T, 8) == p.echo_time, "%s: body offset 9+T: echo_time", schemes[s].name);
    size_t tag = b + 17 + T;
    expect(tag + schemes[s].tag_len == (size_t)n, "%s: the tag ends the packet", schemes[s].name);
    if (s == 0) {
      expect(be(buf + tag, 4) == sf_crc32c(0, buf, tag), "crc32c: tag = CRC-32C of [0, tag), big-endian");
    } else if (s == 1) {
      uint8_t mac[32];
      sf_hmac_sha256(hmac_key.bytes, hmac_key.len, buf, tag, mac);
      expect(memcmp(buf + tag, mac, 16) == 0, "hmac: tag = the first 16 bytes of HMAC-SHA-256 of [0, tag)");
    } else {
      uint64_t h = sf_siphash24(sip_key.bytes, buf, tag);
      uint8_t le[8];
      for (int i = 0; i < 8; i++) le[i] = (uint8_t)(h >> (8 * i));
      expect(memcmp(buf + tag, le, 8) == 0, "siphash: tag = SipHash-2-4 of [0, tag), least significant byte first");
    }
  }
}

/* The worked examples of docs/protocol.md, "Worked examples". Both this test and the document hold
 * the same hex, produced from the inputs below; an independent encoder (Python's hmac/hashlib and
 * a from-the-paper SipHash) produced the same bytes when the examples were written. */
static const char *example_beat_hex =
    "53464842010101010046060117979cfe362a0000000000000000002a000000012a05f200000005dc00000064000000fa6e6f64652d61"
    "e177571e3bb57f740e38039f4886974c";
static const char *example_ping_req_hex =
    "53464842010300000051060017979cfe362a0000000000000000002b000000012ffbd300000005dc00000064000000fa6e6f64652d61"
    "066e6f64652d6300000000000000070000000000000000445a8ba5";
static const char *example_ack_hex =
    "5346484201020202004f060017979cfe3d85cd15000000000000000900000001a13b86000000000000000064000000006e6f64652d62"
    "000000000000000000000000012a05f20063fea8cbe68340aa";

static sf_hb_packet_t example_beat(void) {
  sf_hb_packet_t p;
  memset(&p, 0, sizeof p);
  p.type = SF_HB_BEAT, p.flags = SF_HB_FLAG_WANT_ACK;
  strcpy(p.sender, "node-a");
  p.incarnation = 1700000000000000000ull, p.seq = 42, p.send_time = 5000000000ull;
  p.lag_us = 1500, p.interval_ms = 100, p.rtt_us = 250;
  return p;
}

static sf_hb_packet_t example_ping_req(void) {
  sf_hb_packet_t p = example_beat();
  p.type = SF_HB_PING_REQ, p.flags = 0;
  p.seq = 43, p.send_time = 5100000000ull;
  strcpy(p.target, "node-c");
  p.probe_id = 7;
  return p;
}

static sf_hb_packet_t example_ack(void) {
  sf_hb_packet_t p;
  memset(&p, 0, sizeof p);
  p.type = SF_HB_ACK;
  strcpy(p.sender, "node-b");
  p.incarnation = 1700000000123456789ull, p.seq = 9, p.send_time = 7000000000ull;
  p.lag_us = 0, p.interval_ms = 100, p.rtt_us = 0;
  p.echo_time = 5000000000ull;
  return p;
}

static void test_worked_examples_match_the_protocol_document(void) {
  current = "worked examples";
  const struct {
    const char *name;
    sf_hb_packet_t p;
    const sf_hb_key_t *key;
    const char *hex;
  } v[] = {{"BEAT, HMAC-SHA-256 key 1", example_beat(), &hmac_key, example_beat_hex},
           {"PING_REQ, CRC-32C", example_ping_req(), NULL, example_ping_req_hex},
           {"ACK, SipHash-2-4 key 2", example_ack(), &sip_key, example_ack_hex}};
  for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
    uint8_t buf[SF_HB_MAX_PACKET], want[SF_HB_MAX_PACKET];
    int n = sf_hb_packet_encode(&v[i].p, v[i].key, buf, sizeof buf);
    size_t wn = from_hex(v[i].hex, want, sizeof want);
    expect(n > 0 && (size_t)n == wn && hex_equal(buf, (size_t)n, v[i].hex), "%s encodes to the documented bytes",
           v[i].name);
    sf_hb_packet_t q;
    expect(decode_exact(want, wn, v[i].key, v[i].key ? 1 : 0, &q) == 0 && same_packet(&v[i].p, &q),
           "%s: the documented bytes decode to the documented fields", v[i].name);
  }
}

/* ---- Refusals ------------------------------------------------------------------------------------- */

static void test_every_truncation_and_extension_is_malformed(void) {
  current = "truncations";
  for (size_t s = 0; s < 3; s++) {
    for (size_t t = 0; t < sizeof all_types; t++) {
      sf_hb_packet_t p = sample(all_types[t]);
      uint8_t buf[SF_HB_MAX_PACKET + 1];
      int n = sf_hb_packet_encode(&p, schemes[s].key, buf, sizeof buf);
      int bad = 0;
      for (int len = 0; len < n; len++) {
        int rc = decode_exact(buf, (size_t)len, schemes[s].key, schemes[s].nkeys, NULL);
        if (rc != SF_EMALFORMED) bad++;
      }
      expect(n > 0 && bad == 0, "%s type %u: all %d truncations are SF_MALFORMED (%d are not)", schemes[s].name, p.type,
             n, bad);
      buf[n] = 0;
      expect(decode_exact(buf, (size_t)n + 1, schemes[s].key, schemes[s].nkeys, NULL) == SF_EMALFORMED,
             "%s type %u: a trailing byte is SF_MALFORMED", schemes[s].name, p.type);
    }
  }
}

static void test_every_single_bit_flip_is_refused(void) {
  current = "bit flips";
  for (size_t s = 0; s < 3; s++) {
    for (size_t t = 0; t < sizeof all_types; t++) {
      sf_hb_packet_t p = sample(all_types[t]);
      uint8_t buf[SF_HB_MAX_PACKET];
      int n = sf_hb_packet_encode(&p, schemes[s].key, buf, sizeof buf);
      int accepted = 0, tag_not_auth = 0, magic_not_version = 0;
      for (int bit = 0; bit < n * 8; bit++) {
        buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        int rc = decode_exact(buf, (size_t)n, schemes[s].key, schemes[s].nkeys, NULL);
        buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        if (rc == 0) accepted++;
        if (bit / 8 >= n - (int)schemes[s].tag_len && rc != SF_EAUTH) tag_not_auth++;
        if (bit / 8 < 5 && rc != SF_EPROTO_VERSION) magic_not_version++;
      }
      expect(n > 0 && accepted == 0, "%s type %u: none of %d bit flips is accepted (%d are)", schemes[s].name, p.type,
             n * 8, accepted);
      expect(tag_not_auth == 0, "%s type %u: a flip in the tag is SF_AUTH", schemes[s].name, p.type);
      expect(magic_not_version == 0, "%s type %u: a flip in magic or version is SF_PROTO_VERSION", schemes[s].name,
             p.type);
    }
  }
}

static void test_keys_decide_what_is_accepted(void) {
  current = "keys";
  sf_hb_packet_t p = sample(SF_HB_BEAT), q;
  uint8_t crc[SF_HB_MAX_PACKET], mac[SF_HB_MAX_PACKET], sip[SF_HB_MAX_PACKET];
  int nc = sf_hb_packet_encode(&p, NULL, crc, sizeof crc);
  int nm = sf_hb_packet_encode(&p, &hmac_key, mac, sizeof mac);
  int ns = sf_hb_packet_encode(&p, &sip_key, sip, sizeof sip);
  sf_hb_key_t both[2] = {hmac_key, sip_key};

  expect(decode_exact(crc, (size_t)nc, &hmac_key, 1, NULL) == SF_EAUTH,
         "a CRC-32C packet is SF_AUTH when keys are set");
  expect(decode_exact(mac, (size_t)nm, NULL, 0, NULL) == SF_EAUTH, "an HMAC packet is SF_AUTH without keys");
  expect(decode_exact(sip, (size_t)ns, NULL, 0, NULL) == SF_EAUTH, "a SipHash packet is SF_AUTH without keys");
  expect(decode_exact(mac, (size_t)nm, &sip_key, 1, NULL) == SF_EAUTH, "an unknown key id is SF_AUTH");
  expect(decode_exact(mac, (size_t)nm, both, 2, &q) == 0 && q.key_id == 1 &&
             decode_exact(sip, (size_t)ns, both, 2, &q) == 0 && q.key_id == 2,
         "a receiver holding two keys (rotation) accepts packets signed with either");

  sf_hb_key_t wrong = hmac_key;
  wrong.bytes[31] ^= 1;
  expect(decode_exact(mac, (size_t)nm, &wrong, 1, NULL) == SF_EAUTH, "a wrong HMAC key (same id) is SF_AUTH");
  wrong = sip_key;
  wrong.bytes[0] ^= 0x80;
  expect(decode_exact(sip, (size_t)ns, &wrong, 1, NULL) == SF_EAUTH, "a wrong SipHash key (same id) is SF_AUTH");
  wrong = hmac_key;
  wrong.len = 31;
  expect(decode_exact(mac, (size_t)nm, &wrong, 1, NULL) == SF_EAUTH, "a shorter key (same prefix) is SF_AUTH");
  wrong = sip_key;
  wrong.id = 1; /* id 1, but a SipHash key: the packet says HMAC */
  expect(decode_exact(mac, (size_t)nm, &wrong, 1, NULL) == SF_EAUTH, "a key id bound to the other scheme is SF_AUTH");

  /* A forger without the key who rewrites the scheme byte to CRC-32C and reseals gets nowhere. */
  uint8_t forged[SF_HB_MAX_PACKET];
  memcpy(forged, crc, (size_t)nc);
  forged[7] = 1; /* claims key id 1, keeps the CRC scheme */
  reseal_crc(forged, (size_t)nc);
  expect(decode_exact(forged, (size_t)nc, &hmac_key, 1, NULL) == SF_EAUTH,
         "a resealed CRC-32C packet claiming a key id is SF_AUTH with keys");
  expect(decode_exact(forged, (size_t)nc, NULL, 0, NULL) == SF_EAUTH,
         "a CRC-32C packet with a key id other than 0 is SF_AUTH without keys");
  forged[7] = 0;
  forged[6] = 3;
  reseal_crc(forged, (size_t)nc);
  expect(decode_exact(forged, (size_t)nc, NULL, 0, NULL) == SF_EAUTH, "an unknown auth scheme (3) is SF_AUTH");
  forged[6] = 255;
  expect(decode_exact(forged, (size_t)nc, &hmac_key, 1, NULL) == SF_EAUTH, "an unknown auth scheme (255) is SF_AUTH");
}

static void test_magic_and_version_errors_are_proto_version(void) {
  current = "magic and version";
  sf_hb_packet_t p = sample(SF_HB_BEAT);
  uint8_t buf[SF_HB_MAX_PACKET];
  int n = sf_hb_packet_encode(&p, NULL, buf, sizeof buf);
  static const uint8_t versions[] = {0, 2, 3, 0x81, 255};
  for (size_t i = 0; i < sizeof versions; i++) {
    buf[4] = versions[i];
    reseal_crc(buf, (size_t)n);
    expect(decode_exact(buf, (size_t)n, NULL, 0, NULL) == SF_EPROTO_VERSION, "version %u is SF_PROTO_VERSION",
           versions[i]);
  }
  buf[4] = 1;
  static const char *magics[] = {"SFHA", "sfhb", "HBSF", "\0\0\0\0"};
  for (size_t i = 0; i < sizeof magics / sizeof magics[0]; i++) {
    memcpy(buf, magics[i], 4);
    reseal_crc(buf, (size_t)n);
    expect(decode_exact(buf, (size_t)n, NULL, 0, NULL) == SF_EPROTO_VERSION, "magic %zu is SF_PROTO_VERSION", i);
  }
  /* Any 48 bytes of text are a wrong magic, not a crash. */
  const char *text = "GET / HTTP/1.1\r\nHost: example.com\r\nUser-Agent: x\r\n\r\n";
  expect(decode_exact((const uint8_t *)text, strlen(text), NULL, 0, NULL) == SF_EPROTO_VERSION,
         "an HTTP request is SF_PROTO_VERSION");
}

/* Edits one byte of a CRC-sealed PING_ACK, reseals it, decodes it. */
static int decode_edited(size_t off, uint8_t value) {
  sf_hb_packet_t p = sample(SF_HB_PING_ACK);
  uint8_t buf[SF_HB_MAX_PACKET];
  int n = sf_hb_packet_encode(&p, NULL, buf, sizeof buf);
  buf[off] = value;
  reseal_crc(buf, (size_t)n);
  return decode_exact(buf, (size_t)n, NULL, 0, NULL);
}

/* Builds a CRC packet by hand: header fields as given, sender bytes, optional body, sealed. */
static size_t build_raw(uint8_t *buf, uint8_t type, const uint8_t *sender, size_t slen, int body, const uint8_t *target,
                        size_t tlen) {
  memset(buf, 0, 48);
  memcpy(buf, "SFHB", 4);
  buf[4] = 1, buf[5] = type, buf[6] = 0, buf[7] = 0;
  buf[10] = (uint8_t)slen;
  memcpy(buf + 48, sender, slen);
  size_t n = 48 + slen;
  if (body) {
    buf[n] = (uint8_t)tlen;
    memcpy(buf + n + 1, target, tlen);
    memset(buf + n + 1 + tlen, 0, 16);
    n += 17 + tlen;
  }
  n += 4;
  buf[8] = (uint8_t)(n >> 8), buf[9] = (uint8_t)n;
  reseal_crc(buf, n);
  return n;
}

static void test_bad_lengths_ids_and_types_are_malformed(void) {
  current = "malformed";
  uint8_t buf[1024];
  size_t n;
  const uint8_t *ok = (const uint8_t *)"node";
  n = build_raw(buf, SF_HB_BEAT, ok, 4, 0, NULL, 0);
  expect(decode_exact(buf, n, NULL, 0, NULL) == 0, "the hand-built BEAT is valid (so the edits below are the cause)");
  n = build_raw(buf, SF_HB_PING_REQ, ok, 4, 1, ok, 4);
  expect(decode_exact(buf, n, NULL, 0, NULL) == 0, "the hand-built PING_REQ is valid");

  static const uint8_t bad_types[] = {0, 6, 7, 0x80, 255};
  for (size_t i = 0; i < sizeof bad_types; i++)
    expect(decode_edited(5, bad_types[i]) == SF_EMALFORMED, "type %u is SF_MALFORMED", bad_types[i]);

  uint8_t big[80];
  memset(big, 'x', sizeof big);
  n = build_raw(buf, SF_HB_BEAT, big, 0, 0, NULL, 0);
  expect(decode_exact(buf, n, NULL, 0, NULL) == SF_EMALFORMED, "an empty sender is SF_MALFORMED");
  n = build_raw(buf, SF_HB_BEAT, big, 65, 0, NULL, 0);
  expect(decode_exact(buf, n, NULL, 0, NULL) == SF_EMALFORMED, "a 65-byte sender is SF_MALFORMED");
  n = build_raw(buf, SF_HB_BEAT, big, 64, 0, NULL, 0);
  expect(decode_exact(buf, n, NULL, 0, NULL) == 0, "a 64-byte sender is valid");
  n = build_raw(buf, SF_HB_PING, ok, 4, 1, big, 65);
  expect(decode_exact(buf, n, NULL, 0, NULL) == SF_EMALFORMED, "a 65-byte target is SF_MALFORMED");
  n = build_raw(buf, SF_HB_PING_REQ, ok, 4, 1, big, 0);
  expect(decode_exact(buf, n, NULL, 0, NULL) == SF_EMALFORMED, "a PING_REQ without a target is SF_MALFORMED");
  n = build_raw(buf, SF_HB_PING_ACK, ok, 4, 1, big, 0);
  expect(decode_exact(buf, n, NULL, 0, NULL) == SF_EMALFORMED, "a PING_ACK without a target is SF_MALFORMED");
  n = build_raw(buf, SF_HB_PING, ok, 4, 1, big, 0);
  expect(decode_exact(buf, n, NULL, 0, NULL) == 0, "a PING without a target is valid");
  n = build_raw(buf, SF_HB_ACK, ok, 4, 1, big, 3);
  expect(decode_exact(buf, n, NULL, 0, NULL) == 0, "an ACK naming a target is valid");
  /* A BEAT followed by a body-shaped tail: the length no longer adds up. */
  n = build_raw(buf, SF_HB_BEAT, ok, 4, 1, ok, 4);
  expect(decode_exact(buf, n, NULL, 0, NULL) == SF_EMALFORMED, "a BEAT with a body is SF_MALFORMED");
  /* An ACK whose body is missing: the target length byte would be the tag's first byte. */
  n = build_raw(buf, SF_HB_ACK, ok, 4, 0, NULL, 0);
  expect(decode_exact(buf, n, NULL, 0, NULL) == SF_EMALFORMED, "an ACK without a body is SF_MALFORMED");

  /* Length fields that disagree with the datagram (each resealed, so the length is the cause). */
  sf_hb_packet_t p = sample(SF_HB_PING_ACK);
  uint8_t pk[SF_HB_MAX_PACKET];
  int pn = sf_hb_packet_encode(&p, NULL, pk, sizeof pk);
  size_t S = strlen(p.sender);
  const struct {
    size_t off;
    int delta;
    const char *what;
  } edits[] = {{9, 1, "total length + 1"},    {9, -1, "total length - 1"},      {10, 1, "sender length + 1"},
               {10, -1, "sender length - 1"}, {48 + S, 1, "target length + 1"}, {48 + S, -1, "target length - 1"}};
  for (size_t i = 0; i < sizeof edits / sizeof edits[0]; i++)
    expect(decode_edited(edits[i].off, (uint8_t)(pk[edits[i].off] + edits[i].delta)) == SF_EMALFORMED,
           "%s is SF_MALFORMED", edits[i].what);
  memcpy(buf, pk, (size_t)pn);
  buf[8] = 0xff, buf[9] = 0xff;
  reseal_crc(buf, (size_t)pn);
  expect(decode_exact(buf, (size_t)pn, NULL, 0, NULL) == SF_EMALFORMED, "total length 65535 is SF_MALFORMED");
  expect(decode_edited(48 + S, 255) == SF_EMALFORMED, "target length 255 is SF_MALFORMED");
  expect(decode_edited(10, 255) == SF_EMALFORMED, "sender length 255 is SF_MALFORMED");

  /* Ids must be well-formed UTF-8 without NUL. */
  static const struct {
    const char *bytes;
    size_t len;
    const char *what;
  } ids[] = {{"no\0de", 5, "a NUL"},
             {"\xff", 1, "byte ff"},
             {"a\x80", 2, "a lone continuation byte"},
             {"\xc0\x80", 2, "an overlong NUL"},
             {"\xe0\x80\xaf", 3, "an overlong '/'"},
             {"\xed\xa0\x80", 3, "a surrogate"},
             {"\xf4\x90\x80\x80", 4, "a code point above U+10FFFF"},
             {"ab\xe2\x9c", 4, "a truncated sequence"}};
  for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
    n = build_raw(buf, SF_HB_BEAT, (const uint8_t *)ids[i].bytes, ids[i].len, 0, NULL, 0);
    expect(decode_exact(buf, n, NULL, 0, NULL) == SF_EMALFORMED, "a sender with %s is SF_MALFORMED", ids[i].what);
    n = build_raw(buf, SF_HB_PING_REQ, ok, 4, 1, (const uint8_t *)ids[i].bytes, ids[i].len);
    expect(decode_exact(buf, n, NULL, 0, NULL) == SF_EMALFORMED, "a target with %s is SF_MALFORMED", ids[i].what);
  }
  n = build_raw(buf, SF_HB_BEAT, (const uint8_t *)"\xf0\x9f\x92\x93-\xe6\x97\xa5", 8, 0, NULL, 0);
  expect(decode_exact(buf, n, NULL, 0, NULL) == 0, "a sender with 4- and 3-byte UTF-8 sequences is valid");
}

static void test_decode_checks_in_the_documented_order(void) {
  current = "decode order";
  /* Each pair of faults: the earlier step of docs/protocol.md, "Decoding", gives the error. */
  sf_hb_packet_t p = sample(SF_HB_PING_REQ);
  uint8_t pk[SF_HB_MAX_PACKET], buf[SF_HB_MAX_PACKET];
  int n = sf_hb_packet_encode(&p, &hmac_key, pk, sizeof pk);
  memcpy(buf, pk, (size_t)n);
  buf[0] = 'X', buf[9] ^= 1;
  expect(decode_exact(buf, (size_t)n, &hmac_key, 1, NULL) == SF_EPROTO_VERSION,
         "a bad magic is reported before a bad length");
  memcpy(buf, pk, (size_t)n);
  buf[5] = 9, buf[6] = 9;
  expect(decode_exact(buf, (size_t)n, &hmac_key, 1, NULL) == SF_EMALFORMED,
         "a bad type is reported before an unknown scheme");
  memcpy(buf, pk, (size_t)n);
  buf[6] = 9, buf[10] = 0;
  expect(decode_exact(buf, (size_t)n, &hmac_key, 1, NULL) == SF_EAUTH,
         "an unknown scheme is reported before a bad sender length");
  memcpy(buf, pk, (size_t)n);
  buf[7] = 9, buf[10] = 0;
  expect(decode_exact(buf, (size_t)n, &hmac_key, 1, NULL) == SF_EMALFORMED,
         "a bad sender length is reported before an unknown key id");
  expect(
      decode_exact(pk, 47, &hmac_key, 1, NULL) == SF_EMALFORMED && decode_exact(pk, 3, NULL, 0, NULL) == SF_EMALFORMED,
      "fewer than 48 bytes are SF_MALFORMED, whatever they hold");
}

static void test_encode_refuses_what_decode_would_refuse(void) {
  current = "encode errors";
  uint8_t buf[SF_HB_MAX_PACKET];
  sf_hb_packet_t p = sample(SF_HB_BEAT);
  p.sender[0] = '\0';
  expect(sf_hb_packet_encode(&p, NULL, buf, sizeof buf) == SF_EMALFORMED, "an empty sender is SF_MALFORMED");
  memset(p.sender, 'a', sizeof p.sender); /* 65 bytes, no terminator */
  expect(sf_hb_packet_encode(&p, NULL, buf, sizeof buf) == SF_EMALFORMED, "an unterminated sender is SF_MALFORMED");
  p = sample(SF_HB_BEAT);
  strcpy(p.sender, "bad\xff");
  expect(sf_hb_packet_encode(&p, NULL, buf, sizeof buf) == SF_EMALFORMED, "a sender of bad UTF-8 is SF_MALFORMED");
  p = sample(SF_HB_PING_REQ);
  p.target[0] = '\0';
  expect(sf_hb_packet_encode(&p, NULL, buf, sizeof buf) == SF_EMALFORMED, "a PING_REQ without target is SF_MALFORMED");
  p = sample(SF_HB_PING);
  memset(p.target, 't', sizeof p.target);
  expect(sf_hb_packet_encode(&p, NULL, buf, sizeof buf) == SF_EMALFORMED, "an unterminated target is SF_MALFORMED");
  p = sample(SF_HB_BEAT);
  p.type = 0;
  expect(sf_hb_packet_encode(&p, NULL, buf, sizeof buf) == SF_EMALFORMED, "type 0 is SF_MALFORMED");
  p.type = 6;
  expect(sf_hb_packet_encode(&p, NULL, buf, sizeof buf) == SF_EMALFORMED, "type 6 is SF_MALFORMED");

  sf_hb_key_t k = hmac_key;
  k.len = 15;
  p = sample(SF_HB_BEAT);
  expect(sf_hb_packet_encode(&p, &k, buf, sizeof buf) == -EINVAL, "a 15-byte HMAC key is -EINVAL");
  k = sip_key;
  k.len = 32;
  expect(sf_hb_packet_encode(&p, &k, buf, sizeof buf) == -EINVAL, "a 32-byte SipHash key is -EINVAL");
  k.auth = SF_HB_AUTH_CRC32C;
  expect(sf_hb_packet_encode(&p, &k, buf, sizeof buf) == -EINVAL, "a 'key' of the CRC-32C scheme is -EINVAL");

  /* Every capacity short of the packet is -ENOSPC, and nothing is written past it (heap buffer of
   * exactly cap bytes). */
  for (size_t s = 0; s < 3; s++) {
    p = sample(SF_HB_PING_ACK);
    int n = sf_hb_packet_encode(&p, schemes[s].key, buf, sizeof buf);
    int wrong = 0;
    for (int cap = 0; cap <= n; cap++) {
      uint8_t *exact = malloc(cap ? (size_t)cap : 1);
      int rc = sf_hb_packet_encode(&p, schemes[s].key, exact, (size_t)cap);
      if (cap < n ? rc != -ENOSPC : rc != n || memcmp(exact, buf, (size_t)n) != 0) wrong++;
      free(exact);
    }
    expect(n > 0 && wrong == 0, "%s: capacities 0..%d give -ENOSPC, then the packet", schemes[s].name, n - 1);
  }
}

static void test_decode_leaves_the_output_alone_on_error(void) {
  current = "output on error";
  sf_hb_packet_t p = sample(SF_HB_BEAT), q;
  uint8_t buf[SF_HB_MAX_PACKET];
  int n = sf_hb_packet_encode(&p, NULL, buf, sizeof buf);
  buf[n - 1] ^= 1;
  memset(&q, 0x5a, sizeof q);
  int rc = decode_exact(buf, (size_t)n, NULL, 0, &q);
  uint8_t probe = 0x5a;
  int untouched = 1;
  for (size_t i = 0; i < sizeof q; i++) untouched &= ((const uint8_t *)&q)[i] == probe;
  expect(rc == SF_EAUTH && untouched, "a refused packet writes nothing to *out (no unverified field leaks)");
}

static void test_error_names_are_the_codes_js_sees(void) {
  current = "error names";
  expect(strcmp(sf_hb_error_name(SF_EMALFORMED), "SF_MALFORMED") == 0, "SF_EMALFORMED is SF_MALFORMED");
  expect(strcmp(sf_hb_error_name(SF_EPROTO_VERSION), "SF_PROTO_VERSION") == 0, "SF_EPROTO_VERSION");
  expect(strcmp(sf_hb_error_name(SF_EAUTH), "SF_AUTH") == 0, "SF_EAUTH is SF_AUTH");
  expect(strcmp(sf_hb_error_name(SF_EREPLAY), "SF_REPLAY") == 0, "SF_EREPLAY is SF_REPLAY");
  expect(strcmp(sf_hb_error_name(-EADDRINUSE), "EADDRINUSE") == 0, "-EADDRINUSE is EADDRINUSE");
  expect(strcmp(sf_hb_error_name(-EADDRNOTAVAIL), "EADDRNOTAVAIL") == 0, "-EADDRNOTAVAIL is EADDRNOTAVAIL");
  expect(strcmp(sf_hb_error_name(-EINVAL), "EINVAL") == 0, "-EINVAL is EINVAL");
  expect(strcmp(sf_hb_error_name(-12345), "EUNKNOWN") == 0 && strcmp(sf_hb_error_name(7), "EUNKNOWN") == 0,
         "anything else is EUNKNOWN");
}

/* ---- Replay window -------------------------------------------------------------------------------- */

static void test_replay_accepts_in_order_and_refuses_duplicates(void) {
  current = "replay in order";
  sf__hb_replay_t w;
  sf__hb_replay_init(&w, 64);
  int bad = 0;
  for (uint64_t s = 1; s <= 1000; s++) bad += sf__hb_replay_check(&w, 5, s) != 0;
  expect(bad == 0, "seqs 1..1000 in order are accepted");
  expect(sf__hb_replay_check(&w, 5, 1000) == SF_EREPLAY, "the latest seq again is SF_REPLAY");
  expect(sf__hb_replay_check(&w, 5, 990) == SF_EREPLAY, "an earlier seq inside the window again is SF_REPLAY");
  expect(sf__hb_replay_check(&w, 5, 0) == SF_EREPLAY, "seq 0 is SF_REPLAY");
  expect(w.top == 1000 && w.incarnation == 5, "the window tracks incarnation 5 up to seq 1000");
}

static void test_replay_accepts_reordering_inside_the_window(void) {
  current = "replay reordering";
  sf__hb_replay_t w;
  sf__hb_replay_init(&w, 32);
  expect(sf__hb_replay_check(&w, 1, 10) == 0, "seq 10 first");
  expect(sf__hb_replay_check(&w, 1, 7) == 0, "then 7, older but unseen and inside the window");
  expect(sf__hb_replay_check(&w, 1, 12) == 0, "then 12");
  expect(sf__hb_replay_check(&w, 1, 11) == 0, "then 11");
  expect(sf__hb_replay_check(&w, 1, 7) == SF_EREPLAY, "7 again is SF_REPLAY");
  expect(sf__hb_replay_check(&w, 1, 11) == SF_EREPLAY, "11 again is SF_REPLAY");
  expect(sf__hb_replay_check(&w, 1, 8) == 0 && sf__hb_replay_check(&w, 1, 9) == 0, "the gap 8, 9 fills in");
  expect(sf__hb_replay_check(&w, 1, 1) == 0, "1 is still inside the window (12 - 1 < 32)");
}

static void test_replay_window_edges(void) {
  current = "replay edges";
  sf__hb_replay_t w;
  sf__hb_replay_init(&w, 16);
  expect(sf__hb_replay_check(&w, 1, 100) == 0, "seq 100");
  expect(sf__hb_replay_check(&w, 1, 85) == 0, "85 = top - (size - 1) is the oldest seq inside");
  expect(sf__hb_replay_check(&w, 1, 84) == SF_EREPLAY, "84 = top - size is too old");
  expect(sf__hb_replay_check(&w, 1, 1) == SF_EREPLAY, "1 is too old");
  expect(sf__hb_replay_check(&w, 1, 101) == 0, "101 moves the window by one");
  expect(sf__hb_replay_check(&w, 1, 85) == SF_EREPLAY, "85 (seen) is now too old");
  expect(sf__hb_replay_check(&w, 1, 86) == 0, "86 (unseen) is the oldest inside");

  sf__hb_replay_init(&w, 1);
  expect(sf__hb_replay_check(&w, 1, 5) == 0 && sf__hb_replay_check(&w, 1, 4) == SF_EREPLAY &&
             sf__hb_replay_check(&w, 1, 5) == SF_EREPLAY && sf__hb_replay_check(&w, 1, 6) == 0,
         "a window of 1 accepts only increasing seqs");

  /* The largest window, across the ring's wrap: seqs 1024 apart share a bit. */
  sf__hb_replay_init(&w, 5000);
  expect(w.size == SF__HB_REPLAY_MAX, "a window is at most %d", SF__HB_REPLAY_MAX);
  sf__hb_replay_init(&w, 0);
  expect(w.size == 1, "a window is at least 1");
  sf__hb_replay_init(&w, 1024);
  int bad = 0;
  for (uint64_t s = 1; s <= 3000; s += 2) bad += sf__hb_replay_check(&w, 1, s) != 0;
  expect(bad == 0, "the odd seqs up to 2999 are accepted");
  bad = 0;
  for (uint64_t s = 2999 - 1023; s <= 2999; s++) bad += sf__hb_replay_check(&w, 1, s) != (s % 2 ? SF_EREPLAY : 0);
  expect(bad == 0, "in the last 1024, the even seqs are new and the odd ones replays");
  expect(sf__hb_replay_check(&w, 1, 2999 - 1024) == SF_EREPLAY, "top - 1024 is too old");
  /* A step forward of exactly the ring size must not leave an old bit behind. */
  expect(sf__hb_replay_check(&w, 1, 2999 + 1024) == 0, "a step of 1024");
  bad = 0;
  for (uint64_t s = 2999 + 1; s < 2999 + 1024; s++) bad += sf__hb_replay_check(&w, 1, s) != 0;
  expect(bad == 0, "every seq skipped by the step is new (no stale bit from 1024 before)");

  /* A shorter step over ring slots that still hold bits of seqs 1024 below. */
  sf__hb_replay_init(&w, 1024);
  bad = 0;
  for (uint64_t s = 1; s <= 1000; s++) bad += sf__hb_replay_check(&w, 1, s) != 0;
  expect(bad == 0 && sf__hb_replay_check(&w, 1, 1500) == 0, "seqs 1..1000, then a step of 500 to 1500");
  bad = 0;
  for (uint64_t s = 1001; s < 1500; s++) bad += sf__hb_replay_check(&w, 1, s) != 0;
  expect(bad == 0, "every seq skipped by a short step is new although its slot held seq - 1024");
  expect(sf__hb_replay_check(&w, 1, 1000) == SF_EREPLAY && sf__hb_replay_check(&w, 1, 477) == SF_EREPLAY,
         "the step cleared only the skipped slots: 1000 and 477 (the oldest inside) are still known");
}

static void test_replay_handles_huge_jumps(void) {
  current = "replay jumps";
  sf__hb_replay_t w;
  sf__hb_replay_init(&w, 256);
  expect(sf__hb_replay_check(&w, 1, 3) == 0, "seq 3");
  expect(sf__hb_replay_check(&w, 1, UINT64_MAX - 1) == 0, "a jump to 2^64 - 2 is accepted");
  expect(sf__hb_replay_check(&w, 1, 4) == SF_EREPLAY, "after it, 4 is too old");
  expect(sf__hb_replay_check(&w, 1, UINT64_MAX) == 0, "2^64 - 1 is accepted");
  expect(sf__hb_replay_check(&w, 1, UINT64_MAX) == SF_EREPLAY, "2^64 - 1 again is SF_REPLAY");
  expect(sf__hb_replay_check(&w, 1, UINT64_MAX - 255) == 0, "2^64 - 256 is inside the window");
  expect(sf__hb_replay_check(&w, 1, UINT64_MAX - 256) == SF_EREPLAY, "2^64 - 257 is too old");
}

static void test_replay_incarnations(void) {
  current = "replay incarnations";
  sf__hb_replay_t w;
  sf__hb_replay_init(&w, 64);
  expect(sf__hb_replay_check(&w, 1000, 50) == 0, "the first packet is accepted, not a restart");
  expect(sf__hb_replay_check(&w, 999, 51) == SF_EREPLAY, "an older incarnation is SF_REPLAY");
  expect(w.incarnation == 1000 && w.top == 50, "and changes nothing");
  uint64_t previous = w.incarnation;
  expect(sf__hb_replay_check(&w, 2000, 1) == SF__HB_REPLAY_RESTARTED, "a newer incarnation is a restart");
  expect(previous == 1000 && w.incarnation == 2000 && w.top == 1, "the window now belongs to it, from seq 1");
  expect(sf__hb_replay_check(&w, 2000, 1) == SF_EREPLAY, "its first seq again is SF_REPLAY");
  expect(sf__hb_replay_check(&w, 2000, 2) == 0, "its next seq is accepted");
  expect(sf__hb_replay_check(&w, 1000, 51) == SF_EREPLAY, "the old incarnation is now refused");
  expect(sf__hb_replay_check(&w, 2000, 0) == SF_EREPLAY, "seq 0 is refused");
  expect(sf__hb_replay_check(&w, 3000, 0) == SF_EREPLAY && w.incarnation == 2000,
         "seq 0 of a newer incarnation is refused and resets nothing");
  expect(sf__hb_replay_check(&w, UINT64_MAX, 77) == SF__HB_REPLAY_RESTARTED && w.top == 77,
         "the largest incarnation is a restart too");
}

/* ---- Fuzz seeds ----------------------------------------------------------------------------------- */

static int write_seed(const char *dir, const char *name, const uint8_t *buf, size_t len) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "wb");
  if (f == NULL || fwrite(buf, 1, len, f) != len) {
    perror(path);
    if (f) fclose(f);
    return 1;
  }
  return fclose(f) != 0;
}

/* The seeds of fuzz/corpus/packet: valid packets of each type and scheme (signed with the keys the
 * fuzz target holds), and near misses of each decode step. */
static int write_corpus(const char *dir) {
  uint8_t buf[SF_HB_MAX_PACKET];
  int rc = 0, n;
  sf_hb_packet_t p;
  n = sf_hb_packet_encode((p = example_beat(), &p), &hmac_key, buf, sizeof buf);
  rc |= write_seed(dir, "beat-hmac.bin", buf, (size_t)n);
  n = sf_hb_packet_encode((p = example_ping_req(), &p), NULL, buf, sizeof buf);
  rc |= write_seed(dir, "ping-req-crc.bin", buf, (size_t)n);
  n = sf_hb_packet_encode((p = example_ack(), &p), &sip_key, buf, sizeof buf);
  rc |= write_seed(dir, "ack-siphash.bin", buf, (size_t)n);
  n = sf_hb_packet_encode((p = sample(SF_HB_PING), &p), &sip_key, buf, sizeof buf);
  rc |= write_seed(dir, "ping-siphash.bin", buf, (size_t)n);
  n = sf_hb_packet_encode((p = sample(SF_HB_PING_ACK), &p), &hmac_key, buf, sizeof buf);
  rc |= write_seed(dir, "ping-ack-hmac.bin", buf, (size_t)n);
  p = sample(SF_HB_BEAT);
  p.flags = SF_HB_FLAG_LEAVING;
  n = sf_hb_packet_encode(&p, NULL, buf, sizeof buf);
  rc |= write_seed(dir, "beat-leaving-crc.bin", buf, (size_t)n);
  rc |= write_seed(dir, "truncated.bin", buf, (size_t)n - 3);
  buf[4] = 2;
  reseal_crc(buf, (size_t)n);
  rc |= write_seed(dir, "version-2.bin", buf, (size_t)n);
  n = sf_hb_packet_encode((p = example_ping_req(), &p), NULL, buf, sizeof buf);
  buf[48 + 6] = 200; /* target length far past the end */
  reseal_crc(buf, (size_t)n);
  rc |= write_seed(dir, "bad-target-length.bin", buf, (size_t)n);
  n = sf_hb_packet_encode((p = example_beat(), &p), &hmac_key, buf, sizeof buf);
  buf[n - 1] ^= 0x01;
  rc |= write_seed(dir, "bad-tag.bin", buf, (size_t)n);
  return rc;
}

int main(int argc, char **argv) {
  init_keys();
  init_schemes();
  if (argc == 3 && strcmp(argv[1], "--write-corpus") == 0) return write_corpus(argv[2]);
  test_sha256_matches_the_fips_180_4_examples();
  test_sha256_pads_correctly_at_every_block_boundary();
  test_hmac_sha256_matches_rfc_4231();
  test_siphash24_matches_the_paper_example();
  test_siphash24_matches_the_64_reference_vectors();
  test_every_type_round_trips_under_every_scheme();
  test_ids_of_1_and_64_bytes_round_trip();
  test_a_beat_has_no_body_and_decodes_with_zero_body_fields();
  test_byte_layout_matches_the_documented_offsets();
  test_worked_examples_match_the_protocol_document();
  test_every_truncation_and_extension_is_malformed();
  test_every_single_bit_flip_is_refused();
  test_keys_decide_what_is_accepted();
  test_magic_and_version_errors_are_proto_version();
  test_bad_lengths_ids_and_types_are_malformed();
  test_decode_checks_in_the_documented_order();
  test_encode_refuses_what_decode_would_refuse();
  test_decode_leaves_the_output_alone_on_error();
  test_error_names_are_the_codes_js_sees();
  test_replay_accepts_in_order_and_refuses_duplicates();
  test_replay_accepts_reordering_inside_the_window();
  test_replay_window_edges();
  test_replay_handles_huge_jumps();
  test_replay_incarnations();
  printf("heartbeat_packet_test: %d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
