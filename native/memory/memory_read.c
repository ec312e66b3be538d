/* memory_read.c: the memory-read reference of steadfast/memory.h. Eight independent accumulators,
 * so the loop is bound by loads rather than by a chain of XORs; the compiler vectorises it for the
 * baseline ISA. */
#include <string.h>

#include "steadfast/memory.h"

uint64_t sf_memory_read(const void *data, size_t len) {
  const unsigned char *p = data;
  uint64_t acc[8] = {0};
  size_t i = 0;
  for (; i + 64 <= len; i += 64)
    for (int j = 0; j < 8; j++) {
      uint64_t word;
      memcpy(&word, p + i + 8 * j, sizeof word);
      acc[j] ^= word;
    }
  for (; i < len; i++) acc[0] ^= p[i];
  uint64_t x = 0;
  for (int j = 0; j < 8; j++) x ^= acc[j];
  return x;
}
