/* fuzz_checkpoint.c: libFuzzer target for sf_ckpt_parse, the parser every checkpoint load goes
 * through. Each input is parsed twice, each time from a buffer of exactly its size so
 * AddressSanitizer reports any read past the end: once as it is, and once with its header CRC, chunk
 * table CRC and trailer CRC recomputed, so that mutations of lengths and counts get past the CRCs and
 * reach the bounds checks behind them. Each result must agree with itself: a file accepted as valid has
 * exactly the size its header describes; a rejected one names a problem and an offset no further than
 * just past its end. Seeds: fuzz/corpus/checkpoint (written by `checkpoint_test --write-corpus`). */
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
  sf_ckpt_file_t info;
  int rc = sf_ckpt_parse(bytes, size, &info);
  if (rc != info.status) abort();
  if (rc == 0) {
    uint64_t chunks = info.payload_len / info.chunk_size + (info.payload_len % info.chunk_size != 0);
    if (info.size != size || 64 + 4 * chunks + info.payload_len + 32 != size) abort();
    if (info.problem[0] != '\0' || info.bad_offset != -1) abort();
  } else {
    if (rc != SF_EFORMAT && rc != SF_EVERSION && rc != SF_ECORRUPT) abort();
    if (info.problem[0] == '\0' || info.bad_offset > (int64_t)size) abort();
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  uint8_t *copy = malloc(size ? size : 1);
  if (copy == NULL) return 0;
  if (size) memcpy(copy, data, size);
  check(copy, size);
  if (size >= 64) {
    put32(copy + 60, sf_crc32c(0, copy, 60));
    if (size >= 96) {
      uint8_t *t = copy + size - 32;
      uint64_t table = 4 * (uint64_t)get32(copy + 36);
      if (64 + table <= size - 32) put32(t + 24, sf_crc32c(0, copy + 64, (size_t)table));
      put32(t + 28, sf_crc32c(0, t, 28));
    }
    check(copy, size);
  }
  free(copy);
  return 0;
}
