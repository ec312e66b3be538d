/* log_test.c: the append-only log (steadfast/store.h, native/store/log.c), one behaviour per test:
 * round trips across segments, the byte layout checked at its documented offsets, group commit from
 * many threads, fault injection through a copied sf_io_t table, torn tails cut at every byte offset,
 * stale and corrupt records, missing and reordered segments, every bit of a segment header, and bad
 * input. Works in a fresh mkdtemp directory and removes it. Prints "N passed, N failed". */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "steadfast/crc.h"
#include "steadfast/store.h"
#include "../../native/store/log_internal.h" /* sf__log_set_commit_limit */

#include "crc_reference.h"
#include "expect.h"

/* ---- Files ---------------------------------------------------------------------------------------- */

static char root[256];

static void remove_tree(const char *path) {
  DIR *d = opendir(path);
  if (d != NULL) {
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
      if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
      char child[4096];
      snprintf(child, sizeof child, "%s/%s", path, e->d_name);
      struct stat st;
      if (lstat(child, &st) == 0 && S_ISDIR(st.st_mode))
        remove_tree(child);
      else
        unlink(child);
    }
    closedir(d);
  }
  rmdir(path);
}

/* A new, empty directory under root for one test. */
static void fresh_dir(char *out, const char *name) {
  snprintf(out, 512, "%s/%s", root, name);
  remove_tree(out);
  if (mkdir(out, 0755) != 0) {
    perror(out);
    exit(2);
  }
}

static uint8_t *read_file(const char *path, size_t *len) {
  *len = 0;
  int fd = open(path, O_RDONLY);
  if (fd < 0) return NULL;
  struct stat st;
  fstat(fd, &st);
  uint8_t *buf = malloc((size_t)st.st_size + 1);
  ssize_t n = pread(fd, buf, (size_t)st.st_size, 0);
  close(fd);
  *len = n > 0 ? (size_t)n : 0;
  return buf;
}

static void write_file(const char *path, const void *buf, size_t len) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0 || (len > 0 && write(fd, buf, len) != (ssize_t)len)) {
    perror(path);
    exit(2);
  }
  close(fd);
}

static int file_exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0;
}

static void seg_path(char *out, const char *dir, uint64_t lsn) {
  snprintf(out, 600, "%s/log-%016" PRIx64 ".sfl", dir, lsn);
}

/* The first LSNs of the segments in dir, sorted; returns the count. */
static size_t list_segments(const char *dir, uint64_t *lsns, size_t cap) {
  size_t n = 0;
  DIR *d = opendir(dir);
  if (d == NULL) return 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    unsigned long long v;
    char tail[8];
    if (strlen(e->d_name) == 24 && sscanf(e->d_name, "log-%16llx%4s", &v, tail) == 2 && strcmp(tail, ".sfl") == 0 &&
        n < cap)
      lsns[n++] = v;
  }
  closedir(d);
  for (size_t i = 1; i < n; i++)
    for (size_t j = i; j > 0 && lsns[j - 1] > lsns[j]; j--) {
      uint64_t t = lsns[j];
      lsns[j] = lsns[j - 1];
      lsns[j - 1] = t;
    }
  return n;
}

static size_t count_entries(const char *dir) {
  size_t n = 0;
  DIR *d = opendir(dir);
  if (d == NULL) return 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
  closedir(d);
  return n;
}

static uint32_t get32(const uint8_t *p) {
  return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static uint64_t get64(const uint8_t *p) {
  return (uint64_t)get32(p) | ((uint64_t)get32(p + 4) << 32);
}
static void put32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static void put64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static size_t frame_size(size_t len) {
  return 24 + ((len + 7) & ~(size_t)7);
}

/* ---- Records -------------------------------------------------------------------------------------- */

/* The payload of record lsn: a byte stream that depends on the LSN, so a record read back under the
 * wrong LSN or with the wrong bytes is caught. */
static uint8_t payload_byte(uint32_t *x) {
  *x ^= *x << 13, *x ^= *x >> 17, *x ^= *x << 5;
  return (uint8_t)(*x >> 11);
}
static void fill(uint8_t *p, uint64_t lsn, size_t len) {
  uint32_t x = (uint32_t)(lsn * 2654435761u) | 1u;
  for (size_t i = 0; i < len; i++) p[i] = payload_byte(&x);
}
static int matches(const uint8_t *p, uint64_t lsn, size_t len) {
  uint32_t x = (uint32_t)(lsn * 2654435761u) | 1u;
  for (size_t i = 0; i < len; i++)
    if (p[i] != payload_byte(&x)) return 0;
  return 1;
}

/* Record lengths by LSN for the current test (0 where any length is fine). */
static size_t expected_len[4096];

static int append_record(sf_log_t *log, uint64_t want_lsn, size_t len) {
  static uint8_t buf[1 << 16];
  uint8_t *p = len <= sizeof buf ? buf : malloc(len);
  fill(p, want_lsn, len);
  uint64_t lsn = 0;
  sf_store_error_t err;
  int rc = sf_log_append(log, p, len, &lsn, &err);
  if (p != buf) free(p);
  if (rc == 0 && want_lsn < 4096) expected_len[want_lsn] = len;
  expect(rc == 0 && lsn == want_lsn, "append of LSN %" PRIu64 ": rc %d lsn %" PRIu64, want_lsn, rc, lsn);
  return rc;
}

typedef struct collect_s {
  uint64_t first, next, count;
  size_t bytes;
  int bad;
} collect_t;

static int collect_cb(const sf_log_record_t *r, void *arg) {
  collect_t *c = arg;
  if (c->count == 0) c->first = r->lsn;
  if (c->count > 0 && r->lsn != c->next) c->bad++;
  if (r->lsn < 4096 && expected_len[r->lsn] != r->len) c->bad++;
  if (!matches(r->data, r->lsn, r->len)) c->bad++;
  c->next = r->lsn + 1;
  c->count++;
  c->bytes += r->len;
  return 0;
}

static int read_all(sf_log_t *log, uint64_t from, collect_t *c) {
  memset(c, 0, sizeof *c);
  uint64_t next = 0;
  sf_store_error_t err;
  int rc = sf_log_read(log, from, 0, collect_cb, c, &next, &err);
  if (rc != 0)
    fprintf(stderr, "  read: %s %s at %s+%" PRId64 "\n", sf_store_error_name(rc), err.message, err.path, err.offset);
  return rc;
}

static int open_log(sf_log_t **log, const char *dir, uint64_t segment_size, int pit, const sf_io_t *io,
                    sf_log_recovery_t *rec, sf_store_error_t *err) {
  sf_log_options_t o = {dir, segment_size, pit, io};
  sf_log_recovery_t scratch;
  sf_store_error_t scratch_err;
  return sf_log_open(&o, log, rec ? rec : &scratch, err ? err : &scratch_err);
}

/* For opens that should fail: if one succeeds after all, the handle is closed (the test reports it). */
static int open_expecting_error(const char *dir, uint64_t segment_size, sf_store_error_t *err) {
  sf_log_t *log = NULL;
  int rc = open_log(&log, dir, segment_size, 0, NULL, NULL, err);
  if (rc == 0) sf_log_close(log);
  return rc;
}

static int commit(sf_log_t *log, uint64_t *durable) {
  sf_store_error_t err;
  uint64_t d = 0;
  int rc = sf_log_commit(log, &d, &err);
  if (durable) *durable = d;
  return rc;
}

static size_t len_mixed(uint64_t lsn) {
  static const size_t table[] = {0, 1, 7, 8, 9, 100, 1000, 3, 5000, 17, 64};
  return table[lsn % 11];
}

/* ---- Round trips ---------------------------------------------------------------------------------- */

static void test_records_round_trip_across_many_segments(void) {
  current = "appended records read back across many segments, lengths 0, 1, 7, 8, 9 and beyond a segment";
  char dir[512];
  fresh_dir(dir, "roundtrip");
  sf_log_t *log;
  sf_log_recovery_t rec;
  int rc = open_log(&log, dir, 4096, 0, NULL, &rec, NULL);
  expect(rc == 0 && rec.segments == 1 && rec.last_lsn == 0 && rec.first_lsn == 0, "fresh open: rc %d", rc);
  if (rc != 0) return;
  uint64_t durable = 0;
  for (uint64_t lsn = 1; lsn <= 300; lsn++) {
    append_record(log, lsn, len_mixed(lsn));
    if (lsn % 7 == 0 || lsn == 300) {
      rc = commit(log, &durable);
      expect(rc == 0 && durable == lsn, "commit at %" PRIu64 ": rc %d durable %" PRIu64, lsn, rc, durable);
    }
  }
  collect_t c;
  rc = read_all(log, 1, &c);
  expect(rc == 0 && c.count == 300 && c.first == 1 && c.next == 301 && c.bad == 0,
         "read back: rc %d count %" PRIu64 " bad %d", rc, c.count, c.bad);
  uint64_t lsns[512];
  size_t n = list_segments(dir, lsns, 512);
  expect(n > 20, "records spread over many segments (%zu)", n);
  /* A 5000-byte record does not fit a 4096-byte segment: it gets one of its own, sized to fit. */
  int big_ok = 1;
  for (size_t i = 0; i < n; i++) {
    char path[600];
    seg_path(path, dir, lsns[i]);
    struct stat st;
    stat(path, &st);
    if (st.st_size != 4096 && st.st_size != (off_t)(32 + frame_size(5000))) big_ok = 0;
  }
  expect(big_ok, "every segment is segment_size, or exactly one big record's size");
  sf_log_close(log);
}

static void test_reopen_continues_lsns(void) {
  current = "reopening finds every record and continues the LSNs";
  char dir[512];
  snprintf(dir, sizeof dir, "%s/roundtrip", root);
  sf_log_t *log;
  sf_log_recovery_t rec;
  int rc = open_log(&log, dir, 4096, 0, NULL, &rec, NULL);
  expect(rc == 0 && rec.first_lsn == 1 && rec.last_lsn == 300 && rec.torn_bytes == 0 && rec.dropped_records == 0,
         "reopen: rc %d first %" PRIu64 " last %" PRIu64, rc, rec.first_lsn, rec.last_lsn);
  if (rc != 0) return;
  append_record(log, 301, 42);
  uint64_t durable;
  rc = commit(log, &durable);
  expect(rc == 0 && durable == 301, "commit after reopen: durable %" PRIu64, durable);
  collect_t c;
  rc = read_all(log, 1, &c);
  expect(rc == 0 && c.count == 301 && c.bad == 0, "all 301 records read back");
  sf_log_close(log);
}

static void test_read_from_the_middle_and_in_batches(void) {
  current = "reads start at any LSN and stop after max_bytes";
  char dir[512];
  snprintf(dir, sizeof dir, "%s/roundtrip", root);
  sf_log_t *log;
  int rc = open_log(&log, dir, 4096, 0, NULL, NULL, NULL);
  expect(rc == 0, "open");
  if (rc != 0) return;
  collect_t c;
  rc = read_all(log, 150, &c);
  expect(rc == 0 && c.first == 150 && c.count == 152 && c.bad == 0, "from 150: first %" PRIu64 " count %" PRIu64,
         c.first, c.count);
  rc = read_all(log, 302, &c);
  expect(rc == 0 && c.count == 0, "from past the end: nothing");
  uint64_t next = 0;
  sf_store_error_t err;
  memset(&c, 0, sizeof c);
  rc = sf_log_read(log, 302, 0, collect_cb, &c, &next, &err);
  expect(rc == 0 && next == 302, "past the end, next_lsn stays (%" PRIu64 ")", next);

  /* Batches: each call delivers at least 500 bytes (unless the end comes first) and never a record more
   * than needed to pass 500; together they deliver every record once, in order. */
  uint64_t from = 1, calls = 0, total = 0;
  int batches_ok = 1;
  collect_t all;
  memset(&all, 0, sizeof all);
  for (;;) {
    memset(&c, 0, sizeof c);
    rc = sf_log_read(log, from, 500, collect_cb, &c, &next, &err);
    if (rc != 0 || c.count == 0) break;
    calls++;
    total += c.count;
    if (c.first != from || next != c.next || c.bad) batches_ok = 0;
    size_t last_len = expected_len[c.next - 1];
    if (next <= 301 && !(c.bytes >= 500 && c.bytes - last_len < 500)) batches_ok = 0;
    from = next;
  }
  expect(rc == 0 && batches_ok && total == 301 && from == 302 && calls > 10,
         "batched reads: rc %d ok %d total %" PRIu64 " calls %" PRIu64, rc, batches_ok, total, calls);
  sf_log_close(log);
}

static void test_truncate_before_removes_wholly_covered_segments(void) {
  current = "truncate_before removes exactly the segments whose records are all below the LSN";
  char dir[512];
  snprintf(dir, sizeof dir, "%s/roundtrip", root);
  sf_log_t *log;
  int rc = open_log(&log, dir, 4096, 0, NULL, NULL, NULL);
  expect(rc == 0, "open");
  if (rc != 0) return;
  uint64_t before[512], after[512];
  size_t n_before = list_segments(dir, before, 512);
  size_t expected_removed = 0;
  while (expected_removed + 1 < n_before && before[expected_removed + 1] <= 150) expected_removed++;
  uint64_t removed = 99;
  sf_store_error_t err;
  rc = sf_log_truncate_before(log, 1, &removed, &err);
  expect(rc == 0 && removed == 0, "truncate_before(1) removes nothing (%" PRIu64 ")", removed);
  rc = sf_log_truncate_before(log, 150, &removed, &err);
  size_t n_after = list_segments(dir, after, 512);
  expect(rc == 0 && removed == expected_removed && expected_removed > 5, "removed %" PRIu64 " of %zu, expected %zu",
         removed, n_before, expected_removed);
  int same = n_after == n_before - expected_removed;
  for (size_t i = 0; same && i < n_after; i++) same = after[i] == before[i + expected_removed];
  expect(same, "the kept segments are exactly the later ones");
  expect(after[0] <= 150 && (n_after < 2 || after[1] > 150), "the segment holding LSN 150 is kept");
  collect_t c;
  rc = read_all(log, 150, &c);
  expect(rc == 0 && c.first == 150 && c.count == 152 && c.bad == 0, "read from 150 after truncation");
  rc = read_all(log, 1, &c);
  expect(rc == 0 && c.first == after[0] && c.next == 302 && c.bad == 0,
         "read from 1 starts at the first record kept (%" PRIu64 ")", c.first);
  rc = sf_log_truncate_before(log, UINT64_MAX, &removed, &err);
  n_after = list_segments(dir, after, 512);
  expect(rc == 0 && n_after == 1, "truncate_before(max) keeps the last segment only (%zu left)", n_after);
  append_record(log, 302, 10);
  uint64_t durable;
  expect(commit(log, &durable) == 0 && durable == 302, "appending after truncation continues the LSNs");
  sf_log_close(log);
  sf_log_recovery_t rec;
  rc = open_log(&log, dir, 4096, 0, NULL, &rec, NULL);
  expect(rc == 0 && rec.first_lsn == after[0] && rec.last_lsn == 302, "reopen after truncation: first %" PRIu64,
         rec.first_lsn);
  if (rc == 0) sf_log_close(log);
}

static void test_read_rechecks_every_record(void) {
  current = "a read finds a record damaged after open and names segment, offset and LSN";
  char dir[512], path[600];
  fresh_dir(dir, "reread");
  sf_log_t *log;
  if (open_log(&log, dir, 4096, 0, NULL, NULL, NULL) != 0) return expect(0, "open");
  for (uint64_t lsn = 1; lsn <= 5; lsn++) append_record(log, lsn, 40);
  uint64_t durable;
  commit(log, &durable);
  seg_path(path, dir, 1);
  size_t at = 32 + 2 * frame_size(40) + 30; /* a payload byte of LSN 3 */
  int fd = open(path, O_RDWR);
  uint8_t byte;
  if (fd < 0 || pread(fd, &byte, 1, (off_t)at) != 1) return expect(0, "open the segment");
  byte ^= 0x80;
  if (pwrite(fd, &byte, 1, (off_t)at) != 1) expect(0, "damage the segment");
  close(fd);
  collect_t c;
  memset(&c, 0, sizeof c);
  uint64_t next = 0;
  sf_store_error_t err;
  int rc = sf_log_read(log, 1, 0, collect_cb, &c, &next, &err);
  expect(rc == SF_ECORRUPT && strcmp(err.path, path) == 0 && err.offset == (int64_t)(32 + 2 * frame_size(40)) &&
             err.lsn_first == 3 && c.count == 2 && next == 3,
         "read: %s at %" PRId64 " LSN %" PRIu64 " after %" PRIu64 " records (%s)", sf_store_error_name(rc), err.offset,
         err.lsn_first, c.count, err.message);
  memset(&c, 0, sizeof c);
  rc = sf_log_read(log, 4, 0, collect_cb, &c, &next, &err);
  expect(rc == SF_ECORRUPT && err.lsn_first == 3, "a read from LSN 4 checks the records it skips, too");
  sf_log_close(log);
}

static void test_big_record_replaces_an_empty_segment(void) {
  current = "a record bigger than a segment gets a segment of its own, even as the first record";
  char dir[512];
  fresh_dir(dir, "big");
  sf_log_t *log;
  int rc = open_log(&log, dir, 4096, 0, NULL, NULL, NULL);
  if (rc != 0) return expect(0, "open");
  append_record(log, 1, 10000);
  append_record(log, 2, 5);
  uint64_t durable;
  rc = commit(log, &durable);
  expect(rc == 0 && durable == 2, "commit");
  uint64_t lsns[8];
  size_t n = list_segments(dir, lsns, 8);
  char path[600];
  seg_path(path, dir, 1);
  struct stat st;
  stat(path, &st);
  expect(n == 2 && lsns[0] == 1 && lsns[1] == 2 && st.st_size == (off_t)(32 + frame_size(10000)),
         "segment 1 replaced by one sized for the record (%zu segments, size %lld)", n, (long long)st.st_size);
  collect_t c;
  rc = read_all(log, 1, &c);
  expect(rc == 0 && c.count == 2 && c.bad == 0, "both records read back");
  sf_log_close(log);
  rc = open_log(&log, dir, 4096, 0, NULL, NULL, NULL);
  expect(rc == 0, "reopen");
  if (rc == 0) {
    rc = read_all(log, 1, &c);
    expect(rc == 0 && c.count == 2 && c.bad == 0, "both records read back after reopen");
    sf_log_close(log);
  }
}

/* ---- Byte layout ---------------------------------------------------------------------------------- */

static void test_byte_layout_matches_the_documented_offsets(void) {
  current = "segment header and record frames sit at their documented offsets";
  char dir[512];
  fresh_dir(dir, "layout");
  sf_log_t *log;
  int rc = open_log(&log, dir, 4096, 0, NULL, NULL, NULL);
  if (rc != 0) return expect(0, "open");
  uint64_t lsn;
  sf_store_error_t err;
  sf_log_append(log, "abc", 3, &lsn, &err);
  sf_log_append(log, NULL, 0, &lsn, &err);
  uint64_t durable;
  expect(commit(log, &durable) == 0 && durable == 2, "commit");
  sf_log_close(log);
  char path[600];
  seg_path(path, dir, 1);
  size_t len;
  uint8_t *b = read_file(path, &len);
  static const uint8_t magic[8] = {0x53, 0x46, 0x4C, 0x4F, 0x47, 0x53, 0x47, 0x0A};
  expect(len == 4096, "file is fallocated to segment_size (%zu)", len);
  expect(memcmp(b, magic, 8) == 0, "magic SFLOGSG\\n at 0");
  expect(b[8] == 1 && b[9] == 0 && b[10] == 0 && b[11] == 0, "version 1.0 at 8 and 10");
  uint32_t salt = get32(b + 12);
  expect(salt != 0, "salt at 12");
  expect(get64(b + 16) == 1, "first LSN at 16");
  expect(get32(b + 24) == 0, "reserved 0 at 24");
  expect(get32(b + 28) == sf_crc32c(0, b, 28), "header CRC-32C of bytes 0..27 at 28");
  const uint8_t *f = b + 32;
  expect(get32(f + 4) == 3 && get64(f + 8) == 1 && get32(f + 16) == salt && get32(f + 20) == 0,
         "first frame: length, LSN, salt, flags (position 0: first of its commit) at 4, 8, 16, 20");
  expect(get32(f) == sf_crc32c(0, f + 4, 20 + 3), "first frame CRC over bytes 4..26");
  expect(memcmp(f + 24, "abc", 3) == 0 && f[27] == 0 && f[28] == 0 && f[29] == 0 && f[30] == 0 && f[31] == 0,
         "payload at 24, zero padding to 8");
  f = b + 64;
  expect(get32(f + 4) == 0 && get64(f + 8) == 2 && get32(f + 16) == salt && get32(f + 20) == 1 &&
             get32(f) == sf_crc32c(0, f + 4, 20),
         "empty record, second of the commit: a bare 24-byte frame at 64, flags 1 (its position)");
  int zeros = 1;
  for (size_t i = 88; i < len; i++) zeros &= b[i] == 0;
  expect(zeros, "the rest of the segment reads as zeros");
  sf_log_segment_t info;
  rc = sf_log_parse_segment(b, len, &info);
  expect(rc == 0 && info.records == 2 && info.first_lsn == 1 && info.last_lsn == 2 && info.data_end == 88 &&
             info.salt == salt && info.problem_offset == -1,
         "parse_segment agrees: rc %d records %" PRIu64, rc, info.records);
  free(b);
}

static void test_frame_crc_on_both_sides_of_the_commit_cutoff(void) {
  /* Payloads up to SF__LOG_CRC_AT_COMMIT bytes are checksummed at commit, larger ones at append and
   * combined: each frame's CRC must be the documented one either way. */
  current = "frame CRCs are the documented CRC-32C of bytes 4..24+len-1 below, at and above the commit cut-off";
  static const size_t sizes[] = {
      1, 7, 100, SF__LOG_CRC_AT_COMMIT - 1, SF__LOG_CRC_AT_COMMIT, SF__LOG_CRC_AT_COMMIT + 1, 4093, 65536};
  const size_t count = sizeof sizes / sizeof sizes[0];
  char dir[512];
  fresh_dir(dir, "crc-cutoff");
  sf_log_t *log;
  if (open_log(&log, dir, 1 << 20, 0, NULL, NULL, NULL) != 0) return expect(0, "open");
  uint8_t *payload = malloc(65536);
  for (size_t i = 0; i < 65536; i++) payload[i] = (uint8_t)(i * 131 + 7);
  uint64_t lsn, durable;
  sf_store_error_t err;
  for (size_t i = 0; i < count; i++) sf_log_append(log, payload, sizes[i], &lsn, &err);
  expect(commit(log, &durable) == 0 && durable == count, "commit");
  sf_log_close(log);
  char path[600];
  seg_path(path, dir, 1);
  size_t len;
  uint8_t *b = read_file(path, &len);
  size_t off = 32;
  for (size_t i = 0; i < count && b != NULL; i++) {
    const uint8_t *f = b + off;
    expect(get32(f + 4) == sizes[i] && memcmp(f + 24, payload, sizes[i]) == 0, "record %zu in place", i + 1);
    expect(get32(f) == reference(SF_TEST_CRC32C_POLY, 0, f + 4, 20 + sizes[i]), "CRC of the %zu-byte record", sizes[i]);
    off += 24 + ((sizes[i] + 7) & ~(size_t)7);
  }
  free(b);
  free(payload);
}

/* ---- A configurable sf_io_t ----------------------------------------------------------------------- */

enum { OP_NONE, OP_PWRITE, OP_FDATASYNC, OP_FALLOCATE, OP_RENAME, OP_FSYNC };
enum { MODE_FAIL, MODE_TORN_WRITE, MODE_EINTR_ONCE, MODE_SHORT, MODE_NO_FALLOCATE };

typedef struct fault_s {
  sf_io_t io;
  int op, mode, error;
  long countdown; /* > 0: armed; the call of `op` that brings it to 0 fails */
  int fired;
  unsigned char poisoned[4096]; /* descriptors a failure was injected on, until closed */
  int violations;               /* fsync or fdatasync on a poisoned descriptor */
  long syncs;                   /* fdatasync calls (atomic) */
  long dir_syncs;               /* fsync calls (the log fsyncs only directories) */
  long pwrites;                 /* pwrite calls */
  off_t last_pwrite_off;        /* where the last pwrite wrote */
  size_t last_pwrite_len;
  long sync_delay_ns; /* models a disk's flush latency */
} fault_t;

static fault_t *F(const sf_io_t *io) {
  return (fault_t *)io->user;
}
static const sf_io_t *D(void) {
  return sf_io_default();
}
static int trip(fault_t *f, int op) {
  if (f->op != op || f->countdown <= 0) return 0;
  if (--f->countdown != 0) return 0;
  f->fired = 1;
  return 1;
}
/* Atomic: readers open and close descriptors on their own threads while a commit syncs. */
static void poison(fault_t *f, int fd) {
  if (fd >= 0 && fd < 4096) __atomic_store_n(&f->poisoned[fd], 1, __ATOMIC_RELAXED);
}
static int is_poisoned(fault_t *f, int fd) {
  return fd >= 0 && fd < 4096 && __atomic_load_n(&f->poisoned[fd], __ATOMIC_RELAXED);
}

static ssize_t f_pwrite(const sf_io_t *io, int fd, const void *buf, size_t len, off_t off) {
  fault_t *f = F(io);
  f->pwrites++;
  f->last_pwrite_off = off;
  f->last_pwrite_len = len;
  if (f->op == OP_PWRITE && f->mode == MODE_SHORT && f->countdown > 0)
    return D()->pwrite(D(), fd, buf, len > 13 ? 13 : len, off);
  if (trip(f, OP_PWRITE)) {
    if (f->mode == MODE_EINTR_ONCE) return -EINTR;
    if (f->mode == MODE_TORN_WRITE) D()->pwrite(D(), fd, buf, len / 2, off);
    poison(f, fd);
    return f->error;
  }
  return D()->pwrite(D(), fd, buf, len, off);
}
static int f_fdatasync(const sf_io_t *io, int fd) {
  fault_t *f = F(io);
  __atomic_add_fetch(&f->syncs, 1, __ATOMIC_RELAXED);
  if (is_poisoned(f, fd)) f->violations++;
  if (trip(f, OP_FDATASYNC)) {
    poison(f, fd);
    return f->error;
  }
  if (f->sync_delay_ns > 0) {
    struct timespec ts = {0, f->sync_delay_ns};
    nanosleep(&ts, NULL);
  }
  return D()->fdatasync(D(), fd);
}
static int f_fsync(const sf_io_t *io, int fd) {
  fault_t *f = F(io);
  f->dir_syncs++;
  if (is_poisoned(f, fd)) f->violations++;
  if (trip(f, OP_FSYNC)) {
    poison(f, fd);
    return f->error;
  }
  return D()->fsync(D(), fd);
}
static int f_fallocate(const sf_io_t *io, int fd, off_t off, off_t len) {
  fault_t *f = F(io);
  if (f->op == OP_FALLOCATE && f->mode == MODE_NO_FALLOCATE) return -EOPNOTSUPP;
  if (trip(f, OP_FALLOCATE)) return f->error;
  return D()->fallocate(D(), fd, off, len);
}
static int f_rename(const sf_io_t *io, const char *from, const char *to) {
  if (trip(F(io), OP_RENAME)) return F(io)->error;
  return D()->rename(D(), from, to);
}
static int f_close(const sf_io_t *io, int fd) {
  if (fd >= 0 && fd < 4096) __atomic_store_n(&F(io)->poisoned[fd], 0, __ATOMIC_RELAXED);
  return D()->close(D(), fd);
}

static void fault_init(fault_t *f) {
  memset(f, 0, sizeof *f);
  f->io = *sf_io_default();
  f->io.pwrite = f_pwrite;
  f->io.fdatasync = f_fdatasync;
  f->io.fsync = f_fsync;
  f->io.fallocate = f_fallocate;
  f->io.rename = f_rename;
  f->io.close = f_close;
  f->io.user = f;
}

/* ---- Group commit --------------------------------------------------------------------------------- */

#define THREADS 8
#define PER_THREAD 200

typedef struct writer_s {
  sf_log_t *log;
  int id;
  uint64_t lsns[PER_THREAD];
  int errors;
} writer_t;

/* Payload of record i of thread t: t, i, then bytes derived from both. */
static void writer_payload(uint8_t *p, int t, int i) {
  put32(p, (uint32_t)t);
  put32(p + 4, (uint32_t)i);
  fill(p + 8, (uint64_t)t * 100000 + (uint64_t)i, 24);
}

static void *writer_main(void *arg) {
  writer_t *w = arg;
  for (int i = 0; i < PER_THREAD; i++) {
    uint8_t p[32];
    writer_payload(p, w->id, i);
    sf_store_error_t err;
    uint64_t lsn = 0, durable = 0;
    if (sf_log_append(w->log, p, sizeof p, &lsn, &err) != 0) w->errors++;
    w->lsns[i] = lsn;
    if (sf_log_commit(w->log, &durable, &err) != 0 || durable < lsn) w->errors++;
  }
  return NULL;
}

typedef struct reader_s {
  sf_log_t *log;
  int *writers_done;
  uint64_t next;
  int errors;
} reader_t;

static int reader_cb(const sf_log_record_t *r, void *arg) {
  reader_t *rd = arg;
  uint8_t p[32];
  if (r->lsn != rd->next || r->len != 32) {
    rd->errors++;
    return 1;
  }
  writer_payload(p, (int)get32(r->data), (int)get32((const uint8_t *)r->data + 4));
  if (memcmp(p, r->data, 32) != 0) rd->errors++;
  rd->next++;
  return 0;
}

static uint32_t owner[THREADS * PER_THREAD + 1];

/* Like reader_cb, and notes which writer's record sits at each LSN. */
static int owner_cb(const sf_log_record_t *r, void *arg) {
  if (r->len == 32 && r->lsn <= THREADS * PER_THREAD)
    owner[r->lsn] = get32(r->data) * PER_THREAD + get32((const uint8_t *)r->data + 4);
  return reader_cb(r, arg);
}

/* Reads while the writers write: every record it sees must be whole and in sequence. */
static void *reader_main(void *arg) {
  reader_t *rd = arg;
  rd->next = 1;
  while (rd->next <= THREADS * PER_THREAD) {
    int done = __atomic_load_n(rd->writers_done, __ATOMIC_ACQUIRE);
    uint64_t before = rd->next, next = 0;
    sf_store_error_t err;
    int rc = sf_log_read(rd->log, rd->next, 4096, reader_cb, rd, &next, &err);
    if (rc != 0) {
      rd->errors++;
      break;
    }
    if (rd->next == before) {
      if (done) break; /* everything committed and still nothing new: a bug, reported by the caller */
      sched_yield();
    }
  }
  return NULL;
}

static void test_group_commit_from_many_threads(void) {
  current = "concurrent appends and commits get unique consecutive LSNs and share fdatasyncs";
  char dir[512];
  fresh_dir(dir, "group");
  fault_t f;
  fault_init(&f);
  f.sync_delay_ns = 100000;
  sf_log_t *log;
  int rc = open_log(&log, dir, 16384, 0, &f.io, NULL, NULL);
  if (rc != 0) return expect(0, "open");
  long syncs_at_open = f.syncs;
  static writer_t writers[THREADS];
  pthread_t threads[THREADS], reader_thread;
  int writers_done = 0;
  reader_t reader = {log, &writers_done, 1, 0};
  pthread_create(&reader_thread, NULL, reader_main, &reader);
  for (int t = 0; t < THREADS; t++) {
    writers[t].log = log;
    writers[t].id = t;
    writers[t].errors = 0;
    pthread_create(&threads[t], NULL, writer_main, &writers[t]);
  }
  int errors = 0;
  for (int t = 0; t < THREADS; t++) {
    pthread_join(threads[t], NULL);
    errors += writers[t].errors;
  }
  __atomic_store_n(&writers_done, 1, __ATOMIC_RELEASE);
  pthread_join(reader_thread, NULL);
  expect(errors == 0, "every append and commit succeeded with durable >= own LSN (%d errors)", errors);
  static unsigned char seen[THREADS * PER_THREAD + 1];
  int unique = 1;
  for (int t = 0; t < THREADS; t++)
    for (int i = 0; i < PER_THREAD; i++) {
      uint64_t lsn = writers[t].lsns[i];
      if (lsn < 1 || lsn > THREADS * PER_THREAD || seen[lsn]) unique = 0;
      if (lsn >= 1 && lsn <= THREADS * PER_THREAD) seen[lsn] = 1;
    }
  expect(unique, "LSNs 1..%d handed out exactly once each", THREADS * PER_THREAD);
  expect(reader.errors == 0 && reader.next == THREADS * PER_THREAD + 1,
         "a concurrent reader saw every record whole and in order (next %" PRIu64 ", %d errors)", reader.next,
         reader.errors);
  /* Read back after the fact: the record at each LSN is the one its writer was given that LSN for. */
  reader_t check = {log, &writers_done, 1, 0};
  uint64_t next;
  sf_store_error_t err;
  rc = sf_log_read(log, 1, 0, owner_cb, &check, &next, &err);
  int placed = 1;
  for (int t = 0; t < THREADS; t++)
    for (int i = 0; i < PER_THREAD; i++) {
      uint64_t lsn = writers[t].lsns[i];
      if (lsn < 1 || lsn > THREADS * PER_THREAD || owner[lsn] != (uint32_t)(t * PER_THREAD + i)) placed = 0;
    }
  expect(rc == 0 && check.errors == 0 && check.next == THREADS * PER_THREAD + 1 && placed,
         "every record read back at the LSN its append returned");
  long syncs = f.syncs - syncs_at_open;
  expect(syncs < THREADS * PER_THREAD, "%ld fdatasyncs for %d records", syncs, THREADS * PER_THREAD);
  printf("group commit: %d records, %ld fdatasyncs\n", THREADS * PER_THREAD, syncs);
  sf_log_close(log);
}

/* ---- Fault injection ------------------------------------------------------------------------------ */

static int fault_cases, fault_fired;

static void fault_scenario(const char *label, int op, int mode, int error, int nth) {
  char dir[512];
  fresh_dir(dir, "fault");
  fault_t f;
  fault_init(&f);
  sf_log_t *log;
  int rc = open_log(&log, dir, 1024, 0, &f.io, NULL, NULL);
  if (rc != 0) return expect(0, "%s: open", label);
  uint64_t lsn = 1, ack = 0, durable = 0;
  for (; lsn <= 4; lsn++) {
    append_record(log, lsn, 100);
    rc = commit(log, &durable);
    if (rc == 0) ack = durable;
  }
  expect(ack == 4, "%s: commits before the fault", label);
  f.op = op;
  f.mode = mode;
  f.error = error;
  f.countdown = nth;
  int got = 0;
  for (int iter = 0; iter < 40 && got == 0; iter++) {
    for (int k = 0; k < 3; k++, lsn++) append_record(log, lsn, 100);
    sf_store_error_t err;
    rc = sf_log_commit(log, &durable, &err);
    if (rc == 0) {
      expect(durable == lsn - 1, "%s: durable %" PRIu64 " after a good commit", label, durable);
      ack = durable;
    } else {
      got = rc;
      expect(err.code == rc && err.path[0] != '\0', "%s: the error names a path (%s)", label, err.path);
    }
  }
  fault_cases++;
  fault_fired += f.fired;
  if (mode == MODE_FAIL || mode == MODE_TORN_WRITE) {
    expect(f.fired && got == error, "%s: the failing commit returns %s (got %s)", label, sf_store_error_name(error),
           sf_store_error_name(got));
    uint64_t l;
    sf_store_error_t err;
    rc = sf_log_append(log, "x", 1, &l, &err);
    expect(rc == SF_EFAILED && err.code == SF_EFAILED, "%s: a later append returns SF_EFAILED (%d)", label, rc);
    rc = sf_log_commit(log, &durable, &err);
    expect(rc == SF_EFAILED, "%s: a later commit returns SF_EFAILED (%d)", label, rc);
  } else {
    expect(got == 0 && (mode != MODE_EINTR_ONCE || f.fired), "%s: no commit fails (%s)", label,
           sf_store_error_name(got));
  }
  expect(f.violations == 0, "%s: no fsync on a descriptor after a failure on it (%d)", label, f.violations);
  sf_log_close(log);

  sf_log_recovery_t rec;
  rc = open_log(&log, dir, 1024, 0, NULL, &rec, NULL);
  expect(rc == 0 && rec.last_lsn >= ack,
         "%s: reopen recovers every acknowledged record (last %" PRIu64 ", acked %" PRIu64 ")", label, rec.last_lsn,
         ack);
  if (rc != 0) return;
  collect_t c;
  rc = read_all(log, 1, &c);
  expect(rc == 0 && c.count == rec.last_lsn && c.bad == 0, "%s: every record present is whole (%" PRIu64 ")", label,
         c.count);
  append_record(log, rec.last_lsn + 1, 100);
  rc = commit(log, &durable);
  expect(rc == 0 && durable == rec.last_lsn + 1, "%s: the reopened log takes new records", label);
  sf_log_close(log);
}

/* After a failed fdatasync, Linux may keep the unwritten pages in the page cache marked clean: a reopened
 * log reads its records back, but no later fdatasync would write them. So an open writes the last
 * segment's records again and syncs them (and the directory) before it reports them durable. */
static void test_reopen_after_a_failed_commit_makes_the_tail_durable_again(void) {
  current = "reopening after a failed commit rewrites and syncs the last segment before reporting its records";
  char dir[512];
  fresh_dir(dir, "reopen-after-failed-sync");
  fault_t f;
  fault_init(&f);
  sf_log_t *log;
  int rc = open_log(&log, dir, 4096, 0, &f.io, NULL, NULL);
  if (rc != 0) return expect(0, "open");
  uint64_t durable = 0;
  append_record(log, 1, 100);
  expect(commit(log, &durable) == 0 && durable == 1, "commit 1 is acknowledged");
  append_record(log, 2, 200);
  f.op = OP_FDATASYNC, f.error = -EIO, f.countdown = 1;
  rc = commit(log, &durable);
  expect(rc == -EIO && f.fired, "commit 2's fdatasync fails with EIO (%s)", sf_store_error_name(rc));
  sf_log_close(log);

  fault_t counting;
  fault_init(&counting);
  sf_log_recovery_t rec;
  rc = open_log(&log, dir, 4096, 0, &counting.io, &rec, NULL);
  expect(rc == 0, "reopen: %s", sf_store_error_name(rc));
  if (rc != 0) return;
  size_t frames = frame_size(expected_len[1]) + frame_size(expected_len[2]);
  expect(counting.syncs == 1, "open fdatasyncs the last segment once (%ld)", counting.syncs);
  expect(counting.dir_syncs >= 1, "open fsyncs the directory (%ld)", counting.dir_syncs);
  expect(counting.last_pwrite_off == 32 && counting.last_pwrite_len == frames,
         "open rewrote the records [32, %zu) (last wrote %zu bytes at %lld)", 32 + frames, counting.last_pwrite_len,
         (long long)counting.last_pwrite_off);
  expect(counting.violations == 0, "no sync on a failed descriptor");
  expect(rec.last_lsn == 2 && rec.torn_bytes == 0, "both records recovered (last %" PRIu64 ")", rec.last_lsn);
  collect_t c;
  rc = read_all(log, 1, &c);
  expect(rc == 0 && c.count == 2 && c.bad == 0, "records 1 and 2 read back intact (%" PRIu64 ")", c.count);
  append_record(log, 3, 50);
  expect(commit(log, &durable) == 0 && durable == 3, "the reopened log takes new records");
  sf_log_close(log);

  /* The open fails, and reports nothing durable, when that rewrite cannot be synced. */
  fault_t failing;
  fault_init(&failing);
  failing.op = OP_FDATASYNC, failing.error = -EIO, failing.countdown = 1;
  sf_store_error_t err;
  log = NULL;
  rc = open_log(&log, dir, 4096, 0, &failing.io, NULL, &err);
  expect(rc == -EIO && log == NULL && failing.violations == 0, "a failed rewrite sync fails the open (%s: %s)",
         sf_store_error_name(rc), err.message);
  fault_init(&failing);
  failing.op = OP_FSYNC, failing.error = -EIO, failing.countdown = 1;
  rc = open_log(&log, dir, 4096, 0, &failing.io, NULL, &err);
  expect(rc == -EIO && log == NULL && strcmp(err.path, dir) == 0, "a failed directory fsync fails the open (%s: %s)",
         sf_store_error_name(rc), err.path);
}

/* A segment file larger than any the format allows is damage; its size is never allocated. */
static void test_a_segment_larger_than_the_format_allows_is_corruption(void) {
  current = "a segment larger than the format allows is reported as corruption without being read";
  char dir[512], path[600];
  fresh_dir(dir, "huge-segment");
  seg_path(path, dir, 1);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0 || ftruncate(fd, (off_t)SF__LOG_MAX_FILE + 1) != 0) {
    if (fd >= 0) close(fd);
    return expect(0, "cannot create a sparse file");
  }
  close(fd);
  sf_store_error_t err;
  int rc = open_expecting_error(dir, 4096, &err);
  expect(rc == SF_ECORRUPT && strcmp(err.path, path) == 0 && strstr(err.message, "larger than any") != NULL,
         "open: %s (%s)", sf_store_error_name(rc), err.message);
  fresh_dir(dir, "huge-option");
  rc = open_expecting_error(dir, SF__LOG_MAX_SEGMENT + 8, &err);
  expect(rc == -EINVAL, "a segment size over 1 GiB is refused (%s)", sf_store_error_name(rc));
}

static void test_faults_fail_the_log_and_lose_nothing_acknowledged(void) {
  current = "an injected I/O error fails the commit and the log; reopening recovers what was acknowledged";
  static const struct {
    int op;
    const char *name;
  } ops[] = {{OP_PWRITE, "pwrite"},
             {OP_FDATASYNC, "fdatasync"},
             {OP_FALLOCATE, "fallocate"},
             {OP_RENAME, "rename"},
             {OP_FSYNC, "fsync"}};
  static const int errors[] = {-EIO, -ENOSPC};
  static const int nths[] = {1, 2, 4};
  char label[128];
  for (size_t o = 0; o < sizeof ops / sizeof ops[0]; o++)
    for (size_t e = 0; e < 2; e++)
      for (size_t n = 0; n < 3; n++) {
        snprintf(label, sizeof label, "%s #%d %s", ops[o].name, nths[n], sf_store_error_name(errors[e]));
        fault_scenario(label, ops[o].op, MODE_FAIL, errors[e], nths[n]);
      }
  for (int n = 1; n <= 3; n++) {
    snprintf(label, sizeof label, "pwrite #%d half written then EIO", n);
    fault_scenario(label, OP_PWRITE, MODE_TORN_WRITE, -EIO, n);
  }
  fault_scenario("pwrite EINTR once", OP_PWRITE, MODE_EINTR_ONCE, 0, 2);
  fault_scenario("short writes", OP_PWRITE, MODE_SHORT, 0, 1000000);
  fault_scenario("no fallocate (ftruncate instead)", OP_FALLOCATE, MODE_NO_FALLOCATE, 0, 0);
  expect(fault_fired == fault_cases - 2, "every injected fault fired (%d of %d)", fault_fired, fault_cases);
  printf("fault injection: %d scenarios\n", fault_cases);
}

/* ---- Torn tails, stale and corrupt records --------------------------------------------------------- */

static const size_t torn_lengths[] = {20, 33, 0, 57, 8, 100, 9, 64, 1, 200, 7, 150};
#define TORN_N 12
static uint8_t *base; /* the one segment of the base log */
static size_t base_len;
static size_t offsets[TORN_N + 1]; /* frame offsets; offsets[TORN_N] is the end of the records */
static char base_dir[512];

static void build_base(void) {
  fresh_dir(base_dir, "base");
  sf_log_t *log;
  if (open_log(&log, base_dir, 4096, 0, NULL, NULL, NULL) != 0) exit(2);
  /* One commit per record: damage followed by any later record is then damage to an acknowledged
   * commit. */
  for (int i = 0; i < TORN_N; i++) {
    append_record(log, (uint64_t)i + 1, torn_lengths[i]);
    commit(log, NULL);
  }
  sf_log_close(log);
  char path[600];
  seg_path(path, base_dir, 1);
  base = read_file(path, &base_len);
  offsets[0] = 32;
  for (int i = 0; i < TORN_N; i++) offsets[i + 1] = offsets[i] + frame_size(torn_lengths[i]);
}

static void set_lengths(void) {
  memset(expected_len, 0, sizeof expected_len);
  for (int i = 0; i < TORN_N; i++) expected_len[i + 1] = torn_lengths[i];
}

static size_t nonzero_end(const uint8_t *p, size_t from, size_t len) {
  while (len > from && p[len - 1] == 0) len--;
  return len;
}

/* Puts bytes as the only segment of dir (LSN 1), removing everything else. */
static void install(const char *dir, const uint8_t *bytes, size_t len) {
  remove_tree(dir);
  mkdir(dir, 0755);
  char path[600];
  seg_path(path, dir, 1);
  write_file(path, bytes, len);
}

static uint32_t rng_state = 12345;
static uint8_t rng_byte(void) {
  rng_state ^= rng_state << 13, rng_state ^= rng_state >> 17, rng_state ^= rng_state << 5;
  return (uint8_t)rng_state;
}

static int no_sync(const sf_io_t *io, int fd) {
  (void)io, (void)fd;
  return 0;
}

static void test_torn_tails_are_cut_at_every_offset(void) {
  current = "a torn tail is cut back to the last whole record and kept in a side file, at every byte offset";
  static const char *modes[] = {"truncated", "zeroed", "garbled"};
  char dir[512], path[600];
  snprintf(dir, sizeof dir, "%s/torn", root);
  seg_path(path, dir, 1);
  uint8_t *m = malloc(base_len);
  int cases = 0, cut = 0, recovered = 0;
  fault_t nosync;
  fault_init(&nosync);
  nosync.io.fdatasync = no_sync;
  nosync.io.fsync = no_sync;
  for (int mode = 0; mode < 3; mode++)
    for (size_t c = offsets[TORN_N - 3]; c < offsets[TORN_N]; c++) {
      set_lengths();
      memcpy(m, base, base_len);
      size_t m_len = base_len;
      if (mode == 0) m_len = c;
      for (size_t i = c; mode > 0 && i < offsets[TORN_N]; i++) m[i] = mode == 1 ? 0 : rng_byte();
      if (mode == 2 && m[c] == base[c]) m[c] ^= 0x5a;
      /* The oracle: the records still whole (padding included, as a commit writes it) and unchanged. The
       * padding's bytes are not covered by the CRC: readers ignore them. */
      uint64_t kept = 0;
      while (kept < TORN_N && offsets[kept + 1] <= m_len &&
             memcmp(m + offsets[kept], base + offsets[kept], 24 + torn_lengths[kept]) == 0)
        kept++;
      size_t cut_at = offsets[kept];
      size_t side_len = nonzero_end(m, cut_at, m_len) - cut_at;
      install(dir, m, m_len);
      cases++;
      sf_log_t *log;
      sf_log_recovery_t rec;
      sf_store_error_t err;
      /* Durability is not what this loop tests, and real syncs would make it slow: most cases run on a
       * table whose syncs do nothing; every fifth uses the real one and goes on to append and reopen. */
      int real = c % 5 == 0;
      int rc = open_log(&log, dir, 4096, 0, real ? NULL : &nosync.io, &rec, &err);
      int ok = rc == 0 && rec.last_lsn == kept && rec.torn_bytes == side_len;
      if (!ok) {
        expect(0, "%s at %zu: rc %s (%s) last %" PRIu64 " want %" PRIu64 ", torn %" PRIu64 " want %zu", modes[mode], c,
               sf_store_error_name(rc), err.message, rec.last_lsn, kept, rec.torn_bytes, side_len);
        if (rc == 0) sf_log_close(log);
        continue;
      }
      if (side_len > 0) {
        cut++;
        char want_side[700];
        snprintf(want_side, sizeof want_side, "%s.torn-%zu", path, cut_at);
        size_t got_len;
        uint8_t *side = read_file(rec.torn_path, &got_len);
        ok &= strcmp(rec.torn_path, want_side) == 0 && side != NULL && got_len == side_len &&
              memcmp(side, m + cut_at, side_len) == 0;
        free(side);
        size_t seg_len;
        uint8_t *seg = read_file(path, &seg_len);
        int zeroed = seg != NULL && seg_len == m_len && memcmp(seg, m, cut_at) == 0;
        for (size_t i = cut_at; zeroed && i < cut_at + side_len; i++) zeroed &= seg[i] == 0;
        free(seg);
        ok &= zeroed;
      }
      collect_t col;
      ok &= read_all(log, 1, &col) == 0 && col.count == kept && col.bad == 0;
      int is_open = 1;
      if (real) {
        /* The cut place takes new records, and they survive a reopen. */
        append_record(log, kept + 1, 77);
        uint64_t durable;
        ok &= commit(log, &durable) == 0 && durable == kept + 1;
        sf_log_close(log);
        is_open = open_log(&log, dir, 4096, 0, NULL, &rec, NULL) == 0;
        ok &= is_open && rec.last_lsn == kept + 1 && rec.torn_bytes == 0;
        if (is_open) ok &= read_all(log, 1, &col) == 0 && col.count == kept + 1 && col.bad == 0;
      }
      if (is_open) sf_log_close(log);
      expect(ok, "%s at %zu: side file, zeroed cut and records as expected", modes[mode], c);
      recovered += ok;
    }
  free(m);
  expect(cut > 0 && recovered == cases, "torn tails: %d cases, %d recovered", cases, recovered);
  printf("torn tails: %d cases, %d cut, %d recovered\n", cases, cut, recovered);
}

static void test_stale_record_at_the_tail_ends_the_records(void) {
  current = "a record with a good CRC but another segment's salt at the tail is treated as the end";
  char dir[512], path[600];
  snprintf(dir, sizeof dir, "%s/stale", root);
  set_lengths();
  uint8_t *m = malloc(base_len);
  memcpy(m, base, base_len);
  uint8_t *f = m + offsets[TORN_N];
  put32(f + 4, 16);
  put64(f + 8, TORN_N + 1);
  put32(f + 16, get32(base + 12) ^ 0x5a5a5a5a);
  put32(f + 20, 0);
  fill(f + 24, TORN_N + 1, 16);
  put32(f, sf_crc32c(0, f + 4, 20 + 16));
  size_t side_len = nonzero_end(m, offsets[TORN_N], base_len) - offsets[TORN_N];
  install(dir, m, base_len);
  sf_log_t *log;
  sf_log_recovery_t rec;
  int rc = open_log(&log, dir, 4096, 0, NULL, &rec, NULL);
  expect(rc == 0 && rec.last_lsn == TORN_N && rec.torn_bytes == side_len && side_len > 24,
         "stale record cut: rc %d last %" PRIu64 " torn %" PRIu64, rc, rec.last_lsn, rec.torn_bytes);
  sf_log_segment_t info;
  rc = sf_log_parse_segment(m, base_len, &info);
  expect(rc == 0 && info.records == TORN_N && strstr(info.problem, "stale") != NULL &&
             info.problem_offset == (int64_t)offsets[TORN_N],
         "parse_segment reports the stale tail: %s", info.problem);
  if (log != NULL && rec.last_lsn == TORN_N) {
    append_record(log, TORN_N + 1, 5);
    uint64_t durable;
    expect(commit(log, &durable) == 0 && durable == TORN_N + 1, "the stale record's LSN is handed out again");
    collect_t c;
    expect(read_all(log, 1, &c) == 0 && c.count == TORN_N + 1 && c.bad == 0, "records read back");
    sf_log_close(log);
  }
  seg_path(path, dir, 1);
  free(m);
}

static void test_corrupt_middle_record_is_reported(void) {
  current = "a damaged record followed by valid ones is SF_ECORRUPT naming segment, offset and LSNs";
  char dir[512], path[600];
  snprintf(dir, sizeof dir, "%s/corrupt", root);
  seg_path(path, dir, 1);
  uint8_t *m = malloc(base_len);
  int checked = 0, right = 0;
  for (int k = 1; k < TORN_N; k++) { /* LSN k; the last record is a torn tail, tested above */
    size_t off = offsets[k - 1], covered = 24 + torn_lengths[k - 1];
    for (size_t byte = 0; byte < covered; byte += (byte < 24 ? 1 : 13)) {
      memcpy(m, base, base_len);
      m[off + byte] ^= (uint8_t)(1u << (byte % 8));
      install(dir, m, base_len);
      sf_store_error_t err;
      int rc = open_expecting_error(dir, 4096, &err);
      size_t len;
      uint8_t *after = read_file(path, &len);
      int ok = rc == SF_ECORRUPT && err.code == rc && strcmp(err.path, path) == 0 && err.offset == (int64_t)off &&
               err.lsn_first == (uint64_t)k && err.lsn_last == (uint64_t)k && len == base_len &&
               memcmp(after, m, len) == 0 && count_entries(dir) == 2;
      free(after);
      checked++;
      right += ok;
      if (!ok)
        expect(0, "LSN %d byte %zu: rc %s offset %" PRId64 " LSNs %" PRIu64 "..%" PRIu64 " (%s)", k, byte,
               sf_store_error_name(rc), err.offset, err.lsn_first, err.lsn_last, err.message);
    }
  }
  expect(right == checked, "%d of %d bit flips reported exactly, files untouched", right, checked);

  /* Two damaged records in a row: the range covers both. */
  memcpy(m, base, base_len);
  m[offsets[4] + 30] ^= 1;
  m[offsets[5] + 30] ^= 1;
  install(dir, m, base_len);
  sf_store_error_t err;
  int rc = open_expecting_error(dir, 4096, &err);
  expect(rc == SF_ECORRUPT && err.offset == (int64_t)offsets[4] && err.lsn_first == 5 && err.lsn_last == 6,
         "two damaged records: LSNs %" PRIu64 "..%" PRIu64, err.lsn_first, err.lsn_last);
  free(m);
}

static void test_hole_in_the_last_commit_is_a_torn_tail(void) {
  current = "a hole in the last commit with whole records of that commit after it is a torn tail";
  char dir[512], path[600];
  snprintf(dir, sizeof dir, "%s/hole", root);
  fresh_dir(dir, "hole");
  seg_path(path, dir, 1);
  set_lengths();
  /* Two commits: LSNs 1..4, then 5..12 in one write, as a crash during its fdatasync may leave it when
   * the page cache writes the pages back out of order. */
  sf_log_t *log;
  if (open_log(&log, dir, 4096, 0, NULL, NULL, NULL) != 0) return expect(0, "open");
  for (int i = 0; i < TORN_N; i++) {
    append_record(log, (uint64_t)i + 1, torn_lengths[i]);
    if (i == 3) commit(log, NULL);
  }
  commit(log, NULL);
  sf_log_close(log);
  size_t len;
  uint8_t *two = read_file(path, &len);
  uint8_t *m = malloc(len);
  static const struct {
    int first, last; /* records (LSNs) zeroed */
    int torn;        /* 1: cut as a torn tail; 0: SF_ECORRUPT */
  } cases[] = {{7, 7, 1}, {5, 5, 1}, {6, 9, 1}, {5, 11, 1}, {12, 12, 1}, {3, 3, 0},
               {4, 4, 0}, {2, 3, 0}, {4, 5, 0}, {3, 6, 0},  {4, 11, 0}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    memcpy(m, two, len);
    size_t from = offsets[cases[i].first - 1], to = offsets[cases[i].last];
    memset(m + from, 0, to - from);
    install(dir, m, len);
    sf_log_recovery_t rec;
    sf_store_error_t err;
    int rc = open_log(&log, dir, 4096, 0, NULL, &rec, &err);
    if (cases[i].torn) {
      size_t want = nonzero_end(m, from, len) - from;
      expect(rc == 0 && rec.last_lsn == (uint64_t)cases[i].first - 1 && rec.torn_bytes == want,
             "LSNs %d..%d zeroed: rc %s last %" PRIu64 " torn %" PRIu64 " (%s)", cases[i].first, cases[i].last,
             sf_store_error_name(rc), rec.last_lsn, rec.torn_bytes, err.message);
      if (rc == 0) {
        collect_t c;
        expect(read_all(log, 1, &c) == 0 && c.count == (uint64_t)cases[i].first - 1 && c.bad == 0,
               "the records before the hole read back");
        char want_side[700];
        snprintf(want_side, sizeof want_side, "%s.torn-%zu", path, from);
        size_t side_len;
        uint8_t *side = read_file(want_side, &side_len);
        /* (Zeroing the very last record leaves nothing to cut: a clean end.) */
        expect(want == 0 ? rec.torn_path[0] == '\0' && side == NULL
                         : strcmp(rec.torn_path, want_side) == 0 && side != NULL && side_len == want &&
                               memcmp(side, m + from, want) == 0,
               "LSNs %d..%d zeroed: the cut bytes, later records of the commit included, are in %s", cases[i].first,
               cases[i].last, want_side);
        free(side);
        sf_log_close(log);
      }
    } else {
      expect(rc == SF_ECORRUPT && err.offset == (int64_t)from && err.lsn_first == (uint64_t)cases[i].first &&
                 err.lsn_last == (uint64_t)cases[i].last,
             "LSNs %d..%d zeroed, in the acknowledged commit: %s %" PRIu64 "..%" PRIu64, cases[i].first, cases[i].last,
             sf_store_error_name(rc), err.lsn_first, err.lsn_last);
      if (rc == 0) sf_log_close(log);
    }
  }
  free(m);
  free(two);
}

static void test_point_in_time_recovery_stops_at_the_damage(void) {
  current = "point-in-time recovery opens at the last record before the damage and keeps what it drops";
  char dir[512], path[600];
  snprintf(dir, sizeof dir, "%s/pit", root);
  seg_path(path, dir, 1);
  uint8_t *m = malloc(base_len);
  for (int k = 2; k < TORN_N; k += 3) {
    set_lengths();
    memcpy(m, base, base_len);
    size_t off = offsets[k - 1];
    m[off + 25] ^= 0x10;
    install(dir, m, base_len);
    sf_log_t *log;
    sf_log_recovery_t rec;
    sf_store_error_t err;
    int rc = open_log(&log, dir, 4096, 1, NULL, &rec, &err);
    expect(rc == 0 && rec.last_lsn == (uint64_t)k - 1 && rec.dropped_records == (uint64_t)(TORN_N - k) &&
               rec.dropped_first_lsn == (uint64_t)k && rec.dropped_last_lsn == TORN_N &&
               strcmp(rec.corrupt_path, path) == 0 && rec.corrupt_offset == (int64_t)off && rec.torn_bytes == 0,
           "LSN %d: rc %s last %" PRIu64 " dropped %" PRIu64 " (%" PRIu64 "..%" PRIu64 ")", k, sf_store_error_name(rc),
           rec.last_lsn, rec.dropped_records, rec.dropped_first_lsn, rec.dropped_last_lsn);
    if (rc != 0) continue;
    char side[700];
    snprintf(side, sizeof side, "%s.dropped-%zu", path, off);
    size_t len, want = nonzero_end(m, off, base_len) - off;
    uint8_t *kept = read_file(side, &len);
    expect(kept != NULL && len == want && memcmp(kept, m + off, len) == 0, "the dropped bytes are in %s", side);
    free(kept);
    collect_t c;
    expect(read_all(log, 1, &c) == 0 && c.count == (uint64_t)k - 1 && c.bad == 0,
           "records before the damage read back");
    append_record(log, (uint64_t)k, 11);
    uint64_t durable;
    expect(commit(log, &durable) == 0 && durable == (uint64_t)k, "LSN %d is handed out again", k);
    sf_log_close(log);
    rc = open_log(&log, dir, 4096, 0, NULL, &rec, NULL);
    expect(rc == 0 && rec.last_lsn == (uint64_t)k && rec.dropped_records == 0, "reopens cleanly without point-in-time");
    if (rc == 0) sf_log_close(log);
  }
  free(m);
}

static void test_damage_across_two_commits_is_corruption(void) {
  current = "damage over the end of an acknowledged commit and the start of the next is SF_ECORRUPT";
  char dir[512];
  snprintf(dir, sizeof dir, "%s/across", root);
  set_lengths();
  /* base has one commit per record. Destroying the first frame of a commit no longer hides where it
   * began: the frames after it carry their positions. */
  uint8_t *m = malloc(base_len);
  static const int spans[][2] = {{8, 9}, {6, 8}, {9, 11}};
  for (size_t i = 0; i < sizeof spans / sizeof spans[0]; i++) {
    for (int mode = 0; mode < 2; mode++) {
      memcpy(m, base, base_len);
      size_t from = offsets[spans[i][0] - 1], to = offsets[spans[i][1]];
      for (size_t b = from; b < to; b++) m[b] = mode == 0 ? 0 : rng_byte();
      install(dir, m, base_len);
      sf_store_error_t err;
      int rc = open_expecting_error(dir, 4096, &err);
      expect(rc == SF_ECORRUPT && err.offset == (int64_t)from && err.lsn_first == (uint64_t)spans[i][0] &&
                 err.lsn_last == (uint64_t)spans[i][1],
             "LSNs %d..%d %s: %s at %" PRId64 ", LSNs %" PRIu64 "..%" PRIu64 " (%s)", spans[i][0], spans[i][1],
             mode == 0 ? "zeroed" : "garbled", sf_store_error_name(rc), err.offset, err.lsn_first, err.lsn_last,
             err.message);
    }
  }
  /* A whole frame whose position does not continue the frames before it (LSN 5 claiming position 3 of
   * a commit begun at LSN 2, after LSN 4 began a commit of its own) is out of sequence. */
  memcpy(m, base, base_len);
  uint8_t *f = m + offsets[4];
  put32(f + 20, 3);
  put32(f, sf_crc32c(0, f + 4, 20 + torn_lengths[4]));
  install(dir, m, base_len);
  sf_store_error_t err;
  int rc = open_expecting_error(dir, 4096, &err);
  expect(rc == SF_ECORRUPT && err.offset == (int64_t)offsets[4] && err.lsn_first == 5 &&
             strstr(err.message, "commit position 3") != NULL,
         "a position out of sequence: %s at %" PRId64 " (%s)", sf_store_error_name(rc), err.offset, err.message);
  free(m);
}

static void test_hole_at_a_segment_start_inside_a_rolled_commit_is_torn(void) {
  current = "a hole at the start of the last segment, in a commit begun in the segment before, is a torn tail";
  char dir[512], path[600];
  fresh_dir(dir, "rolled");
  memset(expected_len, 0, sizeof expected_len);
  sf_log_t *log;
  if (open_log(&log, dir, 1024, 0, NULL, NULL, NULL) != 0) return expect(0, "open");
  /* 100-byte records, 7 per 1024-byte segment: commit 6..10 rolls from segment 1 to segment 8. */
  for (uint64_t lsn = 1; lsn <= 10; lsn++) {
    append_record(log, lsn, 100);
    if (lsn == 5 || lsn == 10) commit(log, NULL);
  }
  sf_log_close(log);
  seg_path(path, dir, 8);
  size_t len;
  uint8_t *seg = read_file(path, &len);
  expect(seg != NULL && len == 1024 && get64(seg + 32 + 8) == 8 && get32(seg + 32 + 20) == 2,
         "segment 8 starts with LSN 8 at position 2 of the commit begun at LSN 6");
  for (int hole = 8; hole <= 9; hole++) {
    uint8_t *m = malloc(len);
    memcpy(m, seg, len);
    size_t from = 32 + (size_t)(hole - 8) * 128;
    memset(m + from, 0, 128);
    write_file(path, m, len);
    sf_log_recovery_t rec;
    sf_store_error_t err;
    int rc = open_log(&log, dir, 1024, 0, NULL, &rec, &err);
    expect(rc == 0 && rec.last_lsn == (uint64_t)hole - 1 && rec.torn_bytes == nonzero_end(m, from, len) - from,
           "LSN %d zeroed: rc %s last %" PRIu64 " torn %" PRIu64 " (%s)", hole, sf_store_error_name(rc), rec.last_lsn,
           rec.torn_bytes, err.message);
    if (rc == 0) sf_log_close(log);
    if (rec.torn_path[0] != '\0') unlink(rec.torn_path);
    free(m);
  }
  free(seg);
}

static void test_a_long_batch_is_split_into_synced_commits(void) {
  current = "a batch longer than the commit limit is written as several commits, each synced";
  char dir[512], path[600];
  fresh_dir(dir, "split");
  memset(expected_len, 0, sizeof expected_len);
  fault_t f;
  fault_init(&f);
  sf_log_t *log;
  if (open_log(&log, dir, 4096, 0, &f.io, NULL, NULL) != 0) return expect(0, "open");
  sf__log_set_commit_limit(log, 3);
  for (uint64_t lsn = 1; lsn <= 10; lsn++) append_record(log, lsn, 16);
  long syncs = f.syncs;
  uint64_t durable = 0;
  int rc = commit(log, &durable);
  syncs = f.syncs - syncs;
  expect(rc == 0 && durable == 10 && syncs == 4, "one call, four commits of 3, 3, 3 and 1: rc %d, %ld fdatasyncs", rc,
         syncs);
  sf_log_close(log);
  seg_path(path, dir, 1);
  size_t len;
  uint8_t *seg = read_file(path, &len);
  int positions = seg != NULL;
  for (int i = 0; positions && i < 10; i++) positions &= get32(seg + 32 + (size_t)i * 40 + 20) == (uint32_t)(i % 3);
  expect(positions, "positions 0, 1, 2, 0, 1, 2, 0, 1, 2, 0");
  /* The split commits are commits like any other: damage to the end of one, followed by the next, is
   * corruption. */
  seg[32 + 2 * 40 + 30] ^= 1;
  write_file(path, seg, len);
  sf_store_error_t err;
  rc = open_expecting_error(dir, 4096, &err);
  expect(rc == SF_ECORRUPT && err.lsn_first == 3, "damage to LSN 3: %s (%s)", sf_store_error_name(rc), err.message);
  free(seg);
}

/* ---- Several segments ----------------------------------------------------------------------------- */

static char multi_dir[512];
#define MULTI_RECORDS 30 /* 100-byte records, 7 per 1024-byte segment: segments at 1, 8, 15, 22, 29 */

static void build_multi(void) {
  fresh_dir(multi_dir, "multi");
  sf_log_t *log;
  if (open_log(&log, multi_dir, 1024, 0, NULL, NULL, NULL) != 0) exit(2);
  for (uint64_t lsn = 1; lsn <= MULTI_RECORDS; lsn++) {
    append_record(log, lsn, 100);
    if (lsn % 4 == 0) commit(log, NULL);
  }
  commit(log, NULL);
  sf_log_close(log);
}

/* Copies the multi-segment base into dir. */
static void copy_multi(const char *dir) {
  remove_tree(dir);
  mkdir(dir, 0755);
  uint64_t lsns[16];
  size_t n = list_segments(multi_dir, lsns, 16);
  for (size_t i = 0; i < n; i++) {
    char from[600], to[600];
    seg_path(from, multi_dir, lsns[i]);
    seg_path(to, dir, lsns[i]);
    size_t len;
    uint8_t *b = read_file(from, &len);
    write_file(to, b, len);
    free(b);
  }
}

static void flip(const char *path, size_t offset, unsigned bit) {
  size_t len;
  uint8_t *b = read_file(path, &len);
  b[offset] ^= (uint8_t)(1u << bit);
  write_file(path, b, len);
  free(b);
}

static void test_multi_segment_damage(void) {
  current = "damage in a segment that is not the last is SF_ECORRUPT, or cut with point-in-time";
  char dir[512], path[600], seg2[600];
  snprintf(dir, sizeof dir, "%s/multi-damage", root);
  memset(expected_len, 0, sizeof expected_len);
  for (int i = 1; i <= MULTI_RECORDS; i++) expected_len[i] = 100;
  uint64_t lsns[16];
  size_t n = list_segments(multi_dir, lsns, 16);
  expect(n == 5 && lsns[1] == 8 && lsns[2] == 15 && lsns[4] == 29, "the base has segments 1, 8, 15, 22, 29");

  /* Record 10 (third of segment 8) damaged, records after it valid. */
  copy_multi(dir);
  seg_path(seg2, dir, 8);
  flip(seg2, 32 + 2 * 128 + 40, 3);
  sf_log_t *log;
  sf_store_error_t err;
  sf_log_recovery_t rec;
  int rc = open_expecting_error(dir, 1024, &err);
  expect(rc == SF_ECORRUPT && strcmp(err.path, seg2) == 0 && err.offset == 32 + 2 * 128 && err.lsn_first == 10 &&
             err.lsn_last == 10,
         "middle record: %s at %s+%" PRId64 ", %" PRIu64 "..%" PRIu64, sf_store_error_name(rc), err.path, err.offset,
         err.lsn_first, err.lsn_last);
  rc = open_log(&log, dir, 1024, 1, NULL, &rec, &err);
  expect(rc == 0 && rec.last_lsn == 9 && rec.dropped_records == MULTI_RECORDS - 10 && rec.dropped_first_lsn == 10 &&
             rec.dropped_last_lsn == MULTI_RECORDS && rec.segments == 2,
         "point-in-time: last %" PRIu64 " dropped %" PRIu64 " segments %" PRIu64, rec.last_lsn, rec.dropped_records,
         rec.segments);
  if (rc == 0) {
    int aside = 1;
    for (size_t i = 2; i < 5; i++) {
      char p[600], d[700];
      seg_path(p, dir, lsns[i]);
      snprintf(d, sizeof d, "%s.dropped", p);
      aside &= !file_exists(p) && file_exists(d);
    }
    expect(aside, "the later segments are moved aside as .dropped");
    append_record(log, 10, 100);
    uint64_t durable;
    expect(commit(log, &durable) == 0 && durable == 10, "the log continues at LSN 10");
    collect_t c;
    expect(read_all(log, 1, &c) == 0 && c.count == 10 && c.bad == 0, "LSNs 1..10 read back");
    sf_log_close(log);
  }

  /* The last record of a segment that is not the last: nothing follows it in its segment, but the next
   * segment shows the record is missing. */
  copy_multi(dir);
  seg_path(seg2, dir, 8);
  flip(seg2, 32 + 6 * 128 + 30, 0);
  rc = open_expecting_error(dir, 1024, &err);
  expect(rc == SF_ECORRUPT && strcmp(err.path, seg2) == 0 && err.offset == 32 + 6 * 128 && err.lsn_first == 14 &&
             err.lsn_last == 14,
         "last record of a sealed segment: %s %" PRIu64 "..%" PRIu64 " (%s)", sf_store_error_name(rc), err.lsn_first,
         err.lsn_last, err.message);

  /* A missing segment. */
  copy_multi(dir);
  seg_path(path, dir, 15);
  unlink(path);
  seg_path(path, dir, 22);
  rc = open_expecting_error(dir, 1024, &err);
  expect(rc == SF_ECORRUPT && strcmp(err.path, path) == 0 && err.lsn_first == 15 && err.lsn_last == 21,
         "missing segment: %s %s %" PRIu64 "..%" PRIu64, sf_store_error_name(rc), err.path, err.lsn_first,
         err.lsn_last);
  sf_log_segment_t *segs;
  size_t count;
  rc = sf_log_inspect(dir, NULL, &segs, &count, &err);
  expect(rc == 0 && count == 4 && segs[2].status == SF_ECORRUPT && strstr(segs[2].problem, "15..21") != NULL &&
             segs[0].status == 0 && segs[1].status == 0 && segs[3].status == 0,
         "inspect flags the segment after the gap: %s", count == 4 ? segs[2].problem : "?");
  if (rc == 0) free(segs);
  rc = open_log(&log, dir, 1024, 1, NULL, &rec, &err);
  expect(rc == 0 && rec.last_lsn == 14 && rec.dropped_records == 9 && rec.dropped_first_lsn == 15 &&
             rec.dropped_last_lsn == MULTI_RECORDS,
         "point-in-time over a missing segment: last %" PRIu64 " dropped %" PRIu64, rec.last_lsn, rec.dropped_records);
  if (rc == 0) sf_log_close(log);

  /* A segment whose header names another first LSN than its file name (files swapped or renamed). */
  copy_multi(dir);
  char a[600], b[600];
  seg_path(a, dir, 15);
  seg_path(b, dir, 22);
  size_t len_a;
  uint8_t *bytes_a = read_file(a, &len_a);
  write_file(b, bytes_a, len_a);
  free(bytes_a);
  rc = open_expecting_error(dir, 1024, &err);
  expect(rc == SF_ECORRUPT && strcmp(err.path, b) == 0, "renamed segment: %s %s (%s)", sf_store_error_name(rc),
         err.path, err.message);

  /* Two records swapped inside a segment: whole, but out of sequence. */
  copy_multi(dir);
  seg_path(a, dir, 8);
  uint8_t *s = read_file(a, &len_a);
  uint8_t tmp[128];
  memcpy(tmp, s + 32 + 128, 128);
  memcpy(s + 32 + 128, s + 32 + 256, 128);
  memcpy(s + 32 + 256, tmp, 128);
  write_file(a, s, len_a);
  free(s);
  rc = open_expecting_error(dir, 1024, &err);
  expect(rc == SF_ECORRUPT && strcmp(err.path, a) == 0 && err.offset == 32 + 128 && err.lsn_first == 9,
         "reordered records: %s at %" PRId64 " LSN %" PRIu64 " (%s)", sf_store_error_name(rc), err.offset,
         err.lsn_first, err.message);

  /* A torn tail of the last of several segments is cut; the sealed segments stay as they are. */
  copy_multi(dir);
  seg_path(a, dir, 29);
  s = read_file(a, &len_a);
  write_file(a, s, 32 + 128 + 60);
  free(s);
  rc = open_log(&log, dir, 1024, 0, NULL, &rec, &err);
  expect(rc == 0 && rec.last_lsn == 29 && rec.torn_bytes == 60 && rec.segments == 5,
         "torn last segment: last %" PRIu64 " torn %" PRIu64, rec.last_lsn, rec.torn_bytes);
  if (rc == 0) {
    collect_t c;
    expect(read_all(log, 1, &c) == 0 && c.count == 29 && c.bad == 0, "29 records read back");
    sf_log_close(log);
  }
}

static void test_every_header_bit_flip_is_detected(void) {
  current = "every bit of a segment header, flipped, is detected and nothing is changed";
  char dir[512];
  snprintf(dir, sizeof dir, "%s/header", root);
  copy_multi(dir);
  sf_log_t *first;
  if (open_log(&first, dir, 1024, 0, NULL, NULL, NULL) == 0) sf_log_close(first); /* creates LOCK */
  static const uint64_t which[] = {15, 29};                                       /* a middle segment and the last */
  int checked = 0, right = 0;
  for (size_t w = 0; w < 2; w++) {
    char path[600];
    seg_path(path, dir, which[w]);
    size_t len;
    uint8_t *orig = read_file(path, &len);
    uint8_t *m = malloc(len);
    for (unsigned bit = 0; bit < 256; bit++) {
      memcpy(m, orig, len);
      m[bit / 8] ^= (uint8_t)(1u << (bit % 8));
      write_file(path, m, len);
      int want = SF_ECORRUPT;
      if (bit < 64) want = SF_EFORMAT;
      if (bit >= 64 && bit < 80 && (1u ^ (1u << (bit - 64))) > 1) want = SF_EVERSION;
      size_t entries = count_entries(dir);
      sf_store_error_t err;
      int rc = open_expecting_error(dir, 1024, &err);
      size_t after_len;
      uint8_t *after = read_file(path, &after_len);
      sf_log_segment_t info;
      int parsed = sf_log_parse_segment(m, len, &info);
      int ok = rc == want && strcmp(err.path, path) == 0 && parsed == want && after_len == len &&
               memcmp(after, m, len) == 0 && count_entries(dir) == entries;
      free(after);
      checked++;
      right += ok;
      if (!ok)
        expect(0, "segment %" PRIu64 " bit %u: rc %s want %s, parse %s", which[w], bit, sf_store_error_name(rc),
               sf_store_error_name(want), sf_store_error_name(parsed));
    }
    write_file(path, orig, len);
    free(orig);
    free(m);
  }
  expect(right == checked, "%d of %d header bit flips detected with the right code", right, checked);
}

/* ---- Bad input, inspection, the parser ------------------------------------------------------------ */

static void test_bad_input_gets_clear_errors(void) {
  current = "bad directories, a second open and foreign files get clear errors and change nothing";
  char dir[512], path[600];
  sf_log_t *log = NULL, *second = NULL;
  sf_store_error_t err;
  snprintf(dir, sizeof dir, "%s/does-not-exist", root);
  int rc = open_expecting_error(dir, 0, &err);
  expect(rc == -ENOENT && strcmp(err.path, dir) == 0 && !file_exists(dir), "missing directory: %s",
         sf_store_error_name(rc));

  snprintf(dir, sizeof dir, "%s/a-file", root);
  write_file(dir, "x", 1);
  rc = open_expecting_error(dir, 0, &err);
  expect(rc == -ENOTDIR && strcmp(err.path, dir) == 0, "a file as directory: %s", sf_store_error_name(rc));

  fresh_dir(dir, "locked");
  rc = open_log(&log, dir, 4096, 0, NULL, NULL, NULL);
  expect(rc == 0, "first open");
  rc = open_log(&second, dir, 4096, 0, NULL, NULL, &err);
  expect(rc == SF_ELOCKED && err.code == SF_ELOCKED && err.pid == (int64_t)getpid() && second == NULL,
         "second open: %s, pid %" PRId64, sf_store_error_name(rc), err.pid);
  if (log != NULL) sf_log_close(log);
  rc = open_log(&second, dir, 4096, 0, NULL, NULL, &err);
  expect(rc == 0, "open after close");
  if (rc == 0) sf_log_close(second);

  static const char text[] = "these are my notes, not a log segment\n";
  fresh_dir(dir, "foreign");
  seg_path(path, dir, 1);
  write_file(path, text, sizeof text - 1);
  rc = open_expecting_error(dir, 4096, &err);
  size_t len;
  uint8_t *after = read_file(path, &len);
  expect(rc == SF_EFORMAT && strcmp(err.path, path) == 0 && len == sizeof text - 1 && memcmp(after, text, len) == 0 &&
             count_entries(dir) == 2,
         "a file named like a segment but holding text: %s (%s)", sf_store_error_name(rc), err.message);
  free(after);
  write_file(path, "SFLOG", 5);
  rc = open_expecting_error(dir, 4096, &err);
  expect(rc == SF_EFORMAT && strstr(err.message, "short") != NULL, "a 5-byte segment: %s", err.message);

  fresh_dir(dir, "options");
  rc = open_expecting_error(dir, 16, &err);
  expect(rc == -EINVAL, "a 16-byte segment size is refused");
  rc = open_log(&log, dir, 4096, 0, NULL, NULL, &err);
  if (rc == 0) {
    uint64_t lsn;
    rc = sf_log_append(log, text, ((size_t)256 << 20) + 1, &lsn, &err);
    expect(rc == -EINVAL && strstr(err.message, "limit") != NULL, "a record over 256 MiB is refused: %s", err.message);
    sf_log_close(log);
  }

  /* Leftovers of a segment creation that never finished are removed; other files are left alone. */
  snprintf(path, sizeof path, "%s/log-0000000000000009.sfl.tmp", dir);
  write_file(path, "half", 4);
  char notes[600];
  snprintf(notes, sizeof notes, "%s/notes.txt", dir);
  write_file(notes, "keep", 4);
  rc = open_log(&log, dir, 4096, 0, NULL, NULL, &err);
  expect(rc == 0 && !file_exists(path) && file_exists(notes), "temporary segment removed, notes kept");
  if (rc == 0) sf_log_close(log);
}

static void test_inspect_reports_every_segment(void) {
  current = "inspect lists every segment with its records and problems, without a lock";
  sf_log_t *holder;
  char dir[512];
  snprintf(dir, sizeof dir, "%s/inspect", root);
  copy_multi(dir);
  int rc = open_log(&holder, dir, 1024, 0, NULL, NULL, NULL);
  expect(rc == 0, "open (holds the lock)");
  sf_log_segment_t *segs = NULL;
  size_t count = 0;
  sf_store_error_t err;
  rc = sf_log_inspect(dir, NULL, &segs, &count, &err);
  uint64_t records = 0;
  int chain = rc == 0 && count == 5;
  for (size_t i = 0; chain && i < count; i++) {
    records += segs[i].records;
    chain &= segs[i].status == 0 && segs[i].size == 1024 && segs[i].salt != 0 && segs[i].problem_offset == -1;
    if (i > 0) chain &= segs[i].first_lsn == segs[i - 1].last_lsn + 1;
  }
  expect(chain && records == MULTI_RECORDS && segs[4].last_lsn == MULTI_RECORDS,
         "five healthy segments chained, %" PRIu64 " records", records);
  free(segs);
  if (holder != NULL) sf_log_close(holder);
  char path[600];
  seg_path(path, dir, 29);
  size_t len;
  uint8_t *s = read_file(path, &len);
  write_file(path, s, 32 + 128 + 50);
  free(s);
  rc = sf_log_inspect(dir, NULL, &segs, &count, &err);
  expect(rc == 0 && count == 5 && segs[4].status == 0 && strstr(segs[4].problem, "torn") != NULL &&
             segs[4].problem_offset == 32 + 128 && segs[4].records == 1,
         "a torn tail is reported, not as corruption: %s", count == 5 ? segs[4].problem : "?");
  free(segs);
  rc = sf_log_inspect("/nonexistent/steadfast", NULL, &segs, &count, &err);
  expect(rc == -ENOENT, "inspect of a missing directory: %s", sf_store_error_name(rc));
}

static void test_parser_survives_random_damage(void) {
  current = "the segment parser handles random damage and truncation";
  uint8_t *m = malloc(base_len);
  int sane = 1;
  for (int round = 0; round < 3000; round++) {
    memcpy(m, base, base_len);
    int edits = 1 + rng_byte() % 8;
    for (int e = 0; e < edits; e++) m[(rng_byte() | (rng_byte() << 8)) % offsets[TORN_N]] = rng_byte();
    size_t len = round % 3 == 0 ? (size_t)(rng_byte() | (rng_byte() << 8)) % base_len : base_len;
    sf_log_segment_t info;
    int rc = sf_log_parse_segment(m, len, &info);
    sane &= (rc == 0 || rc == SF_ECORRUPT || rc == SF_EFORMAT || rc == SF_EVERSION) && rc == info.status &&
            info.records <= TORN_N && info.data_end <= len;
  }
  sf_log_segment_t info;
  sane &= sf_log_parse_segment(NULL, 0, &info) == SF_EFORMAT;
  expect(sane, "every result is a known status with bounded fields");
  free(m);
}

/* ---- Fuzzing seeds ---------------------------------------------------------------------------------- */

/* One small segment written through the log itself: records of the given lengths, segment_size 512,
 * a commit after every commit_every records (0: all in one commit). */
static uint8_t *make_segment(const size_t *lengths, size_t n, size_t commit_every, size_t *len) {
  char dir[512], path[600];
  fresh_dir(dir, "seed");
  sf_log_t *log;
  if (open_log(&log, dir, 512, 0, NULL, NULL, NULL) != 0) exit(2);
  for (size_t i = 0; i < n; i++) {
    append_record(log, i + 1, lengths[i]);
    if (commit_every > 0 && (i + 1) % commit_every == 0) commit(log, NULL);
  }
  commit(log, NULL);
  sf_log_close(log);
  seg_path(path, dir, 1);
  return read_file(path, len);
}

static void write_seed(const char *out, const char *name, const uint8_t *bytes, size_t len) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", out, name);
  write_file(path, bytes, len);
}

/* `log_test --write-corpus <dir>`: the seeds in fuzz/corpus/log, one per case the scanner tells apart. */
static int write_corpus(const char *out) {
  static const size_t lengths[] = {0, 1, 7, 9, 40};
  static const size_t same[] = {16, 16, 16, 16};
  static const size_t big[] = {600};
  size_t len, n = 5;
  uint8_t *seg = make_segment(NULL, 0, 1, &len);
  write_seed(out, "valid-empty.sfl", seg, len);
  free(seg);
  seg = make_segment(big, 1, 1, &len);
  write_seed(out, "valid-big-record.sfl", seg, len);
  free(seg);
  seg = make_segment(lengths, n, 1, &len);
  size_t off[6] = {32};
  for (size_t i = 0; i < n; i++) off[i + 1] = off[i] + frame_size(lengths[i]);
  write_seed(out, "valid-records.sfl", seg, len);
  write_seed(out, "torn-truncated.sfl", seg, off[4] + 30);
  write_seed(out, "too-short.sfl", seg, 20);
  uint8_t *m = malloc(len);
  memcpy(m, seg, len);
  for (size_t i = off[4] + 10; i < off[5]; i++) m[i] = (uint8_t)(i * 37 + 1);
  write_seed(out, "torn-garbage.sfl", m, len);
  memcpy(m, seg, len);
  m[off[2] + 26] ^= 0x04;
  write_seed(out, "corrupt-middle.sfl", m, len);
  memcpy(m, seg, len);
  memset(m + off[1], 0, off[2] - off[1]);
  write_seed(out, "zeroed-hole.sfl", m, len);
  memcpy(m, seg, len);
  uint8_t *f = m + off[5];
  put32(f + 4, 8);
  put64(f + 8, 6);
  put32(f + 16, get32(m + 12) + 1);
  put32(f + 20, 0);
  memcpy(f + 24, "stale!!!", 8);
  put32(f, sf_crc32c(0, f + 4, 28));
  write_seed(out, "stale-tail.sfl", m, len);
  memcpy(m, seg, len);
  m[8] = 2;
  put32(m + 28, sf_crc32c(0, m, 28));
  write_seed(out, "newer-major.sfl", m, len);
  memcpy(m, seg, len);
  m[20] ^= 0x01;
  write_seed(out, "bad-header-crc.sfl", m, len);
  memcpy(m, seg, len);
  put32(m + off[3] + 4, 0xFFFFFFF0u);
  write_seed(out, "huge-record-length.sfl", m, len);
  free(m);
  free(seg);
  seg = make_segment(same, 4, 1, &len);
  m = malloc(len);
  memcpy(m, seg, len);
  memcpy(m + 32 + 40, seg + 32 + 80, 40);
  memcpy(m + 32 + 80, seg + 32 + 40, 40);
  write_seed(out, "reordered.sfl", m, len);
  free(m);
  free(seg);
  seg = make_segment(lengths, n, 0, &len);
  memset(seg + off[1], 0, off[2] - off[1]);
  write_seed(out, "hole-in-last-commit.sfl", seg, len);
  free(seg);
  /* Commits {1, 2}, {3, 4}, {5}: LSNs 2 and 3 destroyed, the end of one commit and the start of the
   * next; LSN 4's position still tells its commit began at 3. */
  seg = make_segment(lengths, n, 2, &len);
  memset(seg + off[1], 0, off[3] - off[1]);
  write_seed(out, "damage-across-commits.sfl", seg, len);
  free(seg);
  static const char text[] = "not a log segment, just some text that is long enough\n";
  write_seed(out, "text.sfl", (const uint8_t *)text, sizeof text - 1);
  return 0;
}

int main(int argc, char **argv) {
  const char *tmp = getenv("TMPDIR");
  snprintf(root, sizeof root, "%s/steadfast-log-XXXXXX", tmp && *tmp ? tmp : "/tmp");
  if (mkdtemp(root) == NULL) {
    perror("mkdtemp");
    return 2;
  }
  if (argc == 3 && strcmp(argv[1], "--write-corpus") == 0) {
    int rc = write_corpus(argv[2]);
    remove_tree(root);
    return rc;
  }
  test_records_round_trip_across_many_segments();
  test_reopen_continues_lsns();
  test_read_from_the_middle_and_in_batches();
  test_truncate_before_removes_wholly_covered_segments();
  test_big_record_replaces_an_empty_segment();
  test_read_rechecks_every_record();
  test_byte_layout_matches_the_documented_offsets();
  test_frame_crc_on_both_sides_of_the_commit_cutoff();
  test_group_commit_from_many_threads();
  test_faults_fail_the_log_and_lose_nothing_acknowledged();
  test_reopen_after_a_failed_commit_makes_the_tail_durable_again();
  test_a_segment_larger_than_the_format_allows_is_corruption();
  build_base();
  test_torn_tails_are_cut_at_every_offset();
  test_stale_record_at_the_tail_ends_the_records();
  test_corrupt_middle_record_is_reported();
  test_hole_in_the_last_commit_is_a_torn_tail();
  test_damage_across_two_commits_is_corruption();
  test_hole_at_a_segment_start_inside_a_rolled_commit_is_torn();
  test_a_long_batch_is_split_into_synced_commits();
  test_point_in_time_recovery_stops_at_the_damage();
  build_multi();
  test_multi_segment_damage();
  test_every_header_bit_flip_is_detected();
  test_bad_input_gets_clear_errors();
  test_inspect_reports_every_segment();
  test_parser_survives_random_damage();
  free(base);
  remove_tree(root);
  printf("%d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
