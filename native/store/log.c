/* log.c: the append-only log of steadfast/store.h. It owns the segment format (docs/format.md,
 * "Append-only log") and its one scanner, recovery at open (torn tails cut into side files, corruption
 * told apart from torn tails, point-in-time recovery), group commit, reads, truncation and inspection.
 * Every system call goes through the log's sf_io_t table so tests can fail any of them; the only direct
 * calls are getrandom(), getpid() and clock_gettime().
 *
 * Locks, in the only order they are ever nested: commit_mu (which commit leads; the leader alone owns
 * the active segment's descriptor and write offset while it writes, without holding any lock), then
 * append_mu (the queue of framed records, the next LSN, the failed flag), then seg_mu (the list of
 * segments, the durable LSN and the read hint). Appends hold append_mu for a memcpy only, and a commit
 * holds it only to swap the queue out, so appends go on while a commit writes and syncs. Readers hold
 * seg_mu only to copy a few numbers.
 *
 * Durability rules followed throughout:
 *   - a segment is visible under its final name only once its header is durable (temporary file,
 *     fallocate, header, fdatasync, rename, fsync of the directory), before any record in it is
 *     acknowledged;
 *   - a commit fdatasyncs a segment before it writes a record into the next one, so the records on
 *     disk are always a prefix of the LSNs, and acknowledges only after the last fdatasync;
 *   - after a failed write or sync the log is failed for good and that descriptor is closed, never
 *     synced again ("fsyncgate": a retried fsync can succeed without the data being on disk);
 *   - nothing is deleted that holds records not below a caller's truncation point: cut bytes and
 *     dropped segments are kept in side files. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "steadfast/crc.h"
#include "steadfast/store.h"
#include "bytes.h"
#include "log_internal.h"

#define SF__PATH 4096
/* Longest suffix we put after "<dir>/": "log-<16 hex>.sfl.dropped-<20 digits>-<5 digits>" and less. */
#define SF__NAME_ROOM 64
#define SF__READ_CHUNK ((size_t)64 << 10)
#define SF__MAX_SIDE_NAMES 10000
#define SF__ZERO_CHUNK ((size_t)1 << 20) /* zeros written per pwrite when a segment is created */

static const uint8_t sf__log_magic[8] = {'S', 'F', 'L', 'O', 'G', 'S', 'G', '\n'};

/* Bytes a record of len payload bytes takes in a segment: header, payload, zero padding to 8. */
static uint64_t sf__frame_size(uint64_t len) {
  return SF__LOG_FRAME_SIZE + ((len + 7) & ~(uint64_t)7);
}

/* snprintf that may truncate on purpose (paths are bounded at open; messages are for humans), in one
 * place so the compiler's truncation warnings stay meaningful elsewhere. */
static void sf__fmt(char *out, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void sf__fmt(char *out, size_t cap, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(out, cap, fmt, ap);
  va_end(ap);
}

/* ---- Errors -------------------------------------------------------------------------------------- */

static int sf__error(sf_store_error_t *err, int code, const char *path, int64_t offset, uint64_t lsn_first,
                     uint64_t lsn_last, const char *fmt, ...) __attribute__((format(printf, 7, 8)));

static int sf__error(sf_store_error_t *err, int code, const char *path, int64_t offset, uint64_t lsn_first,
                     uint64_t lsn_last, const char *fmt, ...) {
  if (err == NULL) return code;
  err->code = code;
  sf__fmt(err->path, sizeof err->path, "%s", path != NULL ? path : "");
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err->message, sizeof err->message, fmt, ap);
  va_end(ap);
  err->offset = offset;
  err->lsn_first = lsn_first;
  err->lsn_last = lsn_last;
  err->pid = 0;
  return code;
}

static void sf__error_clear(sf_store_error_t *err) {
  if (err == NULL) return;
  err->code = 0;
  err->path[0] = '\0';
  err->message[0] = '\0';
  err->offset = -1;
  err->lsn_first = err->lsn_last = 0;
  err->pid = 0;
}

/* ---- The scanner --------------------------------------------------------------------------------- */

typedef enum sf__frame_e {
  SF__FRAME_OK,
  SF__FRAME_SHORT,  /* fewer than 24 bytes left */
  SF__FRAME_ZERO,   /* 24 zero bytes: the end marker */
  SF__FRAME_LENGTH, /* length beyond the limit or the end of the segment */
  SF__FRAME_CRC,    /* CRC mismatch */
  SF__FRAME_STALE   /* good CRC, other salt: left over from an earlier file */
} sf__frame_t;

static sf__frame_t sf__frame_check(const uint8_t *p, size_t len, size_t off, uint32_t salt, uint64_t *frame_size,
                                   uint64_t *lsn) {
  if (off > len || len - off < SF__LOG_FRAME_SIZE) return SF__FRAME_SHORT;
  const uint8_t *f = p + off;
  int zero = 1;
  for (unsigned i = 0; i < SF__LOG_FRAME_SIZE; i++) zero &= f[i] == 0;
  if (zero) return SF__FRAME_ZERO;
  uint32_t rlen = sf__get32(f + 4);
  /* The padding belongs to the frame: a commit writes it with the record, so a frame whose padding is
   * missing was never made durable. */
  if (rlen > SF__LOG_MAX_RECORD || sf__frame_size(rlen) > len - off) return SF__FRAME_LENGTH;
  if (sf__get32(f) != sf_crc32c(0, f + 4, 20 + (size_t)rlen)) return SF__FRAME_CRC;
  if (sf__get32(f + 16) != salt) return SF__FRAME_STALE;
  *frame_size = sf__frame_size(rlen);
  *lsn = sf__get64(f + 8);
  return SF__FRAME_OK;
}

/* The first offset after `from` (8-aligned, as frames are) holding a valid frame of this salt, or 0. The
 * salt is compared first, so the search costs a CRC only where the salt matches. */
static size_t sf__find_valid(const uint8_t *p, size_t len, size_t from, uint32_t salt, uint64_t *lsn) {
  for (size_t off = from; off <= len && len - off >= SF__LOG_FRAME_SIZE; off += 8) {
    if (sf__get32(p + off + 16) != salt) continue;
    uint64_t size;
    if (sf__frame_check(p, len, off, salt, &size, lsn) == SF__FRAME_OK) return off;
  }
  return 0;
}

/* The first LSN of the commit a valid frame belongs to (its LSN minus its position in the commit), or 0
 * for a position that would put it before LSN 1. */
static uint64_t sf__commit_first(const uint8_t *frame, uint64_t lsn) {
  uint32_t position = sf__get32(frame + 20) & SF__LOG_POSITION_MASK;
  return position < lsn ? lsn - position : 0;
}

/* Whether every valid frame of this salt from offset `from` on (skipping damage) can belong to the
 * commit that holds LSN next, the first one missing: an LSN above next, in a commit that began at or
 * before next. Offset 0 (no valid frame) qualifies. */
static int sf__only_the_commit_of(const uint8_t *p, size_t len, size_t from, uint32_t salt, uint64_t next) {
  size_t at = from;
  while (at != 0) {
    uint64_t size, lsn;
    if (sf__frame_check(p, len, at, salt, &size, &lsn) == SF__FRAME_OK) {
      uint64_t first = sf__commit_first(p + at, lsn);
      if (lsn <= next || first == 0 || first > next) return 0;
      at += (size_t)size;
    } else {
      at = sf__find_valid(p, len, at + 8, salt, &lsn);
    }
  }
  return 1;
}

/* One past the last nonzero byte in p[from..len), or from when they are all zero. */
static size_t sf__nonzero_end(const uint8_t *p, size_t from, size_t len) {
  size_t end = len;
  while (end > from && (end & 7) != 0 && p[end - 1] == 0) end--;
  while (end >= from + 8 && (end & 7) == 0) {
    uint64_t word;
    memcpy(&word, p + end - 8, 8);
    if (word != 0) break;
    end -= 8;
  }
  while (end > from && p[end - 1] == 0) end--;
  return end;
}

static const char *sf__frame_problem(sf__frame_t kind) {
  switch (kind) {
    case SF__FRAME_SHORT:
      return "partial record header at the end of the file";
    case SF__FRAME_ZERO:
      return "nonzero bytes after the end of the records";
    case SF__FRAME_LENGTH:
      return "record length out of bounds";
    case SF__FRAME_CRC:
      return "record CRC mismatch";
    case SF__FRAME_STALE:
      return "stale record (salt of another segment)";
    default:
      return "record out of sequence";
  }
}

int sf__log_scan(const uint8_t *p, size_t len, sf__log_scan_t *s) {
  memset(s, 0, sizeof *s);
  if (p == NULL) len = 0;
  if (len < SF__LOG_HEADER_SIZE) {
    sf__fmt(s->problem, sizeof s->problem, "too short for a segment header (%zu bytes)", len);
    return s->status = SF_EFORMAT;
  }
  if (memcmp(p, sf__log_magic, 8) != 0) {
    sf__fmt(s->problem, sizeof s->problem, "not a log segment (bad magic)");
    return s->status = SF_EFORMAT;
  }
  s->version_major = sf__get16(p + 8);
  s->version_minor = sf__get16(p + 10);
  s->salt = sf__get32(p + 12);
  s->first_lsn = sf__get64(p + 16);
  /* A newer major version is refused before the CRC is checked: its header may be laid out otherwise. */
  if (s->version_major > SF__LOG_VERSION_MAJOR) {
    sf__fmt(s->problem, sizeof s->problem, "written by format version %u.%u; this build reads version %u",
            s->version_major, s->version_minor, SF__LOG_VERSION_MAJOR);
    return s->status = SF_EVERSION;
  }
  if (sf__get32(p + 28) != sf_crc32c(0, p, 28)) {
    sf__fmt(s->problem, sizeof s->problem, "segment header CRC mismatch");
    return s->status = SF_ECORRUPT;
  }
  if (s->version_major != SF__LOG_VERSION_MAJOR) {
    sf__fmt(s->problem, sizeof s->problem, "unknown format version %u.%u", s->version_major, s->version_minor);
    return s->status = SF_EFORMAT;
  }
  if (s->first_lsn == 0) {
    sf__fmt(s->problem, sizeof s->problem, "segment header names first LSN 0");
    return s->status = SF_ECORRUPT;
  }

  size_t off = SF__LOG_HEADER_SIZE;
  uint64_t expected = s->first_lsn;
  uint64_t size = 0, lsn = 0, commit_first = 0;
  sf__frame_t kind;
  int bad_position = 0;
  for (;;) {
    kind = sf__frame_check(p, len, off, s->salt, &size, &lsn);
    if (kind != SF__FRAME_OK || lsn != expected) break;
    /* Positions go 0, 1, 2, ... within a commit. The first frame of a segment may continue a commit
     * that began in the segment before. */
    uint64_t first = sf__commit_first(p + off, lsn);
    if (first == 0 || (s->records > 0 && first != lsn && first != commit_first)) {
      bad_position = 1;
      break;
    }
    commit_first = first;
    s->records++;
    off += (size_t)size;
    expected++;
  }
  s->data_end = off;
  s->last_lsn = expected - 1;
  s->tail_end = sf__nonzero_end(p, off, len);

  size_t resume = 0;
  int same_commit = 0;
  if (kind == SF__FRAME_OK) {
    /* Whole and of this segment, but not the record that comes next: reordered or missing records, or
     * a commit position that does not continue the commit before it. */
    resume = off;
    if (bad_position)
      sf__fmt(s->problem, sizeof s->problem, "record with LSN %" PRIu64 " at commit position %" PRIu32 " (%s)", lsn,
              sf__get32(p + off + 20) & SF__LOG_POSITION_MASK, "does not continue the records before it");
    else
      sf__fmt(s->problem, sizeof s->problem, "record with LSN %" PRIu64 " where LSN %" PRIu64 " was expected", lsn,
              expected);
  } else {
    resume = sf__find_valid(p, len, off + 8, s->salt, &lsn);
    /* Valid records after the damage are what a crash leaves only if they all belong to the commit that
     * holds LSN `expected`, the first one missing. Commits run one at a time and each ends with an
     * fdatasync (a commit that rolls syncs the old segment first), so only the last one can be
     * incomplete, and its pages may reach the disk in any order: a hole with whole records of that same
     * commit after it. Each frame's position names where its commit began, so a valid frame of any
     * later commit, even with the frame that began that commit destroyed, proves the damage hit a
     * commit that had been acknowledged. */
    if (resume != 0 && sf__only_the_commit_of(p, len, resume, s->salt, expected)) {
      resume = 0;
      same_commit = 1;
    }
    if (resume != 0)
      sf__fmt(s->problem, sizeof s->problem, "%s, followed by records of a later commit",
              kind == SF__FRAME_ZERO ? "zeroed record" : sf__frame_problem(kind));
  }
  if (resume != 0) {
    s->end = SF__LOG_END_CORRUPT;
    s->resume_offset = resume;
    s->resume_lsn = lsn;
    /* Count what point-in-time recovery would drop: the valid run that follows the damage. */
    uint64_t next = lsn;
    size_t at = resume;
    while (sf__frame_check(p, len, at, s->salt, &size, &lsn) == SF__FRAME_OK && lsn == next) {
      s->after_records++;
      s->after_last_lsn = lsn;
      at += (size_t)size;
      next++;
    }
  } else if (s->tail_end > off) {
    s->end = SF__LOG_END_TORN;
    sf__fmt(s->problem, sizeof s->problem, "%s%s (torn tail)",
            kind == SF__FRAME_ZERO && same_commit ? "zeroed record" : sf__frame_problem(kind),
            same_commit ? ", followed only by records of the same commit" : "");
  } else {
    s->end = SF__LOG_END_CLEAN;
  }
  return s->status;
}

int sf_log_parse_segment(const void *bytes, size_t len, sf_log_segment_t *info) {
  sf__log_scan_t s;
  sf__log_scan(bytes, len, &s);
  memset(info, 0, sizeof *info);
  info->size = len;
  info->first_lsn = s.first_lsn;
  info->salt = s.salt;
  info->problem_offset = -1;
  sf__fmt(info->problem, sizeof info->problem, "%s", s.problem);
  if (s.status != 0) {
    info->status = s.status;
    info->problem_offset = 0;
    info->last_lsn = s.first_lsn > 0 ? s.first_lsn - 1 : 0;
    return s.status;
  }
  info->data_end = s.data_end;
  info->last_lsn = s.last_lsn;
  info->records = s.records;
  /* A torn tail is what a crash during a commit leaves; recovery cuts it, so on its own it does not make
   * a segment bad. Damage followed by valid records does. */
  if (s.end != SF__LOG_END_CLEAN) info->problem_offset = (int64_t)s.data_end;
  info->status = s.end == SF__LOG_END_CORRUPT ? SF_ECORRUPT : 0;
  return info->status;
}

/* ---- Names and small file helpers ---------------------------------------------------------------- */

/* "log-<16 lowercase hex>.sfl" -> its LSN. Only names we write are segments; anything else is left alone. */
static int sf__parse_segment_name(const char *name, uint64_t *lsn) {
  if (strlen(name) != 24 || memcmp(name, "log-", 4) != 0 || memcmp(name + 20, ".sfl", 4) != 0) return 0;
  uint64_t v = 0;
  for (int i = 4; i < 20; i++) {
    char c = name[i];
    if (c >= '0' && c <= '9')
      v = (v << 4) | (uint64_t)(c - '0');
    else if (c >= 'a' && c <= 'f')
      v = (v << 4) | (uint64_t)(c - 'a' + 10);
    else
      return 0;
  }
  *lsn = v;
  return 1;
}

static int sf__is_temp_name(const char *name) {
  size_t n = strlen(name);
  return n > 8 && memcmp(name, "log-", 4) == 0 && strcmp(name + n - 8, ".sfl.tmp") == 0;
}

static void sf__segment_path(char *out, const char *dir, uint64_t lsn, const char *suffix) {
  sf__fmt(out, SF__PATH, "%s/log-%016" PRIx64 ".sfl%s", dir, lsn, suffix);
}

typedef struct sf__names_s {
  char **names;
  size_t count, cap;
} sf__names_t;

static int sf__collect_name(const char *name, void *arg) {
  sf__names_t *names = arg;
  if (names->count == names->cap) {
    size_t cap = names->cap ? names->cap * 2 : 32;
    char **grown = realloc(names->names, cap * sizeof *grown);
    if (grown == NULL) return -ENOMEM;
    names->names = grown;
    names->cap = cap;
  }
  if ((names->names[names->count] = strdup(name)) == NULL) return -ENOMEM;
  names->count++;
  return 0;
}

static void sf__names_free(sf__names_t *names) {
  for (size_t i = 0; i < names->count; i++) free(names->names[i]);
  free(names->names);
  memset(names, 0, sizeof *names);
}

/* Reads a whole file into a malloc'd buffer. */
static int sf__read_file(const sf_io_t *io, const char *path, uint8_t **out, size_t *len) {
  *out = NULL;
  *len = 0;
  int fd = io->open(io, path, O_RDONLY | O_CLOEXEC, 0);
  if (fd < 0) return fd;
  struct stat st;
  int rc = io->fstat(io, fd, &st);
  /* A segment is never larger than the format allows, so a larger file is damage (or not ours), and its
   * size is never allocated. */
  if (rc == 0 && (st.st_size < 0 || (uint64_t)st.st_size > SF__LOG_MAX_FILE)) rc = SF_ECORRUPT;
  uint8_t *buf = NULL;
  size_t got = 0;
  if (rc == 0) {
    buf = malloc(st.st_size > 0 ? (size_t)st.st_size : 1);
    rc = buf == NULL ? -ENOMEM : sf_io_read_all(io, fd, buf, (size_t)st.st_size, 0, &got);
  }
  io->close(io, fd);
  if (rc < 0) {
    free(buf);
    return rc;
  }
  *out = buf;
  *len = got;
  return 0;
}

static uint32_t sf__new_salt(void) {
  static uint32_t counter;
  uint32_t salt = 0;
  /* The salt only has to differ from the salt of whatever file occupied these blocks before, so when
   * the kernel has no entropy to give yet (early boot, GRND_NONBLOCK), time, pid and a counter do. */
  while (salt == 0) {
    if (getrandom(&salt, sizeof salt, GRND_NONBLOCK) != (ssize_t)sizeof salt) {
      struct timespec ts;
      clock_gettime(CLOCK_REALTIME, &ts);
      uint64_t x = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^ ((uint64_t)getpid() << 40) ^
                   ((uint64_t)__atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED) * 0x9E3779B97F4A7C15u);
      x ^= x >> 31, x *= 0xBF58476D1CE4E5B9u, x ^= x >> 29;
      salt = (uint32_t)(x ^ (x >> 32));
    }
  }
  return salt;
}

/* ---- The handle ---------------------------------------------------------------------------------- */

typedef struct sf__segment_s {
  uint64_t first_lsn;
  uint32_t salt;
} sf__segment_t;

struct sf_log_s {
  const sf_io_t *io;
  char dir[SF__PATH];
  uint64_t segment_size;
  int lock_fd;

  pthread_mutex_t commit_mu; /* guards writing */
  pthread_cond_t commit_cv;  /* signalled when a write ends */
  int writing;               /* 1 while a commit leader writes; that thread owns the fields down to append_mu */
  int fd;                    /* the active (last) segment, read-write; -1 once the log failed */
  uint64_t active_first;     /* its first LSN */
  uint64_t active_last;      /* the last LSN written into it, active_first - 1 if none */
  uint64_t active_size;      /* its size: records must end within it */
  uint64_t write_off;        /* where its next record goes */
  uint32_t active_salt;
  uint32_t commit_limit; /* most records per commit: SF__LOG_MAX_COMMIT_RECORDS but in tests */

  pthread_mutex_t append_mu; /* guards the queue, next_lsn and failed */
  uint8_t *queue;            /* framed records waiting for a commit, salt and CRC not yet final */
  size_t queue_len, queue_cap;
  uint8_t *spare; /* the buffer the last commit wrote, reused for the next swap */
  size_t spare_cap;
  uint64_t next_lsn;
  int failed; /* the error that failed the log, 0 while it works */

  pthread_mutex_t seg_mu; /* guards the fields below */
  sf__segment_t *segs;    /* every segment, oldest first; the last is the active one */
  size_t seg_count, seg_cap;
  uint64_t durable_lsn;
  uint64_t hint_lsn, hint_first, hint_offset; /* where the last read stopped, to resume without a scan */
};

static int sf__segs_push(sf_log_t *log, uint64_t first_lsn, uint32_t salt) {
  if (log->seg_count == log->seg_cap) {
    size_t cap = log->seg_cap ? log->seg_cap * 2 : 16;
    sf__segment_t *grown = realloc(log->segs, cap * sizeof *grown);
    if (grown == NULL) return -ENOMEM;
    log->segs = grown;
    log->seg_cap = cap;
  }
  log->segs[log->seg_count].first_lsn = first_lsn;
  log->segs[log->seg_count].salt = salt;
  log->seg_count++;
  return 0;
}

/* The segment holding lsn: the last one whose first LSN is <= lsn (binary search). seg_count > 0. */
static size_t sf__segs_find(const sf_log_t *log, uint64_t lsn) {
  size_t lo = 0, hi = log->seg_count;
  while (hi - lo > 1) {
    size_t mid = lo + (hi - lo) / 2;
    if (log->segs[mid].first_lsn <= lsn)
      lo = mid;
    else
      hi = mid;
  }
  return lo;
}

/* Creates segment first_lsn of `size` bytes and leaves its read-write descriptor in *fd_out. The name
 * appears only once the header is durable, and the rename is made durable before any record goes in,
 * so a segment that recovery finds always has a valid header. If a segment of that name exists (the
 * active segment, still without records, that is too small for the record to come) it is replaced in
 * one rename. */
static int sf__create_segment(sf_log_t *log, uint64_t first_lsn, uint64_t size, int *fd_out, uint32_t *salt_out,
                              sf_store_error_t *err) {
  const sf_io_t *io = log->io;
  char tmp[SF__PATH], path[SF__PATH];
  sf__segment_path(tmp, log->dir, first_lsn, ".tmp");
  sf__segment_path(path, log->dir, first_lsn, "");
  const char *step = "create";
  int renamed = 0;
  int fd = io->open(io, tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  int rc = fd < 0 ? fd : 0;
  if (rc == 0) {
    /* Reserving the blocks now means a full disk shows up here, before any record is acknowledged, and
     * that the unwritten rest of the segment reads as zeros: the end-of-records marker. */
    step = "fallocate";
    rc = io->fallocate(io, fd, 0, (off_t)size);
    if (rc == -EOPNOTSUPP) {
      step = "ftruncate";
      rc = io->ftruncate(io, fd, (off_t)size);
    }
  }
  uint32_t salt = sf__new_salt();
  if (rc == 0) {
    /* The header goes out with real zeros behind it to the end of the segment, in the same writes.
     * fallocate leaves unwritten extents, and on ext4 (and XFS) every commit that first writes into
     * one must also commit the metadata that marks it written: a commit of 64 records of 100 bytes
     * took ~215-250 us in preallocated space against ~140-155 us in zeroed space (docs/format.md,
     * "Durability sequence"). A segment sized for one big record is written whole by
     * its commit, so it gets only its header. */
    step = "write the header of";
    uint64_t fill = size == log->segment_size ? size : SF__LOG_HEADER_SIZE;
    size_t chunk = fill < SF__ZERO_CHUNK ? (size_t)fill : SF__ZERO_CHUNK;
    uint8_t *buf = calloc(1, chunk);
    if (buf == NULL) rc = -ENOMEM;
    if (rc == 0) {
      memcpy(buf, sf__log_magic, 8);
      sf__put16(buf + 8, SF__LOG_VERSION_MAJOR);
      sf__put16(buf + 10, SF__LOG_VERSION_MINOR);
      sf__put32(buf + 12, salt);
      sf__put64(buf + 16, first_lsn);
      sf__put32(buf + 24, 0);
      sf__put32(buf + 28, sf_crc32c(0, buf, 28));
      rc = sf_io_write_all(io, fd, buf, chunk, 0);
      memset(buf, 0, SF__LOG_HEADER_SIZE);
    }
    for (uint64_t at = chunk; rc == 0 && at < fill; at += chunk) {
      size_t n = fill - at < chunk ? (size_t)(fill - at) : chunk;
      rc = sf_io_write_all(io, fd, buf, n, (off_t)at);
    }
    free(buf);
  }
  if (rc == 0) {
    step = "fdatasync";
    rc = io->fdatasync(io, fd);
  }
  if (rc == 0) {
    step = "rename";
    rc = io->rename(io, tmp, path);
    renamed = rc == 0;
  }
  if (rc == 0) {
    step = "fsync the directory of";
    rc = sf_io_fsync_dir(io, log->dir);
  }
  if (rc < 0) {
    if (fd >= 0) io->close(io, fd);
    if (!renamed) io->unlink(io, tmp);
    return sf__error(err, rc, renamed ? path : tmp, -1, first_lsn, 0, "cannot %s new log segment (%s)", step,
                     sf_store_error_name(rc));
  }
  *fd_out = fd;
  *salt_out = salt;
  return 0;
}

/* ---- Open and recovery --------------------------------------------------------------------------- */

static int sf__take_lock(sf_log_t *log, sf_store_error_t *err) {
  const sf_io_t *io = log->io;
  char path[SF__PATH];
  sf__fmt(path, sizeof path, "%s/LOCK", log->dir);
  int fd = io->open(io, path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd == -ENOENT) return sf__error(err, fd, log->dir, -1, 0, 0, "log directory does not exist");
  if (fd == -ENOTDIR) return sf__error(err, fd, log->dir, -1, 0, 0, "log directory is not a directory");
  if (fd < 0) return sf__error(err, fd, path, -1, 0, 0, "cannot open the lock file (%s)", sf_store_error_name(fd));
  int rc = io->flock(io, fd, LOCK_EX | LOCK_NB);
  if (rc == -EWOULDBLOCK) {
    char text[32] = {0};
    size_t got = 0;
    int64_t pid = 0;
    if (sf_io_read_all(io, fd, text, sizeof text - 1, 0, &got) == 0) pid = strtoll(text, NULL, 10);
    io->close(io, fd);
    sf__error(err, SF_ELOCKED, path, -1, 0, 0, "the log is open in another handle or process (pid %" PRId64 ")", pid);
    if (err != NULL) err->pid = pid;
    return SF_ELOCKED;
  }
  char text[32];
  sf__fmt(text, sizeof text, "%ld\n", (long)getpid());
  if (rc == 0) rc = io->ftruncate(io, fd, 0);
  if (rc == 0) rc = sf_io_write_all(io, fd, text, strlen(text), 0);
  if (rc < 0) {
    io->close(io, fd);
    return sf__error(err, rc, path, -1, 0, 0, "cannot lock the log (%s)", sf_store_error_name(rc));
  }
  log->lock_fd = fd;
  return 0;
}

/* One segment found at open. */
typedef struct sf__found_s {
  uint64_t name_lsn;
  uint64_t size;
  sf__log_scan_t scan;
  uint8_t *bytes; /* the bytes scanned, kept for the last segment only (recovery rewrites its records) */
} sf__found_t;

static int sf__found_compare(const void *a, const void *b) {
  uint64_t x = ((const sf__found_t *)a)->name_lsn, y = ((const sf__found_t *)b)->name_lsn;
  return x < y ? -1 : x > y;
}

/* Lists dir and scans every segment in it, sorted by first LSN. With keep_last, the last segment's
 * bytes stay in its bytes field (the caller frees them). */
static int sf__scan_dir(const sf_io_t *io, const char *dir, int keep_last, sf__names_t *names, sf__found_t **found_out,
                        size_t *count_out, sf_store_error_t *err) {
  *found_out = NULL;
  *count_out = 0;
  int rc = io->list(io, dir, sf__collect_name, names);
  if (rc == -ENOENT) return sf__error(err, rc, dir, -1, 0, 0, "log directory does not exist");
  if (rc == -ENOTDIR) return sf__error(err, rc, dir, -1, 0, 0, "log directory is not a directory");
  if (rc < 0) return sf__error(err, rc, dir, -1, 0, 0, "cannot list the log directory (%s)", sf_store_error_name(rc));
  size_t count = 0;
  sf__found_t *found = calloc(names->count ? names->count : 1, sizeof *found);
  if (found == NULL) return sf__error(err, -ENOMEM, dir, -1, 0, 0, "out of memory");
  for (size_t i = 0; i < names->count; i++)
    if (sf__parse_segment_name(names->names[i], &found[count].name_lsn)) count++;
  qsort(found, count, sizeof *found, sf__found_compare);
  for (size_t i = 0; i < count; i++) {
    char path[SF__PATH];
    sf__segment_path(path, dir, found[i].name_lsn, "");
    uint8_t *bytes;
    size_t len;
    rc = sf__read_file(io, path, &bytes, &len);
    if (rc < 0) {
      free(found);
      if (rc == SF_ECORRUPT)
        return sf__error(err, rc, path, -1, 0, 0, "segment larger than any the format allows (%" PRIu64 " bytes)",
                         (uint64_t)SF__LOG_MAX_FILE);
      return sf__error(err, rc, path, -1, 0, 0, "cannot read log segment (%s)", sf_store_error_name(rc));
    }
    found[i].size = len;
    sf__log_scan(bytes, len, &found[i].scan);
    if (keep_last && i + 1 == count)
      found[i].bytes = bytes;
    else
      free(bytes);
    sf__log_scan_t *s = &found[i].scan;
    if (s->status == 0 && s->first_lsn != found[i].name_lsn) {
      sf__fmt(s->problem, sizeof s->problem,
              "segment header names first LSN %" PRIu64 " but the file name says %" PRIu64, s->first_lsn,
              found[i].name_lsn);
      s->status = SF_ECORRUPT;
    }
  }
  *found_out = found;
  *count_out = count;
  return 0;
}

/* Where the records stop being trustworthy, if anywhere before the end of the last segment. */
typedef struct sf__cut_s {
  size_t seg;      /* segment concerned */
  int whole;       /* 1: drop segment seg and all after it; 0: cut seg at offset, drop all after it */
  uint64_t offset; /* byte offset in seg where the damage starts */
  uint64_t lsn_first, lsn_last;
  char message[300];
} sf__cut_t;

/* Walks the segments in order and finds the first place where records are missing, damaged or out of
 * sequence: a header that fails its check, a segment that does not start at the LSN after the last
 * record of the one before (missing or reordered segment), damage followed by valid records, or a
 * damaged end in a segment that is not the last (a torn tail is only possible where the last commit
 * was writing). Returns 1 and fills *cut if there is such a place. */
static int sf__find_cut(const sf__found_t *found, size_t count, sf__cut_t *cut) {
  uint64_t prev_last = 0;
  for (size_t i = 0; i < count; i++) {
    const sf__log_scan_t *s = &found[i].scan;
    memset(cut, 0, sizeof *cut);
    cut->seg = i;
    cut->whole = 1;
    uint64_t next_first =
        i + 1 < count ? (found[i + 1].scan.status == 0 ? found[i + 1].scan.first_lsn : found[i + 1].name_lsn) : 0;
    if (s->status != 0) {
      cut->lsn_first = i > 0 ? prev_last + 1 : found[i].name_lsn;
      cut->lsn_last = next_first > cut->lsn_first ? next_first - 1 : cut->lsn_first;
      sf__fmt(cut->message, sizeof cut->message, "%s", s->problem);
      return 1;
    }
    if (i > 0 && s->first_lsn != prev_last + 1) {
      if (s->first_lsn > prev_last + 1) {
        cut->lsn_first = prev_last + 1;
        cut->lsn_last = s->first_lsn - 1;
        sf__fmt(cut->message, sizeof cut->message,
                "records %" PRIu64 "..%" PRIu64 " are missing: the previous segment ends at LSN %" PRIu64
                " and this one starts at LSN %" PRIu64 " (missing segment)",
                cut->lsn_first, cut->lsn_last, prev_last, s->first_lsn);
      } else {
        cut->lsn_first = s->first_lsn;
        cut->lsn_last = prev_last;
        sf__fmt(cut->message, sizeof cut->message,
                "segment starts at LSN %" PRIu64 " but the previous segment already ends at LSN %" PRIu64
                " (reordered or duplicated segment)",
                s->first_lsn, prev_last);
      }
      return 1;
    }
    if (s->end == SF__LOG_END_CORRUPT || (s->end == SF__LOG_END_TORN && i + 1 < count)) {
      uint64_t next_valid = s->end == SF__LOG_END_CORRUPT ? s->resume_lsn : next_first;
      cut->whole = 0;
      cut->offset = s->data_end;
      cut->lsn_first = s->last_lsn + 1;
      cut->lsn_last = next_valid > cut->lsn_first ? next_valid - 1 : cut->lsn_first;
      sf__fmt(cut->message, sizeof cut->message, "%s%s", s->problem,
              s->end == SF__LOG_END_TORN ? ", but in a segment that is not the last" : "");
      return 1;
    }
    prev_last = s->last_lsn;
  }
  return 0;
}

/* Writes bytes into a new side file "<segment>.<kind>-<offset>" (or "...-<offset>-N" if that name is
 * taken), durably: data, fdatasync, directory fsync. */
static int sf__write_side_file(sf_log_t *log, const char *seg_path, const char *kind, uint64_t offset,
                               const uint8_t *bytes, size_t len, char *side_path, sf_store_error_t *err) {
  const sf_io_t *io = log->io;
  int fd = -EEXIST;
  for (int n = 1; fd == -EEXIST && n <= SF__MAX_SIDE_NAMES; n++) {
    if (n == 1)
      sf__fmt(side_path, SF__PATH, "%s.%s-%" PRIu64, seg_path, kind, offset);
    else
      sf__fmt(side_path, SF__PATH, "%s.%s-%" PRIu64 "-%d", seg_path, kind, offset, n);
    fd = io->open(io, side_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  }
  if (fd < 0)
    return sf__error(err, fd, side_path, -1, 0, 0, "cannot create a side file for cut bytes (%s)",
                     sf_store_error_name(fd));
  int rc = sf_io_write_all(io, fd, bytes, len, 0);
  if (rc == 0) rc = io->fdatasync(io, fd);
  io->close(io, fd);
  if (rc == 0) rc = sf_io_fsync_dir(io, log->dir);
  if (rc < 0)
    return sf__error(err, rc, side_path, -1, 0, 0, "cannot write the side file for cut bytes (%s)",
                     sf_store_error_name(rc));
  return 0;
}

/* Cuts segment bytes [from, to): copies them into a side file first, then overwrites them with zeros
 * (the end-of-records marker) and fdatasyncs. The order means a crash in between leaves the bytes in
 * both places, never in neither. */
static int sf__cut_segment(sf_log_t *log, const char *seg_path, const char *kind, uint64_t from, uint64_t to,
                           char *side_path, sf_store_error_t *err) {
  const sf_io_t *io = log->io;
  size_t len = (size_t)(to - from);
  uint8_t *bytes = malloc(len ? len : 1);
  if (bytes == NULL) return sf__error(err, -ENOMEM, seg_path, (int64_t)from, 0, 0, "out of memory");
  int fd = io->open(io, seg_path, O_RDWR | O_CLOEXEC, 0);
  int rc = fd < 0 ? fd : 0;
  size_t got = 0;
  if (rc == 0) rc = sf_io_read_all(io, fd, bytes, len, (off_t)from, &got);
  if (rc == 0 && got != len) rc = -EIO; /* the file shrank under us */
  if (rc < 0) {
    free(bytes);
    if (fd >= 0) io->close(io, fd);
    return sf__error(err, rc, seg_path, (int64_t)from, 0, 0, "cannot read the bytes to cut (%s)",
                     sf_store_error_name(rc));
  }
  rc = sf__write_side_file(log, seg_path, kind, from, bytes, len, side_path, err);
  if (rc == 0) {
    memset(bytes, 0, len);
    rc = sf_io_write_all(io, fd, bytes, len, (off_t)from);
    if (rc == 0) rc = io->fdatasync(io, fd);
    if (rc < 0)
      sf__error(err, rc, seg_path, (int64_t)from, 0, 0, "cannot zero the cut bytes (%s)", sf_store_error_name(rc));
  }
  free(bytes);
  io->close(io, fd);
  return rc;
}

/* Renames a whole segment to "<name>.dropped" (or "<name>.dropped-N"): point-in-time recovery keeps it. */
static int sf__move_aside(sf_log_t *log, const char *path, sf_store_error_t *err) {
  const sf_io_t *io = log->io;
  char target[SF__PATH];
  for (int n = 1; n <= SF__MAX_SIDE_NAMES; n++) {
    if (n == 1)
      sf__fmt(target, sizeof target, "%s.dropped", path);
    else
      sf__fmt(target, sizeof target, "%s.dropped-%d", path, n);
    int fd = io->open(io, target, O_RDONLY | O_CLOEXEC, 0);
    if (fd >= 0) {
      io->close(io, fd);
      continue;
    }
    int rc = fd == -ENOENT ? io->rename(io, path, target) : fd;
    if (rc < 0)
      return sf__error(err, rc, path, -1, 0, 0, "cannot move a dropped segment aside (%s)", sf_store_error_name(rc));
    return 0;
  }
  return sf__error(err, -EEXIST, path, -1, 0, 0, "no free name to move a dropped segment aside");
}

/* Makes the last segment's records durable before the open reports them durable. They were read from
 * the page cache, and a page cache can hold records that never reached the disk: after a failed
 * writeback (a commit whose fdatasync failed) Linux marks the pages clean and keeps them, so no later
 * fdatasync writes them, and after a crash of the process (not of the machine) nothing may have synced
 * them yet. So the records [32, data_end) are written again from the buffer the scan checked, which
 * dirties their pages, and, when this open cut a tail, so are the zeros over [data_end, cut_end); then one
 * fdatasync through the new descriptor and one fsync of the directory (which also covers a segment whose
 * creation-time directory fsync failed after its rename). A failure fails the open: that descriptor is
 * never synced again. Earlier segments need none of this, since a commit fdatasyncs a segment before it
 * writes into the next. */
static int sf__rewrite_last(sf_log_t *log, const char *path, const uint8_t *bytes, uint64_t data_end, uint64_t cut_end,
                            sf_store_error_t *err) {
  const sf_io_t *io = log->io;
  int rc = 0;
  if (data_end > SF__LOG_HEADER_SIZE)
    rc = sf_io_write_all(io, log->fd, bytes + SF__LOG_HEADER_SIZE, (size_t)(data_end - SF__LOG_HEADER_SIZE),
                         SF__LOG_HEADER_SIZE);
  if (rc == 0 && cut_end > data_end) {
    uint8_t *zeros = calloc(1, (size_t)(cut_end - data_end));
    rc = zeros == NULL ? -ENOMEM : sf_io_write_all(io, log->fd, zeros, (size_t)(cut_end - data_end), (off_t)data_end);
    free(zeros);
  }
  if (rc == 0) rc = io->fdatasync(io, log->fd);
  if (rc < 0)
    return sf__error(err, rc, path, -1, 0, 0, "cannot make the last segment's records durable again (%s)",
                     sf_store_error_name(rc));
  if ((rc = sf_io_fsync_dir(io, log->dir)) < 0)
    return sf__error(err, rc, log->dir, -1, 0, 0, "cannot fsync the log directory (%s)", sf_store_error_name(rc));
  return 0;
}

/* Everything sf_log_open does after the lock is taken; on failure nothing has been changed on disk
 * unless the error says a repair step failed. */
static int sf__recover(sf_log_t *log, int point_in_time, sf_log_recovery_t *rec, sf_store_error_t *err) {
  const sf_io_t *io = log->io;
  sf__names_t names = {0};
  sf__found_t *found = NULL;
  size_t count = 0;
  char path[SF__PATH];
  int dir_changed = 0;
  int rc = sf__scan_dir(io, log->dir, 1, &names, &found, &count, err);
  if (rc < 0) goto done;

  /* A file we cannot read as a segment of this version stops the open whatever the options: it may
   * belong to someone else or to a newer steadfast, and must not be touched. */
  for (size_t i = 0; i < count; i++) {
    const sf__log_scan_t *s = &found[i].scan;
    if (s->status == SF_EFORMAT || s->status == SF_EVERSION) {
      sf__segment_path(path, log->dir, found[i].name_lsn, "");
      rc = sf__error(err, s->status, path, 0, 0, 0, "%s", s->problem);
      goto done;
    }
  }

  sf__cut_t cut;
  size_t keep = count; /* segments kept */
  if (sf__find_cut(found, count, &cut)) {
    sf__segment_path(path, log->dir, found[cut.seg].name_lsn, "");
    if (!point_in_time || (cut.whole && cut.seg == 0)) {
      rc = sf__error(err, SF_ECORRUPT, path, (int64_t)cut.offset, cut.lsn_first, cut.lsn_last, "%s%s", cut.message,
                     point_in_time ? " (nothing before it to recover to)" : "");
      goto done;
    }
    keep = cut.whole ? cut.seg : cut.seg + 1;
    uint64_t dropped = 0, dropped_last = cut.lsn_last;
    if (!cut.whole && found[cut.seg].scan.end == SF__LOG_END_CORRUPT) {
      dropped += found[cut.seg].scan.after_records;
      if (found[cut.seg].scan.after_records > 0 && found[cut.seg].scan.after_last_lsn > dropped_last)
        dropped_last = found[cut.seg].scan.after_last_lsn;
    }
    for (size_t i = keep; i < count; i++) {
      const sf__log_scan_t *s = &found[i].scan;
      if (s->status != 0) continue;
      dropped += s->records;
      if (s->records > 0 && s->last_lsn > dropped_last) dropped_last = s->last_lsn;
    }
    rec->dropped_records = dropped;
    rec->dropped_first_lsn = cut.lsn_first;
    rec->dropped_last_lsn = dropped_last;
    sf__fmt(rec->corrupt_path, sizeof rec->corrupt_path, "%s", path);
    rec->corrupt_offset = (int64_t)cut.offset;
  }

  /* Changes start here. Temporary files are segments whose creation never finished: nothing in them was
   * ever acknowledged. */
  for (size_t i = 0; i < names.count; i++) {
    if (!sf__is_temp_name(names.names[i])) continue;
    sf__fmt(path, sizeof path, "%s/%s", log->dir, names.names[i]);
    rc = io->unlink(io, path);
    if (rc < 0 && rc != -ENOENT) {
      rc = sf__error(err, rc, path, -1, 0, 0, "cannot remove a leftover temporary segment (%s)",
                     sf_store_error_name(rc));
      goto done;
    }
    dir_changed = 1;
  }
  /* Dropped segments go aside newest first, so a crash part-way leaves a log that the next
   * point-in-time open cuts at the same place. */
  for (size_t i = count; i-- > keep;) {
    sf__segment_path(path, log->dir, found[i].name_lsn, "");
    if ((rc = sf__move_aside(log, path, err)) < 0) goto done;
    dir_changed = 1;
  }
  if (dir_changed) {
    dir_changed = 0;
    if ((rc = sf_io_fsync_dir(io, log->dir)) < 0) {
      rc = sf__error(err, rc, log->dir, -1, 0, 0, "cannot fsync the log directory (%s)", sf_store_error_name(rc));
      goto done;
    }
  }
  if (keep > 0) {
    sf__found_t *last = &found[keep - 1];
    sf__log_scan_t *s = &last->scan;
    sf__segment_path(path, log->dir, last->name_lsn, "");
    uint64_t cut_end = 0;
    if (last->bytes == NULL) {
      /* Point-in-time recovery dropped whole segments, so the last one kept was not the last scanned:
       * read it again, and rely on it only if it still scans to the same records. */
      size_t len;
      sf__log_scan_t again;
      if ((rc = sf__read_file(io, path, &last->bytes, &len)) < 0) {
        rc = sf__error(err, rc, path, -1, 0, 0, "cannot read log segment (%s)", sf_store_error_name(rc));
        goto done;
      }
      sf__log_scan(last->bytes, len, &again);
      if (again.status != 0 || again.data_end != s->data_end || again.last_lsn != s->last_lsn) {
        rc = sf__error(err, SF_ECORRUPT, path, (int64_t)s->data_end, 0, 0, "segment changed while the log was opened");
        goto done;
      }
    }
    if (keep < count || s->end != SF__LOG_END_CLEAN) {
      /* The cut segment (point-in-time) or a torn tail: everything from data_end to the last nonzero
       * byte goes to a side file. A point-in-time cut of a segment with a clean end cuts nothing. */
      int torn = rec->corrupt_offset < 0;
      if (s->tail_end > s->data_end) {
        char side[SF__PATH];
        rc = sf__cut_segment(log, path, torn ? "torn" : "dropped", s->data_end, s->tail_end, side, err);
        if (rc < 0) goto done;
        cut_end = s->tail_end;
        if (torn) {
          rec->torn_bytes = s->tail_end - s->data_end;
          sf__fmt(rec->torn_path, sizeof rec->torn_path, "%s", side);
        }
      }
    }
    for (size_t i = 0; i < keep; i++)
      if ((rc = sf__segs_push(log, found[i].scan.first_lsn, found[i].scan.salt)) < 0) goto oom;
    log->active_first = s->first_lsn;
    log->active_last = s->last_lsn;
    log->write_off = s->data_end;
    log->fd = io->open(io, path, O_RDWR | O_CLOEXEC, 0);
    if (log->fd < 0) {
      rc = sf__error(err, log->fd, path, -1, 0, 0, "cannot open the last segment (%s)", sf_store_error_name(log->fd));
      goto done;
    }
    struct stat st;
    if ((rc = io->fstat(io, log->fd, &st)) < 0) {
      rc = sf__error(err, rc, path, -1, 0, 0, "cannot stat the last segment (%s)", sf_store_error_name(rc));
      goto done;
    }
    log->active_size = (uint64_t)st.st_size;
    log->active_salt = s->salt;
    if ((rc = sf__rewrite_last(log, path, last->bytes, s->data_end, cut_end, err)) < 0) goto done;
  } else {
    /* An empty directory: the log starts at LSN 1. */
    if ((rc = sf__create_segment(log, 1, log->segment_size, &log->fd, &log->active_salt, err)) < 0) goto done;
    if ((rc = sf__segs_push(log, 1, log->active_salt)) < 0) goto oom;
    log->active_first = 1;
    log->active_last = 0;
    log->write_off = SF__LOG_HEADER_SIZE;
    log->active_size = log->segment_size;
  }
  log->next_lsn = log->active_last + 1;
  log->durable_lsn = log->active_last;
  rec->segments = log->seg_count;
  if (log->next_lsn > log->segs[0].first_lsn) {
    rec->first_lsn = log->segs[0].first_lsn;
    rec->last_lsn = log->active_last;
  }
  rc = 0;
  goto done;
oom:
  rc = sf__error(err, -ENOMEM, log->dir, -1, 0, 0, "out of memory");
done:
  for (size_t i = 0; i < count; i++) free(found[i].bytes);
  free(found);
  sf__names_free(&names);
  return rc;
}

void sf_log_close(sf_log_t *log) {
  if (log == NULL) return;
  if (log->fd >= 0) log->io->close(log->io, log->fd);
  if (log->lock_fd >= 0) log->io->close(log->io, log->lock_fd);
  pthread_mutex_destroy(&log->commit_mu);
  pthread_cond_destroy(&log->commit_cv);
  pthread_mutex_destroy(&log->append_mu);
  pthread_mutex_destroy(&log->seg_mu);
  free(log->queue);
  free(log->spare);
  free(log->segs);
  free(log);
}

int sf_log_open(const sf_log_options_t *options, sf_log_t **out, sf_log_recovery_t *recovery, sf_store_error_t *err) {
  sf__error_clear(err);
  sf_log_recovery_t scratch;
  sf_log_recovery_t *rec = recovery != NULL ? recovery : &scratch;
  memset(rec, 0, sizeof *rec);
  rec->corrupt_offset = -1;
  if (out == NULL || options == NULL || options->dir == NULL || options->dir[0] == '\0')
    return sf__error(err, -EINVAL, NULL, -1, 0, 0, "a log directory is required");
  *out = NULL;
  if (strlen(options->dir) + SF__NAME_ROOM >= SF__PATH)
    return sf__error(err, -ENAMETOOLONG, options->dir, -1, 0, 0, "log directory path is too long");
  uint64_t segment_size = options->segment_size ? options->segment_size : SF__LOG_DEFAULT_SEGMENT;
  if (segment_size < SF__LOG_MIN_SEGMENT || segment_size > SF__LOG_MAX_SEGMENT)
    return sf__error(err, -EINVAL, options->dir, -1, 0, 0, "segment size must be between %u bytes and 1 GiB",
                     SF__LOG_MIN_SEGMENT);

  sf_log_t *log = calloc(1, sizeof *log);
  if (log == NULL) return sf__error(err, -ENOMEM, options->dir, -1, 0, 0, "out of memory");
  log->io = options->io != NULL ? options->io : sf_io_default();
  sf__fmt(log->dir, sizeof log->dir, "%s", options->dir);
  log->segment_size = segment_size & ~(uint64_t)7; /* records are 8-aligned; so is every segment's end */
  log->fd = -1;
  log->lock_fd = -1;
  log->commit_limit = SF__LOG_MAX_COMMIT_RECORDS;
  pthread_mutex_init(&log->commit_mu, NULL);
  pthread_cond_init(&log->commit_cv, NULL);
  pthread_mutex_init(&log->append_mu, NULL);
  pthread_mutex_init(&log->seg_mu, NULL);

  int rc = sf__take_lock(log, err);
  if (rc == 0) rc = sf__recover(log, options->point_in_time, rec, err);
  if (rc < 0) {
    sf_log_close(log);
    return rc;
  }
  *out = log;
  return 0;
}

void sf__log_set_commit_limit(sf_log_t *log, uint32_t records) {
  if (records >= 1 && records <= SF__LOG_MAX_COMMIT_RECORDS) log->commit_limit = records;
}

/* ---- Append and commit --------------------------------------------------------------------------- */

int sf_log_append(sf_log_t *log, const void *data, size_t len, uint64_t *lsn, sf_store_error_t *err) {
  if (log == NULL || lsn == NULL || (data == NULL && len > 0))
    return sf__error(err, -EINVAL, NULL, -1, 0, 0, "invalid arguments to sf_log_append");
  if (len > SF__LOG_MAX_RECORD)
    return sf__error(err, -EINVAL, log->dir, -1, 0, 0, "a record of %zu bytes exceeds the limit of %u bytes", len,
                     SF__LOG_MAX_RECORD);
  /* A large payload's CRC is computed here, outside every lock, so that appenders checksum in
   * parallel; the commit folds it into the frame's CRC once the salt is known (sf_crc32c_combine). A
   * small one is checksummed whole at commit, with its header: cheaper than a combine. */
  uint32_t payload_crc = len > SF__LOG_CRC_AT_COMMIT ? sf_crc32c(0, data, len) : 0;
  size_t frame = (size_t)sf__frame_size(len);
  pthread_mutex_lock(&log->append_mu);
  if (log->failed) {
    int failed = log->failed;
    pthread_mutex_unlock(&log->append_mu);
    return sf__error(err, SF_EFAILED, log->dir, -1, 0, 0, "an earlier commit failed (%s); reopen the log to recover",
                     sf_store_error_name(failed));
  }
  if (log->queue_cap - log->queue_len < frame) {
    size_t cap = log->queue_cap ? log->queue_cap : 64 << 10;
    while (cap - log->queue_len < frame) cap *= 2;
    uint8_t *grown = realloc(log->queue, cap);
    if (grown == NULL) {
      pthread_mutex_unlock(&log->append_mu);
      return sf__error(err, -ENOMEM, log->dir, -1, 0, 0, "out of memory queueing a record");
    }
    log->queue = grown;
    log->queue_cap = cap;
  }
  uint8_t *f = log->queue + log->queue_len;
  uint64_t assigned = log->next_lsn++;
  sf__put32(f, payload_crc); /* for a large payload; replaced by the frame's CRC at commit */
  sf__put32(f + 4, (uint32_t)len);
  sf__put64(f + 8, assigned);
  sf__put32(f + 16, 0); /* the salt, set at commit: a commit may roll to a new segment */
  sf__put32(f + 20, 0);
  if (len > 0) memcpy(f + SF__LOG_FRAME_SIZE, data, len);
  memset(f + SF__LOG_FRAME_SIZE + len, 0, frame - SF__LOG_FRAME_SIZE - len);
  log->queue_len += frame;
  pthread_mutex_unlock(&log->append_mu);
  *lsn = assigned;
  return 0;
}

static void sf__publish_durable(sf_log_t *log, uint64_t lsn) {
  pthread_mutex_lock(&log->seg_mu);
  log->durable_lsn = lsn;
  pthread_mutex_unlock(&log->seg_mu);
}

/* Makes segment first_lsn (big enough for a frame of frame_size) the active one. Called by the commit
 * leader, after the old active segment's records are durable. */
static int sf__roll(sf_log_t *log, uint64_t first_lsn, uint64_t frame_size, sf_store_error_t *err) {
  uint64_t size = log->segment_size;
  if (SF__LOG_HEADER_SIZE + frame_size > size) size = SF__LOG_HEADER_SIZE + frame_size;
  /* An active segment with no record in it has the same first LSN as the one we need: the new one
   * replaces it in the rename. */
  int replace = log->active_last < log->active_first;
  int fd;
  uint32_t salt;
  int rc = sf__create_segment(log, first_lsn, size, &fd, &salt, err);
  if (rc < 0) return rc;
  log->io->close(log->io, log->fd);
  log->fd = fd;
  log->active_first = first_lsn;
  log->active_last = first_lsn - 1;
  log->active_size = size;
  log->write_off = SF__LOG_HEADER_SIZE;
  log->active_salt = salt;
  pthread_mutex_lock(&log->seg_mu);
  if (replace) {
    log->segs[log->seg_count - 1].salt = salt;
    if (log->hint_first == first_lsn) log->hint_lsn = 0;
  } else {
    rc = sf__segs_push(log, first_lsn, salt);
  }
  pthread_mutex_unlock(&log->seg_mu);
  if (rc < 0) return sf__error(err, rc, log->dir, -1, first_lsn, 0, "out of memory");
  return 0;
}

/* Writes one contiguous run of frames into the active segment. */
static int sf__write_run(sf_log_t *log, const uint8_t *run, size_t len, uint64_t offset, uint64_t first, uint64_t last,
                         sf_store_error_t *err) {
  if (len == 0) return 0;
  int rc = sf_io_write_all(log->io, log->fd, run, len, (off_t)offset);
  if (rc < 0) {
    char path[SF__PATH];
    sf__segment_path(path, log->dir, log->active_first, "");
    return sf__error(err, rc, path, (int64_t)offset, first, last, "writing records failed (%s)",
                     sf_store_error_name(rc));
  }
  return 0;
}

static int sf__sync_active(sf_log_t *log, uint64_t first, uint64_t last, sf_store_error_t *err) {
  int rc = log->io->fdatasync(log->io, log->fd);
  if (rc < 0) {
    char path[SF__PATH];
    sf__segment_path(path, log->dir, log->active_first, "");
    return sf__error(err, rc, path, -1, first, last, "fdatasync of the log segment failed (%s)",
                     sf_store_error_name(rc));
  }
  sf__publish_durable(log, last);
  return 0;
}

/* Writes a batch of queued frames: one write per segment touched and one fdatasync per segment, rolling
 * to a new segment when the next frame does not fit. Called by the commit leader. */
static int sf__write_batch(sf_log_t *log, uint8_t *batch, size_t len, sf_store_error_t *err) {
  size_t run_start = 0, run_len = 0;
  uint64_t run_off = 0, run_first = 0, last = 0;
  uint64_t commit_first = len >= SF__LOG_FRAME_SIZE ? sf__get64(batch + 8) : 0;
  int rc;
  for (size_t pos = 0; pos < len;) {
    uint8_t *f = batch + pos;
    uint32_t rlen = sf__get32(f + 4);
    uint64_t lsn = sf__get64(f + 8);
    uint64_t size = sf__frame_size(rlen);
    if (log->write_off + size > log->active_size) {
      /* The records already in the active segment become durable before any goes into the next one,
       * so what is on disk is always a prefix of the LSNs. */
      if ((rc = sf__write_run(log, batch + run_start, run_len, run_off, run_first, last, err)) < 0) return rc;
      if (run_len > 0 && (rc = sf__sync_active(log, run_first, last, err)) < 0) return rc;
      run_len = 0;
      if ((rc = sf__roll(log, lsn, size, err)) < 0) return rc;
    }
    if (lsn - commit_first >= log->commit_limit) {
      /* Positions have 24 bits: the records so far become one commit of their own, synced, and the
       * rest of the batch starts the next. */
      if ((rc = sf__write_run(log, batch + run_start, run_len, run_off, run_first, last, err)) < 0) return rc;
      if (run_len > 0 && (rc = sf__sync_active(log, run_first, last, err)) < 0) return rc;
      run_len = 0;
      commit_first = lsn;
    }
    sf__put32(f + 16, log->active_salt);
    /* Each record's position in its commit lets recovery tell a hole in the last commit (a torn tail)
     * from damage to an earlier, acknowledged one (corruption), from any whole frame after the damage. */
    sf__put32(f + 20, (uint32_t)(lsn - commit_first));
    uint32_t crc = rlen > SF__LOG_CRC_AT_COMMIT ? sf_crc32c_combine(sf_crc32c(0, f + 4, 20), sf__get32(f), rlen)
                                                : sf_crc32c(0, f + 4, 20 + rlen);
    sf__put32(f, crc);
    if (run_len == 0) {
      run_start = pos;
      run_off = log->write_off;
      run_first = lsn;
    }
    run_len += (size_t)size;
    log->write_off += size;
    log->active_last = lsn;
    last = lsn;
    pos += (size_t)size;
  }
  if ((rc = sf__write_run(log, batch + run_start, run_len, run_off, run_first, last, err)) < 0) return rc;
  if (run_len > 0 && (rc = sf__sync_active(log, run_first, last, err)) < 0) return rc;
  return 0;
}

/* The leader's part of a commit: swaps the queue out and writes it. Called without commit_mu, by the
 * one thread that set log->writing. */
static int sf__commit_queue(sf_log_t *log, sf_store_error_t *err) {
  pthread_mutex_lock(&log->append_mu);
  uint8_t *batch = log->queue;
  size_t batch_len = log->queue_len, batch_cap = log->queue_cap;
  log->queue = log->spare;
  log->queue_cap = log->spare_cap;
  log->queue_len = 0;
  log->spare = NULL;
  log->spare_cap = 0;
  pthread_mutex_unlock(&log->append_mu);

  int rc = sf__write_batch(log, batch, batch_len, err);
  if (rc < 0 && log->fd >= 0) {
    /* Whatever failed, the active descriptor is never synced again: its dirty pages may already be gone,
     * with the error reported this once. */
    log->io->close(log->io, log->fd);
    log->fd = -1;
  }
  pthread_mutex_lock(&log->append_mu);
  if (rc < 0) log->failed = rc;
  if (log->spare == NULL) {
    log->spare = batch;
    log->spare_cap = batch_cap;
  } else {
    free(batch);
  }
  pthread_mutex_unlock(&log->append_mu);
  return rc;
}

int sf_log_commit(sf_log_t *log, uint64_t *durable_lsn, sf_store_error_t *err) {
  if (log == NULL || durable_lsn == NULL)
    return sf__error(err, -EINVAL, NULL, -1, 0, 0, "invalid arguments to sf_log_commit");
  /* What this commit must make durable: every record appended before it was called. */
  pthread_mutex_lock(&log->append_mu);
  uint64_t target = log->next_lsn - 1;
  pthread_mutex_unlock(&log->append_mu);

  /* Group commit, leader and followers: the first caller to find no write in progress writes the whole
   * queue and syncs; callers that arrive meanwhile wait, and when the write ends they all wake, and
   * those whose records it covered return at once. The next leader then finds everything those
   * returning callers append while it syncs. (With only a mutex the waiters would go one by one, each
   * syncing the single record the previous one appended: one record per fdatasync.) */
  int rc = 0, led = 0;
  uint64_t durable = 0;
  pthread_mutex_lock(&log->commit_mu);
  for (;;) {
    pthread_mutex_lock(&log->append_mu);
    int failed = log->failed;
    pthread_mutex_unlock(&log->append_mu);
    if (failed) {
      rc = sf__error(err, SF_EFAILED, log->dir, -1, 0, 0, "an earlier commit failed (%s); reopen the log to recover",
                     sf_store_error_name(failed));
      break;
    }
    pthread_mutex_lock(&log->seg_mu);
    durable = log->durable_lsn;
    pthread_mutex_unlock(&log->seg_mu);
    if (durable >= target) break;
    if (led) {
      /* Our own write covered everything queued when it began, target included; never loop on a bug. */
      rc = sf__error(err, -EIO, log->dir, -1, durable + 1, target, "commit did not reach its records");
      break;
    }
    if (log->writing) {
      pthread_cond_wait(&log->commit_cv, &log->commit_mu);
      continue;
    }
    log->writing = 1;
    led = 1;
    pthread_mutex_unlock(&log->commit_mu);
    rc = sf__commit_queue(log, err);
    pthread_mutex_lock(&log->commit_mu);
    log->writing = 0;
    pthread_cond_broadcast(&log->commit_cv);
    if (rc < 0) break; /* the leader reports the error itself; the others see SF_EFAILED */
  }
  pthread_mutex_unlock(&log->commit_mu);
  if (rc == 0) *durable_lsn = durable;
  return rc;
}

/* ---- Reading ------------------------------------------------------------------------------------- */

/* A window of one segment file, refilled by pread as the reader moves on. */
typedef struct sf__window_s {
  uint8_t *buf;
  size_t cap;
  uint64_t start; /* file offset of buf[0] */
  size_t len;     /* valid bytes in buf */
} sf__window_t;

/* Makes bytes [offset, offset + need) available; returns a pointer to them, or NULL with *rc set (0 when
 * the file ends first). */
static const uint8_t *sf__window_get(const sf_io_t *io, int fd, sf__window_t *w, uint64_t offset, size_t need,
                                     int *rc) {
  *rc = 0;
  if (offset >= w->start && offset + need <= w->start + w->len) return w->buf + (offset - w->start);
  if (need > w->cap) {
    size_t cap = need > SF__READ_CHUNK ? need : SF__READ_CHUNK;
    uint8_t *grown = realloc(w->buf, cap);
    if (grown == NULL) {
      *rc = -ENOMEM;
      return NULL;
    }
    w->buf = grown;
    w->cap = cap;
  }
  size_t got = 0;
  w->len = 0;
  if ((*rc = sf_io_read_all(io, fd, w->buf, w->cap, (off_t)offset, &got)) < 0) return NULL;
  w->start = offset;
  w->len = got;
  return got >= need ? w->buf : NULL;
}

int sf_log_read(sf_log_t *log, uint64_t from_lsn, size_t max_bytes, sf_log_record_cb cb, void *arg, uint64_t *next_lsn,
                sf_store_error_t *err) {
  if (log == NULL || cb == NULL || next_lsn == NULL)
    return sf__error(err, -EINVAL, NULL, -1, 0, 0, "invalid arguments to sf_log_read");
  const sf_io_t *io = log->io;
  pthread_mutex_lock(&log->seg_mu);
  uint64_t limit = log->durable_lsn;
  /* Records before the first segment were truncated away: reading starts at the first one present. */
  uint64_t lsn = from_lsn < log->segs[0].first_lsn ? log->segs[0].first_lsn : from_lsn;
  pthread_mutex_unlock(&log->seg_mu);

  sf__window_t w = {0};
  size_t delivered = 0;
  int rc = 0, stop = 0;
  while (!stop && lsn <= limit) {
    pthread_mutex_lock(&log->seg_mu);
    size_t idx = sf__segs_find(log, lsn);
    uint64_t seg_first = log->segs[idx].first_lsn;
    uint32_t salt = log->segs[idx].salt;
    uint64_t next_first = idx + 1 < log->seg_count ? log->segs[idx + 1].first_lsn : UINT64_MAX;
    uint64_t offset = SF__LOG_HEADER_SIZE, expected = seg_first;
    if (log->hint_lsn == lsn && log->hint_first == seg_first) {
      offset = log->hint_offset;
      expected = lsn;
    }
    pthread_mutex_unlock(&log->seg_mu);

    char path[SF__PATH];
    sf__segment_path(path, log->dir, seg_first, "");
    int fd = io->open(io, path, O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0) {
      rc = sf__error(err, fd, path, -1, lsn, limit, "cannot open log segment (%s)", sf_store_error_name(fd));
      break;
    }
    w.start = w.len = 0;
    while (expected <= limit && expected < next_first) {
      const uint8_t *f = sf__window_get(io, fd, &w, offset, SF__LOG_FRAME_SIZE, &rc);
      const char *problem = NULL;
      if (f == NULL) {
        problem = "segment ends before the record";
      } else {
        uint32_t rlen = sf__get32(f + 4);
        uint64_t size = sf__frame_size(rlen);
        if (rlen > SF__LOG_MAX_RECORD) {
          problem = "record length out of bounds";
        } else if ((f = sf__window_get(io, fd, &w, offset, (size_t)size, &rc)) == NULL) {
          problem = "segment ends inside the record";
        } else if (sf__get32(f) != sf_crc32c(0, f + 4, 20 + (size_t)rlen)) {
          problem = "record CRC mismatch";
        } else if (sf__get32(f + 16) != salt) {
          problem = "record salt does not match the segment";
        } else if (sf__get64(f + 8) != expected) {
          problem = "record has another LSN";
        } else {
          if (expected >= lsn) {
            sf_log_record_t record = {expected, f + SF__LOG_FRAME_SIZE, rlen};
            lsn = expected + 1;
            delivered += rlen;
            int cb_rc = cb(&record, arg);
            if (cb_rc != 0) {
              rc = cb_rc;
              stop = 1;
            } else if (max_bytes > 0 && delivered >= max_bytes) {
              stop = 1;
            }
          }
          offset += size;
          expected++;
          if (stop) break;
          continue;
        }
      }
      if (rc == 0)
        rc = sf__error(err, SF_ECORRUPT, path, (int64_t)offset, expected, expected, "%s (LSN %" PRIu64 ")", problem,
                       expected);
      else
        rc = sf__error(err, rc, path, (int64_t)offset, expected, expected, "reading the log failed (%s)",
                       sf_store_error_name(rc));
      break;
    }
    io->close(io, fd);
    if (rc < 0) break;
    pthread_mutex_lock(&log->seg_mu);
    log->hint_lsn = expected;
    log->hint_first = seg_first;
    log->hint_offset = offset;
    pthread_mutex_unlock(&log->seg_mu);
  }
  free(w.buf);
  *next_lsn = lsn;
  return rc;
}

/* ---- Truncation ---------------------------------------------------------------------------------- */

int sf_log_truncate_before(sf_log_t *log, uint64_t lsn, uint64_t *removed, sf_store_error_t *err) {
  if (log == NULL || removed == NULL)
    return sf__error(err, -EINVAL, NULL, -1, 0, 0, "invalid arguments to sf_log_truncate_before");
  *removed = 0;
  int rc = 0;
  for (;;) {
    /* A segment's records all lie below the next segment's first LSN; the last segment is never
     * removed, so the log always knows its next LSN. Oldest first, so a crash leaves no hole. */
    pthread_mutex_lock(&log->seg_mu);
    int more = log->seg_count >= 2 && log->segs[1].first_lsn <= lsn;
    uint64_t victim = log->segs[0].first_lsn;
    pthread_mutex_unlock(&log->seg_mu);
    if (!more) break;
    char path[SF__PATH];
    sf__segment_path(path, log->dir, victim, "");
    rc = log->io->unlink(log->io, path);
    if (rc < 0 && rc != -ENOENT) {
      rc = sf__error(err, rc, path, -1, victim, 0, "cannot remove log segment (%s)", sf_store_error_name(rc));
      break;
    }
    rc = 0;
    pthread_mutex_lock(&log->seg_mu);
    memmove(log->segs, log->segs + 1, (log->seg_count - 1) * sizeof *log->segs);
    log->seg_count--;
    pthread_mutex_unlock(&log->seg_mu);
    (*removed)++;
  }
  if (*removed > 0) {
    int sync_rc = sf_io_fsync_dir(log->io, log->dir);
    if (sync_rc < 0 && rc == 0)
      rc = sf__error(err, sync_rc, log->dir, -1, 0, 0, "cannot fsync the log directory (%s)",
                     sf_store_error_name(sync_rc));
  }
  return rc;
}

/* ---- Inspection ---------------------------------------------------------------------------------- */

int sf_log_inspect(const char *dir, const sf_io_t *io, sf_log_segment_t **segments, size_t *count,
                   sf_store_error_t *err) {
  sf__error_clear(err);
  if (dir == NULL || segments == NULL || count == NULL)
    return sf__error(err, -EINVAL, NULL, -1, 0, 0, "invalid arguments to sf_log_inspect");
  *segments = NULL;
  *count = 0;
  if (strlen(dir) + SF__NAME_ROOM >= SF__PATH)
    return sf__error(err, -ENAMETOOLONG, dir, -1, 0, 0, "log directory path is too long");
  if (io == NULL) io = sf_io_default();
  sf__names_t names = {0};
  sf__found_t *found = NULL;
  size_t n = 0;
  int rc = sf__scan_dir(io, dir, 0, &names, &found, &n, err);
  sf__names_free(&names);
  if (rc < 0) return rc;
  sf_log_segment_t *out = calloc(n ? n : 1, sizeof *out);
  if (out == NULL) {
    free(found);
    return sf__error(err, -ENOMEM, dir, -1, 0, 0, "out of memory");
  }
  uint64_t prev_last = 0;
  int prev_ok = 0;
  for (size_t i = 0; i < n; i++) {
    const sf__log_scan_t *s = &found[i].scan;
    sf_log_segment_t *seg = &out[i];
    sf__segment_path(seg->path, dir, found[i].name_lsn, "");
    seg->size = found[i].size;
    seg->salt = s->salt;
    seg->status = s->status;
    seg->problem_offset = -1;
    sf__fmt(seg->problem, sizeof seg->problem, "%s", s->problem);
    if (s->status != 0) {
      seg->first_lsn = found[i].name_lsn;
      seg->last_lsn = seg->first_lsn > 0 ? seg->first_lsn - 1 : 0;
      seg->problem_offset = 0;
      prev_ok = 0;
      continue;
    }
    seg->first_lsn = s->first_lsn;
    seg->last_lsn = s->last_lsn;
    seg->records = s->records;
    seg->data_end = s->data_end;
    if (s->end != SF__LOG_END_CLEAN) seg->problem_offset = (int64_t)s->data_end;
    /* The same rules as recovery: damage followed by valid records anywhere, or a damaged end in a
     * segment that is not the last, is corruption; a torn tail of the last segment is not. */
    if (s->end == SF__LOG_END_CORRUPT) {
      seg->status = SF_ECORRUPT;
    } else if (s->end == SF__LOG_END_TORN && i + 1 < n) {
      seg->status = SF_ECORRUPT;
      sf__fmt(seg->problem, sizeof seg->problem, "%s, but in a segment that is not the last", s->problem);
    }
    if (prev_ok && s->first_lsn != prev_last + 1 && seg->status == 0) {
      seg->status = SF_ECORRUPT;
      seg->problem_offset = 0;
      if (s->first_lsn > prev_last + 1)
        sf__fmt(seg->problem, sizeof seg->problem,
                "records %" PRIu64 "..%" PRIu64 " are missing before this segment (missing segment)", prev_last + 1,
                s->first_lsn - 1);
      else
        sf__fmt(seg->problem, sizeof seg->problem,
                "segment starts at LSN %" PRIu64 " but the previous one ends at LSN %" PRIu64 " (reordered segment)",
                s->first_lsn, prev_last);
    }
    prev_last = s->last_lsn;
    prev_ok = 1;
  }
  free(found);
  *segments = out;
  *count = n;
  return 0;
}
