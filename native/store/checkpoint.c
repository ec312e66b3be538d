/* checkpoint.c: the checkpoint store of steadfast/store.h. It owns the checkpoint file format
 * (docs/format.md, "Checkpoint files") and its parser, the lock and leftover-file clean-up at open,
 * atomic mirrored saves with pruning of old generations, loading with chunk-wise piecing and repair of
 * the mirrors, and listing. Every system call goes through the store's sf_io_t table, so tests can fail
 * any of them; the only direct calls are getpid() and clock_gettime().
 *
 * Durability rules followed throughout (docs/format.md explains each step):
 *   - a file becomes visible under its final name only after its bytes are durable (temp file,
 *     fallocate, write, fdatasync, rename, fsync of the directory);
 *   - after a failed write or sync on a descriptor that descriptor is never synced again: it is closed,
 *     its temporary file unlinked, and the next attempt starts from a new file ("fsyncgate");
 *   - nothing that is not a valid checkpoint is ever deleted: invalid files are renamed aside. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "steadfast/crc.h"
#include "steadfast/store.h"
#include "bytes.h"

#define SF__HEADER_SIZE 64u
#define SF__TRAILER_SIZE 32u
#define SF__VERSION_MAJOR 1u
#define SF__VERSION_MINOR 0u
#define SF__MIN_CHUNK 4096u
#define SF__MAX_CHUNK (16u << 20)
#define SF__DEFAULT_CHUNK (64u << 10)
#define SF__DEFAULT_KEEP 2u
/* The largest file the store reads or writes. Every length in a file is bounded by the file's size,
 * and the size by this, so a damaged length can never make us allocate or read past what exists. */
#define SF__MAX_FILE ((uint64_t)1 << 40)
#define SF__MAX_ASIDE 10000

static const uint8_t sf__magic[8] = {'S', 'F', 'C', 'K', 'P', 'T', '\r', '\n'};
static const uint8_t sf__end_magic[8] = {'S', 'F', 'C', 'K', 'E', 'N', 'D', '\n'};

/* ---- Errors -------------------------------------------------------------------------------------- */

/* Fills *err (when given) and returns code, so a failure is one statement: return sf__fail(...). */
__attribute__((format(printf, 5, 6))) static int sf__fail(sf_store_error_t *err, int code, const char *path,
                                                          int64_t offset, const char *fmt, ...) {
  if (err == NULL) return code;
  memset(err, 0, sizeof *err);
  err->code = code;
  err->offset = offset;
  snprintf(err->path, sizeof err->path, "%s", path ? path : "");
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err->message, sizeof err->message, fmt, ap);
  va_end(ap);
  return code;
}

static int sf__path(char *out, size_t cap, const char *dir, const char *name) {
  int n = snprintf(out, cap, "%s/%s", dir, name);
  return (n < 0 || (size_t)n >= cap) ? -ENAMETOOLONG : 0;
}

/* ---- Parsing ------------------------------------------------------------------------------------- */

/* Where the parts of a file are, once its header, chunk table and trailer check out. */
typedef struct sf__frame_s {
  uint64_t generation, payload_len, created_ns, lsn;
  uint32_t chunk_size, chunk_count;
  size_t table_off, payload_off, trailer_off;
} sf__frame_t;

/* Records what is wrong in *info and returns the status. */
__attribute__((format(printf, 4, 5))) static int sf__bad(sf_ckpt_file_t *info, int status, int64_t offset,
                                                         const char *fmt, ...) {
  info->status = status;
  info->bad_offset = offset;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(info->problem, sizeof info->problem, fmt, ap);
  va_end(ap);
  return status;
}

static uint32_t sf__chunk_crc(const uint8_t *b, const sf__frame_t *f, uint32_t i) {
  uint64_t start = (uint64_t)i * f->chunk_size;
  uint64_t n = f->payload_len - start < f->chunk_size ? f->payload_len - start : f->chunk_size;
  return sf_crc32c(0, b + f->payload_off + start, (size_t)n);
}

static int sf__chunk_ok(const uint8_t *b, const sf__frame_t *f, uint32_t i) {
  return sf__chunk_crc(b, f, i) == sf__get32(b + f->table_off + 4 * (size_t)i);
}

/* Checks the header, the chunk table and the trailer of a file image, in the order docs/format.md
 * gives, filling *f and the fields of *info (all but path). Returns 0 when the frame is sound (the
 * chunks are then still unchecked) or the status it recorded in *info. */
static int sf__check_frame(const uint8_t *b, size_t len, sf__frame_t *f, sf_ckpt_file_t *info) {
  info->size = len;
  if (len < SF__HEADER_SIZE) return sf__bad(info, SF_EFORMAT, (int64_t)len, "too short (%zu bytes)", len);
  for (int i = 0; i < 8; i++)
    if (b[i] != sf__magic[i]) return sf__bad(info, SF_EFORMAT, i, "wrong magic (not a steadfast checkpoint)");
  info->version_major = sf__get16(b + 8);
  info->version_minor = sf__get16(b + 10);
  uint32_t stored_crc = sf__get32(b + 60);
  if (info->version_major > SF__VERSION_MAJOR) {
    /* A newer major version may lay its header out differently, so it is refused before its CRC is
     * checked. One case is told apart: a version-1 header whose major field alone was damaged still
     * matches its CRC once the field is put back to 1, which a real newer header does only by a
     * 1-in-2^32 accident. */
    uint8_t h[60];
    memcpy(h, b, 60);
    sf__put16(h + 8, SF__VERSION_MAJOR);
    if (sf_crc32c(0, h, 60) == stored_crc)
      return sf__bad(info, SF_ECORRUPT, 8, "version field damaged (header CRC matches version 1)");
    return sf__bad(info, SF_EVERSION, 8, "written by format version %u.%u; this build reads version %u",
                   info->version_major, info->version_minor, SF__VERSION_MAJOR);
  }
  if (sf_crc32c(0, b, 60) != stored_crc) return sf__bad(info, SF_ECORRUPT, 0, "header CRC mismatch");
  if (info->version_major == 0) return sf__bad(info, SF_EFORMAT, 8, "version 0 is not a format version");

  /* From here the header is what its writer wrote; its lengths still have to fit this file. */
  uint32_t header_size = sf__get32(b + 12);
  f->generation = sf__get64(b + 16);
  f->payload_len = sf__get64(b + 24);
  f->chunk_size = sf__get32(b + 32);
  f->chunk_count = sf__get32(b + 36);
  f->created_ns = sf__get64(b + 40);
  f->lsn = sf__get64(b + 48);
  info->generation = f->generation;
  info->payload_len = f->payload_len;
  info->created_ns = f->created_ns;
  info->lsn = f->lsn;
  info->chunk_size = f->chunk_size;
  if (header_size != SF__HEADER_SIZE)
    return sf__bad(info, SF_ECORRUPT, 12, "header size %" PRIu32 ", expected 64", header_size);
  if (f->generation == 0) return sf__bad(info, SF_ECORRUPT, 16, "generation 0");
  if (f->chunk_size < SF__MIN_CHUNK || f->chunk_size > SF__MAX_CHUNK || (f->chunk_size & (f->chunk_size - 1)))
    return sf__bad(info, SF_ECORRUPT, 32, "chunk size %" PRIu32 " is not a power of two in 4 KiB..16 MiB",
                   f->chunk_size);
  uint64_t want_chunks = f->payload_len / f->chunk_size + (f->payload_len % f->chunk_size != 0);
  if (want_chunks != f->chunk_count)
    return sf__bad(info, SF_ECORRUPT, 36, "chunk count %" PRIu32 " does not match payload length %" PRIu64,
                   f->chunk_count, f->payload_len);
  /* payload_len is bounded by the file size before any sum is formed, so nothing below overflows. */
  if (f->payload_len > len)
    return sf__bad(info, SF_ECORRUPT, (int64_t)len, "payload length %" PRIu64 " exceeds the file size %zu",
                   f->payload_len, len);
  uint64_t want_size = SF__HEADER_SIZE + 4 * (uint64_t)f->chunk_count + f->payload_len + SF__TRAILER_SIZE;
  if (want_size != len)
    return sf__bad(info, SF_ECORRUPT, (int64_t)(want_size < len ? want_size : len),
                   "file is %zu bytes but its header describes %" PRIu64, len, want_size);
  f->table_off = SF__HEADER_SIZE;
  f->payload_off = f->table_off + 4 * (size_t)f->chunk_count;
  f->trailer_off = f->payload_off + (size_t)f->payload_len;

  const uint8_t *t = b + f->trailer_off;
  int64_t toff = (int64_t)f->trailer_off;
  if (sf_crc32c(0, t, 28) != sf__get32(t + 28)) return sf__bad(info, SF_ECORRUPT, toff, "trailer CRC mismatch");
  if (memcmp(t, sf__end_magic, 8) != 0) return sf__bad(info, SF_ECORRUPT, toff, "wrong trailer magic");
  if (sf__get64(t + 8) != f->generation)
    return sf__bad(info, SF_ECORRUPT, toff + 8, "trailer generation %" PRIu64 " differs from the header",
                   sf__get64(t + 8));
  if (sf__get64(t + 16) != f->payload_len)
    return sf__bad(info, SF_ECORRUPT, toff + 16, "trailer payload length %" PRIu64 " differs from the header",
                   sf__get64(t + 16));
  if (sf_crc32c(0, b + f->table_off, 4 * (size_t)f->chunk_count) != sf__get32(t + 24))
    return sf__bad(info, SF_ECORRUPT, (int64_t)f->table_off, "chunk table CRC mismatch");
  return 0;
}

/* The whole check: frame, then every chunk. *frame_ok tells the caller whether the frame alone was
 * sound, which is what piecing a payload from several copies needs. */
static int sf__check(const uint8_t *b, size_t len, sf__frame_t *f, sf_ckpt_file_t *info, int *frame_ok) {
  info->status = 0;
  info->problem[0] = '\0';
  info->bad_offset = -1;
  *frame_ok = 0;
  int rc = sf__check_frame(b, len, f, info);
  if (rc != 0) return rc;
  *frame_ok = 1;
  uint32_t bad = 0, first_bad = 0;
  for (uint32_t i = 0; i < f->chunk_count; i++) {
    if (sf__chunk_ok(b, f, i)) continue;
    if (bad++ == 0) first_bad = i;
  }
  if (bad == 0) return 0;
  int64_t off = (int64_t)(f->payload_off + (uint64_t)first_bad * f->chunk_size);
  if (bad == 1) return sf__bad(info, SF_ECORRUPT, off, "chunk %" PRIu32 " CRC mismatch", first_bad);
  return sf__bad(info, SF_ECORRUPT, off, "chunk %" PRIu32 " CRC mismatch (%" PRIu32 " of %" PRIu32 " chunks bad)",
                 first_bad, bad, f->chunk_count);
}

int sf_ckpt_parse(const void *bytes, size_t len, sf_ckpt_file_t *info) {
  sf_ckpt_file_t scratch;
  sf__frame_t f;
  int frame_ok;
  if (info == NULL) info = &scratch;
  memset(info, 0, sizeof *info);
  info->bad_offset = -1;
  if (bytes == NULL && len > 0) return sf__bad(info, -EINVAL, -1, "no bytes given");
  static const uint8_t none[1];
  return sf__check(bytes ? bytes : none, len, &f, info, &frame_ok);
}

/* ---- File names ---------------------------------------------------------------------------------- */

enum { SF__OTHER, SF__CKPT, SF__TEMP, SF__ASIDE };

static int sf__hex16(const char *s, uint64_t *out) {
  uint64_t v = 0;
  for (int i = 0; i < 16; i++) {
    char c = s[i];
    if (c >= '0' && c <= '9')
      v = v << 4 | (uint64_t)(c - '0');
    else if (c >= 'a' && c <= 'f')
      v = v << 4 | (uint64_t)(c - 'a' + 10);
    else
      return 0;
  }
  *out = v;
  return 1;
}

/* Which of the store's names this is: ckpt-<16 hex>.sfc, its moved-aside forms .corrupt and
 * .corrupt-<N>, or a temporary .ckpt-*.sfc.tmp. */
static int sf__name_kind(const char *name, uint64_t *generation) {
  size_t n = strlen(name);
  *generation = 0;
  if (n >= 25 && memcmp(name, "ckpt-", 5) == 0 && sf__hex16(name + 5, generation) &&
      memcmp(name + 21, ".sfc", 4) == 0) {
    const char *rest = name + 25;
    if (*rest == '\0') return SF__CKPT;
    if (strncmp(rest, ".corrupt", 8) != 0) return SF__OTHER;
    rest += 8;
    if (*rest == '\0') return SF__ASIDE;
    if (*rest++ != '-' || *rest == '\0') return SF__OTHER;
    for (; *rest; rest++)
      if (*rest < '0' || *rest > '9') return SF__OTHER;
    return SF__ASIDE;
  }
  if (n >= 14 && memcmp(name, ".ckpt-", 6) == 0 && strcmp(name + n - 8, ".sfc.tmp") == 0) {
    if (n == 30 && !sf__hex16(name + 6, generation)) *generation = 0;
    return SF__TEMP;
  }
  return SF__OTHER;
}

typedef struct sf__entry_s {
  char *name;
  int kind;
  uint64_t generation;
} sf__entry_t;

typedef struct sf__listing_s {
  sf__entry_t *v;
  size_t n, cap;
} sf__listing_t;

static void sf__listing_free(sf__listing_t *l) {
  for (size_t i = 0; i < l->n; i++) free(l->v[i].name);
  free(l->v);
  memset(l, 0, sizeof *l);
}

static int sf__listing_add(sf__listing_t *l, const char *name) {
  if (l->n == l->cap) {
    size_t cap = l->cap ? 2 * l->cap : 16;
    sf__entry_t *v = realloc(l->v, cap * sizeof *v);
    if (v == NULL) return -ENOMEM;
    l->v = v, l->cap = cap;
  }
  sf__entry_t *e = &l->v[l->n];
  e->name = strdup(name);
  if (e->name == NULL) return -ENOMEM;
  e->kind = sf__name_kind(name, &e->generation);
  l->n++;
  return 0;
}

static int sf__listing_cb(const char *name, void *arg) {
  uint64_t g;
  if (sf__name_kind(name, &g) == SF__OTHER) return 0;
  return sf__listing_add(arg, name);
}

static int sf__list_dir(const sf_io_t *io, const char *dir, sf__listing_t *l, sf_store_error_t *err) {
  memset(l, 0, sizeof *l);
  int rc = io->list(io, dir, sf__listing_cb, l);
  if (rc == 0) return 0;
  sf__listing_free(l);
  return sf__fail(err, rc, dir, -1, "cannot list the directory (%s)", sf_store_error_name(rc));
}

static const sf__entry_t *sf__find(const sf__listing_t *l, int kind, uint64_t generation) {
  for (size_t i = 0; i < l->n; i++)
    if (l->v[i].kind == kind && l->v[i].generation == generation) return &l->v[i];
  return NULL;
}

static int sf__has_name(const sf__listing_t *l, const char *name) {
  for (size_t i = 0; i < l->n; i++)
    if (strcmp(l->v[i].name, name) == 0) return 1;
  return 0;
}

static int sf__cmp_desc(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? 1 : x > y ? -1 : 0;
}

/* The distinct generations of checkpoint files over all listings, newest first. */
static int sf__generations(const sf__listing_t *lists, size_t n, uint64_t **out, size_t *count) {
  size_t total = 0, k = 0;
  for (size_t d = 0; d < n; d++) total += lists[d].n;
  uint64_t *g = malloc((total ? total : 1) * sizeof *g);
  if (g == NULL) return -ENOMEM;
  for (size_t d = 0; d < n; d++)
    for (size_t i = 0; i < lists[d].n; i++)
      if (lists[d].v[i].kind == SF__CKPT) g[k++] = lists[d].v[i].generation;
  qsort(g, k, sizeof *g, sf__cmp_desc);
  size_t u = 0;
  for (size_t i = 0; i < k; i++)
    if (u == 0 || g[u - 1] != g[i]) g[u++] = g[i];
  *out = g;
  *count = u;
  return 0;
}

/* ---- Reading one copy ---------------------------------------------------------------------------- */

/* One file of one generation in one directory, read and judged. */
typedef struct sf__copy_s {
  size_t dir;
  int present;
  int read_error; /* -errno when the file could not be read: then it is neither trusted nor judged */
  int frame_ok;
  uint8_t *bytes;
  size_t len;
  uint64_t dev, ino;
  sf__frame_t frame;
  sf_ckpt_file_t info; /* path, status, problem, bad_offset */
} sf__copy_t;

/* Reads path into memory (a buffer of exactly the size fstat reports) and checks it completely,
 * including that the header's generation is the one in the file name. */
static void sf__copy_read(const sf_io_t *io, const char *path, uint64_t name_generation, sf__copy_t *c) {
  sf_ckpt_file_t *info = &c->info;
  memset(info, 0, sizeof *info);
  snprintf(info->path, sizeof info->path, "%s", path);
  info->bad_offset = -1;
  c->present = 1;
  int fd = io->open(io, path, O_RDONLY | O_CLOEXEC, 0);
  if (fd < 0) {
    c->read_error = fd;
    sf__bad(info, fd, -1, "cannot open (%s)", sf_store_error_name(fd));
    goto name;
  }
  struct stat st;
  int rc = io->fstat(io, fd, &st);
  if (rc < 0) {
    c->read_error = rc;
    sf__bad(info, rc, -1, "cannot stat (%s)", sf_store_error_name(rc));
    goto close;
  }
  c->dev = (uint64_t)st.st_dev, c->ino = (uint64_t)st.st_ino;
  info->size = st.st_size > 0 ? (uint64_t)st.st_size : 0;
  if (!S_ISREG(st.st_mode)) {
    sf__bad(info, SF_EFORMAT, -1, "not a regular file");
    goto close;
  }
  if (info->size > SF__MAX_FILE) {
    sf__bad(info, SF_ECORRUPT, -1, "larger than the 2^40-byte limit (%" PRIu64 " bytes)", info->size);
    goto close;
  }
  c->bytes = malloc(info->size ? (size_t)info->size : 1);
  if (c->bytes == NULL) {
    c->read_error = -ENOMEM;
    sf__bad(info, -ENOMEM, -1, "no memory for %" PRIu64 " bytes", info->size);
    goto close;
  }
  size_t got = 0;
  rc = sf_io_read_all(io, fd, c->bytes, (size_t)info->size, 0, &got);
  if (rc < 0) {
    c->read_error = rc;
    free(c->bytes), c->bytes = NULL;
    sf__bad(info, rc, -1, "read failed (%s)", sf_store_error_name(rc));
    goto close;
  }
  /* A file that shrank while we read it is judged by the bytes that were there. */
  c->len = got;
  sf__check(c->bytes, c->len, &c->frame, info, &c->frame_ok);
  if (c->frame_ok && c->frame.generation != name_generation) {
    c->frame_ok = 0;
    sf__bad(info, SF_ECORRUPT, 16, "header generation %" PRIu64 " does not match the file name", c->frame.generation);
  }
close:
  io->close(io, fd);
name:
  info->generation = name_generation;
}

static void sf__copy_release(sf__copy_t *c) {
  free(c->bytes);
  memset(c, 0, sizeof *c);
}

/* ---- The store ----------------------------------------------------------------------------------- */

/* A copy this handle wrote or verified completely, recognised again by its size and inode. Pruning
 * must know which generations are valid and must never delete a file that is not; remembering what
 * we already verified spares re-reading whole files on every save. */
typedef struct sf__known_s {
  size_t dir;
  uint64_t generation, size, dev, ino;
} sf__known_t;

struct sf_ckpt_s {
  const sf_io_t *io;
  size_t dir_count;
  char *dirs[SF_CKPT_MAX_DIRS];
  int lock_fds[SF_CKPT_MAX_DIRS];
  uint32_t keep, chunk_size;
  uint64_t highest; /* highest generation seen in any file name: the next save uses highest + 1 */
  sf__known_t *known;
  size_t known_count, known_cap;
  uint64_t last_crc_ns; /* time the last save spent computing CRCs (sf_ckpt_last_save_crc_ns) */
};

static void sf__known_forget(sf_ckpt_t *s, size_t dir, uint64_t generation) {
  for (size_t i = 0; i < s->known_count; i++)
    if (s->known[i].dir == dir && s->known[i].generation == generation) s->known[i--] = s->known[--s->known_count];
}

static void sf__known_add(sf_ckpt_t *s, size_t dir, uint64_t generation, uint64_t size, uint64_t dev, uint64_t ino) {
  sf__known_forget(s, dir, generation);
  if (s->known_count == s->known_cap) {
    size_t cap = s->known_cap ? 2 * s->known_cap : 16;
    sf__known_t *k = realloc(s->known, cap * sizeof *k);
    if (k == NULL) return; /* only a cache: the copy will be verified by reading it */
    s->known = k, s->known_cap = cap;
  }
  s->known[s->known_count++] = (sf__known_t){dir, generation, size, dev, ino};
}

/* Scans every directory's names and raises s->highest to the highest generation named there,
 * checkpoint, moved-aside and temporary files alike, so no generation number is ever used twice. */
static int sf__scan(sf_ckpt_t *s, sf__listing_t *lists, sf_store_error_t *err) {
  for (size_t d = 0; d < s->dir_count; d++) {
    int rc = sf__list_dir(s->io, s->dirs[d], &lists[d], err);
    if (rc < 0) {
      while (d-- > 0) sf__listing_free(&lists[d]);
      return rc;
    }
    for (size_t i = 0; i < lists[d].n; i++)
      if (lists[d].v[i].generation > s->highest) s->highest = lists[d].v[i].generation;
  }
  return 0;
}

static void sf__lists_free(sf__listing_t *lists, size_t n) {
  for (size_t d = 0; d < n; d++) sf__listing_free(&lists[d]);
}

static void sf__unlock_all(sf_ckpt_t *s) {
  for (size_t d = 0; d < s->dir_count; d++)
    if (s->lock_fds[d] >= 0) s->io->close(s->io, s->lock_fds[d]), s->lock_fds[d] = -1;
}

void sf_ckpt_close(sf_ckpt_t *s) {
  if (s == NULL) return;
  sf__unlock_all(s); /* closing the descriptor releases the flock */
  for (size_t d = 0; d < s->dir_count; d++) free(s->dirs[d]);
  free(s->known);
  free(s);
}

/* Reports who holds a lock we could not take: the pid the holder wrote into LOCK, if it did yet. */
static int sf__locked(const sf_io_t *io, int fd, const char *path, sf_store_error_t *err) {
  char text[32];
  size_t got = 0;
  int64_t pid = 0;
  if (sf_io_read_all(io, fd, text, sizeof text - 1, 0, &got) == 0)
    for (size_t i = 0; i < got && text[i] >= '0' && text[i] <= '9' && pid < INT64_MAX / 10 - 9; i++)
      pid = pid * 10 + (text[i] - '0');
  int rc;
  if (pid == 0)
    rc = sf__fail(err, SF_ELOCKED, path, -1, "the store is locked by another process (its pid is not recorded)");
  else if (pid == (int64_t)getpid())
    rc = sf__fail(err, SF_ELOCKED, path, -1, "the store is locked by this process (pid %" PRId64 "), by another handle",
                  pid);
  else
    rc = sf__fail(err, SF_ELOCKED, path, -1, "the store is locked by process %" PRId64, pid);
  if (err) err->pid = pid;
  return rc;
}

/* Checks dir, takes its lock and records our pid in it. */
static int sf__lock_dir(sf_ckpt_t *s, size_t d, uint64_t *devs, uint64_t *inos, sf_store_error_t *err) {
  const sf_io_t *io = s->io;
  const char *dir = s->dirs[d];
  int fd = io->open(io, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
  if (fd == -ENOENT) return sf__fail(err, fd, dir, -1, "the checkpoint directory does not exist");
  if (fd == -ENOTDIR) return sf__fail(err, fd, dir, -1, "the checkpoint directory is not a directory");
  if (fd < 0) return sf__fail(err, fd, dir, -1, "cannot open the checkpoint directory (%s)", sf_store_error_name(fd));
  io->close(io, fd);

  char path[4096];
  if (sf__path(path, sizeof path, dir, "LOCK") < 0) return sf__fail(err, -ENAMETOOLONG, dir, -1, "path too long");
  fd = io->open(io, path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd == -EACCES || fd == -EROFS || fd == -EPERM)
    return sf__fail(err, fd, dir, -1, "the checkpoint directory is not writable (cannot open LOCK: %s)",
                    sf_store_error_name(fd));
  if (fd < 0) return sf__fail(err, fd, path, -1, "cannot open the lock file (%s)", sf_store_error_name(fd));
  struct stat st;
  int rc = io->fstat(io, fd, &st);
  if (rc == 0 && !S_ISREG(st.st_mode)) rc = -EISDIR;
  if (rc < 0) {
    io->close(io, fd);
    return sf__fail(err, rc, path, -1, "the lock file is unusable (%s)", sf_store_error_name(rc));
  }
  devs[d] = (uint64_t)st.st_dev, inos[d] = (uint64_t)st.st_ino;
  /* The same directory twice (under two spellings) would pass as two mirrors and hold one copy; it is
   * told apart before flock, which would otherwise report our own lock as someone else's. */
  for (size_t e = 0; e < d; e++)
    if (devs[e] == devs[d] && inos[e] == inos[d]) {
      io->close(io, fd);
      return sf__fail(err, -EINVAL, dir, -1, "the same directory is given twice (as %s too)", s->dirs[e]);
    }
  rc = io->flock(io, fd, LOCK_EX | LOCK_NB);
  if (rc == -EWOULDBLOCK) {
    rc = sf__locked(io, fd, path, err);
    io->close(io, fd);
    return rc;
  }
  if (rc < 0) {
    io->close(io, fd);
    return sf__fail(err, rc, path, -1, "cannot lock (%s)", sf_store_error_name(rc));
  }
  s->lock_fds[d] = fd;
  /* The pid is for the message a second opener prints; it need not survive a crash, so no sync. */
  char text[32];
  int n = snprintf(text, sizeof text, "%ld\n", (long)getpid());
  rc = io->ftruncate(io, fd, 0);
  if (rc == 0) rc = sf_io_write_all(io, fd, text, (size_t)n, 0);
  if (rc < 0)
    return sf__fail(err, rc, path, -1, "cannot record our pid in the lock file (%s)", sf_store_error_name(rc));
  return 0;
}

/* Removes the temporary files a crashed or failed save left behind. They were never renamed, so no
 * generation depends on them. */
static int sf__remove_temps(sf_ckpt_t *s, size_t d, sf_store_error_t *err) {
  sf__listing_t l;
  int rc = sf__list_dir(s->io, s->dirs[d], &l, err);
  if (rc < 0) return rc;
  int removed = 0;
  char path[4096];
  for (size_t i = 0; i < l.n && rc == 0; i++) {
    if (l.v[i].kind != SF__TEMP) continue;
    if (l.v[i].generation > s->highest) s->highest = l.v[i].generation;
    rc = sf__path(path, sizeof path, s->dirs[d], l.v[i].name);
    if (rc == 0) rc = s->io->unlink(s->io, path);
    if (rc < 0)
      rc = sf__fail(err, rc, path, -1, "cannot remove a leftover temporary file (%s)", sf_store_error_name(rc));
    removed++;
  }
  sf__listing_free(&l);
  if (rc == 0 && removed) {
    rc = sf_io_fsync_dir(s->io, s->dirs[d]);
    if (rc < 0) rc = sf__fail(err, rc, s->dirs[d], -1, "fsync of the directory failed (%s)", sf_store_error_name(rc));
  }
  return rc;
}

int sf_ckpt_open(const sf_ckpt_options_t *o, sf_ckpt_t **out, sf_store_error_t *err) {
  if (out) *out = NULL;
  if (o == NULL || out == NULL || o->dirs == NULL) return sf__fail(err, -EINVAL, NULL, -1, "no options given");
  if (o->dir_count < 1 || o->dir_count > SF_CKPT_MAX_DIRS)
    return sf__fail(err, -EINVAL, NULL, -1, "between 1 and %d directories are needed, not %zu", SF_CKPT_MAX_DIRS,
                    o->dir_count);
  uint32_t cs = o->chunk_size ? o->chunk_size : SF__DEFAULT_CHUNK;
  if (cs < SF__MIN_CHUNK || cs > SF__MAX_CHUNK || (cs & (cs - 1)))
    return sf__fail(err, -EINVAL, NULL, -1, "chunk size %" PRIu32 " is not a power of two in 4 KiB..16 MiB", cs);
  for (size_t d = 0; d < o->dir_count; d++)
    if (o->dirs[d] == NULL || o->dirs[d][0] == '\0')
      return sf__fail(err, -EINVAL, NULL, -1, "directory %zu is empty", d);

  sf_ckpt_t *s = calloc(1, sizeof *s);
  if (s == NULL) return sf__fail(err, -ENOMEM, NULL, -1, "out of memory");
  s->io = o->io ? o->io : sf_io_default();
  s->keep = o->keep ? o->keep : SF__DEFAULT_KEEP;
  s->chunk_size = cs;
  s->dir_count = o->dir_count;
  for (size_t d = 0; d < SF_CKPT_MAX_DIRS; d++) s->lock_fds[d] = -1;
  int rc = 0;
  uint64_t devs[SF_CKPT_MAX_DIRS], inos[SF_CKPT_MAX_DIRS];
  for (size_t d = 0; d < s->dir_count && rc == 0; d++) {
    s->dirs[d] = strdup(o->dirs[d]);
    if (s->dirs[d] == NULL) {
      rc = sf__fail(err, -ENOMEM, NULL, -1, "out of memory");
      break;
    }
    rc = sf__lock_dir(s, d, devs, inos, err);
  }
  for (size_t d = 0; d < s->dir_count && rc == 0; d++) rc = sf__remove_temps(s, d, err);
  if (rc == 0) {
    sf__listing_t lists[SF_CKPT_MAX_DIRS];
    rc = sf__scan(s, lists, err);
    if (rc == 0) sf__lists_free(lists, s->dir_count);
  }
  if (rc < 0) {
    sf_ckpt_close(s);
    return rc;
  }
  *out = s;
  return 0;
}

/* ---- Writing one copy ---------------------------------------------------------------------------- */

/* Files up to this size are assembled in memory and written with one pwrite: a memcpy of 64 KiB costs
 * less than the two extra system calls of writing header, payload and trailer apart. */
#define SF__ONE_WRITE (64u << 10)
/* Larger payloads are written this many bytes at a time (rounded up to whole chunks), and each group's
 * chunk CRCs are computed right after its pwrite, while the bytes the kernel just copied are still in
 * the CPU cache: one trip through memory for both, instead of a separate CRC pass over cold data. */
#define SF__CRC_GROUP (256u << 10)

/* The bytes of one file being saved, and where its CRCs stand. */
typedef struct sf__body_s {
  const uint8_t *payload; /* payload_len bytes; NULL for a copy given whole in `image` */
  uint64_t payload_len;
  uint32_t chunk_size, chunk_count;
  uint8_t *head; /* header + chunk table: head_len bytes, the table filled once crcs_done */
  size_t head_len;
  uint8_t trailer[SF__TRAILER_SIZE]; /* filled once crcs_done */
  const uint8_t *image;              /* the whole file in one buffer (small saves, repairs), or NULL */
  uint64_t total;                    /* file size */
  int crcs_done;                     /* the chunk table and the trailer are complete */
  uint64_t crc_ns;                   /* time spent computing CRCs, CLOCK_MONOTONIC */
} sf__body_t;

static uint64_t sf__now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* CRCs of chunks [first, end) of payload into table; the caller times it. */
static void sf__crc_chunks(const uint8_t *payload, uint64_t len, uint32_t cs, uint32_t first, uint32_t end,
                           uint8_t *table) {
  for (uint32_t i = first; i < end; i++) {
    uint64_t start = (uint64_t)i * cs;
    size_t n = (size_t)(len - start < cs ? len - start : cs);
    sf__put32(table + 4 * (size_t)i, sf_crc32c(0, payload + start, n));
  }
}

/* The trailer, from the finished chunk table. */
static void sf__finish_trailer(sf__body_t *b, uint64_t generation) {
  memcpy(b->trailer, sf__end_magic, 8);
  sf__put64(b->trailer + 8, generation);
  sf__put64(b->trailer + 16, b->payload_len);
  sf__put32(b->trailer + 24, sf_crc32c(0, b->head + SF__HEADER_SIZE, 4 * (size_t)b->chunk_count));
  sf__put32(b->trailer + 28, sf_crc32c(0, b->trailer, 28));
}

/* Writes the file's bytes into fd (fallocated to b->total). The first copy of a large save writes the
 * payload first, group by group, computing each group's chunk CRCs as it goes, then the header and
 * chunk table at offset 0 and the trailer at the end: positional writes into the reserved file, so the
 * bytes on disk are the same as if they had been written in order. */
static int sf__write_body(const sf_io_t *io, int fd, uint64_t generation, sf__body_t *b) {
  if (b->image) return sf_io_write_all(io, fd, b->image, (size_t)b->total, 0);
  uint64_t poff = b->head_len;
  int rc = 0;
  if (!b->crcs_done) {
    uint64_t group = SF__CRC_GROUP < b->chunk_size ? b->chunk_size : SF__CRC_GROUP; /* a multiple of chunks */
    for (uint64_t off = 0; off < b->payload_len && rc == 0; off += group) {
      size_t n = (size_t)(b->payload_len - off < group ? b->payload_len - off : group);
      rc = sf_io_write_all(io, fd, b->payload + off, n, (off_t)(poff + off));
      if (rc < 0) break;
      uint64_t t = sf__now_ns();
      uint32_t first = (uint32_t)(off / b->chunk_size);
      uint32_t end = (uint32_t)((off + n + b->chunk_size - 1) / b->chunk_size);
      sf__crc_chunks(b->payload, b->payload_len, b->chunk_size, first, end, b->head + SF__HEADER_SIZE);
      b->crc_ns += sf__now_ns() - t;
    }
    if (rc < 0) return rc;
    uint64_t t = sf__now_ns();
    sf__finish_trailer(b, generation);
    b->crc_ns += sf__now_ns() - t;
    b->crcs_done = 1;
  } else {
    rc = sf_io_write_all(io, fd, b->payload, (size_t)b->payload_len, (off_t)poff);
    if (rc < 0) return rc;
  }
  rc = sf_io_write_all(io, fd, b->head, b->head_len, 0);
  if (rc == 0) rc = sf_io_write_all(io, fd, b->trailer, SF__TRAILER_SIZE, (off_t)(poff + b->payload_len));
  return rc;
}

/* Writes ckpt-<generation>.sfc into directory d: a new temporary file, fallocate, the bytes, fdatasync,
 * close, rename over the final name, and (when sync_dir is set) fsync of the directory. A save passes
 * sync_dir 0 and fsyncs every directory once at its end, after pruning, so that one fsync covers both
 * the new name and the removal of old generations. After a failure before the rename the temporary file
 * is closed (never synced again) and unlinked, so the next attempt starts from a new file; *renamed
 * tells whether the final name was reached. With aside (a load's repair of a damaged copy), the file
 * under the final name is first moved aside (<name>.corrupt[-N], listed in aside) once the new copy is
 * durable in its temporary file, just before the rename: a damaged copy is never destroyed. */
static int sf__move_aside(sf_ckpt_t *s, size_t d, sf__listing_t *l, const char *name, sf_store_error_t *err);
static int sf__write_copy(sf_ckpt_t *s, size_t d, uint64_t generation, sf__body_t *body, int sync_dir, int *renamed,
                          sf__listing_t *aside, sf_store_error_t *err) {
  const sf_io_t *io = s->io;
  const char *dir = s->dirs[d];
  char tmp[4096], final[4096], name[64];
  *renamed = 0;
  snprintf(name, sizeof name, ".ckpt-%016" PRIx64 ".sfc.tmp", generation);
  if (sf__path(tmp, sizeof tmp, dir, name) < 0 || sf__path(final, sizeof final, dir, name + 1) < 0)
    return sf__fail(err, -ENAMETOOLONG, dir, -1, "path too long");
  final[strlen(final) - 4] = '\0'; /* drop ".tmp" */

  /* O_EXCL: a temporary file left by a failed attempt is removed and a new inode made, so pages whose
   * writeback failed earlier can never be taken for ours. */
  int fd = io->open(io, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd == -EEXIST) {
    int rc = io->unlink(io, tmp);
    if (rc < 0) return sf__fail(err, rc, tmp, -1, "cannot remove an old temporary file (%s)", sf_store_error_name(rc));
    fd = io->open(io, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  }
  if (fd < 0)
    return sf__fail(err, fd, tmp, -1, "cannot create the temporary file for generation %" PRIu64 " (%s)", generation,
                    sf_store_error_name(fd));
  const char *step = "fallocate";
  /* Reserving the whole size first makes a full disk fail here, before any byte is written, rather
   * than halfway through or (on some filesystems) at writeback. */
  int rc = io->fallocate(io, fd, 0, (off_t)body->total);
  if (rc == -EOPNOTSUPP || rc == -ENOSYS) rc = 0; /* the filesystem cannot reserve; write without */
  if (rc == 0) step = "write", rc = sf__write_body(io, fd, generation, body);
  if (rc == 0) step = "fdatasync", rc = io->fdatasync(io, fd);
  struct stat st;
  if (rc == 0) step = "fstat", rc = io->fstat(io, fd, &st);
  if (rc < 0) {
    /* This descriptor is not synced again: its failed pages may already be marked clean. */
    io->close(io, fd);
    io->unlink(io, tmp);
    return sf__fail(err, rc, tmp, -1, "%s of generation %" PRIu64 " failed (%s)", step, generation,
                    sf_store_error_name(rc));
  }
  rc = io->close(io, fd);
  if (rc < 0) {
    io->unlink(io, tmp);
    return sf__fail(err, rc, tmp, -1, "close of generation %" PRIu64 " failed (%s)", generation,
                    sf_store_error_name(rc));
  }
  char final_name[64];
  snprintf(final_name, sizeof final_name, "ckpt-%016" PRIx64 ".sfc", generation);
  if (aside != NULL && (rc = sf__move_aside(s, d, aside, final_name, err)) < 0) {
    io->unlink(io, tmp);
    return rc;
  }
  /* rename(2) is atomic: a reader sees the old file or the whole new one, never a part. */
  rc = io->rename(io, tmp, final);
  if (rc < 0) {
    io->unlink(io, tmp);
    return sf__fail(err, rc, final, -1, "rename into place of generation %" PRIu64 " failed (%s)", generation,
                    sf_store_error_name(rc));
  }
  *renamed = 1;
  sf__known_add(s, d, generation, body->total, (uint64_t)st.st_dev, (uint64_t)st.st_ino);
  if (!sync_dir) return 0;
  /* The file's data is durable; its name is not until the directory is. */
  rc = sf_io_fsync_dir(io, dir);
  if (rc < 0)
    return sf__fail(err, rc, dir, -1, "fsync of the directory after writing generation %" PRIu64 " failed (%s)",
                    generation, sf_store_error_name(rc));
  return 0;
}

/* 1 if the copy of generation in directory d is valid (known from this handle, or read and checked
 * now), 0 if it is not or cannot be read. */
static int sf__copy_valid(sf_ckpt_t *s, size_t d, const char *name, uint64_t generation) {
  char path[4096];
  if (sf__path(path, sizeof path, s->dirs[d], name) < 0) return 0;
  int fd = s->io->open(s->io, path, O_RDONLY | O_CLOEXEC, 0);
  if (fd < 0) return 0;
  struct stat st;
  int rc = s->io->fstat(s->io, fd, &st);
  s->io->close(s->io, fd);
  if (rc < 0) return 0;
  for (size_t i = 0; i < s->known_count; i++) {
    const sf__known_t *k = &s->known[i];
    if (k->dir == d && k->generation == generation && k->size == (uint64_t)st.st_size &&
        k->dev == (uint64_t)st.st_dev && k->ino == (uint64_t)st.st_ino)
      return 1;
  }
  sf__copy_t c;
  memset(&c, 0, sizeof c);
  sf__copy_read(s->io, path, generation, &c);
  int ok = c.info.status == 0;
  if (ok) sf__known_add(s, d, generation, c.len, c.dev, c.ino);
  sf__copy_release(&c);
  return ok;
}

/* Marks in doomed[d][i] the entries of lists[d] to delete: the valid copies of every generation beyond
 * the newest `keep` valid ones, counting `fresh` (just written to every mirror) as the newest. A
 * generation is valid when some mirror holds a valid copy; only valid copies are deleted (an invalid
 * file is evidence and stays). */
static int sf__plan_prune(sf_ckpt_t *s, const sf__listing_t *lists, char **doomed, sf_store_error_t *err) {
  uint64_t *gens = NULL;
  size_t count = 0, valid = 1; /* the fresh generation */
  int rc = sf__generations(lists, s->dir_count, &gens, &count);
  if (rc < 0) return sf__fail(err, rc, NULL, -1, "out of memory");
  for (size_t i = 0; i < count; i++) {
    uint64_t g = gens[i];
    if (valid < s->keep) {
      for (size_t d = 0; d < s->dir_count; d++) {
        const sf__entry_t *e = sf__find(&lists[d], SF__CKPT, g);
        if (e && sf__copy_valid(s, d, e->name, g)) {
          valid++;
          break;
        }
      }
      continue;
    }
    for (size_t d = 0; d < s->dir_count; d++) {
      const sf__entry_t *e = sf__find(&lists[d], SF__CKPT, g);
      if (e != NULL && sf__copy_valid(s, d, e->name, g)) doomed[d][e - lists[d].v] = 1;
    }
  }
  free(gens);
  return 0;
}

/* Takes back a generation that did not reach every mirror, so a failed save leaves the store as it
 * was. The first error stays the one reported. */
static void sf__rollback(sf_ckpt_t *s, size_t upto, uint64_t generation, sf_store_error_t *err) {
  char name[64], path[4096];
  snprintf(name, sizeof name, "ckpt-%016" PRIx64 ".sfc", generation);
  for (size_t d = 0; d < upto; d++) {
    if (sf__path(path, sizeof path, s->dirs[d], name) < 0) continue;
    int rc = s->io->unlink(s->io, path);
    if (rc == 0) rc = sf_io_fsync_dir(s->io, s->dirs[d]);
    sf__known_forget(s, d, generation);
    if (rc < 0 && err) {
      size_t used = strlen(err->message);
      snprintf(err->message + used, sizeof err->message - used, "; taking back the copy in %s also failed (%s)",
               s->dirs[d], sf_store_error_name(rc));
    }
  }
}

uint64_t sf_ckpt_last_save_crc_ns(const sf_ckpt_t *s) {
  return s ? s->last_crc_ns : 0;
}

/* A save: one listing per mirror (for the next generation number and for pruning), then per mirror a
 * temporary file, fallocate, the bytes, fdatasync and rename; then, once every mirror holds the new
 * generation under its final name, per mirror: unlink of the old generations to prune and one fsync of
 * the directory, which makes both durable. docs/format.md ("Save") explains why that order is safe. */
int sf_ckpt_save(sf_ckpt_t *s, const void *payload, size_t len, uint64_t lsn, uint64_t *generation,
                 sf_store_error_t *err) {
  if (s == NULL) return sf__fail(err, -EINVAL, NULL, -1, "no store given");
  s->last_crc_ns = 0;
  if (payload == NULL && len > 0) return sf__fail(err, -EINVAL, NULL, -1, "no payload given");
  if ((uint64_t)len > SF__MAX_FILE / 2)
    return sf__fail(err, -EFBIG, NULL, -1, "a payload of %zu bytes exceeds the 2^39-byte limit", len);
  sf__listing_t lists[SF_CKPT_MAX_DIRS];
  int rc = sf__scan(s, lists, err);
  if (rc < 0) return rc;
  if (s->highest == UINT64_MAX) {
    sf__lists_free(lists, s->dir_count);
    return sf__fail(err, -EOVERFLOW, s->dirs[0], -1, "no generation number is left");
  }
  /* Taken even if this save fails, so a number is never reused for different contents. */
  uint64_t gen = ++s->highest;

  sf__body_t b;
  memset(&b, 0, sizeof b);
  b.payload = payload;
  b.payload_len = len;
  b.chunk_size = s->chunk_size;
  b.chunk_count = (uint32_t)(len / b.chunk_size + (len % b.chunk_size != 0));
  b.head_len = SF__HEADER_SIZE + 4 * (size_t)b.chunk_count;
  b.total = b.head_len + (uint64_t)len + SF__TRAILER_SIZE;
  int small = b.total <= SF__ONE_WRITE;
  uint8_t *buf = calloc(1, small ? (size_t)b.total : b.head_len);
  char *doomed[SF_CKPT_MAX_DIRS] = {0};
  for (size_t d = 0; d < s->dir_count && buf != NULL; d++)
    if ((doomed[d] = calloc(1, lists[d].n + 1)) == NULL) free(buf), buf = NULL;
  if (buf == NULL) {
    rc = sf__fail(err, -ENOMEM, NULL, -1, "out of memory");
    goto done;
  }
  b.head = buf;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  uint8_t *head = b.head;
  memcpy(head, sf__magic, 8);
  sf__put16(head + 8, SF__VERSION_MAJOR);
  sf__put16(head + 10, SF__VERSION_MINOR);
  sf__put32(head + 12, SF__HEADER_SIZE);
  sf__put64(head + 16, gen);
  sf__put64(head + 24, len);
  sf__put32(head + 32, b.chunk_size);
  sf__put32(head + 36, b.chunk_count);
  sf__put64(head + 40, (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec);
  sf__put64(head + 48, lsn);
  sf__put32(head + 56, 0);
  uint64_t t = sf__now_ns();
  sf__put32(head + 60, sf_crc32c(0, head, 60));
  if (small) {
    /* The whole file in one buffer: the payload is copied in, its CRCs taken from the copy (hot). */
    if (len) memcpy(buf + b.head_len, payload, len);
    sf__crc_chunks(buf + b.head_len, len, b.chunk_size, 0, b.chunk_count, head + SF__HEADER_SIZE);
    sf__finish_trailer(&b, gen);
    memcpy(buf + b.head_len + len, b.trailer, SF__TRAILER_SIZE);
    b.crcs_done = 1;
    b.image = buf;
  }
  b.crc_ns += sf__now_ns() - t;

  /* One mirror after another: while one is being written the others still hold every older generation
   * untouched, so any single failure leaves a loadable store. */
  for (size_t d = 0; d < s->dir_count; d++) {
    int renamed;
    rc = sf__write_copy(s, d, gen, &b, 0, &renamed, NULL, err);
    if (rc < 0) {
      sf__rollback(s, d + (size_t)renamed, gen, err);
      goto done;
    }
  }
  /* Every mirror holds the new generation under its final name, not yet durably. Old generations are
   * unlinked now, before each directory's one fsync; a failure to plan or unlink is reported after the
   * fsyncs, since the new generation is then durable everywhere.
   *
   * From here on the new generation is never taken back. Once a directory has been pruned, the new
   * generation may be the only copy left in it, so unlinking it after a failed directory fsync could
   * empty the store (with keep = 1 it would). A failed directory fsync therefore stops the pruning
   * (no further directory loses an old generation), the remaining directories are still fsynced, and
   * the first fsync error is returned with *generation set: the new generation is under its final name
   * everywhere, durable in the directories whose fsync succeeded, and a load may return it. */
  int prune_rc = sf__plan_prune(s, lists, doomed, err);
  sf_store_error_t prune_err = {0};
  if (prune_rc < 0 && err) prune_err = *err;
  int sync_rc = 0;
  for (size_t d = 0; d < s->dir_count; d++) {
    for (size_t i = 0; i < lists[d].n && prune_rc == 0 && sync_rc == 0; i++) {
      if (!doomed[d][i]) continue;
      char path[4096];
      int r = sf__path(path, sizeof path, s->dirs[d], lists[d].v[i].name);
      if (r == 0) r = s->io->unlink(s->io, path);
      if (r < 0) {
        prune_rc = sf__fail(err ? &prune_err : NULL, r, path, -1, "removing old generation %" PRIu64 " failed (%s)",
                            lists[d].v[i].generation, sf_store_error_name(r));
        break;
      }
      sf__known_forget(s, d, lists[d].v[i].generation);
    }
    int r = sf_io_fsync_dir(s->io, s->dirs[d]);
    if (r < 0 && sync_rc == 0)
      sync_rc = sf__fail(err, r, s->dirs[d], -1,
                         "fsync of the directory after writing generation %" PRIu64
                         " failed (%s); the new generation was kept, since it may be the only copy left",
                         gen, sf_store_error_name(r));
  }
  /* The generation is under its final name everywhere (and durable everywhere unless a directory fsync
   * failed, which is reported first); a failure to prune is still reported. */
  if (generation) *generation = gen;
  rc = sync_rc;
  if (rc == 0) {
    rc = prune_rc;
    if (rc < 0 && err) *err = prune_err;
  }
done:
  s->last_crc_ns = b.crc_ns;
  free(buf);
  for (size_t d = 0; d < s->dir_count; d++) free(doomed[d]);
  sf__lists_free(lists, s->dir_count);
  return rc;
}

/* ---- Loading ------------------------------------------------------------------------------------- */

static int sf__add_repair(sf_ckpt_loaded_t *out, sf_ckpt_action_t action, uint64_t generation, const char *path,
                          const char *problem) {
  sf_ckpt_repair_t *r = realloc(out->repairs, (out->repair_count + 1) * sizeof *r);
  if (r == NULL) return -ENOMEM;
  out->repairs = r;
  r += out->repair_count++;
  memset(r, 0, sizeof *r);
  r->action = action;
  r->generation = generation;
  snprintf(r->path, sizeof r->path, "%s", path);
  snprintf(r->problem, sizeof r->problem, "%s", problem);
  return 0;
}

/* Builds one whole file from copies that are each damaged somewhere: copies whose header, chunk table
 * and trailer are sound and identical describe the same payload, and every chunk whose CRC matches the
 * shared table can come from any of them. Returns a malloc'd image, or NULL if some chunk is bad in
 * every copy of every such group. */
static uint8_t *sf__piece(const sf__copy_t *c, size_t n, size_t *len_out) {
  for (size_t a = 0; a < n; a++) {
    if (!c[a].frame_ok) continue;
    const sf__frame_t *f = &c[a].frame;
    size_t group[SF_CKPT_MAX_DIRS], members = 0;
    for (size_t b = 0; b < n; b++) {
      if (!c[b].frame_ok || c[b].len != c[a].len) continue;
      if (memcmp(c[b].bytes, c[a].bytes, f->payload_off) != 0) continue;
      if (memcmp(c[b].bytes + f->trailer_off, c[a].bytes + f->trailer_off, SF__TRAILER_SIZE) != 0) continue;
      group[members++] = b;
    }
    if (members < 2) continue;
    uint8_t *image = malloc(c[a].len);
    if (image == NULL) return NULL;
    memcpy(image, c[a].bytes, c[a].len);
    uint32_t i;
    for (i = 0; i < f->chunk_count; i++) {
      size_t m;
      for (m = 0; m < members && !sf__chunk_ok(c[group[m]].bytes, f, i); m++) continue;
      if (m == members) break;
      size_t start = f->payload_off + (size_t)i * f->chunk_size;
      size_t len = f->payload_len - (size_t)i * f->chunk_size < f->chunk_size
                       ? (size_t)(f->payload_len - (size_t)i * f->chunk_size)
                       : f->chunk_size;
      memcpy(image + start, c[group[m]].bytes + start, len);
    }
    if (i == f->chunk_count) {
      *len_out = c[a].len;
      return image;
    }
    free(image);
  }
  return NULL;
}

/* A copy of a generation newer than the one loaded, judged invalid: moved aside once a generation won. */
typedef struct sf__loser_s {
  size_t dir;
  uint64_t generation;
  char problem[256];
} sf__loser_t;

/* Renames an invalid file to <name>.corrupt, or .corrupt-N for the first N free, then makes the rename
 * durable. Never deletes: the bytes may matter to whoever investigates. */
static int sf__move_aside(sf_ckpt_t *s, size_t d, sf__listing_t *l, const char *name, sf_store_error_t *err) {
  char from[4096], to[4096], aside[300];
  if (sf__path(from, sizeof from, s->dirs[d], name) < 0)
    return sf__fail(err, -ENAMETOOLONG, s->dirs[d], -1, "too long");
  int k;
  for (k = 1; k <= SF__MAX_ASIDE; k++) {
    if (k == 1)
      snprintf(aside, sizeof aside, "%s.corrupt", name);
    else
      snprintf(aside, sizeof aside, "%s.corrupt-%d", name, k);
    if (!sf__has_name(l, aside)) break;
  }
  if (k > SF__MAX_ASIDE) return sf__fail(err, -EEXIST, from, -1, "too many moved-aside copies of this file");
  if (sf__path(to, sizeof to, s->dirs[d], aside) < 0) return sf__fail(err, -ENAMETOOLONG, from, -1, "path too long");
  int rc = s->io->rename(s->io, from, to);
  if (rc < 0) return sf__fail(err, rc, from, -1, "moving an invalid file aside failed (%s)", sf_store_error_name(rc));
  rc = sf__listing_add(l, aside);
  if (rc < 0) return sf__fail(err, rc, NULL, -1, "out of memory");
  rc = sf_io_fsync_dir(s->io, s->dirs[d]);
  if (rc < 0)
    return sf__fail(err, rc, s->dirs[d], -1, "fsync of the directory after moving a file aside failed (%s)",
                    sf_store_error_name(rc));
  return 0;
}

int sf_ckpt_load(sf_ckpt_t *s, sf_ckpt_loaded_t *out, sf_store_error_t *err) {
  if (out) memset(out, 0, sizeof *out);
  if (s == NULL || out == NULL) return sf__fail(err, -EINVAL, NULL, -1, "no store or result given");
  sf__listing_t lists[SF_CKPT_MAX_DIRS];
  int rc = sf__scan(s, lists, err);
  if (rc < 0) return rc;
  uint64_t *gens = NULL;
  size_t gen_count = 0, loser_count = 0, file_count = 0;
  sf__copy_t *copies = calloc(s->dir_count, sizeof *copies);
  sf__loser_t *losers = NULL;
  uint8_t *image = NULL;
  size_t image_len = 0;
  uint64_t winner = 0;
  int pieced = 0;
  rc = sf__generations(lists, s->dir_count, &gens, &gen_count);
  if (rc < 0 || copies == NULL) {
    rc = sf__fail(err, -ENOMEM, NULL, -1, "out of memory");
    goto done;
  }
  for (size_t d = 0; d < s->dir_count; d++)
    for (size_t i = 0; i < lists[d].n; i++) {
      const sf__entry_t *e = &lists[d].v[i];
      if (e->kind == SF__CKPT) file_count++;
      if ((e->kind == SF__CKPT || e->kind == SF__ASIDE) && e->generation > out->newest_seen)
        out->newest_seen = e->generation;
    }
  if (gen_count == 0) goto done; /* an empty store: generation 0 */
  losers = calloc(file_count, sizeof *losers);
  if (losers == NULL) {
    rc = sf__fail(err, -ENOMEM, NULL, -1, "out of memory");
    goto done;
  }

  for (size_t gi = 0; gi < gen_count && image == NULL; gi++) {
    uint64_t g = gens[gi];
    for (size_t d = 0; d < s->dir_count; d++) {
      sf__copy_release(&copies[d]);
      copies[d].dir = d;
      const sf__entry_t *e = sf__find(&lists[d], SF__CKPT, g);
      char path[4096];
      if (e == NULL || sf__path(path, sizeof path, s->dirs[d], e->name) < 0) continue;
      sf__copy_read(s->io, path, g, &copies[d]);
    }
    /* A newer program wrote this generation: loading an older one instead would silently go back in
     * time, and moving it aside would hide the newer program's state from it. */
    for (size_t d = 0; d < s->dir_count; d++)
      if (copies[d].present && copies[d].info.status == SF_EVERSION) {
        rc = sf__fail(err, SF_EVERSION, copies[d].info.path, 8, "%s", copies[d].info.problem);
        goto done;
      }
    for (size_t d = 0; d < s->dir_count && image == NULL; d++)
      if (copies[d].present && copies[d].info.status == 0) {
        image = copies[d].bytes, image_len = copies[d].len;
        copies[d].bytes = NULL;
      }
    if (image == NULL && (image = sf__piece(copies, s->dir_count, &image_len)) != NULL) pieced = 1;
    if (image != NULL) {
      winner = g;
      break;
    }
    /* A copy we could not read might be the valid one: falling back past it could lose its state. */
    for (size_t d = 0; d < s->dir_count; d++)
      if (copies[d].present && copies[d].read_error) {
        rc = sf__fail(err, copies[d].read_error, copies[d].info.path, -1,
                      "cannot read a copy of generation %" PRIu64 ", so cannot tell whether it is valid (%s)", g,
                      sf_store_error_name(copies[d].read_error));
        goto done;
      }
    for (size_t d = 0; d < s->dir_count; d++)
      if (copies[d].present) {
        sf__loser_t *l = &losers[loser_count++];
        l->dir = d, l->generation = g;
        snprintf(l->problem, sizeof l->problem, "%s", copies[d].info.problem);
      }
  }
  if (image == NULL) {
    /* Nothing valid: every file stays where it is, for whoever investigates. */
    const sf__copy_t *first = NULL;
    for (size_t d = 0; d < s->dir_count && first == NULL; d++) {
      char path[4096];
      const sf__entry_t *e = sf__find(&lists[d], SF__CKPT, gens[0]);
      if (e == NULL || sf__path(path, sizeof path, s->dirs[d], e->name) < 0) continue;
      sf__copy_release(&copies[d]);
      sf__copy_read(s->io, path, gens[0], &copies[d]);
      first = &copies[d];
    }
    rc = sf__fail(err, SF_EEMPTY, first ? first->info.path : s->dirs[0], first ? first->info.bad_offset : -1,
                  "none of the %zu checkpoint files is valid; the newest, generation %" PRIu64 ", has: %s", file_count,
                  gens[0], first ? first->info.problem : "?");
    goto done;
  }

  /* Repair: every mirror gets a valid copy of the winner, through the same atomic path as a save. */
  for (size_t d = 0; d < s->dir_count; d++) {
    sf__copy_t *c = &copies[d];
    if (c->present && c->info.status == 0) {
      sf__known_add(s, d, winner, c->len, c->dev, c->ino);
      continue;
    }
    char problem[256];
    snprintf(problem, sizeof problem, "%s", c->present ? c->info.problem : "missing");
    sf__body_t body;
    memset(&body, 0, sizeof body);
    body.image = image, body.total = image_len;
    int renamed;
    rc = sf__write_copy(s, d, winner, &body, 1, &renamed, c->present ? &lists[d] : NULL, err);
    if (rc < 0) goto done;
    char name[64], path[4096];
    snprintf(name, sizeof name, "ckpt-%016" PRIx64 ".sfc", winner);
    sf__path(path, sizeof path, s->dirs[d], name);
    if (c->present && (rc = sf__add_repair(out, SF_CKPT_MOVED_ASIDE, winner, path, problem)) < 0) goto nomem;
    rc = sf__add_repair(out, c->present ? SF_CKPT_REWROTE : SF_CKPT_RESTORED, winner, path, problem);
    if (rc < 0) goto nomem;
  }
  /* Newer generations without a valid copy: aside, so the next load does not judge them again. */
  for (size_t i = 0; i < loser_count; i++) {
    const sf__loser_t *l = &losers[i];
    const sf__entry_t *e = sf__find(&lists[l->dir], SF__CKPT, l->generation);
    char path[4096], name[64];
    snprintf(name, sizeof name, "%s", e->name);
    sf__path(path, sizeof path, s->dirs[l->dir], name);
    rc = sf__move_aside(s, l->dir, &lists[l->dir], name, err);
    if (rc < 0) goto done;
    rc = sf__add_repair(out, SF_CKPT_MOVED_ASIDE, l->generation, path, l->problem);
    if (rc < 0) goto nomem;
  }

  /* The image was checked whole already; this only finds its parts again. */
  sf__frame_t f;
  sf_ckpt_file_t info;
  sf__check_frame(image, image_len, &f, &info);
  out->generation = winner;
  out->lsn = f.lsn;
  out->created_ns = f.created_ns;
  out->len = (size_t)f.payload_len;
  /* The payload moves to the front of the file image, which then shrinks to it: no second copy. */
  memmove(image, image + f.payload_off, out->len);
  void *shrunk = realloc(image, out->len ? out->len : 1);
  if (shrunk == NULL)
    out->payload = image; /* keeping the larger block is fine */
  else
    out->payload = shrunk;
  image = NULL;
  out->fell_back = winner != gens[0];
  out->chunks_pieced = pieced;
  rc = 0;
  goto done;

nomem:
  rc = sf__fail(err, -ENOMEM, NULL, -1, "out of memory");
done:
  if (rc < 0) sf_ckpt_loaded_free(out);
  if (copies)
    for (size_t d = 0; d < s->dir_count; d++) sf__copy_release(&copies[d]);
  free(copies);
  free(losers);
  free(image);
  free(gens);
  sf__lists_free(lists, s->dir_count);
  return rc;
}

void sf_ckpt_loaded_free(sf_ckpt_loaded_t *loaded) {
  if (loaded == NULL) return;
  free(loaded->payload);
  free(loaded->repairs);
  memset(loaded, 0, sizeof *loaded);
}

/* ---- Listing ------------------------------------------------------------------------------------- */

typedef struct sf__listed_s {
  sf_ckpt_file_t file;
  size_t dir;
} sf__listed_t;

static int sf__cmp_listed(const void *a, const void *b) {
  const sf__listed_t *x = a, *y = b;
  if (x->file.generation != y->file.generation) return x->file.generation < y->file.generation ? -1 : 1;
  return x->dir < y->dir ? -1 : x->dir > y->dir;
}

int sf_ckpt_inspect(const char *const *dirs, size_t dir_count, const sf_io_t *io, sf_ckpt_file_t **files, size_t *count,
                    sf_store_error_t *err) {
  if (files) *files = NULL;
  if (count) *count = 0;
  if (dirs == NULL || files == NULL || count == NULL || dir_count < 1 || dir_count > SF_CKPT_MAX_DIRS)
    return sf__fail(err, -EINVAL, NULL, -1, "between 1 and %d directories are needed", SF_CKPT_MAX_DIRS);
  if (io == NULL) io = sf_io_default();
  sf__listed_t *v = NULL;
  size_t n = 0;
  int rc = 0;
  for (size_t d = 0; d < dir_count && rc == 0; d++) {
    if (dirs[d] == NULL) {
      rc = sf__fail(err, -EINVAL, NULL, -1, "directory %zu is NULL", d);
      break;
    }
    sf__listing_t l;
    rc = sf__list_dir(io, dirs[d], &l, err);
    if (rc < 0) break;
    for (size_t i = 0; i < l.n && rc == 0; i++) {
      if (l.v[i].kind != SF__CKPT) continue;
      sf__listed_t *grown = realloc(v, (n + 1) * sizeof *v);
      char path[4096];
      if (grown == NULL) {
        rc = sf__fail(err, -ENOMEM, NULL, -1, "out of memory");
        break;
      }
      v = grown;
      if (sf__path(path, sizeof path, dirs[d], l.v[i].name) < 0) {
        rc = sf__fail(err, -ENAMETOOLONG, dirs[d], -1, "path too long");
        break;
      }
      sf__copy_t c;
      memset(&c, 0, sizeof c);
      sf__copy_read(io, path, l.v[i].generation, &c);
      v[n].file = c.info;
      v[n].dir = d;
      n++;
      sf__copy_release(&c);
    }
    sf__listing_free(&l);
  }
  if (rc < 0) {
    free(v);
    return rc;
  }
  if (n > 1) qsort(v, n, sizeof *v, sf__cmp_listed);
  sf_ckpt_file_t *result = malloc((n ? n : 1) * sizeof *result);
  if (result == NULL) {
    free(v);
    return sf__fail(err, -ENOMEM, NULL, -1, "out of memory");
  }
  for (size_t i = 0; i < n; i++) result[i] = v[i].file;
  free(v);
  *files = result;
  *count = n;
  return 0;
}

int sf_ckpt_list(sf_ckpt_t *s, sf_ckpt_file_t **files, size_t *count, sf_store_error_t *err) {
  if (s == NULL) return sf__fail(err, -EINVAL, NULL, -1, "no store given");
  return sf_ckpt_inspect((const char *const *)s->dirs, s->dir_count, s->io, files, count, err);
}
