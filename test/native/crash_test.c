/* crash_test.c: crash-state enumeration for the checkpoint store and the log. Each scenario runs the
 * real code against a recording sf_io_t (fsmodel.c), then for every crash point builds the disk
 * states a Linux filesystem could be left in (docs/crash-model.md), recovers each with the real code
 * and checks the promise: what was acknowledged is there, byte for byte, and whatever else comes back
 * is complete. Negative controls run deliberately broken save sequences through the same checks and
 * must be caught, so the harness is shown to be able to fail. Prints per-scenario counts and
 * "N passed, N failed"; exits nonzero on any failure. */
#define _XOPEN_SOURCE 700
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fsmodel.h"
#include "steadfast/store.h"

enum { ACK_GENERATION = 0, ACK_LSN = 1 };

static int passed, failed;

static void check(int ok, const char *what) {
  if (ok) {
    passed++;
    printf("  ok   %s\n", what);
  } else {
    failed++;
    printf("  FAIL %s\n", what);
  }
}

static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char root[64];

static void join(char *out, size_t size, const char *a, const char *b) {
  if ((size_t)snprintf(out, size, "%s/%s", a, b) >= size) {
    fprintf(stderr, "path too long: %s/%s\n", a, b);
    exit(2);
  }
}

/* A fresh, empty directory root/name (with the given subdirectories), for one scenario. */
static void fresh_dir(char *out, size_t size, const char *name, const char *const *subdirs, size_t count) {
  join(out, size, root, name);
  fsmodel_remove_tree(out);
  if (mkdir(out, 0755) != 0) {
    perror(out);
    exit(2);
  }
  for (size_t i = 0; i < count; i++) {
    char sub[4096];
    join(sub, sizeof sub, out, subdirs[i]);
    if (mkdir(sub, 0755) != 0) {
      perror(sub);
      exit(2);
    }
  }
}

/* Distinct bytes for every (kind, id, index), so a record or generation read back from the wrong
 * place never matches by accident. */
static uint8_t pattern_byte(unsigned kind, uint64_t id, size_t i) {
  uint64_t x = (id + 1) * 0x9E3779B97F4A7C15ULL ^ (uint64_t)kind << 56 ^ (uint64_t)i * 0xBF58476D1CE4E5B9ULL;
  x ^= x >> 31;
  return (uint8_t)(x ^ x >> 17);
}

static uint8_t *pattern(unsigned kind, uint64_t id, size_t len) {
  uint8_t *p = malloc(len ? len : 1);
  for (size_t i = 0; i < len; i++) p[i] = pattern_byte(kind, id, i);
  return p;
}

/* Failure details: the first few per scenario are printed with the state's description. */
typedef struct {
  int quiet;
  size_t printed;
  char reason[512];
} report_t;

static int reject(report_t *r, const fsmodel_state_t *state, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(r->reason, sizeof r->reason, fmt, ap);
  va_end(ap);
  if (!r->quiet && r->printed < 5) {
    r->printed++;
    printf("    crash state rejected: %s\n      in: %s\n", r->reason, state->description);
  }
  return 1;
}

/* Recovery of a crash state runs the real code through this table: every call is the real one except
 * the syncs, which return at once. A crash state is thrown away after its check, so nothing is lost by
 * not waiting for the disk, and the durability of what recovery writes is checked separately, by
 * recording a recovery (the "recovering from crash point N" scenarios). */
static sf_io_t recovery_io;

static int no_sync(const sf_io_t *io, int fd) {
  (void)io;
  (void)fd;
  return 0;
}

/* ---- shared -------------------------------------------------------------------------------- */

/* Crash states kept (copied before recovery touches them) as starting points for a second
 * recording: recovery after a crash, then more work, then another crash anywhere in that. The first
 * candidate is kept, the other places rotate, so the picks spread over the stream. */
#define MAX_PICKS 3
typedef struct {
  const char *tag;
  unsigned slot; /* which acknowledgement to carry over */
  char dir[MAX_PICKS][4096];
  uint64_t acked[MAX_PICKS];
  size_t point[MAX_PICKS];
  size_t count, offered, last_point;
} picks_t;

static void pick(picks_t *p, const fsmodel_state_t *state) {
  if (p->offered > 0 && p->last_point == state->crash_point) return;
  size_t i = p->count < MAX_PICKS ? p->count++ : 1 + p->offered % (MAX_PICKS - 1);
  p->offered++;
  p->last_point = state->crash_point;
  char name[64];
  snprintf(name, sizeof name, "pick-%s-%zu", p->tag, i);
  join(p->dir[i], sizeof p->dir[i], root, name);
  fsmodel_remove_tree(p->dir[i]);
  if (fsmodel_copy_tree(state->dir, p->dir[i]) != 0) {
    fprintf(stderr, "cannot keep a crash state in %s\n", p->dir[i]);
    exit(2);
  }
  p->acked[i] = state->acked[p->slot];
  p->point[i] = state->crash_point;
}

static void free_picks(picks_t *p) {
  for (size_t i = 0; i < p->count; i++) fsmodel_remove_tree(p->dir[i]);
}

static void print_stats(const char *name, const fsmodel_stats_t *s, double seconds) {
  printf(
      "  %s: %zu ops recorded, %zu crash points (prefixes), %zu candidate states, %zu distinct disks, %zu distinct "
      "states (with acknowledgements) recovered, %zu recovered OK",
      name, s->ops, s->crash_points, s->candidates, s->distinct_disks, s->checked, s->checked - s->failed);
  if (s->reordered_failed) printf(" (%zu of the failures are reordered-writeback states)", s->reordered_failed);
  printf("%s (%.1f s)\n", s->sampled ? ", torn cut points SAMPLED" : "", seconds);
}

/* Enumerates a recorded stream and reports it as two checks: the model could follow the stream, and
 * every crash state kept the promise. */
static void enumerate_and_check(fsmodel_t *model, const char *name, unsigned flags, fsmodel_check_cb cb, void *ctx,
                                double t0, const char *promise) {
  char scratch[4096], what[512];
  join(scratch, sizeof scratch, root, "state");
  if (getenv("STEADFAST_CRASH_VERBOSE")) fsmodel_print(model, stdout);
  fsmodel_stats_t stats;
  fsmodel_options_t opt = {flags, 0};
  int rc = fsmodel_enumerate(model, &opt, scratch, cb, ctx, &stats);
  print_stats(name, &stats, now_seconds() - t0);
  snprintf(what, sizeof what, "%s: the model follows every recorded operation", name);
  check(rc == 0, what);
  snprintf(what, sizeof what, "%s: %s", name, promise);
  check(rc == 0 && stats.checked > 0 && stats.failed == 0, what);
}

/* ---- checkpoint ------------------------------------------------------------------------------ */

#define CKPT_SAVES 3
#define CKPT_MAX_GEN 8
static const size_t ckpt_sizes[CKPT_SAVES + 1] = {0, 1, 5000, 70000};
static const char *const mirror_names[] = {"m0", "m1"};
static const char ckpt_promise[] =
    "every crash state recovers the newest acknowledged generation or a newer complete one, byte-identical";

typedef struct {
  report_t report;
  size_t mirrors;
  uint64_t saves; /* generations 1..saves were started */
  const uint8_t *payload[CKPT_MAX_GEN + 1];
  size_t len[CKPT_MAX_GEN + 1];
  uint64_t lsn[CKPT_MAX_GEN + 1];
  picks_t *picks; /* states worth a second recording, or NULL */
} ckpt_ctx_t;

static void mirror_dirs(const char *base, size_t mirrors, char dirs[][4096], const char **dirv) {
  for (size_t i = 0; i < mirrors; i++) {
    join(dirs[i], 4096, base, mirror_names[i]);
    dirv[i] = dirs[i];
  }
}

/* Opens and loads; returns 0 and fills *gen, or rejects. */
static int ckpt_recover(const fsmodel_state_t *state, ckpt_ctx_t *c, uint64_t *gen, const char *pass) {
  char dirs[2][4096];
  const char *dirv[2];
  mirror_dirs(state->dir, c->mirrors, dirs, dirv);
  sf_ckpt_options_t options = {dirv, c->mirrors, 2, 4096, &recovery_io};
  sf_store_error_t err;
  sf_ckpt_t *store = NULL;
  int rc = sf_ckpt_open(&options, &store, &err);
  if (rc != 0)
    return reject(&c->report, state, "%s: sf_ckpt_open: %s (%s %s)", pass, sf_store_error_name(rc), err.message,
                  err.path);
  sf_ckpt_loaded_t loaded;
  memset(&loaded, 0, sizeof loaded);
  rc = sf_ckpt_load(store, &loaded, &err);
  sf_ckpt_close(store);
  uint64_t acked = state->acked[ACK_GENERATION], g = loaded.generation;
  int bad = 0;
  if (rc != 0)
    bad = reject(&c->report, state, "%s: sf_ckpt_load: %s (%s %s) with generation %" PRIu64 " acknowledged", pass,
                 sf_store_error_name(rc), err.message, err.path, acked);
  else if (g < acked)
    bad =
        reject(&c->report, state, "%s: loaded generation %" PRIu64 " but %" PRIu64 " was acknowledged", pass, g, acked);
  else if (g > c->saves)
    bad = reject(&c->report, state, "%s: loaded generation %" PRIu64 ", never saved", pass, g);
  else if (g > 0 && (loaded.len != c->len[g] || (c->len[g] && memcmp(loaded.payload, c->payload[g], c->len[g]))))
    bad = reject(&c->report, state, "%s: generation %" PRIu64 " payload differs from what was saved (%zu bytes, %zu)",
                 pass, g, loaded.len, c->len[g]);
  else if (g > 0 && loaded.lsn != c->lsn[g])
    bad = reject(&c->report, state, "%s: generation %" PRIu64 " lsn %" PRIu64 ", saved with %" PRIu64, pass, g,
                 loaded.lsn, c->lsn[g]);
  *gen = g;
  sf_ckpt_loaded_free(&loaded);
  return bad;
}

/* Worth a second recording: the mirrors disagree (or a file is bad), so opening and loading will
 * repair something, and a crash during the repair is worth checking too. */
static int ckpt_needs_repair(const fsmodel_state_t *state, const ckpt_ctx_t *c) {
  char dirs[2][4096];
  const char *dirv[2];
  mirror_dirs(state->dir, c->mirrors, dirs, dirv);
  sf_ckpt_file_t *files = NULL;
  size_t count = 0;
  sf_store_error_t err;
  if (sf_ckpt_inspect(dirv, c->mirrors, NULL, &files, &count, &err) != 0) return 0;
  uint64_t valid[2] = {0, 0};
  int damaged = 0;
  for (size_t i = 0; i < count; i++) {
    if (files[i].status != 0) damaged = 1;
    for (size_t m = 0; m < c->mirrors; m++)
      if (strncmp(files[i].path, dirs[m], strlen(dirs[m])) == 0 && files[i].path[strlen(dirs[m])] == '/' &&
          files[i].status == 0 && files[i].generation < 64)
        valid[m] |= (uint64_t)1 << files[i].generation;
  }
  free(files);
  return damaged || (c->mirrors > 1 && valid[0] != valid[1]);
}

static int check_checkpoint_state(const fsmodel_state_t *state, void *arg) {
  ckpt_ctx_t *c = arg;
  if (c->picks && ckpt_needs_repair(state, c)) pick(c->picks, state);
  uint64_t first = 0, second = 0;
  if (ckpt_recover(state, c, &first, "first recovery")) return 1;
  /* Recovery repairs (restores a missing mirror, moves a bad copy aside); doing it again must find
   * the same generation, or the repair itself lost something. */
  if (ckpt_recover(state, c, &second, "second recovery")) return 1;
  if (first != second)
    return reject(&c->report, state, "second recovery loaded generation %" PRIu64 ", first %" PRIu64, second, first);
  return 0;
}

/* Opens the store in base through the model's io; loads (and acknowledges what it loaded) if asked;
 * saves each of the given generations' payloads, acknowledging each. Returns 0 or the failing code. */
static int ckpt_record(fsmodel_t *model, const char *base, ckpt_ctx_t *c, int load, const uint8_t *const *payloads,
                       const size_t *lens, size_t count) {
  char dirs[2][4096];
  const char *dirv[2];
  mirror_dirs(base, c->mirrors, dirs, dirv);
  sf_ckpt_options_t options = {dirv, c->mirrors, 2, 4096, fsmodel_io(model)};
  sf_store_error_t err;
  sf_ckpt_t *store = NULL;
  int rc = sf_ckpt_open(&options, &store, &err);
  if (rc == 0 && load) {
    sf_ckpt_loaded_t loaded;
    memset(&loaded, 0, sizeof loaded);
    rc = sf_ckpt_load(store, &loaded, &err);
    /* What a load returned was seen by the application: a later crash must not take it back. */
    if (rc == 0) fsmodel_ack(model, ACK_GENERATION, loaded.generation);
    /* Generations above the one loaded were never complete: from now on they are this run's. */
    for (uint64_t g = loaded.generation + 1; rc == 0 && g <= CKPT_MAX_GEN; g++) c->payload[g] = NULL, c->len[g] = 0;
    if (rc == 0) c->saves = loaded.generation;
    sf_ckpt_loaded_free(&loaded);
  }
  for (size_t i = 0; i < count && rc == 0; i++) {
    uint64_t generation = 0, lsn = (c->saves + 1) * 100;
    rc = sf_ckpt_save(store, payloads[i], lens[i], lsn, &generation, &err);
    if (rc == 0 && (generation <= c->saves || generation > CKPT_MAX_GEN)) {
      printf("    save returned generation %" PRIu64 " after %" PRIu64 "\n", generation, c->saves);
      rc = SF_ECORRUPT;
    }
    if (rc != 0) break;
    /* Registered before the enumeration reads it; the save itself is what the stream recorded. */
    c->payload[generation] = payloads[i];
    c->len[generation] = lens[i];
    c->lsn[generation] = lsn;
    c->saves = generation;
    fsmodel_ack(model, ACK_GENERATION, generation);
  }
  if (store) sf_ckpt_close(store);
  fsmodel_stop(model);
  if (rc != 0) printf("    open, load or save failed: %s (%s %s)\n", sf_store_error_name(rc), err.message, err.path);
  return rc;
}

/* From each picked crash state: open, load (repairing the mirrors), save one more generation, with
 * a crash anywhere in that. */
static void checkpoint_after_recovery(const char *name, const ckpt_ctx_t *first, picks_t *picks) {
  char what[256];
  snprintf(what, sizeof what, "%s: some crash states leave mirrors that recovery must repair", name);
  check(picks->count > 0, what);
  for (size_t i = 0; i < picks->count; i++) {
    char label[160], base[4096];
    double t0 = now_seconds();
    snprintf(label, sizeof label, "%s, recovering from crash point %zu then saving again", name, picks->point[i]);
    printf("%s\n", label);
    join(base, sizeof base, root, "ckpt-again");
    fsmodel_remove_tree(base);
    ckpt_ctx_t c = *first;
    c.picks = NULL;
    c.report.printed = 0;
    fsmodel_t *model;
    if (fsmodel_copy_tree(picks->dir[i], base) != 0 || fsmodel_create(base, &model) != 0) {
      check(0, "the picked crash state becomes a new base directory");
      continue;
    }
    fsmodel_ack(model, ACK_GENERATION, picks->acked[i]);
    size_t len = 9000;
    uint8_t *payload = pattern(4, i, len);
    const uint8_t *payloads[1] = {payload};
    int rc = ckpt_record(model, base, &c, 1, payloads, &len, 1);
    snprintf(what, sizeof what, "%s: the store recovers, loads and saves through the recording io", label);
    check(rc == 0, what);
    if (rc == 0) enumerate_and_check(model, label, FSMODEL_REORDER, check_checkpoint_state, &c, t0, ckpt_promise);
    fsmodel_free(model);
    free(payload);
    fsmodel_remove_tree(base);
  }
}

static void checkpoint_scenario(size_t mirrors) {
  char name[64], base[4096], what[256];
  snprintf(name, sizeof name, "checkpoint, %zu mirror%s", mirrors, mirrors > 1 ? "s" : "");
  printf("%s: three saves (1, 5000, 70000 bytes; chunk 4096; keep 2)\n", name);
  double t0 = now_seconds();
  fresh_dir(base, sizeof base, "ckpt", mirror_names, mirrors);
  picks_t picks;
  memset(&picks, 0, sizeof picks);
  picks.tag = "ckpt";
  picks.slot = ACK_GENERATION;
  ckpt_ctx_t c;
  memset(&c, 0, sizeof c);
  c.mirrors = mirrors;
  c.picks = mirrors > 1 ? &picks : NULL;
  uint8_t *payloads[CKPT_SAVES];
  for (size_t g = 1; g <= CKPT_SAVES; g++) payloads[g - 1] = pattern(1, g, ckpt_sizes[g]);
  fsmodel_t *model;
  if (fsmodel_create(base, &model) != 0) {
    check(0, "the recorder snapshots the base directory");
    return;
  }
  int rc = ckpt_record(model, base, &c, 0, (const uint8_t *const *)payloads, ckpt_sizes + 1, CKPT_SAVES);
  snprintf(what, sizeof what, "%s: the store opens and saves three generations through the recording io", name);
  check(rc == 0, what);
  if (rc == 0) enumerate_and_check(model, name, FSMODEL_REORDER, check_checkpoint_state, &c, t0, ckpt_promise);
  fsmodel_free(model);
  fsmodel_remove_tree(base);
  if (rc == 0 && c.picks) checkpoint_after_recovery(name, &c, &picks);
  free_picks(&picks);
  for (size_t g = 0; g < CKPT_SAVES; g++) free(payloads[g]);
}

/* ---- log ------------------------------------------------------------------------------------- */

/* A batch of appends: commits of records of the given sizes (0 ends a commit's list). */
#define LOG_MAX_COMMITS 4
#define LOG_MAX_RECORDS 32
typedef struct {
  const char *name;
  uint64_t segment_size;
  size_t commits[LOG_MAX_COMMITS][8];
  unsigned flags;
  int again; /* also recover from picked crash states and append more */
} log_plan_t;

static const log_plan_t log_plans[] = {
    /* With 4 KiB segments the second commit crosses into a new segment and the third holds a record
     * larger than a segment, which gets a segment of its own. */
    {"log", 4096, {{17, 300, 1200}, {900, 1, 2000, 450}, {5000, 33}}, 0, 1},
    /* One commit spans three 4 KiB pages of one segment, so a page in its middle can be missing while
     * the records after it reached the disk. */
    {"log, reordered writeback", 16384, {{100, 3000}, {2000, 2000, 2000, 2000, 700}, {6000, 10}}, FSMODEL_REORDER, 0},
};
/* What is appended after recovering from a picked crash state. */
static const size_t log_again[LOG_MAX_COMMITS][8] = {{700, 40}, {3000}};
static const char log_promise[] =
    "every crash state opens and reads back records 1..K, byte-identical, K >= the acknowledged LSN";

typedef struct {
  report_t report;
  uint64_t segment_size;
  uint64_t appended; /* LSNs 1..appended were appended (acknowledged or not) */
  const uint8_t *data[LOG_MAX_RECORDS + 1];
  size_t len[LOG_MAX_RECORDS + 1];
  picks_t *picks;
  /* per read */
  uint64_t next;
  int mismatch;
  char why[256];
} log_ctx_t;

static int log_record_cb(const sf_log_record_t *record, void *arg) {
  log_ctx_t *c = arg;
  if (record->lsn != c->next)
    snprintf(c->why, sizeof c->why, "read LSN %" PRIu64 " where %" PRIu64 " was next", record->lsn, c->next);
  else if (record->lsn > c->appended)
    snprintf(c->why, sizeof c->why, "read LSN %" PRIu64 ", never appended", record->lsn);
  else if (record->len != c->len[record->lsn] ||
           (record->len && memcmp(record->data, c->data[record->lsn], record->len) != 0))
    snprintf(c->why, sizeof c->why, "record %" PRIu64 " differs from what was appended (%zu bytes, %zu appended)",
             record->lsn, record->len, c->len[record->lsn]);
  else {
    c->next++;
    return 0;
  }
  c->mismatch = 1;
  return 1;
}

static int log_recover(const fsmodel_state_t *state, log_ctx_t *c, uint64_t *last, const char *pass) {
  char dir[4096];
  join(dir, sizeof dir, state->dir, "log");
  sf_log_options_t options = {dir, c->segment_size, 0, &recovery_io};
  sf_log_t *log = NULL;
  sf_log_recovery_t recovery;
  sf_store_error_t err;
  memset(&recovery, 0, sizeof recovery);
  int rc = sf_log_open(&options, &log, &recovery, &err);
  if (rc != 0)
    return reject(&c->report, state, "%s: sf_log_open: %s (%s %s offset %" PRId64 ")", pass, sf_store_error_name(rc),
                  err.message, err.path, err.offset);
  c->next = 1;
  c->mismatch = 0;
  uint64_t next_lsn = 0;
  rc = sf_log_read(log, 1, SIZE_MAX, log_record_cb, c, &next_lsn, &err);
  sf_log_close(log);
  uint64_t got = c->next - 1, acked = state->acked[ACK_LSN];
  *last = got;
  if (c->mismatch) return reject(&c->report, state, "%s: %s", pass, c->why);
  if (rc != 0) return reject(&c->report, state, "%s: sf_log_read: %s (%s)", pass, sf_store_error_name(rc), err.message);
  if (got < acked)
    return reject(&c->report, state, "%s: records 1..%" PRIu64 " read back but LSN %" PRIu64 " was acknowledged", pass,
                  got, acked);
  if (recovery.last_lsn != got)
    return reject(&c->report, state, "%s: recovery reports last LSN %" PRIu64 " but records 1..%" PRIu64 " read back",
                  pass, recovery.last_lsn, got);
  return 0;
}

/* Worth a second recording: the last segment has a torn tail that opening will cut. */
static int log_has_torn_tail(const fsmodel_state_t *state) {
  char dir[4096];
  join(dir, sizeof dir, state->dir, "log");
  sf_log_segment_t *segments = NULL;
  size_t count = 0;
  sf_store_error_t err;
  if (sf_log_inspect(dir, NULL, &segments, &count, &err) != 0) return 0;
  int torn = count > 0 && segments[count - 1].status == 0 && segments[count - 1].problem_offset >= 0;
  free(segments);
  return torn;
}

static int check_log_state(const fsmodel_state_t *state, void *arg) {
  log_ctx_t *c = arg;
  if (c->picks && log_has_torn_tail(state)) pick(c->picks, state);
  uint64_t first = 0, second = 0;
  if (log_recover(state, c, &first, "first recovery")) return 1;
  /* After a torn tail is cut, a second open must find a clean log with the same records. */
  if (log_recover(state, c, &second, "second recovery")) return 1;
  if (first != second)
    return reject(&c->report, state, "second recovery read 1..%" PRIu64 ", first 1..%" PRIu64, second, first);
  return 0;
}

/* Opens the log in base through the model's io (the LSNs it recovered count as acknowledged: they
 * were on disk), then appends and commits the given batches, acknowledging each commit. New records'
 * bytes are allocated into c->data from c->appended + 1 on; the caller frees them. */
static int log_record(fsmodel_t *model, const char *base, log_ctx_t *c, const size_t commits[][8], unsigned kind) {
  char dir[4096];
  join(dir, sizeof dir, base, "log");
  sf_log_options_t options = {dir, c->segment_size, 0, fsmodel_io(model)};
  sf_log_t *log = NULL;
  sf_log_recovery_t recovery;
  sf_store_error_t err;
  memset(&err, 0, sizeof err);
  int rc = sf_log_open(&options, &log, &recovery, &err);
  if (rc == 0 && recovery.last_lsn > 0) fsmodel_ack(model, ACK_LSN, recovery.last_lsn);
  if (rc == 0 && recovery.last_lsn > c->appended) {
    printf("    recovery found LSN %" PRIu64 ", only %" PRIu64 " were appended\n", recovery.last_lsn, c->appended);
    rc = SF_ECORRUPT;
  }
  if (rc == 0) c->appended = recovery.last_lsn;
  for (size_t b = 0; b < LOG_MAX_COMMITS && commits[b][0] && rc == 0; b++) {
    for (size_t i = 0; i < 8 && commits[b][i] && rc == 0; i++) {
      uint64_t lsn = 0, want = c->appended + 1;
      if (want > LOG_MAX_RECORDS) abort(); /* the plan table is wrong */
      c->len[want] = commits[b][i];
      c->data[want] = pattern(kind, want, c->len[want]);
      rc = sf_log_append(log, c->data[want], c->len[want], &lsn, &err);
      if (rc == 0 && lsn != want) rc = SF_ECORRUPT;
      if (rc == 0) c->appended = lsn;
    }
    uint64_t durable = 0;
    if (rc == 0) rc = sf_log_commit(log, &durable, &err);
    if (rc == 0 && durable != c->appended) rc = SF_ECORRUPT;
    if (rc == 0) fsmodel_ack(model, ACK_LSN, durable);
  }
  if (log) sf_log_close(log);
  fsmodel_stop(model);
  if (rc != 0)
    printf("    open, append or commit failed: %s (%s %s)\n", sf_store_error_name(rc), err.message, err.path);
  return rc;
}

static void log_after_recovery(const log_plan_t *plan, const log_ctx_t *first, picks_t *picks) {
  char what[256];
  snprintf(what, sizeof what, "%s: some crash states leave a torn tail that recovery must cut", plan->name);
  check(picks->count > 0, what);
  for (size_t i = 0; i < picks->count; i++) {
    char label[160], base[4096];
    double t0 = now_seconds();
    snprintf(label, sizeof label, "%s, recovering from crash point %zu then appending again", plan->name,
             picks->point[i]);
    printf("%s\n", label);
    join(base, sizeof base, root, "log-again");
    fsmodel_remove_tree(base);
    log_ctx_t c = *first;
    c.picks = NULL;
    c.report.printed = 0;
    fsmodel_t *model;
    if (fsmodel_copy_tree(picks->dir[i], base) != 0 || fsmodel_create(base, &model) != 0) {
      check(0, "the picked crash state becomes a new base directory");
      continue;
    }
    fsmodel_ack(model, ACK_LSN, picks->acked[i]);
    uint64_t kept = first->appended;
    int rc = log_record(model, base, &c, log_again, 5);
    snprintf(what, sizeof what, "%s: the log recovers, appends and commits through the recording io", label);
    check(rc == 0, what);
    if (rc == 0) enumerate_and_check(model, label, plan->flags, check_log_state, &c, t0, log_promise);
    fsmodel_free(model);
    /* Free only the records this run added (the first run's are still the first run's). */
    for (size_t l = 1; l <= LOG_MAX_RECORDS; l++)
      if (c.data[l] != (l <= kept ? first->data[l] : NULL)) free((void *)c.data[l]);
    fsmodel_remove_tree(base);
  }
}

static void log_scenario(const log_plan_t *plan) {
  char base[4096], what[256];
  size_t commits = 0;
  while (commits < LOG_MAX_COMMITS && plan->commits[commits][0]) commits++;
  printf("%s: first segment on an empty directory, then %zu commits over %" PRIu64 "-byte segments%s\n", plan->name,
         commits, plan->segment_size, plan->flags & FSMODEL_REORDER ? " (with reordered-writeback states)" : "");
  double t0 = now_seconds();
  static const char *const sub[] = {"log"};
  fresh_dir(base, sizeof base, "log", sub, 1);
  picks_t picks;
  memset(&picks, 0, sizeof picks);
  picks.tag = "log";
  picks.slot = ACK_LSN;
  log_ctx_t c;
  memset(&c, 0, sizeof c);
  c.segment_size = plan->segment_size;
  c.picks = plan->again ? &picks : NULL;
  fsmodel_t *model;
  if (fsmodel_create(base, &model) != 0) {
    check(0, "the recorder snapshots the base directory");
    return;
  }
  int rc = log_record(model, base, &c, plan->commits, 2);
  snprintf(what, sizeof what, "%s: the log opens, appends and commits through the recording io", plan->name);
  check(rc == 0, what);
  if (rc == 0) enumerate_and_check(model, plan->name, plan->flags, check_log_state, &c, t0, log_promise);
  fsmodel_free(model);
  fsmodel_remove_tree(base);
  if (rc == 0 && c.picks) log_after_recovery(plan, &c, &picks);
  free_picks(&picks);
  for (size_t i = 0; i <= LOG_MAX_RECORDS; i++) free((void *)c.data[i]);
}

/* ---- the harness can fail ------------------------------------------------------------------------ */

static uint8_t *read_whole_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (f == NULL) return NULL;
  uint8_t *bytes = NULL;
  struct stat st;
  if (fstat(fileno(f), &st) == 0 && st.st_size > 0) {
    bytes = malloc((size_t)st.st_size);
    *len = fread(bytes, 1, (size_t)st.st_size, f);
  }
  fclose(f);
  return bytes;
}

/* A valid checkpoint file (generation 1) made by the real store in a side directory, so the broken
 * sequences below write exactly the bytes a real save would. */
static uint8_t *real_checkpoint_file(const ckpt_ctx_t *c, size_t *len) {
  char dir[4096], file[4096];
  fresh_dir(dir, sizeof dir, "source", NULL, 0);
  const char *dirv[1] = {dir};
  sf_ckpt_options_t options = {dirv, 1, 2, 4096, NULL};
  sf_ckpt_t *store;
  sf_store_error_t err;
  uint64_t generation = 0;
  uint8_t *bytes = NULL;
  if (sf_ckpt_open(&options, &store, &err) != 0) return NULL;
  int rc = sf_ckpt_save(store, c->payload[1], c->len[1], c->lsn[1], &generation, &err);
  sf_ckpt_close(store);
  int fits = (size_t)snprintf(file, sizeof file, "%s/ckpt-%016" PRIx64 ".sfc", dir, generation) < sizeof file;
  if (rc == 0 && generation == 1 && fits) bytes = read_whole_file(file, len);
  fsmodel_remove_tree(dir);
  return bytes;
}

typedef enum { SAVE_CORRECT, SAVE_NO_FDATASYNC, SAVE_ACK_BEFORE_DIR_FSYNC } hand_save_t;

/* A save written by hand through the recording io: temp file, write, [fdatasync], close, rename,
 * [ack], fsync of the directory, [ack]. Returns the number of crash states recovery rejected, or -1. */
static long hand_save(hand_save_t kind, const uint8_t *bytes, size_t len, ckpt_ctx_t *c, fsmodel_stats_t *stats) {
  char base[4096], scratch[4096], tmp[4096], final[4096], m0[4096];
  fresh_dir(base, sizeof base, "hand", mirror_names, 1);
  join(scratch, sizeof scratch, root, "state");
  join(m0, sizeof m0, base, "m0");
  join(tmp, sizeof tmp, m0, ".ckpt-0000000000000001.sfc.tmp");
  join(final, sizeof final, m0, "ckpt-0000000000000001.sfc");
  fsmodel_t *model;
  if (fsmodel_create(base, &model) != 0) return -1;
  const sf_io_t *io = fsmodel_io(model);
  int fd = io->open(io, tmp, O_WRONLY | O_CREAT | O_EXCL, 0644);
  int rc = fd < 0 ? fd : sf_io_write_all(io, fd, bytes, len, 0);
  if (rc == 0 && kind != SAVE_NO_FDATASYNC) rc = io->fdatasync(io, fd);
  if (fd >= 0) io->close(io, fd);
  if (rc == 0) rc = io->rename(io, tmp, final);
  if (rc == 0 && kind == SAVE_ACK_BEFORE_DIR_FSYNC) fsmodel_ack(model, ACK_GENERATION, 1);
  if (rc == 0) rc = sf_io_fsync_dir(io, m0);
  if (rc == 0) fsmodel_ack(model, ACK_GENERATION, 1);
  fsmodel_stop(model);
  long result = -1;
  if (rc == 0 && fsmodel_enumerate(model, NULL, scratch, check_checkpoint_state, c, stats) == 0)
    result = (long)stats->failed;
  fsmodel_free(model);
  fsmodel_remove_tree(base);
  return result;
}

static void negative_controls(void) {
  printf("negative controls: hand-written saves of a real checkpoint file, recovered by the real store\n");
  ckpt_ctx_t c;
  memset(&c, 0, sizeof c);
  c.mirrors = 1;
  c.saves = 1;
  c.len[1] = 3000;
  uint8_t *payload = pattern(1, 1, c.len[1]);
  c.payload[1] = payload;
  c.lsn[1] = 7;
  c.report.quiet = 1;
  size_t len = 0;
  uint8_t *bytes = real_checkpoint_file(&c, &len);
  check(bytes != NULL && len > 3000, "the real store writes a checkpoint file to copy");
  if (bytes != NULL) {
    fsmodel_stats_t stats;
    long bad = hand_save(SAVE_CORRECT, bytes, len, &c, &stats);
    printf("  correct save: %zu crash points, %zu distinct states, %ld rejected\n", stats.crash_points, stats.checked,
           bad);
    check(bad == 0, "a save that syncs data and directory before its acknowledgement survives every crash state");
    bad = hand_save(SAVE_NO_FDATASYNC, bytes, len, &c, &stats);
    printf("  no fdatasync before rename: %zu distinct states, %ld rejected\n", stats.checked, bad);
    check(bad > 0, "a save that renames without fdatasync is caught losing the acknowledged generation");
    bad = hand_save(SAVE_ACK_BEFORE_DIR_FSYNC, bytes, len, &c, &stats);
    printf("  acknowledged before the directory fsync: %zu distinct states, %ld rejected\n", stats.checked, bad);
    check(bad > 0, "a save acknowledged before its directory fsync is caught losing the acknowledged generation");
  }
  free(bytes);
  free(payload);
}

/* A first segment holding records 1..3, made by the real log in a side directory. */
static uint8_t *real_log_segment(log_ctx_t *c, size_t *len) {
  char dir[4096], file[4096];
  fresh_dir(dir, sizeof dir, "source", NULL, 0);
  sf_log_options_t options = {dir, 4096, 0, NULL};
  sf_log_t *log;
  sf_log_recovery_t recovery;
  sf_store_error_t err;
  uint8_t *bytes = NULL;
  if (sf_log_open(&options, &log, &recovery, &err) != 0) return NULL;
  int rc = 0;
  for (uint64_t lsn = 1, got = 0; lsn <= 3 && rc == 0; lsn++) {
    rc = sf_log_append(log, c->data[lsn], c->len[lsn], &got, &err);
    if (rc == 0 && got != lsn) rc = SF_ECORRUPT;
  }
  uint64_t durable = 0;
  if (rc == 0) rc = sf_log_commit(log, &durable, &err);
  sf_log_close(log);
  join(file, sizeof file, dir, "log-0000000000000001.sfl");
  if (rc == 0 && durable == 3) bytes = read_whole_file(file, len);
  fsmodel_remove_tree(dir);
  return bytes;
}

/* A commit written by hand: the segment is created correctly (header synced, renamed, directory
 * synced), then the records are written and acknowledged with or without their fdatasync. */
static long hand_commit(int sync_records, const uint8_t *bytes, size_t len, log_ctx_t *c, fsmodel_stats_t *stats) {
  char base[4096], scratch[4096], dir[4096], tmp[4096], final[4096];
  static const char *const sub[] = {"log"};
  fresh_dir(base, sizeof base, "hand", sub, 1);
  join(scratch, sizeof scratch, root, "state");
  join(dir, sizeof dir, base, "log");
  join(tmp, sizeof tmp, dir, "log-0000000000000001.sfl.tmp");
  join(final, sizeof final, dir, "log-0000000000000001.sfl");
  fsmodel_t *model;
  if (fsmodel_create(base, &model) != 0) return -1;
  const sf_io_t *io = fsmodel_io(model);
  int fd = io->open(io, tmp, O_RDWR | O_CREAT | O_EXCL, 0644);
  int rc = fd < 0 ? fd : io->fallocate(io, fd, 0, (off_t)len);
  if (rc == 0) rc = sf_io_write_all(io, fd, bytes, 32, 0);
  if (rc == 0) rc = io->fdatasync(io, fd);
  if (rc == 0) rc = io->rename(io, tmp, final);
  if (rc == 0) rc = sf_io_fsync_dir(io, dir);
  if (rc == 0) rc = sf_io_write_all(io, fd, bytes + 32, len - 32, 32);
  if (rc == 0 && sync_records) rc = io->fdatasync(io, fd);
  if (rc == 0) fsmodel_ack(model, ACK_LSN, 3);
  if (fd >= 0) io->close(io, fd);
  fsmodel_stop(model);
  long result = -1;
  if (rc == 0 && fsmodel_enumerate(model, NULL, scratch, check_log_state, c, stats) == 0) result = (long)stats->failed;
  fsmodel_free(model);
  fsmodel_remove_tree(base);
  return result;
}

static void log_negative_controls(void) {
  printf("negative controls: a hand-written commit of a real log segment, recovered by the real log\n");
  log_ctx_t c;
  memset(&c, 0, sizeof c);
  c.segment_size = 4096;
  c.appended = 3;
  c.report.quiet = 1;
  uint8_t *data[4] = {NULL, pattern(2, 1, 100), pattern(2, 2, 200), pattern(2, 3, 300)};
  for (size_t i = 1; i <= 3; i++) c.data[i] = data[i], c.len[i] = i * 100;
  size_t len = 0;
  uint8_t *bytes = real_log_segment(&c, &len);
  check(bytes != NULL && len > 632, "the real log writes a segment to copy");
  if (bytes != NULL) {
    fsmodel_stats_t stats;
    long bad = hand_commit(1, bytes, len, &c, &stats);
    printf("  correct commit: %zu crash points, %zu distinct states, %ld rejected\n", stats.crash_points, stats.checked,
           bad);
    check(bad == 0, "a commit acknowledged after its fdatasync survives every crash state");
    bad = hand_commit(0, bytes, len, &c, &stats);
    printf("  acknowledged without fdatasync: %zu distinct states, %ld rejected\n", stats.checked, bad);
    check(bad > 0, "a commit acknowledged without its fdatasync is caught losing acknowledged records");
  }
  free(bytes);
  for (size_t i = 1; i <= 3; i++) free(data[i]);
}

/* ---- the model on its own ---------------------------------------------------------------------- */

typedef struct {
  size_t seen_sizes[64];
  size_t nsizes;
  int seen_missing;
  size_t len;
  const uint8_t *data;
  int bad_prefix; /* a state whose bytes are not a prefix (zero-filled tails allowed) of the data */
} model_probe_t;

static int probe_state(const fsmodel_state_t *state, void *arg) {
  model_probe_t *p = arg;
  char path[4096];
  join(path, sizeof path, state->dir, "f");
  FILE *f = fopen(path, "rb");
  if (f == NULL) {
    p->seen_missing = 1;
    return state->acked[0] ? 1 : 0;
  }
  uint8_t *buf = malloc(p->len + 1);
  size_t n = fread(buf, 1, p->len + 1, f);
  fclose(f);
  int whole = n == p->len && memcmp(buf, p->data, n) == 0;
  size_t i = 0;
  while (i < n && i < p->len && buf[i] == p->data[i]) i++;
  for (size_t j = i; j < n; j++)
    if (buf[j] != 0) p->bad_prefix = 1;
  int known = 0;
  for (size_t k = 0; k < p->nsizes; k++) known |= p->seen_sizes[k] == i;
  if (!known && p->nsizes < 64) p->seen_sizes[p->nsizes++] = i;
  free(buf);
  return state->acked[0] && !whole;
}

static int probe_saw(const model_probe_t *p, size_t size) {
  for (size_t k = 0; k < p->nsizes; k++)
    if (p->seen_sizes[k] == size) return 1;
  return 0;
}

/* Records f written in three pwrites ([0, 100), [100, 5100), [5100, 9100)), with or without an
 * fdatasync and a directory fsync before the acknowledgement, and enumerates its crash states. */
static int three_writes(int synced, size_t max_torn_points, const uint8_t *data, model_probe_t *probe,
                        fsmodel_stats_t *stats) {
  char base[4096], scratch[4096], path[4096];
  join(scratch, sizeof scratch, root, "state");
  fresh_dir(base, sizeof base, "model", NULL, 0);
  join(path, sizeof path, base, "f");
  fsmodel_t *model;
  int rc = fsmodel_create(base, &model);
  if (rc != 0) return rc;
  const sf_io_t *io = fsmodel_io(model);
  int fd = io->open(io, path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  rc = fd < 0 ? fd : 0;
  if (rc == 0) rc = sf_io_write_all(io, fd, data, 100, 0);
  if (rc == 0) rc = sf_io_write_all(io, fd, data + 100, 5000, 100);
  if (rc == 0) rc = sf_io_write_all(io, fd, data + 5100, 4000, 5100);
  if (rc == 0 && synced) rc = io->fdatasync(io, fd);
  if (fd >= 0) io->close(io, fd);
  if (rc == 0 && synced) rc = sf_io_fsync_dir(io, base);
  fsmodel_ack(model, 0, 1);
  fsmodel_stop(model);
  memset(probe, 0, sizeof *probe);
  probe->len = 9100;
  probe->data = data;
  fsmodel_options_t options = {0, max_torn_points};
  if (rc == 0) rc = fsmodel_enumerate(model, &options, scratch, probe_state, probe, stats);
  fsmodel_free(model);
  fsmodel_remove_tree(base);
  return rc;
}

static void model_self_test(void) {
  printf("model: a file written in three pwrites (100, 5000, 4000 bytes)\n");
  uint8_t *data = pattern(3, 0, 9100);
  model_probe_t probe;
  fsmodel_stats_t stats;
  int rc = three_writes(1, 0, data, &probe, &stats);
  check(rc == 0, "the model replays a synced write sequence");
  printf("  synced: %zu ops, %zu crash points, %zu distinct states, %zu with the acknowledged file not whole\n",
         stats.ops, stats.crash_points, stats.checked, stats.failed);
  check(rc == 0 && stats.failed == 0,
        "a file synced with its directory before the acknowledgement is whole in every state");

  rc = three_writes(0, 0, data, &probe, &stats);
  check(rc == 0, "the model replays an unsynced write sequence");
  printf("  unsynced: %zu ops, %zu crash points, %zu distinct states, %zu with the acknowledged file not whole\n",
         stats.ops, stats.crash_points, stats.checked, stats.failed);
  check(rc == 0 && stats.failed > 0 && probe.seen_missing,
        "an unsynced file can be missing after a crash even though it was acknowledged");
  /* Torn inside the 5000-byte write [100, 5100): at 512 and 4096 boundaries of the file. */
  check(probe_saw(&probe, 0) && probe_saw(&probe, 100) && probe_saw(&probe, 512) && probe_saw(&probe, 4096) &&
            probe_saw(&probe, 4608) && probe_saw(&probe, 5100) && probe_saw(&probe, 9100) && !probe_saw(&probe, 1000),
        "the unsynced writes are applied in order and torn at 512 and 4096-byte file offsets");
  check(!probe.bad_prefix, "a torn state holds a prefix of the writes, zero-filled at most");
  check(!stats.sampled, "nothing is sampled without a limit");

  size_t all = stats.checked;
  rc = three_writes(0, 2, data, &probe, &stats);
  printf("  unsynced, at most 2 cut points per write and tear size: %zu distinct states\n", stats.checked);
  check(rc == 0 && stats.sampled && stats.checked < all && probe_saw(&probe, 512) && probe_saw(&probe, 4608),
        "a limit on torn cut points samples them, keeping the first and the last, and says so");
  free(data);
}

int main(void) {
  snprintf(root, sizeof root, "/tmp/sf-crash-XXXXXX");
  if (mkdtemp(root) == NULL) {
    perror("mkdtemp");
    return 2;
  }
  recovery_io = *sf_io_default();
  recovery_io.fdatasync = no_sync;
  recovery_io.fsync = no_sync;
  double t0 = now_seconds();
  model_self_test();
  negative_controls();
  log_negative_controls();
  checkpoint_scenario(1);
  checkpoint_scenario(2);
  for (size_t i = 0; i < sizeof log_plans / sizeof log_plans[0]; i++) log_scenario(&log_plans[i]);
  fsmodel_remove_tree(root);
  printf("%d passed, %d failed (%.1f s)\n", passed, failed, now_seconds() - t0);
  return failed ? 1 : 0;
}
