/* crc_dispatch.c: the one place that knows which CPU it runs on. It detects features once when the
 * library is loaded (a constructor, so before any caller can race it) and points
 * sf_crc32c()/sf_crc32() at the first implementation, in preference order, that the CPU supports and
 * that has the function, or at the one STEADFAST_CRC names.
 *
 * Preference order comes from measurement (bench/crc.mjs). On x86-64 the AVX-512 fold beats the 3-way
 * crc32 instruction from about 256 bytes on and hands shorter inputs to the 128-bit fold (which hands
 * inputs under 64 bytes to the crc32 instruction), so it goes first; the 3-way SSE4.2 loop beats the
 * 128-bit fold for CRC-32C. On arm64 the PMULL fold goes first by the same reasoning (it hands inputs
 * under 64 bytes to the CRC32 instructions); that order is not measured on an arm64 board yet.
 */
#define _GNU_SOURCE /* syscall() */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crc_internal.h"

#if defined(__x86_64__)
#include <cpuid.h>
#elif defined(__riscv) && __riscv_xlen == 64
#include <sys/syscall.h>
#include <unistd.h>
#elif defined(__aarch64__)
#include <sys/auxv.h>
#endif

static sf_crc_impl_t sf__impls[] = {
#if defined(__x86_64__)
    {"vpclmul", sf__crc32c_vpclmul, sf__crc32_vpclmul, 0},
    {"sse42", sf__crc32c_sse42, NULL, 0},
    {"pclmul", sf__crc32c_pclmul, sf__crc32_pclmul, 0},
#elif defined(__riscv) && __riscv_xlen == 64
    {"zbc", sf__crc32c_zbc, sf__crc32_zbc, 0},
#elif defined(__aarch64__)
    {"pmull", sf__crc32c_pmull, sf__crc32_pmull, 0},
    {"armcrc", sf__crc32c_armcrc, sf__crc32_armcrc, 0},
#endif
    {"portable", sf__crc32c_portable, sf__crc32_portable, 1},
};

#define SF__IMPL_COUNT ((int)(sizeof sf__impls / sizeof sf__impls[0]))

static sf_crc_fn sf__use_crc32c = sf__crc32c_portable;
static sf_crc_fn sf__use_crc32 = sf__crc32_portable;
static const char *sf__name_crc32c = "portable";
static const char *sf__name_crc32 = "portable";
static const char *sf__forced;
static char sf__unknown[64];
static char sf__features[128];
static const char *sf__detector = "none";

static void sf__feature(const char *name) {
  size_t used = strlen(sf__features);
  snprintf(sf__features + used, sizeof sf__features - used, "%s%s", used ? " " : "", name);
}

static void sf__mark_available(const char *name) {
  for (int i = 0; i < SF__IMPL_COUNT; i++)
    if (strcmp(sf__impls[i].name, name) == 0) sf__impls[i].available = 1;
}

#if defined(__x86_64__)
static void sf__detect(void) {
  unsigned a, b, c, d;
  int sse42 = 0, pclmul = 0, avx512 = 0, vpclmul = 0;
  sf__detector = "cpuid";
  if (__get_cpuid(1, &a, &b, &c, &d)) {
    sse42 = (c >> 20) & 1;
    pclmul = (c >> 1) & 1;
    int osxsave = (c >> 27) & 1;
    if (osxsave && __get_cpuid_count(7, 0, &a, &b, &c, &d)) {
      /* AVX-512 registers are usable only if the OS saves them: XCR0 bits 1, 2 (SSE, AVX) and
       * 5, 6, 7 (opmask, upper ZMM0-15, ZMM16-31). */
      unsigned lo, hi;
      __asm__("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
      int zmm_state = (lo & 0xE6) == 0xE6;
      avx512 = zmm_state && ((b >> 16) & 1) && ((b >> 31) & 1); /* AVX512F, AVX512VL */
      vpclmul = zmm_state && ((c >> 10) & 1);
    }
  }
  if (sse42) sf__feature("sse4.2");
  if (pclmul) sf__feature("pclmulqdq");
  if (avx512) sf__feature("avx512f avx512vl");
  if (vpclmul) sf__feature("vpclmulqdq");
  if (sse42) sf__mark_available("sse42");
  if (sse42 && pclmul) sf__mark_available("pclmul");
  if (sse42 && pclmul && avx512 && vpclmul) sf__mark_available("vpclmul");
}
#elif defined(__riscv) && __riscv_xlen == 64
/* From Linux's uapi asm/hwprobe.h: the call exists from Linux 6.4, the Zbc/Zbkc/Zvbc bits from 6.8
 * (older kernels answer without them, and the portable path is chosen). Debian's cross headers
 * predate it. */
#define SF__NR_riscv_hwprobe 258
#define SF__HWPROBE_KEY_IMA_EXT_0 4
#define SF__HWPROBE_IMA_V (1ULL << 2)
#define SF__HWPROBE_EXT_ZBC (1ULL << 7)
#define SF__HWPROBE_EXT_ZBKC (1ULL << 9)
#define SF__HWPROBE_EXT_ZVBC (1ULL << 18)

static void sf__detect(void) {
  struct {
    int64_t key;
    uint64_t value;
  } pair = {SF__HWPROBE_KEY_IMA_EXT_0, 0};
  /* No CPU set: the answer holds for every CPU the process may run on. ENOSYS (kernels before 6.4,
   * and QEMU 7.2 user mode) means unknown, so only the portable path is offered. */
  long rc = syscall(SF__NR_riscv_hwprobe, &pair, 1, 0, NULL, 0);
  if (rc != 0 || pair.key < 0) {
    sf__detector = rc != 0 && errno == ENOSYS ? "riscv_hwprobe unavailable (ENOSYS)" : "riscv_hwprobe failed";
    return;
  }
  sf__detector = "riscv_hwprobe";
  if (pair.value & SF__HWPROBE_IMA_V) sf__feature("v");
  if (pair.value & SF__HWPROBE_EXT_ZBC) sf__feature("zbc");
  if (pair.value & SF__HWPROBE_EXT_ZBKC) sf__feature("zbkc");
  if (pair.value & SF__HWPROBE_EXT_ZVBC) sf__feature("zvbc");
  if (pair.value & (SF__HWPROBE_EXT_ZBC | SF__HWPROBE_EXT_ZBKC)) sf__mark_available("zbc");
}
#elif defined(__aarch64__)
/* From Linux's uapi asm/hwcap.h for arm64. */
#define SF__HWCAP_PMULL (1UL << 4)
#define SF__HWCAP_CRC32 (1UL << 7)

static void sf__detect(void) {
  unsigned long hwcap = getauxval(AT_HWCAP);
  sf__detector = "getauxval(AT_HWCAP)";
  if (hwcap & SF__HWCAP_CRC32) sf__feature("crc32");
  if (hwcap & SF__HWCAP_PMULL) sf__feature("pmull");
  if (hwcap & SF__HWCAP_CRC32) sf__mark_available("armcrc");
  /* The fold path finishes with the CRC32 instructions, so it needs both. */
  if ((hwcap & SF__HWCAP_CRC32) && (hwcap & SF__HWCAP_PMULL)) sf__mark_available("pmull");
}
#else
static void sf__detect(void) {
  sf__detector = "none for this architecture";
}
#endif

/* Picks, for each function, the first implementation in preference order that is allowed. The
 * choice is made in locals and then stored, so a reader never sees a half-made choice. */
static void sf__choose(const sf_crc_impl_t *forced) {
  sf_crc_fn use_crc32c = sf__crc32c_portable, use_crc32 = sf__crc32_portable;
  const char *name_crc32c = "portable", *name_crc32 = "portable";
  for (int i = SF__IMPL_COUNT - 1; i >= 0; i--) {
    const sf_crc_impl_t *impl = &sf__impls[i];
    if (forced ? impl != forced : !impl->available) continue;
    if (impl->crc32c) use_crc32c = impl->crc32c, name_crc32c = impl->name;
    if (impl->crc32) use_crc32 = impl->crc32, name_crc32 = impl->name;
  }
  sf__use_crc32c = use_crc32c, sf__name_crc32c = name_crc32c;
  sf__use_crc32 = use_crc32, sf__name_crc32 = name_crc32;
}

/* Runs when the library is loaded, after crc_portable.c has built the constants (priority 101),
 * before any code of the program or of an addon's users can call in. STEADFAST_CRC is read here, once
 * per process: a worker thread's own environment cannot change a choice other threads are using. */
__attribute__((constructor(102))) static void sf__crc_load(void) {
  sf__detect();
  sf__choose(NULL);
  const char *name = getenv("STEADFAST_CRC");
  if (name && *name && sf_crc_force(name) != 0) snprintf(sf__unknown, sizeof sf__unknown, "%s", name);
}

uint32_t sf_crc32c(uint32_t crc, const void *data, size_t len) {
  return sf__use_crc32c(crc, data, len);
}

uint32_t sf_crc32(uint32_t crc, const void *data, size_t len) {
  return sf__use_crc32(crc, data, len);
}

int sf_crc_impl_count(void) {
  return SF__IMPL_COUNT;
}

const sf_crc_impl_t *sf_crc_impl_get(int index) {
  return index >= 0 && index < SF__IMPL_COUNT ? &sf__impls[index] : NULL;
}

const sf_crc_impl_t *sf_crc_impl_find(const char *name) {
  for (int i = 0; name && i < SF__IMPL_COUNT; i++)
    if (strcmp(sf__impls[i].name, name) == 0) return &sf__impls[i];
  return NULL;
}

int sf_crc_force(const char *name) {
  const sf_crc_impl_t *impl = NULL;
  if (name && !(impl = sf_crc_impl_find(name))) return -EINVAL;
  sf__forced = impl ? impl->name : NULL;
  sf__choose(impl);
  return 0;
}

void sf_crc_selection(sf_crc_selection_t *out) {
  out->crc32c = sf__name_crc32c;
  out->crc32 = sf__name_crc32;
  out->forced = sf__forced;
  out->features = sf__features;
  out->detector = sf__detector;
  out->unknown = sf__unknown[0] ? sf__unknown : NULL;
}
