/* steadfast/crc.h: CRC-32C (Castagnoli) and CRC-32 (IEEE 802.3), with hardware paths.
 *
 * Both checksums use the reflected bit order, an initial value of 0xFFFFFFFF and a final XOR of
 * 0xFFFFFFFF, as iSCSI (RFC 3720), ext4 and etcd do for CRC-32C and as zlib does for CRC-32. A result
 * can be passed back as `crc` to continue over the next piece: sf_crc32c(sf_crc32c(0, a), b) equals
 * the CRC of a followed by b, exactly like zlib's crc32().
 *
 * Every implementation lives in its own file (portable; sse42, pclmul, vpclmul on x86-64; zbc on
 * riscv64; armcrc, pmull on arm64). One dispatcher picks the fastest one the CPU supports when the
 * library is loaded; the environment variable STEADFAST_CRC=<name>, read then, or sf_crc_force()
 * overrides the choice for tests and benchmarks. Everything is ready before main() and before
 * dlopen() returns (ELF constructors). The sf_crc32c()/sf_crc32() entry points are safe to call from any
 * thread; sf_crc_force() must not race with them (call it once, at start-up).
 */
#ifndef STEADFAST_CRC_H
#define STEADFAST_CRC_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Continues a CRC over len bytes at data (any alignment). Start with crc = 0. */
uint32_t sf_crc32c(uint32_t crc, const void *data, size_t len);
uint32_t sf_crc32(uint32_t crc, const void *data, size_t len);

/* Given crc_a = CRC(A) and crc_b = CRC(B), returns CRC(A followed by B) without the data;
 * len_b is the length of B in bytes. O(log len_b). */
uint32_t sf_crc32c_combine(uint32_t crc_a, uint32_t crc_b, uint64_t len_b);
uint32_t sf_crc32_combine(uint32_t crc_a, uint32_t crc_b, uint64_t len_b);

/* One implementation. crc32c or crc32 is NULL where the implementation has no path for that
 * polynomial (the SSE4.2 crc32 instruction, for one, computes only CRC-32C). The functions take and
 * return finished CRC values, like sf_crc32c(). */
typedef uint32_t (*sf_crc_fn)(uint32_t crc, const void *data, size_t len);

typedef struct sf_crc_impl_s {
  const char *name; /* "portable", "sse42", "pclmul", "vpclmul", "zbc", "armcrc", "pmull" */
  sf_crc_fn crc32c;
  sf_crc_fn crc32;
  int available; /* 1 if this CPU (as detected) can run it */
} sf_crc_impl_t;

/* The implementations compiled into this build, fastest first; index 0..count-1. */
int sf_crc_impl_count(void);
const sf_crc_impl_t *sf_crc_impl_get(int index);
const sf_crc_impl_t *sf_crc_impl_find(const char *name);

typedef struct sf_crc_selection_s {
  const char *crc32c;   /* name of the implementation sf_crc32c() uses */
  const char *crc32;    /* name of the implementation sf_crc32() uses */
  const char *forced;   /* name given to sf_crc_force(), or NULL when detection chose */
  const char *features; /* CPU features detected, space-separated, e.g. "sse4.2 pclmulqdq" */
  const char *detector; /* how features were found: "cpuid", "riscv_hwprobe", "getauxval(AT_HWCAP)", or why not */
  const char *unknown;  /* a STEADFAST_CRC value that names no implementation of this build, else NULL */
} sf_crc_selection_t;

void sf_crc_selection(sf_crc_selection_t *out);

/* Makes sf_crc32c()/sf_crc32() use the named implementation even where detection did not find it
 * (under QEMU, which runs Zbc code but has no riscv_hwprobe, this is how the Zbc path is tested).
 * A function the named implementation lacks keeps the portable path. Forcing a path the CPU cannot
 * execute ends the process with SIGILL at the first call: this is a tool for tests and benchmarks.
 * NULL restores the detected choice. Returns 0, or -EINVAL for a name this build does not know. */
int sf_crc_force(const char *name);

#ifdef __cplusplus
}
#endif

#endif /* STEADFAST_CRC_H */
