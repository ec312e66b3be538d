/* fuzz_log.c: libFuzzer target for sf_log_parse_segment, the one segment scanner that recovery,
 * sf_log_inspect and the tools go through. Each input is scanned twice, each time from a buffer of
 * exactly its size so AddressSanitizer reports any read past the end: once as it is, and once with its
 * header CRC and the CRC of every record-shaped frame up to the first all-zero one recomputed (the
 * frame's salt set to the segment's unless the top bit of its flags, a reserved bit that readers ignore,
 * asks for a stale one), so that mutations of lengths, LSNs, commit positions and salts get past the CRCs
 * and reach the sequence and torn-versus-corrupt logic behind them. Each result must
 * agree with itself: records, LSNs and data_end describe a prefix of the input, and a problem comes with
 * an offset inside it. Seeds: fuzz/corpus/log (written by `log_test --write-corpus <dir>`). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "steadfast/crc.h"
#include "steadfast/store.h"

static void put32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void check(const uint8_t *bytes, size_t size) {
  sf_log_segment_t info;
  int rc = sf_log_parse_segment(bytes, size, &info);
  if (rc != info.status || info.size != size || info.path[0] != '\0') abort();
  if (rc == SF_EFORMAT || rc == SF_EVERSION || (rc == SF_ECORRUPT && info.records == 0 && info.data_end == 0)) {
    /* A header problem: nothing scanned. */
    if (info.problem[0] == '\0' || info.records != 0) abort();
    return;
  }
  if (rc != 0 && rc != SF_ECORRUPT) abort();
  if (info.data_end < 32 || info.data_end > size || info.data_end % 8 != 0) abort();
  if (info.first_lsn == 0 || info.last_lsn != info.first_lsn + info.records - 1) abort();
  if (info.records > (info.data_end - 32) / 24) abort();
  if (info.problem_offset == -1) {
    if (rc != 0 || info.problem[0] != '\0') abort();
  } else {
    if (info.problem[0] == '\0' || info.problem_offset != (int64_t)info.data_end) abort();
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  uint8_t *copy = malloc(size ? size : 1);
  if (copy == NULL) return 0;
  if (size) memcpy(copy, data, size);
  check(copy, size);
  if (size >= 32) {
    put32(copy + 28, sf_crc32c(0, copy, 28));
    uint32_t salt = get32(copy + 12);
    size_t off = 32;
    while (size - off >= 24) {
      uint8_t *f = copy + off;
      uint64_t len = get32(f + 4);
      uint64_t frame = 24 + ((len + 7) & ~(uint64_t)7);
      if (frame > size - off) break;
      int zero = 1;
      for (int i = 0; i < 24; i++) zero &= f[i] == 0;
      if (zero) break; /* the end marker stays one, so clean ends are reached too */
      if ((f[23] & 0x80) == 0) put32(f + 16, salt);
      put32(f, sf_crc32c(0, f + 4, 20 + (size_t)len));
      off += (size_t)frame;
    }
    check(copy, size);
  }
  free(copy);
  return 0;
}
