/* checkpoint_test.c: the checkpoint store's C suite. Round trips over payload sizes and mirror counts,
 * the byte layout against docs/format.md (re-encoded here independently), fault injection through the
 * sf_io_t table (every write, sync, reservation and rename of a save failed in turn, EINTR, short
 * writes, and a check that no descriptor is synced after it failed), every header and trailer bit
 * flipped, payload bit flips, truncations, piecing a payload from two damaged mirrors, bad input, the
 * lock, and the fuzzer's seed corpus. Prints "N passed, N failed" and exits nonzero on a failure.
 *
 *   checkpoint_test                      run the suite
 *   checkpoint_test --write-corpus DIR   (re)write the seed corpus for fuzz/fuzz_checkpoint.c
 *
 * The corpus is found at fuzz/corpus/checkpoint beside this file's source tree, or at $SF_CORPUS_DIR. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "steadfast/crc.h"
#include "steadfast/store.h"

#define CS 4096u /* the chunk size the tests use: the smallest, so small payloads span several chunks */

/* ---- Reporting ----------------------------------------------------------------------------------- */

static int passed, failed, test_failures;
static const char *test_name;

__attribute__((format(printf, 2, 3))) static void fail_at(int line, const char *fmt, ...) {
  if (test_failures++ >= 6) return;
  fprintf(stderr, "FAIL %s (line %d): ", test_name, line);
  va_list ap;
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
}

#define EXPECT(cond, ...) ((cond) ? 1 : (fail_at(__LINE__, __VA_ARGS__), 0))
#define EXPECT_RC(rc, want, e)                                                                                        \
  EXPECT((rc) == (want), "got %s, want %s: %s [%s]", sf_store_error_name(rc), sf_store_error_name(want), (e).message, \
         (e).path)

static void run(const char *name, void (*fn)(void)) {
  test_name = name;
  test_failures = 0;
  fn();
  if (test_failures)
    failed++;
  else
    passed++;
}

/* ---- Files --------------------------------------------------------------------------------------- */

static char root[256];
static int case_number;

static void new_case(char *out, size_t cap) {
  snprintf(out, cap, "%s/case-%d", root, ++case_number);
  if (mkdir(out, 0755) != 0) perror(out), exit(2);
}

typedef struct mirrors_s {
  char dir[SF_CKPT_MAX_DIRS][512];
  const char *ptr[SF_CKPT_MAX_DIRS];
  size_t n;
} mirrors_t;

static void make_mirrors(mirrors_t *m, size_t n) {
  char base[400];
  new_case(base, sizeof base);
  m->n = n;
  for (size_t i = 0; i < n; i++) {
    snprintf(m->dir[i], sizeof m->dir[i], "%s/m%zu", base, i);
    if (mkdir(m->dir[i], 0755) != 0) perror(m->dir[i]), exit(2);
    m->ptr[i] = m->dir[i];
  }
}

static void ckpt_path(char *out, size_t cap, const char *dir, uint64_t gen) {
  snprintf(out, cap, "%s/ckpt-%016" PRIx64 ".sfc", dir, gen);
}

static uint8_t *slurp(const char *path, size_t *len) {
  *len = 0;
  int fd = open(path, O_RDONLY);
  if (fd < 0) return NULL;
  struct stat st;
  fstat(fd, &st);
  uint8_t *b = malloc((size_t)st.st_size + 1);
  ssize_t n = read(fd, b, (size_t)st.st_size);
  close(fd);
  *len = n > 0 ? (size_t)n : 0;
  return b;
}

static void spit(const char *path, const void *p, size_t len) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0 || (len && write(fd, p, len) != (ssize_t)len)) perror(path), exit(2);
  close(fd);
}

static int exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0;
}

static int file_is(const char *path, const uint8_t *want, size_t want_len) {
  size_t len;
  uint8_t *b = slurp(path, &len);
  int same = b && len == want_len && memcmp(b, want, len) == 0;
  free(b);
  return same;
}

/* Names in dir matching a prefix/suffix, e.g. temporary files. */
static int count_names(const char *dir, const char *prefix, const char *suffix) {
  DIR *d = opendir(dir);
  int n = 0;
  struct dirent *e;
  while (d && (e = readdir(d)) != NULL) {
    size_t len = strlen(e->d_name), sl = strlen(suffix);
    if (strncmp(e->d_name, prefix, strlen(prefix)) == 0 && len >= sl && strcmp(e->d_name + len - sl, suffix) == 0) n++;
  }
  if (d) closedir(d);
  return n;
}

/* Every file of a directory but LOCK, by name and bytes, to show a failed call changed nothing. */
typedef struct snap_s {
  char name[32][256];
  uint8_t *bytes[32];
  size_t len[32], n;
} snap_t;

static int cmp_str(const void *a, const void *b) {
  return strcmp(a, b);
}

static void snap_take(const char *dir, snap_t *s) {
  memset(s, 0, sizeof *s);
  DIR *d = opendir(dir);
  struct dirent *e;
  while (d && (e = readdir(d)) != NULL && s->n < 32) {
    if (e->d_name[0] == '.' && (e->d_name[1] == '\0' || strcmp(e->d_name, "..") == 0)) continue;
    if (strcmp(e->d_name, "LOCK") == 0) continue;
    snprintf(s->name[s->n++], 256, "%s", e->d_name);
  }
  if (d) closedir(d);
  qsort(s->name, s->n, 256, cmp_str);
  for (size_t i = 0; i < s->n; i++) {
    char path[900];
    snprintf(path, sizeof path, "%s/%s", dir, s->name[i]);
    s->bytes[i] = slurp(path, &s->len[i]);
  }
}

static int snap_same(const snap_t *a, const snap_t *b) {
  if (a->n != b->n) return 0;
  for (size_t i = 0; i < a->n; i++)
    if (strcmp(a->name[i], b->name[i]) != 0 || a->len[i] != b->len[i] ||
        (a->len[i] && memcmp(a->bytes[i], b->bytes[i], a->len[i]) != 0))
      return 0;
  return 1;
}

static void snap_free(snap_t *s) {
  for (size_t i = 0; i < s->n; i++) free(s->bytes[i]);
}

static int remove_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st, (void)flag, (void)ftw;
  chmod(path, 0755);
  return remove(path);
}

/* ---- Payloads and an independent encoder -------------------------------------------------------- */

static uint64_t rng = 0x9E3779B97F4A7C15u;
static uint64_t next_random(void) {
  rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
  return rng;
}

static uint8_t *make_payload(size_t len, uint32_t seed) {
  uint8_t *p = malloc(len + 1);
  uint32_t x = seed * 2654435761u + 1;
  for (size_t i = 0; i < len; i++) x = x * 1103515245u + 12345u, p[i] = (uint8_t)(x >> 16);
  return p;
}

static void put16(uint8_t *p, uint16_t v) {
  p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8);
}
static void put32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static void put64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static uint16_t get16(const uint8_t *p) {
  return (uint16_t)(p[0] | p[1] << 8);
}
static uint32_t get32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t get64(const uint8_t *p) {
  return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

typedef struct enc_s {
  uint64_t gen, created, lsn;
  uint32_t chunk;
  uint16_t major, minor;
  uint32_t flags;
} enc_t;

/* A checkpoint file written straight from the table in docs/format.md, without the library. */
static uint8_t *encode(const enc_t *e, const uint8_t *payload, size_t len, size_t *out_len) {
  uint32_t count = (uint32_t)((len + e->chunk - 1) / e->chunk);
  size_t size = 64 + 4 * (size_t)count + len + 32;
  uint8_t *b = calloc(1, size);
  memcpy(b, "SFCKPT\r\n", 8);
  put16(b + 8, e->major);
  put16(b + 10, e->minor);
  put32(b + 12, 64);
  put64(b + 16, e->gen);
  put64(b + 24, len);
  put32(b + 32, e->chunk);
  put32(b + 36, count);
  put64(b + 40, e->created);
  put64(b + 48, e->lsn);
  put32(b + 56, e->flags);
  put32(b + 60, sf_crc32c(0, b, 60));
  for (uint32_t i = 0; i < count; i++) {
    size_t start = (size_t)i * e->chunk, n = len - start < e->chunk ? len - start : e->chunk;
    put32(b + 64 + 4 * (size_t)i, sf_crc32c(0, payload + start, n));
  }
  if (len) memcpy(b + 64 + 4 * (size_t)count, payload, len);
  uint8_t *t = b + size - 32;
  memcpy(t, "SFCKEND\n", 8);
  put64(t + 8, e->gen);
  put64(t + 16, len);
  put32(t + 24, sf_crc32c(0, b + 64, 4 * (size_t)count));
  put32(t + 28, sf_crc32c(0, t, 28));
  *out_len = size;
  return b;
}

/* ---- An I/O table that counts, fails and shortens ------------------------------------------------ */

typedef struct fault_s {
  sf_io_t io;
  int armed;        /* count and inject only while set */
  long calls;       /* pwrite, fdatasync, fsync, fallocate and rename calls counted while armed */
  long fail_at;     /* fail this counted call (1-based) with fail_code; 0: none */
  int fail_code;    /* -EIO or -ENOSPC */
  long pwrites;     /* pwrite calls while armed */
  long eintr_at;    /* return -EINTR (writing nothing) from this pwrite (1-based); 0: none */
  int short_writes; /* write only 1..7 bytes per pwrite */
  int no_fallocate; /* fallocate returns -EOPNOTSUPP, as on a filesystem without it */
  int fast;         /* syncs succeed without reaching the disk (bulk tests that do not test durability) */
  long fdatasyncs, fsyncs;
  long fail_fsync_at; /* fail this fsync (1-based, counted while armed) with fail_code; 0: none */
  int violations;     /* syncs issued on a descriptor after a write or sync on it failed */
  char failed_fd[4096];
  const char *unreadable; /* pread fails with -EIO on files whose path ends with this */
  const char *plant_link; /* the next temporary file is created (holding "stale") just before the store's
                             own open, and hard-linked here, as if an earlier attempt had left it */
  char unreadable_fd[4096];
} fault_t;

static const sf_io_t *real(void) {
  return sf_io_default();
}
static fault_t *fault_of(const sf_io_t *io) {
  return (fault_t *)io->user;
}
static void mark_failed(fault_t *f, int fd) {
  if (fd >= 0 && fd < 4096) f->failed_fd[fd] = 1;
}
static int inject(fault_t *f) {
  if (!f->armed) return 0;
  return ++f->calls == f->fail_at ? f->fail_code : 0;
}

static int f_open(const sf_io_t *io, const char *path, int flags, mode_t mode) {
  fault_t *f = fault_of(io);
  size_t len = strlen(path);
  if (f->plant_link && len > 8 && strcmp(path + len - 8, ".sfc.tmp") == 0) {
    spit(path, "stale", 5);
    if (link(path, f->plant_link) != 0) perror(f->plant_link);
    f->plant_link = NULL;
  }
  int fd = real()->open(real(), path, flags, mode);
  if (fd >= 0 && fd < 4096) {
    size_t n = strlen(path), k = f->unreadable ? strlen(f->unreadable) : 0;
    f->failed_fd[fd] = 0;
    f->unreadable_fd[fd] = k && n >= k && strcmp(path + n - k, f->unreadable) == 0;
  }
  return fd;
}
static ssize_t f_pread(const sf_io_t *io, int fd, void *buf, size_t len, off_t offset) {
  fault_t *f = fault_of(io);
  if (fd >= 0 && fd < 4096 && f->unreadable_fd[fd]) return -EIO;
  return real()->pread(real(), fd, buf, len, offset);
}
static int f_close(const sf_io_t *io, int fd) {
  fault_t *f = fault_of(io);
  if (fd >= 0 && fd < 4096) f->failed_fd[fd] = 0;
  return real()->close(real(), fd);
}
static ssize_t f_pwrite(const sf_io_t *io, int fd, const void *buf, size_t len, off_t offset) {
  fault_t *f = fault_of(io);
  if (f->armed && ++f->pwrites == f->eintr_at) return -EINTR;
  int rc = inject(f);
  if (rc) {
    mark_failed(f, fd);
    return rc;
  }
  if (f->short_writes && len > 1) {
    size_t most = 1 + (size_t)(next_random() % 7);
    if (len > most) len = most;
  }
  ssize_t n = real()->pwrite(real(), fd, buf, len, offset);
  if (n < 0) mark_failed(f, fd);
  return n;
}
static int f_sync(fault_t *f, int fd, int data) {
  if (fd >= 0 && fd < 4096 && f->failed_fd[fd]) f->violations++;
  if (f->armed) data ? f->fdatasyncs++ : f->fsyncs++;
  int rc = inject(f);
  if (rc == 0 && f->armed && !data && f->fsyncs == f->fail_fsync_at) rc = f->fail_code;
  if (rc == 0 && !f->fast) rc = data ? real()->fdatasync(real(), fd) : real()->fsync(real(), fd);
  if (rc) mark_failed(f, fd);
  return rc;
}
static int f_fdatasync(const sf_io_t *io, int fd) {
  return f_sync(fault_of(io), fd, 1);
}
static int f_fsync(const sf_io_t *io, int fd) {
  return f_sync(fault_of(io), fd, 0);
}
static int f_fallocate(const sf_io_t *io, int fd, off_t offset, off_t len) {
  fault_t *f = fault_of(io);
  int rc = inject(f);
  if (rc == 0 && f->no_fallocate) return -EOPNOTSUPP;
  if (rc == 0) rc = real()->fallocate(real(), fd, offset, len);
  if (rc) mark_failed(f, fd);
  return rc;
}
static int f_rename(const sf_io_t *io, const char *from, const char *to) {
  int rc = inject(fault_of(io));
  return rc ? rc : real()->rename(real(), from, to);
}

static void fault_init(fault_t *f) {
  memset(f, 0, sizeof *f);
  f->io = *sf_io_default();
  f->io.open = f_open;
  f->io.close = f_close;
  f->io.pwrite = f_pwrite;
  f->io.pread = f_pread;
  f->io.fdatasync = f_fdatasync;
  f->io.fsync = f_fsync;
  f->io.fallocate = f_fallocate;
  f->io.rename = f_rename;
  f->io.user = f;
}

static void fault_arm(fault_t *f, long fail_at, int code) {
  f->armed = 1, f->calls = 0, f->pwrites = 0, f->fail_at = fail_at, f->fail_code = code;
  f->fdatasyncs = f->fsyncs = 0;
}

static fault_t fast_io; /* syncs skipped: for the tests that repeat a load thousands of times */

/* ---- Store helpers ------------------------------------------------------------------------------- */

static sf_ckpt_t *open_store(const mirrors_t *m, uint32_t keep, const sf_io_t *io) {
  sf_ckpt_options_t o = {m->ptr, m->n, keep, CS, io};
  sf_ckpt_t *s = NULL;
  sf_store_error_t e = {0};
  int rc = sf_ckpt_open(&o, &s, &e);
  EXPECT_RC(rc, 0, e);
  return s;
}

static uint64_t save(sf_ckpt_t *s, const void *p, size_t len, uint64_t lsn) {
  uint64_t gen = 0;
  sf_store_error_t e = {0};
  int rc = sf_ckpt_save(s, p, len, lsn, &gen, &e);
  EXPECT_RC(rc, 0, e);
  return gen;
}

static int payload_is(const sf_ckpt_loaded_t *l, const uint8_t *p, size_t len) {
  return l->len == len && (len == 0 || (l->payload && memcmp(l->payload, p, len) == 0));
}

/* ---- Round trips --------------------------------------------------------------------------------- */

static void test_round_trip(void) {
  const size_t sizes[] = {0, 1, CS - 1, CS, CS + 1, 3 * CS + 5, 1u << 20};
  for (size_t mirrors = 1; mirrors <= 3; mirrors++)
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
      mirrors_t m;
      make_mirrors(&m, mirrors);
      uint8_t *p = make_payload(sizes[i], (uint32_t)(i + 7 * mirrors));
      sf_ckpt_t *s = open_store(&m, 0, NULL);
      uint64_t gen = save(s, p, sizes[i], 0);
      sf_ckpt_close(s);
      EXPECT(gen == 1, "first generation is %" PRIu64, gen);
      s = open_store(&m, 0, NULL);
      sf_ckpt_loaded_t l;
      sf_store_error_t e = {0};
      int rc = sf_ckpt_load(s, &l, &e);
      EXPECT_RC(rc, 0, e);
      EXPECT(l.generation == 1 && payload_is(&l, p, sizes[i]), "size %zu, %zu mirrors: payload differs", sizes[i],
             mirrors);
      EXPECT(l.repair_count == 0 && !l.fell_back && !l.chunks_pieced, "a clean load repaired something");
      EXPECT(l.payload != NULL, "a loaded generation has a payload pointer even when empty");
      for (size_t d = 0; d < mirrors; d++) {
        char path[600];
        ckpt_path(path, sizeof path, m.dir[d], 1);
        EXPECT(exists(path), "mirror %zu has no copy", d);
        EXPECT(count_names(m.dir[d], ".ckpt-", ".tmp") == 0, "a temporary file was left");
      }
      sf_ckpt_loaded_free(&l);
      sf_ckpt_close(s);
      free(p);
    }
}

static void test_empty_store_loads_generation_zero(void) {
  mirrors_t m;
  make_mirrors(&m, 2);
  sf_ckpt_t *s = open_store(&m, 0, NULL);
  sf_ckpt_loaded_t l;
  sf_store_error_t e = {0};
  int rc = sf_ckpt_load(s, &l, &e);
  EXPECT_RC(rc, 0, e);
  EXPECT(l.generation == 0 && l.payload == NULL && l.len == 0 && l.repair_count == 0, "empty store loaded something");
  sf_ckpt_close(s);
}

static void test_generations_count_up_across_reopen(void) {
  mirrors_t m;
  make_mirrors(&m, 2);
  sf_ckpt_t *s = open_store(&m, 5, NULL);
  for (uint64_t want = 1; want <= 3; want++) EXPECT(save(s, "x", 1, 0) == want, "generation %" PRIu64, want);
  sf_ckpt_close(s);
  s = open_store(&m, 5, NULL);
  EXPECT(save(s, "y", 1, 0) == 4, "a reopened store continues at 4");
  sf_ckpt_close(s);
}

static void test_generations_never_reuse_a_number_seen_in_any_file_name(void) {
  mirrors_t m;
  make_mirrors(&m, 2);
  char path[600];
  /* An invalid file (generation 9) in one mirror, a moved-aside one (12) and a temporary file (20) in the
   * other: the next save is 21, the temporary file is removed by open, the rest stay. */
  ckpt_path(path, sizeof path, m.dir[0], 9);
  spit(path, "garbage", 7);
  snprintf(path, sizeof path, "%s/ckpt-%016x.sfc.corrupt-2", m.dir[1], 12);
  spit(path, "x", 1);
  snprintf(path, sizeof path, "%s/.ckpt-%016x.sfc.tmp", m.dir[1], 20);
  spit(path, "partial", 7);
  sf_ckpt_t *s = open_store(&m, 1, NULL);
  EXPECT(!exists(path), "open did not remove the leftover temporary file");
  EXPECT(save(s, "a", 1, 0) == 21, "next generation is not 21");
  EXPECT(save(s, "b", 1, 0) == 22, "next generation is not 22");
  ckpt_path(path, sizeof path, m.dir[0], 9);
  EXPECT(exists(path), "pruning deleted a file that is not a valid checkpoint");
  ckpt_path(path, sizeof path, m.dir[0], 21);
  EXPECT(!exists(path), "keep=1 kept generation 21");
  /* A file moved aside counts too, here the highest generation of all. */
  snprintf(path, sizeof path, "%s/ckpt-%016x.sfc.corrupt", m.dir[0], 40);
  spit(path, "y", 1);
  EXPECT(save(s, "c", 1, 0) == 41, "next generation is not 41");
  sf_ckpt_close(s);
}

static void check_kept(const mirrors_t *m, uint64_t newest, uint32_t keep) {
  for (size_t d = 0; d < m->n; d++)
    for (uint64_t g = 1; g <= newest; g++) {
      char path[600];
      ckpt_path(path, sizeof path, m->dir[d], g);
      int want = g + keep > newest;
      EXPECT(exists(path) == want, "keep=%u: generation %" PRIu64 " in mirror %zu %s", keep, g, d,
             want ? "was deleted" : "was kept");
    }
}

static void test_keep_two_deletes_older_generations(void) {
  mirrors_t m;
  make_mirrors(&m, 2);
  sf_ckpt_t *s = open_store(&m, 0, NULL); /* 0: the default, 2 */
  for (int i = 0; i < 5; i++) save(s, "p", 1, 0);
  check_kept(&m, 5, 2);
  sf_ckpt_close(s);
}

static void test_keep_three_keeps_three_generations(void) {
  mirrors_t m;
  make_mirrors(&m, 3);
  sf_ckpt_t *s = open_store(&m, 3, NULL);
  for (int i = 0; i < 6; i++) save(s, "p", 1, 0);
  check_kept(&m, 6, 3);
  sf_ckpt_close(s);
}

static void test_keep_counts_only_valid_generations(void) {
  mirrors_t m;
  make_mirrors(&m, 1);
  sf_ckpt_t *s = open_store(&m, 2, NULL);
  save(s, "one", 3, 0);
  save(s, "two", 3, 0);
  char path[600];
  ckpt_path(path, sizeof path, m.dir[0], 2);
  spit(path, "broken", 6); /* generation 2 is no longer valid */
  save(s, "three", 5, 0);
  /* The two newest valid generations are 3 and 1; 2 is invalid and stays as evidence. */
  ckpt_path(path, sizeof path, m.dir[0], 1);
  EXPECT(exists(path), "generation 1 was deleted though only one newer generation is valid");
  ckpt_path(path, sizeof path, m.dir[0], 2);
  EXPECT(file_is(path, (const uint8_t *)"broken", 6), "the invalid generation 2 was touched");
  save(s, "four", 4, 0);
  ckpt_path(path, sizeof path, m.dir[0], 1);
  EXPECT(!exists(path), "generation 1 outlived keep=2");
  sf_ckpt_close(s);
}

static void test_lsn_and_created_time_are_stored(void) {
  mirrors_t m;
  make_mirrors(&m, 1);
  sf_ckpt_t *s = open_store(&m, 0, NULL);
  struct timespec a, b;
  clock_gettime(CLOCK_REALTIME, &a);
  save(s, "state", 5, 0x1122334455667788u);
  clock_gettime(CLOCK_REALTIME, &b);
  sf_ckpt_loaded_t l;
  sf_store_error_t e = {0};
  int rc = sf_ckpt_load(s, &l, &e);
  EXPECT_RC(rc, 0, e);
  uint64_t lo = (uint64_t)a.tv_sec * 1000000000u + (uint64_t)a.tv_nsec;
  uint64_t hi = (uint64_t)b.tv_sec * 1000000000u + (uint64_t)b.tv_nsec;
  EXPECT(l.lsn == 0x1122334455667788u, "lsn %" PRIx64, l.lsn);
  EXPECT(l.created_ns >= lo && l.created_ns <= hi, "created %" PRIu64 " outside [%" PRIu64 ", %" PRIu64 "]",
         l.created_ns, lo, hi);
  sf_ckpt_loaded_free(&l);
  sf_ckpt_close(s);
}

/* ---- The byte layout ----------------------------------------------------------------------------- */

static void test_file_bytes_match_the_documented_layout(void) {
  mirrors_t m;
  make_mirrors(&m, 1);
  size_t len = 3 * CS + 5;
  uint8_t *p = make_payload(len, 42);
  sf_ckpt_t *s = open_store(&m, 0, NULL);
  save(s, p, len, 77);
  sf_ckpt_close(s);
  char path[600];
  ckpt_path(path, sizeof path, m.dir[0], 1);
  EXPECT(strstr(path, "/ckpt-0000000000000001.sfc") != NULL, "file name");
  size_t n;
  uint8_t *b = slurp(path, &n);
  if (!EXPECT(b != NULL && n == 64 + 4 * 4 + len + 32, "file size %zu", n)) return free(b), free(p);
  static const uint8_t magic[8] = {0x53, 0x46, 0x43, 0x4B, 0x50, 0x54, 0x0D, 0x0A};
  static const uint8_t end[8] = {0x53, 0x46, 0x43, 0x4B, 0x45, 0x4E, 0x44, 0x0A};
  EXPECT(memcmp(b, magic, 8) == 0, "header magic");
  EXPECT(get16(b + 8) == 1 && get16(b + 10) == 0, "version %u.%u", get16(b + 8), get16(b + 10));
  EXPECT(get32(b + 12) == 64, "header size %u", get32(b + 12));
  EXPECT(get64(b + 16) == 1, "generation at 16");
  EXPECT(get64(b + 24) == len, "payload length at 24");
  EXPECT(get32(b + 32) == CS, "chunk size at 32");
  EXPECT(get32(b + 36) == 4, "chunk count at 36");
  EXPECT(get64(b + 48) == 77, "lsn at 48");
  EXPECT(get32(b + 56) == 0, "flags at 56");
  EXPECT(get32(b + 60) == sf_crc32c(0, b, 60), "header CRC at 60");
  for (uint32_t i = 0; i < 4; i++) {
    size_t start = i * CS, cn = len - start < CS ? len - start : CS;
    EXPECT(get32(b + 64 + 4 * i) == sf_crc32c(0, p + start, cn), "chunk table entry %u", i);
  }
  EXPECT(memcmp(b + 80, p, len) == 0, "payload at 80");
  const uint8_t *t = b + n - 32;
  EXPECT(memcmp(t, end, 8) == 0, "trailer magic");
  EXPECT(get64(t + 8) == 1 && get64(t + 16) == len, "trailer generation and length");
  EXPECT(get32(t + 24) == sf_crc32c(0, b + 64, 16), "trailer table CRC");
  EXPECT(get32(t + 28) == sf_crc32c(0, t, 28), "trailer CRC");
  enc_t e = {1, get64(b + 40), 77, CS, 1, 0, 0};
  size_t elen;
  uint8_t *want = encode(&e, p, len, &elen);
  EXPECT(elen == n && memcmp(want, b, n) == 0, "the file differs from an independent encoding");
  sf_ckpt_file_t info;
  EXPECT(sf_ckpt_parse(b, n, &info) == 0 && info.generation == 1 && info.payload_len == len && info.lsn == 77 &&
             info.chunk_size == CS && info.version_major == 1 && info.bad_offset == -1 && info.problem[0] == 0,
         "parse of a good file");
  free(want);
  free(b);
  free(p);
}

/* A large save writes its first copy group by group (payload first, CRCs as it goes, then the header,
 * table and trailer) and the other copies in order; both must give the bytes of the documented layout,
 * with chunks smaller and larger than a group. */
static void test_a_large_save_matches_the_documented_layout_in_every_mirror(void) {
  const uint32_t chunks[] = {CS, 1u << 20};
  size_t len = (5u << 19) + 3; /* 2.5 MiB + 3: several groups, a partial last chunk */
  uint8_t *p = make_payload(len, 43);
  for (size_t k = 0; k < 2; k++) {
    mirrors_t m;
    make_mirrors(&m, 2);
    sf_ckpt_options_t o = {m.ptr, m.n, 0, chunks[k], NULL};
    sf_ckpt_t *s = NULL;
    sf_store_error_t e = {0};
    int rc = sf_ckpt_open(&o, &s, &e);
    EXPECT_RC(rc, 0, e);
    if (rc != 0) continue;
    save(s, p, len, 5);
    sf_ckpt_close(s);
    for (size_t d = 0; d < m.n; d++) {
      char path[600];
      ckpt_path(path, sizeof path, m.dir[d], 1);
      size_t n, elen;
      uint8_t *b = slurp(path, &n);
      if (!EXPECT(b != NULL && n > 48, "chunk size %u, mirror %zu: no file", chunks[k], d)) continue;
      enc_t enc = {1, get64(b + 40), 5, chunks[k], 1, 0, 0};
      uint8_t *want = encode(&enc, p, len, &elen);
      EXPECT(elen == n && memcmp(want, b, n) == 0,
             "chunk size %u, mirror %zu: the file differs from an independent encoding", chunks[k], d);
      free(want);
      free(b);
    }
  }
  free(p);
}

static void test_a_newer_minor_version_with_flags_is_readable(void) {
  mirrors_t m;
  make_mirrors(&m, 1);
  uint8_t *p = make_payload(100, 3);
  enc_t e = {1, 5, 6, CS, 1, 7, 0xFFFF0000u};
  size_t n;
  uint8_t *b = encode(&e, p, 100, &n);
  char path[600];
  ckpt_path(path, sizeof path, m.dir[0], 1);
  spit(path, b, n);
  sf_ckpt_t *s = open_store(&m, 0, NULL);
  sf_ckpt_loaded_t l;
  sf_store_error_t err = {0};
  int rc = sf_ckpt_load(s, &l, &err);
  EXPECT_RC(rc, 0, err);
  EXPECT(l.generation == 1 && payload_is(&l, p, 100) && l.lsn == 6 && l.created_ns == 5, "version 1.7 payload");
  sf_ckpt_loaded_free(&l);
  sf_ckpt_close(s);
  free(b);
  free(p);
}

/* ---- Fault injection ----------------------------------------------------------------------------- */

/* Fails the Nth write, sync, reservation or rename of a save, for every N a save makes: the save
 * returns exactly that error, no descriptor is synced after it failed, no temporary file remains, the
 * store loads the previous generation (or the new one when it was already durable everywhere and only
 * pruning failed), and the next save works. */
static void fault_sweep(size_t mirrors, int code, size_t len) {
  uint8_t *p[5];
  for (int i = 1; i <= 4; i++) p[i] = make_payload(len, (uint32_t)(i + 100 * mirrors));
  /* A small file is one pwrite; a large one is written by the first mirror in groups of 256 KiB, then
   * its header and chunk table, then its trailer, and by every other mirror in three writes. */
  size_t total_size = 64 + 4 * ((len + CS - 1) / CS) + len + 32;
  long pwrites = total_size <= (64u << 10)
                     ? (long)mirrors
                     : (long)((len + (256u << 10) - 1) / (256u << 10)) + 2 + 3 * ((long)mirrors - 1);
  fault_t f;
  long total = 0;
  for (long n = 0; n <= total; n++) {
    mirrors_t m;
    make_mirrors(&m, mirrors);
    fault_init(&f);
    sf_ckpt_t *s = open_store(&m, 2, &f.io);
    save(s, p[1], len, 1);
    save(s, p[2], len, 2);
    fault_arm(&f, n, code);
    uint64_t gen = 0;
    sf_store_error_t e = {0};
    int rc = sf_ckpt_save(s, p[3], len, 3, &gen, &e); /* prunes generation 1 when it succeeds */
    f.armed = 0;
    if (n == 0) {
      /* The run without a fault counts the calls to fail and the syncs a save costs. */
      total = f.calls;
      EXPECT_RC(rc, 0, e);
      EXPECT(f.fdatasyncs == (long)mirrors, "%ld fdatasyncs for %zu mirrors", f.fdatasyncs, mirrors);
      EXPECT(f.fsyncs == (long)mirrors, "%ld directory fsyncs (one covers save and prune) for %zu mirrors", f.fsyncs,
             mirrors);
      EXPECT(f.pwrites == pwrites, "%ld pwrites, want %ld", f.pwrites, pwrites);
      EXPECT(total == 4 * (long)mirrors + pwrites, "%ld calls", total);
    } else {
      EXPECT(rc == code, "%s at call %ld of %ld: save returned %s (%s)", sf_store_error_name(code), n, total,
             sf_store_error_name(rc), e.message);
      EXPECT(e.code == rc && e.path[0] != '\0' && e.message[0] != '\0', "call %ld: error not filled in", n);
    }
    EXPECT(f.violations == 0, "call %ld: a descriptor was synced after a failed write or sync", n);
    for (size_t d = 0; d < mirrors; d++)
      EXPECT(count_names(m.dir[d], ".ckpt-", ".tmp") == 0, "call %ld: temporary file left", n);
    sf_ckpt_loaded_t l;
    rc = sf_ckpt_load(s, &l, &e);
    EXPECT_RC(rc, 0, e);
    uint64_t want = gen == 3 ? 3 : 2;
    EXPECT(l.generation == want && payload_is(&l, p[want], len) && l.repair_count == 0,
           "call %ld: loaded generation %" PRIu64 " (%zu repairs), want %" PRIu64, n, l.generation, l.repair_count,
           want);
    sf_ckpt_loaded_free(&l);
    /* The next save starts from a new temporary file and never reuses the failed generation's number. */
    EXPECT(save(s, p[4], len, 4) == 4, "call %ld: the save after a failure", n);
    rc = sf_ckpt_load(s, &l, &e);
    EXPECT(rc == 0 && l.generation == 4 && payload_is(&l, p[4], len), "call %ld: reload after recovery", n);
    EXPECT(f.violations == 0, "call %ld: a descriptor was synced after a failed write or sync", n);
    sf_ckpt_loaded_free(&l);
    sf_ckpt_close(s);
  }
  for (int i = 1; i <= 4; i++) free(p[i]);
}

static void test_a_failed_io_call_fails_the_save_and_keeps_the_previous_generation(void) {
  for (size_t mirrors = 1; mirrors <= 2; mirrors++) {
    fault_sweep(mirrors, -EIO, 2 * CS + 9);
    fault_sweep(mirrors, -ENOSPC, 2 * CS + 9);
  }
  fault_sweep(2, -EIO, (600u << 10) + 9);
}

/* A save unlinks the generations it prunes before each directory's one fsync. If that fsync fails, the
 * new generation may be the only copy left in the directory, so the save must not take it back: with
 * keep = 1 that would leave nothing to load. */
static void test_a_failed_directory_fsync_after_pruning_never_empties_the_store(void) {
  static const struct {
    size_t mirrors;
    uint32_t keep;
  } cases[] = {{1, 1}, {2, 1}, {2, 2}};
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    size_t mirrors = cases[c].mirrors;
    uint32_t keep = cases[c].keep;
    for (long victim = 1; victim <= (long)mirrors; victim++) {
      mirrors_t m;
      make_mirrors(&m, mirrors);
      fault_t f;
      fault_init(&f);
      sf_ckpt_t *s = open_store(&m, keep, &f.io);
      uint8_t *p[4];
      for (uint32_t i = 1; i <= keep + 1; i++) p[i] = make_payload(CS + 3, i);
      for (uint32_t i = 1; i <= keep; i++) save(s, p[i], CS + 3, i);
      /* The next save prunes generation 1; the directory fsync of mirror `victim` fails. */
      fault_arm(&f, 0, -EIO);
      f.fail_fsync_at = victim;
      uint64_t gen = 0;
      sf_store_error_t e = {0};
      int rc = sf_ckpt_save(s, p[keep + 1], CS + 3, keep + 1, &gen, &e);
      f.armed = 0;
      EXPECT(rc == -EIO && e.code == -EIO, "%zu mirrors, keep %u, fsync %ld: save returned %s (%s)", mirrors, keep,
             victim, sf_store_error_name(rc), e.message);
      EXPECT(strcmp(e.path, m.dir[victim - 1]) == 0, "error names %s, want the directory %s", e.path,
             m.dir[victim - 1]);
      EXPECT(gen == keep + 1, "*generation is %" PRIu64 ", want %u (the new generation was kept)", gen, keep + 1);
      EXPECT(f.fsyncs == (long)mirrors, "%ld directory fsyncs for %zu mirrors (the rest still fsynced)", f.fsyncs,
             mirrors);
      EXPECT(f.violations == 0, "a descriptor was synced after a failed write or sync");
      for (size_t d = 0; d < mirrors; d++) {
        char path[4096];
        ckpt_path(path, sizeof path, m.dir[d], keep + 1);
        EXPECT(exists(path), "mirror %zu lost the new generation", d);
      }
      sf_ckpt_loaded_t l;
      rc = sf_ckpt_load(s, &l, &e);
      EXPECT_RC(rc, 0, e);
      EXPECT(l.generation == keep + 1 || l.generation == keep, "loaded generation %" PRIu64 " (0 means empty)",
             l.generation);
      if (l.generation >= 1)
        EXPECT(payload_is(&l, p[l.generation], CS + 3), "generation %" PRIu64 " payload differs", l.generation);
      sf_ckpt_loaded_free(&l);
      sf_ckpt_close(s);
      /* A new handle (as after a restart) finds it too. */
      s = open_store(&m, keep, NULL);
      rc = sf_ckpt_load(s, &l, &e);
      EXPECT(rc == 0 && l.generation == keep + 1, "reopened: loaded generation %" PRIu64, l.generation);
      sf_ckpt_loaded_free(&l);
      sf_ckpt_close(s);
      for (uint32_t i = 1; i <= keep + 1; i++) free(p[i]);
    }
  }
}

static void test_eintr_on_any_write_is_retried(void) {
  /* One write per mirror for a small file; for a large one the first mirror's groups, header and
   * trailer, and the second mirror's three writes. */
  const size_t sizes[] = {CS + 1, (600u << 10) + 1};
  const long want_writes[] = {2, 3 + 2 + 3};
  for (size_t z = 0; z < 2; z++) {
    size_t len = sizes[z];
    mirrors_t m;
    make_mirrors(&m, 2);
    fault_t f;
    fault_init(&f);
    sf_ckpt_t *s = open_store(&m, 2, &f.io);
    uint8_t *p = make_payload(len, 9);
    fault_arm(&f, 0, 0);
    save(s, p, len, 0);
    long writes = f.pwrites;
    EXPECT(writes == want_writes[z], "%zu bytes: %ld pwrite calls, want %ld", len, writes, want_writes[z]);
    for (long k = 1; k <= writes; k++) {
      fault_arm(&f, 0, 0);
      f.eintr_at = k;
      p[0] = (uint8_t)k;
      uint64_t gen = save(s, p, len, 0);
      f.armed = 0;
      sf_ckpt_loaded_t l;
      sf_store_error_t e = {0};
      int rc = sf_ckpt_load(s, &l, &e);
      EXPECT(rc == 0 && l.generation == gen && payload_is(&l, p, len), "%zu bytes: EINTR at pwrite %ld", len, k);
      sf_ckpt_loaded_free(&l);
    }
    sf_ckpt_close(s);
    free(p);
  }
}

static void test_short_writes_of_one_to_seven_bytes_still_write_the_whole_file(void) {
  mirrors_t m;
  make_mirrors(&m, 2);
  fault_t f;
  fault_init(&f);
  sf_ckpt_t *s = open_store(&m, 2, &f.io);
  size_t len = 3 * CS + 5;
  uint8_t *p = make_payload(len, 10);
  fault_arm(&f, 0, 0);
  f.short_writes = 1;
  uint64_t gen = save(s, p, len, 0);
  f.short_writes = 0;
  EXPECT(f.pwrites > (long)(2 * len / 7), "only %ld pwrite calls: writes were not shortened", f.pwrites);
  sf_ckpt_loaded_t l;
  sf_store_error_t e = {0};
  int rc = sf_ckpt_load(s, &l, &e);
  EXPECT(rc == 0 && l.generation == gen && payload_is(&l, p, len) && l.repair_count == 0, "short-written file");
  sf_ckpt_loaded_free(&l);
  sf_ckpt_close(s);
  free(p);
}

static void test_a_save_without_fallocate_support_still_works(void) {
  mirrors_t m;
  make_mirrors(&m, 1);
  fault_t f;
  fault_init(&f);
  f.no_fallocate = 1;
  sf_ckpt_t *s = open_store(&m, 2, &f.io);
  uint8_t *p = make_payload(5000, 11);
  EXPECT(save(s, p, 5000, 0) == 1, "save where fallocate is EOPNOTSUPP");
  sf_ckpt_loaded_t l;
  sf_store_error_t e = {0};
  int rc = sf_ckpt_load(s, &l, &e);
  EXPECT(rc == 0 && payload_is(&l, p, 5000), "load");
  sf_ckpt_loaded_free(&l);
  sf_ckpt_close(s);
  free(p);
}

static void test_a_save_costs_one_fdatasync_and_one_directory_fsync_per_mirror(void) {
  mirrors_t m;
  make_mirrors(&m, 3);
  fault_t f;
  fault_init(&f);
  sf_ckpt_t *s = open_store(&m, 1, &f.io);
  save(s, "abc", 3, 0);
  fault_arm(&f, 0, 0);
  save(s, "def", 3, 0); /* also prunes generation 1 from every mirror */
  EXPECT(f.fdatasyncs == 3 && f.fsyncs == 3, "%ld fdatasyncs, %ld fsyncs for 3 mirrors", f.fdatasyncs, f.fsyncs);
  char path[600];
  for (size_t d = 0; d < m.n; d++) {
    ckpt_path(path, sizeof path, m.dir[d], 1);
    EXPECT(!exists(path), "generation 1 was not pruned from mirror %zu", d);
  }
  sf_ckpt_close(s);
}

/* The order a save's namespace changes and syncs take, one letter each: D fdatasync, R rename, U unlink,
 * S fsync (of a directory). */
static char op_trace[64];
static void op_note(char c) {
  size_t n = strlen(op_trace);
  if (n + 1 < sizeof op_trace) op_trace[n] = c, op_trace[n + 1] = '\0';
}
static int t_fdatasync(const sf_io_t *io, int fd) {
  (void)io;
  op_note('D');
  return real()->fdatasync(real(), fd);
}
static int t_fsync(const sf_io_t *io, int fd) {
  (void)io;
  op_note('S');
  return real()->fsync(real(), fd);
}
static int t_rename(const sf_io_t *io, const char *from, const char *to) {
  (void)io;
  op_note('R');
  return real()->rename(real(), from, to);
}
static int t_unlink(const sf_io_t *io, const char *path) {
  (void)io;
  op_note('U');
  return real()->unlink(real(), path);
}

/* Every mirror's new name and the unlinks that prune it are made durable by that mirror's one directory
 * fsync, which comes only after every mirror has the new file durably under its final name: a crash
 * before the fsync leaves the old generations (or, where the unlink reached the disk first, every
 * generation but the one being pruned), never fewer than the newest acknowledged one. */
static void test_a_save_prunes_before_the_one_directory_fsync_that_covers_both(void) {
  for (size_t mirrors = 1; mirrors <= 2; mirrors++) {
    mirrors_t m;
    make_mirrors(&m, mirrors);
    sf_io_t io = *sf_io_default();
    io.fdatasync = t_fdatasync, io.fsync = t_fsync, io.rename = t_rename, io.unlink = t_unlink;
    sf_ckpt_t *s = open_store(&m, 1, &io);
    save(s, "one", 3, 0);
    op_trace[0] = '\0';
    save(s, "two", 3, 0);
    const char *want = mirrors == 1 ? "DRUS" : "DRDRUSUS";
    EXPECT(strcmp(op_trace, want) == 0, "%zu mirrors: %s, want %s", mirrors, op_trace, want);
    sf_ckpt_close(s);
  }
}

static void test_a_save_reports_the_time_its_crcs_took(void) {
  mirrors_t m;
  make_mirrors(&m, 1);
  sf_ckpt_t *s = open_store(&m, 2, NULL);
  EXPECT(sf_ckpt_last_save_crc_ns(s) == 0, "CRC time before any save");
  EXPECT(sf_ckpt_last_save_crc_ns(NULL) == 0, "CRC time of no store");
  size_t len = 1u << 20;
  uint8_t *p = make_payload(len, 12);
  save(s, p, len, 0);
  uint64_t ns = sf_ckpt_last_save_crc_ns(s);
  /* A CRC of 1 MiB takes some microseconds on any machine, and far less than ten seconds. */
  EXPECT(ns > 0 && ns < 10000000000u, "%" PRIu64 " ns for the CRCs of 1 MiB", ns);
  sf_ckpt_close(s);
  free(p);
}

/* A temporary file left by a failed attempt may hold pages whose writeback failed: a save makes a new
 * inode rather than writing into it. A hard link to the old file shows which one was written. */
static void test_a_save_never_writes_into_an_existing_temporary_file(void) {
  mirrors_t m;
  make_mirrors(&m, 1);
  fault_t f;
  fault_init(&f);
  f.fast = 1;
  sf_ckpt_t *s = open_store(&m, 2, &f.io);
  save(s, "one", 3, 0);
  char link_path[600];
  snprintf(link_path, sizeof link_path, "%s/old-temporary", m.dir[0]);
  f.plant_link = link_path;
  EXPECT(save(s, "two", 3, 0) == 2, "save");
  EXPECT(f.plant_link == NULL && exists(link_path), "no temporary file was planted");
  EXPECT(file_is(link_path, (const uint8_t *)"stale", 5), "the save wrote into the old temporary file's inode");
  sf_ckpt_loaded_t l;
  sf_store_error_t e = {0};
  int rc = sf_ckpt_load(s, &l, &e);
  EXPECT(rc == 0 && l.generation == 2 && payload_is(&l, (const uint8_t *)"two", 3), "load");
  sf_ckpt_loaded_free(&l);
  sf_ckpt_close(s);
}

/* ---- Damage: bit flips, truncation, piecing ------------------------------------------------------ */

/* Two generations saved in n mirrors, with the bytes of their files kept to restore between trials. */
typedef struct scene_s {
  mirrors_t m;
  sf_ckpt_t *s;
  uint8_t *p1, *p2, *f1, *f2;
  size_t len1, len2, flen1, flen2;
} scene_t;

static void scene_setup(scene_t *sc, size_t mirrors, size_t len) {
  memset(sc, 0, sizeof *sc);
  make_mirrors(&sc->m, mirrors);
  sc->s = open_store(&sc->m, 2, &fast_io.io);
  sc->len1 = len / 2 + 1, sc->len2 = len;
  sc->p1 = make_payload(sc->len1, 1);
  sc->p2 = make_payload(sc->len2, 2);
  save(sc->s, sc->p1, sc->len1, 10);
  save(sc->s, sc->p2, sc->len2, 20);
  char path[600];
  ckpt_path(path, sizeof path, sc->m.dir[0], 1);
  sc->f1 = slurp(path, &sc->flen1);
  ckpt_path(path, sizeof path, sc->m.dir[0], 2);
  sc->f2 = slurp(path, &sc->flen2);
}

static void scene_free(scene_t *sc) {
  sf_ckpt_close(sc->s);
  free(sc->p1), free(sc->p2), free(sc->f1), free(sc->f2);
}

/* Puts every mirror back to generations 1 and 2 intact, and nothing else but LOCK. */
static void scene_reset(scene_t *sc) {
  for (size_t d = 0; d < sc->m.n; d++) {
    DIR *dir = opendir(sc->m.dir[d]);
    struct dirent *e;
    while ((e = readdir(dir)) != NULL) {
      if (strcmp(e->d_name, "LOCK") == 0 || strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
      char path[900];
      snprintf(path, sizeof path, "%s/%s", sc->m.dir[d], e->d_name);
      if (strstr(e->d_name, ".corrupt") != NULL) unlink(path);
    }
    closedir(dir);
    char path[600];
    ckpt_path(path, sizeof path, sc->m.dir[d], 1);
    if (!file_is(path, sc->f1, sc->flen1)) spit(path, sc->f1, sc->flen1);
    ckpt_path(path, sizeof path, sc->m.dir[d], 2);
    if (!file_is(path, sc->f2, sc->flen2)) spit(path, sc->f2, sc->flen2);
  }
}

typedef struct tally_s {
  long tried, detected, repaired;
} tally_t;

/* Replaces generation 2 in mirror `victim` by `bad` and loads. With two or more mirrors the load
 * must return generation 2 and rewrite that copy; with one it must fall back to generation 1 and
 * move the bad file aside, bytes unchanged. */
static void trial(scene_t *sc, size_t victim, const uint8_t *bad, size_t bad_len, tally_t *t, const char *what,
                  long where) {
  scene_reset(sc);
  char path[600];
  ckpt_path(path, sizeof path, sc->m.dir[victim], 2);
  spit(path, bad, bad_len);
  sf_ckpt_loaded_t l;
  sf_store_error_t e = {0};
  int rc = sf_ckpt_load(sc->s, &l, &e);
  t->tried++;
  if (sc->m.n > 1) {
    /* The damaged copy is moved aside (never destroyed), then the good one is renamed into place. */
    int detected = rc == 0 && l.generation == 2 && payload_is(&l, sc->p2, sc->len2) && !l.fell_back &&
                   l.repair_count == 2 && l.repairs[0].action == SF_CKPT_MOVED_ASIDE &&
                   l.repairs[1].action == SF_CKPT_REWROTE && l.repairs[1].generation == 2 &&
                   strcmp(l.repairs[1].path, path) == 0 && l.repairs[1].problem[0] != '\0';
    char aside[700];
    snprintf(aside, sizeof aside, "%s.corrupt", path);
    int repaired = file_is(aside, bad, bad_len);
    for (size_t d = 0; d < sc->m.n; d++) {
      ckpt_path(path, sizeof path, sc->m.dir[d], 2);
      repaired &= file_is(path, sc->f2, sc->flen2);
    }
    t->detected += detected, t->repaired += repaired;
    EXPECT(detected && repaired, "%s %ld: rc %s, generation %" PRIu64 ", %zu repairs, repaired %d", what, where,
           sf_store_error_name(rc), l.generation, l.repair_count, repaired);
  } else {
    char aside[700];
    snprintf(aside, sizeof aside, "%s.corrupt", path);
    int detected = rc == 0 && l.generation == 1 && payload_is(&l, sc->p1, sc->len1) && l.fell_back &&
                   l.newest_seen == 2 && l.repair_count == 1 && l.repairs[0].action == SF_CKPT_MOVED_ASIDE &&
                   l.repairs[0].generation == 2 && strcmp(l.repairs[0].path, path) == 0;
    int moved = !exists(path) && file_is(aside, bad, bad_len);
    t->detected += detected, t->repaired += moved;
    EXPECT(detected && moved, "%s %ld: rc %s (%s), generation %" PRIu64 ", %zu repairs, moved aside %d", what, where,
           sf_store_error_name(rc), e.message, l.generation, l.repair_count, moved);
  }
  sf_ckpt_loaded_free(&l);
}

static void flip_range(size_t mirrors, size_t from, size_t to, const char *what) {
  scene_t sc;
  scene_setup(&sc, mirrors, 3 * CS + 5);
  tally_t t = {0};
  uint8_t *bad = malloc(sc.flen2);
  if (to > sc.flen2) to = sc.flen2;
  for (size_t bit = from * 8; bit < to * 8; bit++) {
    memcpy(bad, sc.f2, sc.flen2);
    bad[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    trial(&sc, mirrors - 1, bad, sc.flen2, &t, what, (long)bit);
  }
  printf("  %s bit flips, %zu mirror%s: %ld flipped, %ld detected, %ld %s\n", what, mirrors, mirrors > 1 ? "s" : "",
         t.tried, t.detected, t.repaired, mirrors > 1 ? "repaired" : "moved aside after falling back");
  free(bad);
  scene_free(&sc);
}

static void test_every_header_bit_flip_is_detected_and_repaired(void) {
  flip_range(2, 0, 64, "header");
  flip_range(1, 0, 64, "header");
}

static void test_every_trailer_bit_flip_is_detected_and_repaired(void) {
  size_t size = 64 + 16 + 3 * CS + 5 + 32;
  flip_range(2, size - 32, size, "trailer");
  flip_range(1, size - 32, size, "trailer");
}

static void test_every_chunk_table_bit_flip_is_detected_and_repaired(void) {
  flip_range(2, 64, 80, "chunk table");
  flip_range(1, 64, 80, "chunk table");
}

static void test_payload_bit_flips_are_detected_and_repaired(void) {
  for (size_t mirrors = 2; mirrors >= 1; mirrors--) {
    scene_t sc;
    scene_setup(&sc, mirrors, 3 * CS + 5);
    tally_t t = {0};
    uint8_t *bad = malloc(sc.flen2);
    for (int i = 0; i < 200; i++) {
      size_t bit = 80 * 8 + (size_t)(next_random() % (sc.len2 * 8));
      memcpy(bad, sc.f2, sc.flen2);
      bad[bit / 8] ^= (uint8_t)(1u << (bit % 8));
      trial(&sc, mirrors - 1, bad, sc.flen2, &t, "payload bit", (long)bit);
    }
    printf("  payload bit flips, %zu mirror%s: %ld flipped, %ld detected, %ld %s\n", mirrors, mirrors > 1 ? "s" : "",
           t.tried, t.detected, t.repaired, mirrors > 1 ? "repaired" : "moved aside after falling back");
    free(bad);
    scene_free(&sc);
  }
}

static void truncations(size_t mirrors, size_t len, int every) {
  scene_t sc;
  scene_setup(&sc, mirrors, len);
  tally_t t = {0};
  size_t n = sc.flen2, table_end = 64 + 4 * ((len + CS - 1) / CS);
  for (size_t cut = 0; cut < n; cut++) {
    int near = cut <= 70 || cut + 40 >= n || (cut + 3 >= table_end && cut <= table_end + 3);
    for (size_t c = table_end; c < n && !near; c += CS) near = cut + 3 >= c && cut <= c + 3;
    if (!every && !near) continue;
    trial(&sc, 0, sc.f2, cut, &t, "truncation to", (long)cut);
  }
  printf("  truncations of a %zu-byte file, %zu mirror%s: %ld lengths, %ld detected, %ld %s\n", n, mirrors,
         mirrors > 1 ? "s" : "", t.tried, t.detected, t.repaired,
         mirrors > 1 ? "repaired" : "moved aside after falling back");
  scene_free(&sc);
}

static void test_a_truncated_copy_is_detected_at_every_length(void) {
  truncations(2, 100, 1);
  truncations(1, 100, 1);
  truncations(2, 3 * CS + 5, 0);
  truncations(1, 3 * CS + 5, 0);
}

static void test_two_copies_with_different_bad_chunks_are_pieced_together(void) {
  for (size_t mirrors = 2; mirrors <= 3; mirrors++) {
    scene_t sc;
    scene_setup(&sc, mirrors, 3 * CS + 5);
    scene_reset(&sc);
    /* Mirror d loses chunk d (and mirror 2, when there, chunk 3 too): no copy is whole, every chunk is
     * good somewhere. */
    for (size_t d = 0; d < mirrors; d++) {
      uint8_t *bad = malloc(sc.flen2);
      memcpy(bad, sc.f2, sc.flen2);
      bad[80 + d * CS + 17] ^= 0x40;
      if (d == 2) bad[80 + 3 * CS + 1] ^= 1;
      char path[600];
      ckpt_path(path, sizeof path, sc.m.dir[d], 2);
      spit(path, bad, sc.flen2);
      free(bad);
    }
    sf_ckpt_loaded_t l;
    sf_store_error_t e = {0};
    int rc = sf_ckpt_load(sc.s, &l, &e);
    EXPECT_RC(rc, 0, e);
    EXPECT(l.generation == 2 && payload_is(&l, sc.p2, sc.len2) && l.chunks_pieced == 1 && !l.fell_back,
           "%zu mirrors: generation %" PRIu64 ", pieced %d", mirrors, l.generation, l.chunks_pieced);
    EXPECT(l.repair_count == 2 * mirrors, "%zu repairs (each damaged copy moved aside, then rewritten)",
           l.repair_count);
    for (size_t i = 0; i < l.repair_count; i++)
      EXPECT(l.repairs[i].action == (i % 2 ? SF_CKPT_REWROTE : SF_CKPT_MOVED_ASIDE) &&
                 strstr(l.repairs[i].problem, "chunk") != NULL,
             "repair %zu: action %d, problem \"%s\"", i, (int)l.repairs[i].action, l.repairs[i].problem);
    for (size_t d = 0; d < mirrors; d++) {
      char path[600];
      ckpt_path(path, sizeof path, sc.m.dir[d], 2);
      EXPECT(file_is(path, sc.f2, sc.flen2), "mirror %zu not repaired", d);
    }
    sf_ckpt_loaded_free(&l);
    scene_free(&sc);
  }
}

static void test_the_same_bad_chunk_in_every_copy_falls_back(void) {
  scene_t sc;
  scene_setup(&sc, 2, 3 * CS + 5);
  scene_reset(&sc);
  uint8_t *bad = malloc(sc.flen2);
  memcpy(bad, sc.f2, sc.flen2);
  bad[80 + CS + 5] ^= 2;
  char path[600], aside[700];
  for (size_t d = 0; d < 2; d++) {
    ckpt_path(path, sizeof path, sc.m.dir[d], 2);
    spit(path, bad, sc.flen2);
  }
  sf_ckpt_loaded_t l;
  sf_store_error_t e = {0};
  int rc = sf_ckpt_load(sc.s, &l, &e);
  EXPECT_RC(rc, 0, e);
  EXPECT(l.generation == 1 && l.fell_back && !l.chunks_pieced && payload_is(&l, sc.p1, sc.len1), "fell back to 1");
  EXPECT(
      l.repair_count == 2 && l.repairs[0].action == SF_CKPT_MOVED_ASIDE && l.repairs[1].action == SF_CKPT_MOVED_ASIDE,
      "%zu repairs", l.repair_count);
  for (size_t d = 0; d < 2; d++) {
    ckpt_path(path, sizeof path, sc.m.dir[d], 2);
    snprintf(aside, sizeof aside, "%s.corrupt", path);
    EXPECT(!exists(path) && file_is(aside, bad, sc.flen2), "mirror %zu: not moved aside", d);
  }
  sf_ckpt_loaded_free(&l);
  /* A second damaged generation 2 later goes to .corrupt-2, never over the first. */
  for (size_t d = 0; d < 2; d++) {
    ckpt_path(path, sizeof path, sc.m.dir[d], 2);
    spit(path, "x", 1);
  }
  rc = sf_ckpt_load(sc.s, &l, &e);
  EXPECT_RC(rc, 0, e);
  ckpt_path(path, sizeof path, sc.m.dir[0], 2);
  snprintf(aside, sizeof aside, "%s.corrupt-2", path);
  EXPECT(file_is(aside, (const uint8_t *)"x", 1), "second move aside did not go to .corrupt-2");
  snprintf(aside, sizeof aside, "%s.corrupt", path);
  EXPECT(file_is(aside, bad, sc.flen2), "the first moved-aside file was overwritten");
  sf_ckpt_loaded_free(&l);
  free(bad);
  scene_free(&sc);
}

static void test_a_missing_copy_is_restored(void) {
  scene_t sc;
  scene_setup(&sc, 3, 2 * CS);
  char path[600];
  ckpt_path(path, sizeof path, sc.m.dir[1], 2);
  unlink(path);
  sf_ckpt_loaded_t l;
  sf_store_error_t e = {0};
  int rc = sf_ckpt_load(sc.s, &l, &e);
  EXPECT_RC(rc, 0, e);
  EXPECT(l.generation == 2 && l.repair_count == 1 && l.repairs[0].action == SF_CKPT_RESTORED &&
             strcmp(l.repairs[0].path, path) == 0 && strcmp(l.repairs[0].problem, "missing") == 0,
         "%zu repairs", l.repair_count);
  EXPECT(file_is(path, sc.f2, sc.flen2), "the missing copy was not restored");
  sf_ckpt_loaded_free(&l);
  scene_free(&sc);
}

static void test_an_unreadable_copy_is_rewritten_from_a_good_one(void) {
  mirrors_t m;
  make_mirrors(&m, 2);
  fault_t f;
  fault_init(&f);
  f.fast = 1;
  sf_ckpt_t *s = open_store(&m, 2, &f.io);
  save(s, "one", 3, 0);
  save(s, "two", 3, 0);
  char path[600];
  ckpt_path(path, sizeof path, m.dir[1], 2);
  f.unreadable = strstr(path, "/m1/"); /* this suffix names mirror 1's copy only */
  sf_ckpt_loaded_t l;
  sf_store_error_t e = {0};
  int rc = sf_ckpt_load(s, &l, &e);
  f.unreadable = NULL;
  EXPECT_RC(rc, 0, e);
  EXPECT(l.generation == 2 && payload_is(&l, (const uint8_t *)"two", 3) && l.repair_count == 2 &&
             l.repairs[0].action == SF_CKPT_MOVED_ASIDE && l.repairs[1].action == SF_CKPT_REWROTE &&
             strcmp(l.repairs[1].path, path) == 0 && strstr(l.repairs[1].problem, "EIO") != NULL,
         "generation %" PRIu64 ", %zu repairs, \"%s\"", l.generation, l.repair_count,
         l.repair_count ? l.repairs[0].problem : "");
  char aside[700];
  snprintf(aside, sizeof aside, "%s.corrupt", path);
  EXPECT(exists(aside), "the unreadable copy was moved aside, not destroyed");
  sf_ckpt_loaded_free(&l);
  sf_ckpt_close(s);
}

static void test_an_unreadable_only_copy_fails_the_load_instead_of_falling_back(void) {
  mirrors_t m;
  make_mirrors(&m, 1);
  fault_t f;
  fault_init(&f);
  f.fast = 1;
  sf_ckpt_t *s = open_store(&m, 2, &f.io);
  save(s, "one", 3, 0);
  save(s, "two", 3, 0);
  snap_t before, after;
  snap_take(m.dir[0], &before);
  char path[600];
  ckpt_path(path, sizeof path, m.dir[0], 2);
  f.unreadable = strrchr(path, '/');
  sf_ckpt_loaded_t l;
  sf_store_error_t e = {0};
  int rc = sf_ckpt_load(s, &l, &e);
  f.unreadable = NULL;
  EXPECT_RC(rc, -EIO, e);
  EXPECT(strcmp(e.path, path) == 0, "error path %s", e.path);
  snap_take(m.dir[0], &after);
  EXPECT(snap_same(&before, &after), "the files changed");
  snap_free(&before), snap_free(&after);
  sf_ckpt_loaded_free(&l);
  sf_ckpt_close(s);
}

static void test_a_file_over_the_size_limit_is_judged_without_being_read(void) {
  mirrors_t m;
  make_mirrors(&m, 1);
  sf_ckpt_t *s = open_store(&m, 2, &fast_io.io);
  save(s, "one", 3, 0);
  char path[600];
  ckpt_path(path, sizeof path, m.dir[0], 2);
  int fd = open(path, O_WRONLY | O_CREAT, 0644);
  if (fd < 0 || ftruncate(fd, ((off_t)1 << 40) + 1) != 0) {
    printf("  note: this filesystem cannot hold a sparse 2^40-byte file; the size limit check is skipped\n");
    if (fd >= 0) close(fd), unlink(path);
    sf_ckpt_close(s);
    return;
  }
  close(fd);
  sf_ckpt_loaded_t l;
  sf_store_error_t e = {0};
  int rc = sf_ckpt_load(s, &l, &e);
  EXPECT_RC(rc, 0, e);
  EXPECT(l.generation == 1 && l.fell_back && l.repair_count == 1 && l.repairs[0].action == SF_CKPT_MOVED_ASIDE &&
             strstr(l.repairs[0].problem, "2^40") != NULL,
         "generation %" PRIu64 ", %zu repairs", l.generation, l.repair_count);
  sf_ckpt_loaded_free(&l);
  sf_ckpt_close(s);
  char aside[700];
  snprintf(aside, sizeof aside, "%s.corrupt", path);
  unlink(aside);
}

/* ---- Listing ------------------------------------------------------------------------------------- */

static void test_list_and_inspect_report_every_file_oldest_first(void) {
  mirrors_t m;
  make_mirrors(&m, 2);
  sf_ckpt_t *s = open_store(&m, 5, &fast_io.io);
  uint8_t *p = make_payload(3 * CS + 5, 5);
  for (int i = 0; i < 3; i++) save(s, p, 3 * CS + 5, (uint64_t)i);
  char path[600];
  size_t n;
  ckpt_path(path, sizeof path, m.dir[1], 2);
  uint8_t *b = slurp(path, &n);
  b[64 + 16 + CS + 100] ^= 1; /* chunk 1 */
  spit(path, b, n);
  ckpt_path(path, sizeof path, m.dir[0], 4);
  spit(path, "", 0);
  snprintf(path, sizeof path, "%s/ckpt-%016x.sfc.corrupt", m.dir[0], 7);
  spit(path, "aside", 5);
  for (int pass = 0; pass < 2; pass++) {
    sf_ckpt_file_t *files = NULL;
    size_t count = 0;
    sf_store_error_t e = {0};
    int rc = pass == 0 ? sf_ckpt_list(s, &files, &count, &e) : sf_ckpt_inspect(m.ptr, 2, NULL, &files, &count, &e);
    EXPECT_RC(rc, 0, e);
    if (!EXPECT(count == 7, "%zu files listed, want 7", count)) {
      free(files);
      continue;
    }
    static const uint64_t gens[7] = {1, 1, 2, 2, 3, 3, 4};
    for (size_t i = 0; i < 7; i++) EXPECT(files[i].generation == gens[i], "entry %zu: generation", i);
    EXPECT(files[0].status == 0 && files[0].payload_len == 3 * CS + 5 && files[0].lsn == 0 &&
               files[0].size == 64 + 16 + 3 * CS + 5 + 32 && files[0].chunk_size == CS && files[0].bad_offset == -1,
           "a valid file's fields");
    EXPECT(files[2].status == 0 && strstr(files[2].path, "/m0/") != NULL, "mirror order within a generation");
    EXPECT(files[3].status == SF_ECORRUPT && strcmp(files[3].problem, "chunk 1 CRC mismatch") == 0 &&
               files[3].bad_offset == 64 + 16 + CS,
           "damaged chunk: status %s, \"%s\", offset %" PRId64, sf_store_error_name(files[3].status), files[3].problem,
           files[3].bad_offset);
    EXPECT(files[6].status == SF_EFORMAT && strstr(files[6].problem, "too short") != NULL && files[6].size == 0,
           "empty file: %s \"%s\"", sf_store_error_name(files[6].status), files[6].problem);
    free(files);
  }
  free(b);
  free(p);
  sf_ckpt_close(s);
}

/* ---- Bad input ----------------------------------------------------------------------------------- */

/* A store whose only generation is `bad`: load is SF_EEMPTY naming it, and nothing is changed. */
static void only_bad_file(const void *bad, size_t len, const char *want_problem) {
  mirrors_t m;
  make_mirrors(&m, 1);
  char path[600];
  ckpt_path(path, sizeof path, m.dir[0], 1);
  spit(path, bad, len);
  snap_t before, after;
  snap_take(m.dir[0], &before);
  sf_ckpt_t *s = open_store(&m, 0, NULL);
  sf_ckpt_loaded_t l;
  sf_store_error_t e = {0};
  int rc = sf_ckpt_load(s, &l, &e);
  EXPECT_RC(rc, SF_EEMPTY, e);
  EXPECT(strcmp(e.path, path) == 0 && strstr(e.message, want_problem) != NULL, "error names \"%s\": %s [%s]",
         want_problem, e.message, e.path);
  sf_ckpt_loaded_free(&l);
  sf_ckpt_close(s);
  snap_take(m.dir[0], &after);
  EXPECT(snap_same(&before, &after), "the files changed");
  snap_free(&before), snap_free(&after);
}

static void test_a_zero_length_file_is_reported_and_left_alone(void) {
  only_bad_file("", 0, "too short");
}

static void test_a_file_with_the_wrong_magic_is_reported_and_left_alone(void) {
  uint8_t b[200];
  memset(b, 0x5a, sizeof b);
  only_bad_file(b, sizeof b, "wrong magic");
}

static void test_a_text_file_named_like_a_checkpoint_is_reported_and_left_alone(void) {
  const char *text = "This is not a checkpoint, just some notes someone left in the wrong place.\n";
  only_bad_file(text, strlen(text), "wrong magic");
}

static void test_a_newer_major_version_is_refused_and_left_untouched(void) {
  mirrors_t m;
  make_mirrors(&m, 2);
  sf_ckpt_t *s = open_store(&m, 0, NULL);
  save(s, "old", 3, 0);
  sf_ckpt_close(s);
  enc_t enc = {2, 1, 0, CS, 2, 0, 0};
  size_t n;
  uint8_t *b = encode(&enc, (const uint8_t *)"new", 3, &n);
  char path[600];
  ckpt_path(path, sizeof path, m.dir[0], 2);
  spit(path, b, n);
  snap_t before[2], after[2];
  for (int d = 0; d < 2; d++) snap_take(m.dir[d], &before[d]);
  s = open_store(&m, 0, NULL);
  sf_ckpt_loaded_t l;
  sf_store_error_t e = {0};
  int rc = sf_ckpt_load(s, &l, &e);
  EXPECT_RC(rc, SF_EVERSION, e);
  EXPECT(strcmp(e.path, path) == 0 && strstr(e.message, "2.0") != NULL, "%s [%s]", e.message, e.path);
  sf_ckpt_file_t info;
  EXPECT(sf_ckpt_parse(b, n, &info) == SF_EVERSION && info.version_major == 2, "parse of a version 2 file");
  sf_ckpt_loaded_free(&l);
  sf_ckpt_close(s);
  for (int d = 0; d < 2; d++) {
    snap_take(m.dir[d], &after[d]);
    EXPECT(snap_same(&before[d], &after[d]), "mirror %d changed", d);
    snap_free(&before[d]), snap_free(&after[d]);
  }
  free(b);
}

static void test_a_damaged_major_version_field_is_corruption_not_a_newer_version(void) {
  size_t n;
  enc_t enc = {1, 1, 0, CS, 1, 0, 0};
  uint8_t *b = encode(&enc, (const uint8_t *)"abc", 3, &n);
  sf_ckpt_file_t info;
  for (int bit = 1; bit < 16; bit++) {
    b[8 + bit / 8] ^= (uint8_t)(1u << (bit % 8));
    int rc = sf_ckpt_parse(b, n, &info);
    EXPECT(rc == SF_ECORRUPT, "bit %d of the major version: %s (%s)", bit, sf_store_error_name(rc), info.problem);
    b[8 + bit / 8] ^= (uint8_t)(1u << (bit % 8));
  }
  free(b);
}

static void open_fails(const mirrors_t *m, int want, const char *want_path) {
  sf_ckpt_options_t o = {m->ptr, m->n, 0, 0, NULL};
  sf_ckpt_t *s = (sf_ckpt_t *)&o; /* must be reset to NULL */
  sf_store_error_t e = {0};
  int rc = sf_ckpt_open(&o, &s, &e);
  EXPECT_RC(rc, want, e);
  EXPECT(s == NULL, "a failed open returned a handle");
  EXPECT(e.code == rc && strcmp(e.path, want_path) == 0 && e.message[0] != '\0', "error names %s: %s [%s]", want_path,
         e.message, e.path);
  if (rc == 0) sf_ckpt_close(s);
}

/* A good mirror with a valid generation beside a bad second one: the open fails, naming the bad one,
 * and the good mirror's files are untouched. */
static void test_open_refuses_missing_or_unusable_directories(void) {
  mirrors_t m;
  make_mirrors(&m, 2);
  sf_ckpt_t *s = open_store(&m, 0, NULL);
  save(s, "keep me", 7, 0);
  sf_ckpt_close(s);
  snap_t before, after;
  snap_take(m.dir[0], &before);
  char dir1[300];
  new_case(dir1, sizeof dir1);

  snprintf(m.dir[1], sizeof m.dir[1], "%s/does-not-exist", dir1);
  open_fails(&m, -ENOENT, m.dir[1]);

  snprintf(m.dir[1], sizeof m.dir[1], "%s/a-file", dir1);
  spit(m.dir[1], "f", 1);
  open_fails(&m, -ENOTDIR, m.dir[1]);

  /* LOCK that cannot be opened as a file (a directory) fails open the same way an unwritable
   * directory does; as root, this is the only way to see that failure. */
  snprintf(m.dir[1], sizeof m.dir[1], "%s/lock-is-a-dir", dir1);
  mkdir(m.dir[1], 0755);
  char lock[600];
  snprintf(lock, sizeof lock, "%s/LOCK", m.dir[1]);
  mkdir(lock, 0755);
  open_fails(&m, -EISDIR, lock);

  snprintf(m.dir[1], sizeof m.dir[1], "%s/read-only", dir1);
  mkdir(m.dir[1], 0555);
  if (geteuid() == 0) {
    printf("  note: running as root, which can write a read-only directory; its check is skipped\n");
  } else {
    open_fails(&m, -EACCES, m.dir[1]);
  }
  snprintf(m.dir[1], sizeof m.dir[1], "%s", m.dir[0]);
  open_fails(&m, -EINVAL, m.dir[0]); /* the same directory twice */

  snap_take(m.dir[0], &after);
  EXPECT(snap_same(&before, &after), "the good mirror's files changed");
  snap_free(&before), snap_free(&after);
}

static void test_a_second_open_is_refused_naming_the_holders_pid(void) {
  mirrors_t m;
  make_mirrors(&m, 2);
  sf_ckpt_t *s = open_store(&m, 0, NULL);
  save(s, "held", 4, 0);
  snap_t before, after;
  snap_take(m.dir[0], &before);
  sf_ckpt_options_t o = {m.ptr, 2, 0, 0, NULL};
  sf_ckpt_t *second = NULL;
  sf_store_error_t e = {0};
  int rc = sf_ckpt_open(&o, &second, &e);
  EXPECT_RC(rc, SF_ELOCKED, e);
  char pid[32];
  snprintf(pid, sizeof pid, "%ld", (long)getpid());
  EXPECT(
      second == NULL && e.pid == (int64_t)getpid() && strstr(e.message, pid) != NULL && strstr(e.path, "/LOCK") != NULL,
      "pid %" PRId64 ": %s [%s]", e.pid, e.message, e.path);
  snap_take(m.dir[0], &after);
  EXPECT(snap_same(&before, &after), "the files changed");
  snap_free(&before), snap_free(&after);
  sf_ckpt_close(s);
  rc = sf_ckpt_open(&o, &second, &e);
  EXPECT_RC(rc, 0, e);
  sf_ckpt_close(second);
}

static void test_inspect_of_a_missing_directory_names_it(void) {
  char dir[600];
  snprintf(dir, sizeof dir, "%s/nowhere", root);
  const char *dirs[1] = {dir};
  sf_ckpt_file_t *files;
  size_t count;
  sf_store_error_t e = {0};
  int rc = sf_ckpt_inspect(dirs, 1, NULL, &files, &count, &e);
  EXPECT_RC(rc, -ENOENT, e);
  EXPECT(strcmp(e.path, dir) == 0, "path %s", e.path);
}

/* ---- Seed corpus --------------------------------------------------------------------------------- */

typedef struct seed_s {
  const char *name;
  int status;
} seed_t;

static const seed_t seeds[] = {
    {"valid-empty.sfc", 0},
    {"valid-small.sfc", 0},
    {"valid-two-chunks.sfc", 0},
    {"valid-minor-1-flags.sfc", 0},
    {"too-short.sfc", SF_EFORMAT},
    {"bad-magic.sfc", SF_EFORMAT},
    {"text.sfc", SF_EFORMAT},
    {"newer-major.sfc", SF_EVERSION},
    {"major-bit-flip.sfc", SF_ECORRUPT},
    {"bad-header-crc.sfc", SF_ECORRUPT},
    {"huge-payload-length.sfc", SF_ECORRUPT},
    {"truncated.sfc", SF_ECORRUPT},
    {"bad-chunk.sfc", SF_ECORRUPT},
    {"bad-table.sfc", SF_ECORRUPT},
    {"bad-trailer.sfc", SF_ECORRUPT},
};
#define SEED_COUNT (sizeof seeds / sizeof seeds[0])

/* The bytes of each seed, made the same way every time so the committed files can be checked. */
static uint8_t *seed_bytes(size_t i, size_t *len) {
  uint8_t *p = make_payload(CS + 5, 77);
  enc_t e = {3, 1700000000000000000u, 99, CS, 1, 0, 0};
  uint8_t *b = NULL;
  const char *name = seeds[i].name;
  if (strcmp(name, "valid-empty.sfc") == 0) {
    e.gen = 1;
    b = encode(&e, p, 0, len);
  } else if (strcmp(name, "valid-small.sfc") == 0) {
    e.gen = 2;
    b = encode(&e, p, 100, len);
  } else if (strcmp(name, "valid-minor-1-flags.sfc") == 0) {
    e.minor = 1, e.flags = 0x80000001u;
    b = encode(&e, p, 300, len);
  } else if (strcmp(name, "too-short.sfc") == 0) {
    b = encode(&e, p, 0, len);
    *len = 10;
  } else if (strcmp(name, "text.sfc") == 0) {
    static const char text[] = "generation=3\npayload=not a checkpoint\n";
    b = malloc(sizeof text);
    memcpy(b, text, sizeof text - 1);
    *len = sizeof text - 1;
  } else {
    b = encode(&e, p, CS + 5, len); /* valid-two-chunks.sfc, and the rest damage it */
    if (strcmp(name, "bad-magic.sfc") == 0) b[3] ^= 0x20;
    if (strcmp(name, "newer-major.sfc") == 0) put16(b + 8, 2), put32(b + 60, sf_crc32c(0, b, 60));
    if (strcmp(name, "major-bit-flip.sfc") == 0) b[8] ^= 4;
    if (strcmp(name, "bad-header-crc.sfc") == 0) b[50] ^= 1;
    if (strcmp(name, "huge-payload-length.sfc") == 0)
      put64(b + 24, (uint64_t)1 << 63), put32(b + 60, sf_crc32c(0, b, 60));
    if (strcmp(name, "truncated.sfc") == 0) *len -= 1;
    if (strcmp(name, "bad-chunk.sfc") == 0) b[72 + CS] ^= 0x80;
    if (strcmp(name, "bad-table.sfc") == 0) b[66] ^= 1;
    if (strcmp(name, "bad-trailer.sfc") == 0) b[*len - 20] ^= 1;
  }
  free(p);
  return b;
}

static void corpus_dir(char *out, size_t cap) {
  const char *env = getenv("SF_CORPUS_DIR");
  if (env && *env) {
    snprintf(out, cap, "%s", env);
    return;
  }
  const char *here = __FILE__, *cut = strstr(here, "test/native/checkpoint_test.c");
  snprintf(out, cap, "%.*sfuzz/corpus/checkpoint", cut ? (int)(cut - here) : 0, here);
}

static int write_corpus(const char *dir) {
  for (size_t i = 0; i < SEED_COUNT; i++) {
    size_t len;
    uint8_t *b = seed_bytes(i, &len);
    char path[900];
    snprintf(path, sizeof path, "%s/%s", dir, seeds[i].name);
    spit(path, b, len);
    free(b);
    printf("wrote %s (%zu bytes)\n", path, len);
  }
  return 0;
}

static void test_the_seed_corpus_parses_as_its_names_say(void) {
  char dir[600];
  corpus_dir(dir, sizeof dir);
  for (size_t i = 0; i < SEED_COUNT; i++) {
    char path[900];
    snprintf(path, sizeof path, "%s/%s", dir, seeds[i].name);
    size_t len, want_len;
    uint8_t *b = slurp(path, &len), *want = seed_bytes(i, &want_len);
    if (EXPECT(b != NULL, "%s is missing (set SF_CORPUS_DIR, or rewrite it with --write-corpus)", path)) {
      EXPECT(len < 8192 && len == want_len && memcmp(b, want, len) == 0, "%s differs from its generator", path);
      sf_ckpt_file_t info;
      int rc = sf_ckpt_parse(b, len, &info);
      EXPECT(rc == seeds[i].status && info.status == rc, "%s: %s (%s), want %s", seeds[i].name, sf_store_error_name(rc),
             info.problem, sf_store_error_name(seeds[i].status));
      EXPECT(rc == 0 ? info.problem[0] == '\0' && info.bad_offset == -1 : info.problem[0] != '\0', "%s: problem text",
             seeds[i].name);
    }
    free(b);
    free(want);
  }
}

int main(int argc, char **argv) {
  if (argc == 3 && strcmp(argv[1], "--write-corpus") == 0) return write_corpus(argv[2]);
  snprintf(root, sizeof root, "/tmp/sf-ckpt-test-XXXXXX");
  if (mkdtemp(root) == NULL) return perror("mkdtemp"), 2;
  fault_init(&fast_io);
  fast_io.fast = 1;

  run("a payload of any size round-trips through 1, 2 and 3 mirrors", test_round_trip);
  run("an empty store loads as generation 0", test_empty_store_loads_generation_zero);
  run("generations count up from 1 and continue after a reopen", test_generations_count_up_across_reopen);
  run("a generation number seen in any file name is never used again",
      test_generations_never_reuse_a_number_seen_in_any_file_name);
  run("keep=2 deletes every older generation", test_keep_two_deletes_older_generations);
  run("keep=3 keeps three generations", test_keep_three_keeps_three_generations);
  run("keep counts only valid generations and never deletes an invalid file", test_keep_counts_only_valid_generations);
  run("the lsn and the creation time are stored", test_lsn_and_created_time_are_stored);
  run("the file bytes match the documented layout", test_file_bytes_match_the_documented_layout);
  run("a large save matches the documented layout in every mirror",
      test_a_large_save_matches_the_documented_layout_in_every_mirror);
  run("a newer minor version with unknown flags is readable", test_a_newer_minor_version_with_flags_is_readable);
  run("a failed write, sync, fallocate or rename fails the save and keeps the previous generation",
      test_a_failed_io_call_fails_the_save_and_keeps_the_previous_generation);
  run("a failed directory fsync after pruning keeps the new generation, so the store is never empty",
      test_a_failed_directory_fsync_after_pruning_never_empties_the_store);
  run("EINTR on any write is retried", test_eintr_on_any_write_is_retried);
  run("short writes of 1..7 bytes still write the whole file",
      test_short_writes_of_one_to_seven_bytes_still_write_the_whole_file);
  run("a save works where fallocate is not supported", test_a_save_without_fallocate_support_still_works);
  run("a save never writes into an existing temporary file", test_a_save_never_writes_into_an_existing_temporary_file);
  run("a save prunes before the one directory fsync that covers both",
      test_a_save_prunes_before_the_one_directory_fsync_that_covers_both);
  run("a save reports the time its CRCs took", test_a_save_reports_the_time_its_crcs_took);
  run("a save costs one fdatasync and one directory fsync per mirror",
      test_a_save_costs_one_fdatasync_and_one_directory_fsync_per_mirror);
  run("every header bit flip is detected and repaired", test_every_header_bit_flip_is_detected_and_repaired);
  run("every trailer bit flip is detected and repaired", test_every_trailer_bit_flip_is_detected_and_repaired);
  run("every chunk table bit flip is detected and repaired", test_every_chunk_table_bit_flip_is_detected_and_repaired);
  run("payload bit flips are detected and repaired", test_payload_bit_flips_are_detected_and_repaired);
  run("a truncated copy is detected at every length", test_a_truncated_copy_is_detected_at_every_length);
  run("two copies with different bad chunks are pieced together",
      test_two_copies_with_different_bad_chunks_are_pieced_together);
  run("the same bad chunk in every copy falls back and moves both aside",
      test_the_same_bad_chunk_in_every_copy_falls_back);
  run("a missing copy is restored", test_a_missing_copy_is_restored);
  run("an unreadable copy is rewritten from a good one", test_an_unreadable_copy_is_rewritten_from_a_good_one);
  run("an unreadable only copy fails the load instead of falling back",
      test_an_unreadable_only_copy_fails_the_load_instead_of_falling_back);
  run("a file over the size limit is judged without being read",
      test_a_file_over_the_size_limit_is_judged_without_being_read);
  run("list and inspect report every file, oldest first", test_list_and_inspect_report_every_file_oldest_first);
  run("a zero-length file is reported and left alone", test_a_zero_length_file_is_reported_and_left_alone);
  run("a file with the wrong magic is reported and left alone",
      test_a_file_with_the_wrong_magic_is_reported_and_left_alone);
  run("a text file named like a checkpoint is reported and left alone",
      test_a_text_file_named_like_a_checkpoint_is_reported_and_left_alone);
  run("a newer major version is refused and left untouched", test_a_newer_major_version_is_refused_and_left_untouched);
  run("a damaged major version field is corruption, not a newer version",
      test_a_damaged_major_version_field_is_corruption_not_a_newer_version);
  run("open refuses missing or unusable directories and changes nothing",
      test_open_refuses_missing_or_unusable_directories);
  run("a second open is refused naming the holder's pid", test_a_second_open_is_refused_naming_the_holders_pid);
  run("inspect of a missing directory names it", test_inspect_of_a_missing_directory_names_it);
  run("the seed corpus parses as its names say", test_the_seed_corpus_parses_as_its_names_say);

  nftw(root, remove_cb, 16, FTW_DEPTH | FTW_PHYS);
  printf("%d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
