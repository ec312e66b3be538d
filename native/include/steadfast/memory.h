/* steadfast/memory.h: a memory-read reference for benchmarks. */
#ifndef STEADFAST_MEMORY_H
#define STEADFAST_MEMORY_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Reads every byte of data once, as fast as one core can with portable code, and returns the XOR of
 * its 64-bit words (so the reads cannot be optimised away). bench/crc.mjs measures it beside the CRCs:
 * a checksum cannot be faster than reading its input. */
uint64_t sf_memory_read(const void *data, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* STEADFAST_MEMORY_H */
