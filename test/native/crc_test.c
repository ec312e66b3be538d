/* crc_test.c: the C-level CRC suite. Every implementation this CPU can run (and any named in
 * STEADFAST_CRC, which QEMU needs for zbc) is checked against the same table: the RFC 3720 B.4
 * vectors, the CRC-32 check value, and a bit-at-a-time reference over random data at every length
 * 0..4096 and offsets 0..15, plus continuation and combine. Prints "N passed, N failed". */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crc_reference.h"
#include "steadfast/crc.h"

static int passed, failed;

static void check(int ok, const char *impl, const char *what, size_t len, size_t off, uint32_t got, uint32_t want) {
  if (ok) {
    passed++;
    return;
  }
  failed++;
  if (failed <= 20) fprintf(stderr, "FAIL %s %s len=%zu off=%zu got=%08x want=%08x\n", impl, what, len, off, got, want);
}

static uint64_t rng = 0x9E3779B97F4A7C15u;
static uint8_t next_byte(void) {
  rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
  return (uint8_t)rng;
}

typedef struct {
  const char *name;
  uint32_t poly;
  sf_crc_fn fn;
} variant_t;

static void suite(const char *impl, const variant_t *v, const uint8_t *data) {
  char what[64];
  static const uint8_t check_input[] = "123456789";
  uint32_t got = v->fn(0, check_input, 9);
  uint32_t want = v->poly == 0x82F63B78u ? 0xE3069283u : 0xCBF43926u;
  snprintf(what, sizeof what, "%s check value", v->name);
  check(got == want, impl, what, 9, 0, got, want);

  snprintf(what, sizeof what, "%s vs reference", v->name);
  for (size_t off = 0; off < 16; off++)
    for (size_t len = 0; len <= 4096; len += (len < 600 ? 1 : 37)) {
      got = v->fn(0, data + off, len);
      want = reference(v->poly, 0, data + off, len);
      check(got == want, impl, what, len, off, got, want);
    }

  /* Around the 3-way block sizes (3 x 256, 3 x 2048 bytes) and their multiples, aligned and not. */
  snprintf(what, sizeof what, "%s block thresholds", v->name);
  static uint8_t wide[19000 + 8];
  for (size_t i = 0; i < sizeof wide; i++) wide[i] = next_byte();
  static const size_t edges[] = {768, 1536, 6144, 12288, 18432};
  for (size_t off = 0; off < 8; off += 5)
    for (size_t e = 0; e < sizeof edges / sizeof edges[0]; e++)
      for (size_t len = edges[e] - 9; len <= edges[e] + 9; len++) {
        got = v->fn(0, wide + off, len);
        want = reference(v->poly, 0, wide + off, len);
        check(got == want, impl, what, len, off, got, want);
      }

  snprintf(what, sizeof what, "%s continuation", v->name);
  for (size_t split = 0; split <= 3000; split += 97) {
    uint32_t whole = v->fn(0, data, 3000);
    got = v->fn(v->fn(0, data, split), data + split, 3000 - split);
    check(got == whole, impl, what, 3000, split, got, whole);
  }

  /* Large input: the long blocks of the 3-way and fold loops. */
  snprintf(what, sizeof what, "%s 1 MiB", v->name);
  static uint8_t big[(1 << 20) + 3];
  for (size_t i = 0; i < sizeof big; i++) big[i] = next_byte();
  got = v->fn(0x12345678u, big + 3, 1 << 20);
  want = reference(v->poly, 0x12345678u, big + 3, 1 << 20);
  check(got == want, impl, what, 1 << 20, 3, got, want);
}

static void rfc3720(const char *impl, sf_crc_fn fn) {
  uint8_t buf[48];
  uint32_t got;
  memset(buf, 0, 32);
  got = fn(0, buf, 32), check(got == 0x8A9136AAu, impl, "rfc3720 zeros", 32, 0, got, 0x8A9136AAu);
  memset(buf, 0xff, 32);
  got = fn(0, buf, 32), check(got == 0x62A8AB43u, impl, "rfc3720 ones", 32, 0, got, 0x62A8AB43u);
  for (int i = 0; i < 32; i++) buf[i] = (uint8_t)i;
  got = fn(0, buf, 32), check(got == 0x46DD794Eu, impl, "rfc3720 incrementing", 32, 0, got, 0x46DD794Eu);
  for (int i = 0; i < 32; i++) buf[i] = (uint8_t)(31 - i);
  got = fn(0, buf, 32), check(got == 0x113FDB5Cu, impl, "rfc3720 decrementing", 32, 0, got, 0x113FDB5Cu);
  static const uint8_t pdu[48] = {
      0x01, 0xc0, [16] = 0x14, [22] = 0x04, [27] = 0x14, [31] = 0x18, [32] = 0x28, [40] = 0x02};
  got = fn(0, pdu, 48), check(got == 0xD9963A56u, impl, "rfc3720 iscsi read pdu", 48, 0, got, 0xD9963A56u);
}

static void combine(void) {
  static uint8_t data[5000];
  for (size_t i = 0; i < sizeof data; i++) data[i] = next_byte();
  for (size_t split = 0; split <= sizeof data; split += 131) {
    uint32_t a = sf_crc32c(0, data, split), b = sf_crc32c(0, data + split, sizeof data - split);
    uint32_t want = sf_crc32c(0, data, sizeof data), got = sf_crc32c_combine(a, b, sizeof data - split);
    check(got == want, "combine", "crc32c", sizeof data, split, got, want);
    a = sf_crc32(0, data, split), b = sf_crc32(0, data + split, sizeof data - split);
    want = sf_crc32(0, data, sizeof data), got = sf_crc32_combine(a, b, sizeof data - split);
    check(got == want, "combine", "crc32", sizeof data, split, got, want);
  }
}

/* sf_crc_force() switches both functions and back to the detected choice. */
static void forcing(void) {
  sf_crc_selection_t before, s;
  sf_crc_selection(&before);
  check(sf_crc_force("no-such-path") == -EINVAL, "force", "unknown name is -EINVAL", 0, 0, 0, 0);
  check(sf_crc_force("portable") == 0, "force", "portable", 0, 0, 0, 0);
  sf_crc_selection(&s);
  check(strcmp(s.crc32c, "portable") == 0 && strcmp(s.crc32, "portable") == 0 && s.forced, "force", "portable chosen",
        0, 0, 0, 0);
  check(sf_crc32c(0, "123456789", 9) == 0xE3069283u, "force", "portable answers", 9, 0, 0, 0);
  check(sf_crc_force(before.forced) == 0, "force", "restore", 0, 0, 0, 0);
  sf_crc_selection(&s);
  check(strcmp(s.crc32c, before.crc32c) == 0 && strcmp(s.crc32, before.crc32) == 0, "force", "restored", 0, 0, 0, 0);
}

int main(void) {
  static uint8_t data[4096 + 16];
  for (size_t i = 0; i < sizeof data; i++) data[i] = next_byte();
  /* The library applied STEADFAST_CRC when it was loaded. */
  const char *forced = getenv("STEADFAST_CRC");
  sf_crc_selection_t loaded;
  sf_crc_selection(&loaded);
  if (loaded.unknown) {
    fprintf(stderr, "STEADFAST_CRC=%s is not an implementation in this build\n", loaded.unknown);
    return 2;
  }

  for (int i = 0; i < sf_crc_impl_count(); i++) {
    const sf_crc_impl_t *impl = sf_crc_impl_get(i);
    if (!impl->available && !(forced && strcmp(forced, impl->name) == 0)) {
      printf("skip %s: not available on this CPU\n", impl->name);
      continue;
    }
    printf("testing %s\n", impl->name);
    if (impl->crc32c) {
      variant_t v = {"crc32c", 0x82F63B78u, impl->crc32c};
      rfc3720(impl->name, impl->crc32c);
      suite(impl->name, &v, data);
    }
    if (impl->crc32) {
      variant_t v = {"crc32", 0xEDB88320u, impl->crc32};
      suite(impl->name, &v, data);
    }
  }
  rfc3720("dispatch", sf_crc32c);
  combine();
  forcing();
  sf_crc_selection_t s;
  sf_crc_selection(&s);
  printf("selected crc32c=%s crc32=%s forced=%s features=\"%s\" detector=%s\n", s.crc32c, s.crc32,
         s.forced ? s.forced : "no", s.features, s.detector);
  printf("%d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
