/* fsmodel.c: the recording sf_io_t and the crash-state model behind crash_test.c (see fsmodel.h for
 * the interface and docs/crash-model.md for why these are the states a Linux filesystem can leave).
 *
 * The recorder keeps a flat stream of operations with paths relative to the base directory and
 * descriptors as the process saw them. The model replays that stream over a snapshot of the base
 * directory, following each descriptor to its inode (a log segment is written through the same
 * descriptor before and after its rename). Per file it keeps the current bytes, the bytes as of its
 * last fdatasync/fsync and the changes since; per directory the current entries, the entries as of
 * its last fsync, and the namespace changes since. Every crash state is a choice of namespace (the
 * durable one plus the first k unsynced changes, k = 0..all) and a choice of bytes per file (durable,
 * current, or durable plus its unsynced changes in order up to one torn at a 512 or 4096-byte
 * boundary). The test is single-threaded, so the recorder takes no lock. */
#define _XOPEN_SOURCE 700
#include "fsmodel.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- small helpers ------------------------------------------------------------------------------ */

static void *xrealloc(void *p, size_t n) {
  void *q = realloc(p, n ? n : 1);
  if (q == NULL) {
    /* A test harness out of memory has nothing useful left to report. */
    fprintf(stderr, "fsmodel: out of memory\n");
    abort();
  }
  return q;
}

static char *xstrdup(const char *s) {
  size_t n = strlen(s) + 1;
  char *p = xrealloc(NULL, n);
  memcpy(p, s, n);
  return p;
}

#define GROW(arr, n, cap)                             \
  do {                                                \
    if ((n) == (cap)) {                               \
      (cap) = (cap) ? 2 * (cap) : 16;                 \
      (arr) = xrealloc((arr), (cap) * sizeof *(arr)); \
    }                                                 \
  } while (0)

typedef struct {
  uint8_t *p;
  size_t len, cap;
} buf_t;

/* Sets the length, zero-filling any growth (what a file reads as past its old end). */
static void buf_resize(buf_t *b, size_t len) {
  if (len > b->cap) {
    size_t cap = b->cap ? b->cap : 64;
    while (cap < len) cap *= 2;
    b->p = xrealloc(b->p, cap);
    b->cap = cap;
  }
  if (len > b->len) memset(b->p + b->len, 0, len - b->len);
  b->len = len;
}

static void buf_write(buf_t *b, size_t off, const uint8_t *data, size_t n) {
  if (n == 0) return;
  if (off + n > b->len) buf_resize(b, off + n);
  memcpy(b->p + off, data, n);
}

static void buf_copy(buf_t *dst, const buf_t *src) {
  dst->len = 0;
  buf_resize(dst, src->len);
  if (src->len) memcpy(dst->p, src->p, src->len);
}

/* Two independent 64-bit lanes, 8 bytes at a time: a collision would have to hit both. */
typedef struct {
  uint64_t a, b;
} hash_t;

static uint64_t mix64(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return x;
}

static void hash_u64(hash_t *h, uint64_t v) {
  h->a = mix64(h->a ^ v) * 0x9E3779B97F4A7C15ULL;
  h->b = mix64(h->b + v * 0xD6E8FEB86659FD93ULL) ^ (h->b >> 29);
}

static void hash_bytes(hash_t *h, const uint8_t *p, size_t n) {
  hash_u64(h, n);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t v;
    memcpy(&v, p + i, 8);
    h->a = (h->a ^ v) * 0x100000001B3ULL;
    h->b = (h->b + v) * 0xC2B2AE3D27D4EB4FULL;
    h->b ^= h->b >> 31;
  }
  uint64_t tail = 0;
  if (i < n) memcpy(&tail, p + i, n - i);
  hash_u64(h, tail);
}

static hash_t hash_of(const uint8_t *p, size_t n) {
  hash_t h = {0x6A09E667F3BCC908ULL, 0xBB67AE8584CAA73BULL};
  hash_bytes(&h, p, n);
  return h;
}

typedef struct {
  hash_t *v;
  size_t n, cap; /* cap is a power of two; {0,0} marks an empty slot */
} hashset_t;

/* Returns 1 if h was new. */
static int hashset_add(hashset_t *s, hash_t h) {
  if (h.a == 0 && h.b == 0) h.a = 1;
  if (2 * (s->n + 1) > s->cap) {
    hashset_t bigger = {NULL, 0, s->cap ? 2 * s->cap : 1024};
    bigger.v = xrealloc(NULL, bigger.cap * sizeof *bigger.v);
    memset(bigger.v, 0, bigger.cap * sizeof *bigger.v);
    for (size_t i = 0; i < s->cap; i++)
      if (s->v[i].a || s->v[i].b) hashset_add(&bigger, s->v[i]);
    free(s->v);
    *s = bigger;
  }
  for (size_t i = (size_t)h.a & (s->cap - 1);; i = (i + 1) & (s->cap - 1)) {
    if (s->v[i].a == 0 && s->v[i].b == 0) {
      s->v[i] = h;
      s->n++;
      return 1;
    }
    if (s->v[i].a == h.a && s->v[i].b == h.b) return 0;
  }
}

/* ---- the recording ---------------------------------------------------------------------------- */

typedef enum {
  OP_OPEN,
  OP_CLOSE,
  OP_PWRITE,
  OP_FALLOCATE,
  OP_FTRUNCATE,
  OP_FDATASYNC,
  OP_FSYNC,
  OP_RENAME,
  OP_UNLINK,
  OP_MKDIR,
  OP_ACK
} op_kind_t;

typedef struct {
  op_kind_t kind;
  int fd;
  int flags;
  char *path, *path2; /* relative to the base; "" is the base itself */
  uint64_t off, len;
  uint8_t *data;
  unsigned slot;
  uint64_t value;
} op_t;

typedef struct {
  char *path; /* relative */
  int is_dir;
  buf_t data;
} snap_entry_t;

struct fsmodel_s {
  sf_io_t io;
  char base[PATH_MAX];
  int recording;
  op_t *ops;
  size_t nops, cap_ops;
  snap_entry_t *snap;
  size_t nsnap, cap_snap;
  unsigned char *tracked; /* per descriptor: 1 if it was opened under the base */
  size_t cap_tracked;
  size_t untracked_changes; /* changes that straddled the base (a rename in or out): the model cannot follow */
};

/* Lexically normalises path ("." and empty components dropped, ".." popped) and returns it relative to
 * the base, or NULL if it is outside. out must hold PATH_MAX bytes. */
static const char *relative_path(const fsmodel_t *m, const char *path, char *out) {
  char joined[2 * PATH_MAX];
  if (path[0] == '/') {
    snprintf(joined, sizeof joined, "%s", path);
  } else {
    char cwd[PATH_MAX];
    if (getcwd(cwd, sizeof cwd) == NULL) return NULL;
    snprintf(joined, sizeof joined, "%s/%s", cwd, path);
  }
  char norm[2 * PATH_MAX];
  size_t n = 0;
  const char *p = joined;
  while (*p) {
    while (*p == '/') p++;
    const char *s = p;
    while (*p && *p != '/') p++;
    size_t len = (size_t)(p - s);
    if (len == 0 || (len == 1 && s[0] == '.')) continue;
    if (len == 2 && s[0] == '.' && s[1] == '.') {
      while (n > 0 && norm[n - 1] != '/') n--;
      if (n > 0) n--;
      continue;
    }
    if (n + 1 + len + 1 > sizeof norm) return NULL;
    norm[n++] = '/';
    memcpy(norm + n, s, len);
    n += len;
  }
  norm[n] = '\0';
  size_t blen = strlen(m->base);
  if (strncmp(norm, m->base, blen) != 0) return NULL;
  if (norm[blen] == '\0') {
    out[0] = '\0';
    return out;
  }
  if (norm[blen] != '/' || strlen(norm + blen + 1) >= PATH_MAX) return NULL;
  snprintf(out, PATH_MAX, "%s", norm + blen + 1);
  return out;
}

static op_t *record(fsmodel_t *m, op_kind_t kind) {
  GROW(m->ops, m->nops, m->cap_ops);
  op_t *op = &m->ops[m->nops++];
  memset(op, 0, sizeof *op);
  op->kind = kind;
  op->fd = -1;
  return op;
}

static int is_tracked(const fsmodel_t *m, int fd) {
  return m->recording && fd >= 0 && (size_t)fd < m->cap_tracked && m->tracked[fd];
}

static void set_tracked(fsmodel_t *m, int fd, unsigned char on) {
  if (fd < 0) return;
  if ((size_t)fd >= m->cap_tracked) {
    size_t cap = m->cap_tracked ? m->cap_tracked : 64;
    while (cap <= (size_t)fd) cap *= 2;
    m->tracked = xrealloc(m->tracked, cap);
    memset(m->tracked + m->cap_tracked, 0, cap - m->cap_tracked);
    m->cap_tracked = cap;
  }
  m->tracked[fd] = on;
}

static int rec_open(const sf_io_t *io, const char *path, int flags, mode_t mode) {
  fsmodel_t *m = io->user;
  const sf_io_t *real = sf_io_default();
  int fd = real->open(real, path, flags, mode);
  if (fd < 0) return fd;
  char rel[PATH_MAX];
  /* A descriptor number is reused after close, so an untracked open must clear the mark too. */
  int tracked = m->recording && relative_path(m, path, rel) != NULL;
  set_tracked(m, fd, (unsigned char)tracked);
  if (tracked) {
    op_t *op = record(m, OP_OPEN);
    op->fd = fd;
    op->flags = flags;
    op->path = xstrdup(rel);
  }
  return fd;
}

static int rec_close(const sf_io_t *io, int fd) {
  fsmodel_t *m = io->user;
  if (is_tracked(m, fd)) record(m, OP_CLOSE)->fd = fd;
  set_tracked(m, fd, 0);
  const sf_io_t *real = sf_io_default();
  return real->close(real, fd);
}

static ssize_t rec_pread(const sf_io_t *io, int fd, void *buf, size_t len, off_t offset) {
  (void)io;
  const sf_io_t *real = sf_io_default();
  return real->pread(real, fd, buf, len, offset);
}

static ssize_t rec_pwrite(const sf_io_t *io, int fd, const void *buf, size_t len, off_t offset) {
  fsmodel_t *m = io->user;
  const sf_io_t *real = sf_io_default();
  ssize_t n = real->pwrite(real, fd, buf, len, offset);
  if (n > 0 && is_tracked(m, fd)) {
    /* Only the bytes the kernel took: a short write leaves the rest to the caller's next call. */
    op_t *op = record(m, OP_PWRITE);
    op->fd = fd;
    op->off = (uint64_t)offset;
    op->len = (uint64_t)n;
    op->data = xrealloc(NULL, (size_t)n);
    memcpy(op->data, buf, (size_t)n);
  }
  return n;
}

static int rec_sync(const sf_io_t *io, int fd, int full) {
  fsmodel_t *m = io->user;
  const sf_io_t *real = sf_io_default();
  int rc = full ? real->fsync(real, fd) : real->fdatasync(real, fd);
  /* A failed sync made nothing durable that the model could count on. */
  if (rc == 0 && is_tracked(m, fd)) record(m, full ? OP_FSYNC : OP_FDATASYNC)->fd = fd;
  return rc;
}

static int rec_fdatasync(const sf_io_t *io, int fd) {
  return rec_sync(io, fd, 0);
}

static int rec_fsync(const sf_io_t *io, int fd) {
  return rec_sync(io, fd, 1);
}

static int rec_fallocate(const sf_io_t *io, int fd, off_t offset, off_t len) {
  fsmodel_t *m = io->user;
  const sf_io_t *real = sf_io_default();
  int rc = real->fallocate(real, fd, offset, len);
  if (rc == 0 && is_tracked(m, fd)) {
    op_t *op = record(m, OP_FALLOCATE);
    op->fd = fd;
    op->off = (uint64_t)offset;
    op->len = (uint64_t)len;
  }
  return rc;
}

static int rec_ftruncate(const sf_io_t *io, int fd, off_t len) {
  fsmodel_t *m = io->user;
  const sf_io_t *real = sf_io_default();
  int rc = real->ftruncate(real, fd, len);
  if (rc == 0 && is_tracked(m, fd)) {
    op_t *op = record(m, OP_FTRUNCATE);
    op->fd = fd;
    op->len = (uint64_t)len;
  }
  return rc;
}

static int rec_fstat(const sf_io_t *io, int fd, struct stat *st) {
  (void)io;
  const sf_io_t *real = sf_io_default();
  return real->fstat(real, fd, st);
}

static int rec_rename(const sf_io_t *io, const char *from, const char *to) {
  fsmodel_t *m = io->user;
  const sf_io_t *real = sf_io_default();
  int rc = real->rename(real, from, to);
  if (rc == 0 && m->recording) {
    char a[PATH_MAX], b[PATH_MAX];
    int in_from = relative_path(m, from, a) != NULL, in_to = relative_path(m, to, b) != NULL;
    if (in_from && in_to) {
      op_t *op = record(m, OP_RENAME);
      op->path = xstrdup(a);
      op->path2 = xstrdup(b);
    } else if (in_from || in_to) {
      m->untracked_changes++;
    }
  }
  return rc;
}

static int rec_unlink(const sf_io_t *io, const char *path) {
  fsmodel_t *m = io->user;
  const sf_io_t *real = sf_io_default();
  int rc = real->unlink(real, path);
  char rel[PATH_MAX];
  if (rc == 0 && m->recording && relative_path(m, path, rel) != NULL) record(m, OP_UNLINK)->path = xstrdup(rel);
  return rc;
}

static int rec_mkdir(const sf_io_t *io, const char *path, mode_t mode) {
  fsmodel_t *m = io->user;
  const sf_io_t *real = sf_io_default();
  int rc = real->mkdir(real, path, mode);
  char rel[PATH_MAX];
  if (rc == 0 && m->recording && relative_path(m, path, rel) != NULL) record(m, OP_MKDIR)->path = xstrdup(rel);
  return rc;
}

static int rec_flock(const sf_io_t *io, int fd, int operation) {
  (void)io;
  const sf_io_t *real = sf_io_default();
  return real->flock(real, fd, operation);
}

static int rec_list(const sf_io_t *io, const char *dir, sf_io_list_cb cb, void *arg) {
  (void)io;
  const sf_io_t *real = sf_io_default();
  return real->list(real, dir, cb, arg);
}

/* Reads the base directory as it is before recording starts: all of it is durable. */
static int snapshot_dir(fsmodel_t *m, const char *rel) {
  char path[PATH_MAX];
  if ((size_t)snprintf(path, sizeof path, "%s%s%s", m->base, rel[0] ? "/" : "", rel) >= sizeof path)
    return -ENAMETOOLONG;
  DIR *d = opendir(path);
  if (d == NULL) return -errno;
  int rc = 0;
  struct dirent *e;
  while (rc == 0 && (e = readdir(d)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    char child_rel[PATH_MAX], child[PATH_MAX];
    if ((size_t)snprintf(child_rel, sizeof child_rel, "%s%s%s", rel, rel[0] ? "/" : "", e->d_name) >=
        sizeof child_rel) {
      rc = -ENAMETOOLONG;
      break;
    }
    if ((size_t)snprintf(child, sizeof child, "%s/%s", m->base, child_rel) >= sizeof child) {
      rc = -ENAMETOOLONG;
      break;
    }
    struct stat st;
    if (lstat(child, &st) != 0) {
      rc = -errno;
      break;
    }
    GROW(m->snap, m->nsnap, m->cap_snap);
    snap_entry_t *s = &m->snap[m->nsnap++];
    memset(s, 0, sizeof *s);
    s->path = xstrdup(child_rel);
    if (S_ISDIR(st.st_mode)) {
      s->is_dir = 1;
      rc = snapshot_dir(m, child_rel);
    } else if (S_ISREG(st.st_mode)) {
      int fd = open(child, O_RDONLY);
      if (fd < 0) {
        rc = -errno;
        break;
      }
      buf_resize(&s->data, (size_t)st.st_size);
      size_t got = 0;
      while (got < s->data.len) {
        ssize_t n = pread(fd, s->data.p + got, s->data.len - got, (off_t)got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
          rc = n < 0 ? -errno : -EIO;
          break;
        }
        got += (size_t)n;
      }
      close(fd);
    } else {
      rc = -EINVAL; /* the model knows files and directories only */
    }
  }
  closedir(d);
  return rc;
}

int fsmodel_create(const char *base, fsmodel_t **out) {
  fsmodel_t *m = xrealloc(NULL, sizeof *m);
  memset(m, 0, sizeof *m);
  char rel[PATH_MAX];
  /* Normalise the base with the same rules as every later path, then take it as the prefix: with an
   * empty base every path is inside, and rel is the normalised base without its leading '/'. */
  m->base[0] = '\0';
  if (relative_path(m, base, rel) == NULL || rel[0] == '\0') {
    free(m);
    return -EINVAL;
  }
  if ((size_t)snprintf(m->base, sizeof m->base, "/%s", rel) >= sizeof m->base) {
    free(m);
    return -ENAMETOOLONG;
  }
  int rc = snapshot_dir(m, "");
  if (rc != 0) {
    fsmodel_free(m);
    return rc;
  }
  m->io = (sf_io_t){
      .open = rec_open,
      .close = rec_close,
      .pread = rec_pread,
      .pwrite = rec_pwrite,
      .fdatasync = rec_fdatasync,
      .fsync = rec_fsync,
      .fallocate = rec_fallocate,
      .ftruncate = rec_ftruncate,
      .fstat = rec_fstat,
      .rename = rec_rename,
      .unlink = rec_unlink,
      .mkdir = rec_mkdir,
      .flock = rec_flock,
      .list = rec_list,
      .user = m,
  };
  m->recording = 1;
  *out = m;
  return 0;
}

void fsmodel_free(fsmodel_t *m) {
  if (m == NULL) return;
  for (size_t i = 0; i < m->nops; i++) {
    free(m->ops[i].path);
    free(m->ops[i].path2);
    free(m->ops[i].data);
  }
  for (size_t i = 0; i < m->nsnap; i++) {
    free(m->snap[i].path);
    free(m->snap[i].data.p);
  }
  free(m->ops);
  free(m->snap);
  free(m->tracked);
  free(m);
}

const sf_io_t *fsmodel_io(fsmodel_t *m) {
  return &m->io;
}

void fsmodel_ack(fsmodel_t *m, unsigned slot, uint64_t value) {
  if (!m->recording || slot >= FSMODEL_ACK_SLOTS) return;
  op_t *op = record(m, OP_ACK);
  op->slot = slot;
  op->value = value;
}

void fsmodel_stop(fsmodel_t *m) {
  m->recording = 0;
}

/* ---- the model -------------------------------------------------------------------------------- */

typedef enum { CH_WRITE, CH_FALLOCATE, CH_TRUNCATE } change_kind_t;

typedef struct {
  change_kind_t kind;
  uint64_t off, len; /* CH_TRUNCATE: len is the new size */
  const uint8_t *data;
} change_t;

typedef struct {
  const char *name; /* points into a recorded path or the snapshot: lives as long as the model */
  int ino;
} entry_t;

typedef struct {
  entry_t *v;
  size_t n, cap;
} dir_t;

typedef struct {
  int is_dir;
  const char *label; /* the last path it was known by, for messages */
  buf_t cur, dur;
  change_t *pending; /* changes since the last fdatasync/fsync, in order */
  size_t npending, cap_pending;
  dir_t cur_dir, dur_dir;
  size_t synced_prims; /* directories: namespace changes before this index are in dur_dir */
} inode_t;

/* One namespace change to one directory; a rename is two (remove, set) sharing a group, because
 * a journalling filesystem commits a rename whole or not at all. */
typedef struct {
  int dir;
  const char *name;
  int ino; /* -1: remove */
  size_t group;
} prim_t;

typedef struct {
  inode_t *in;
  size_t n, cap;
  prim_t *prims;
  size_t nprims, cap_prims, groups;
  int *fd_ino;
  size_t cap_fd;
  uint64_t acked[FSMODEL_ACK_SLOTS];
} world_t;

static int dir_index(const dir_t *d, const char *name, size_t len, int *found) {
  size_t lo = 0, hi = d->n;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    int c = strncmp(d->v[mid].name, name, len);
    if (c == 0 && d->v[mid].name[len] != '\0') c = 1;
    if (c == 0) {
      *found = 1;
      return (int)mid;
    }
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  *found = 0;
  return (int)lo;
}

static int dir_lookup(const dir_t *d, const char *name, size_t len) {
  int found, i = dir_index(d, name, len, &found);
  return found ? d->v[i].ino : -1;
}

static void dir_set(dir_t *d, const char *name, int ino) {
  int found, i = dir_index(d, name, strlen(name), &found);
  if (found) {
    d->v[i].ino = ino;
    return;
  }
  GROW(d->v, d->n, d->cap);
  memmove(&d->v[i + 1], &d->v[i], (d->n - (size_t)i) * sizeof *d->v);
  d->v[i] = (entry_t){name, ino};
  d->n++;
}

static void dir_remove(dir_t *d, const char *name) {
  int found, i = dir_index(d, name, strlen(name), &found);
  if (!found) return;
  memmove(&d->v[i], &d->v[i + 1], (d->n - (size_t)i - 1) * sizeof *d->v);
  d->n--;
}

static void dir_copy(dir_t *dst, const dir_t *src) {
  if (src->n > dst->cap) {
    dst->cap = src->n;
    dst->v = xrealloc(dst->v, dst->cap * sizeof *dst->v);
  }
  if (src->n) memcpy(dst->v, src->v, src->n * sizeof *src->v);
  dst->n = src->n;
}

static int dir_equal(const dir_t *a, const dir_t *b) {
  if (a->n != b->n) return 0;
  for (size_t i = 0; i < a->n; i++)
    if (a->v[i].ino != b->v[i].ino || strcmp(a->v[i].name, b->v[i].name) != 0) return 0;
  return 1;
}

static int new_inode(world_t *w, int is_dir, const char *label) {
  GROW(w->in, w->n, w->cap);
  inode_t *in = &w->in[w->n];
  memset(in, 0, sizeof *in);
  in->is_dir = is_dir;
  in->label = label;
  return (int)w->n++;
}

static void world_free(world_t *w) {
  for (size_t i = 0; i < w->n; i++) {
    free(w->in[i].cur.p);
    free(w->in[i].dur.p);
    free(w->in[i].pending);
    free(w->in[i].cur_dir.v);
    free(w->in[i].dur_dir.v);
  }
  free(w->in);
  free(w->prims);
  free(w->fd_ino);
}

/* Finds the directory holding rel and the last component, in the current namespace. Returns the
 * directory's inode or -1. rel "" (the base itself) gives -1 with *name NULL. */
static int resolve_parent(const world_t *w, const char *rel, const char **name) {
  *name = NULL;
  if (rel[0] == '\0') return -1;
  int dir = 0;
  const char *p = rel;
  for (;;) {
    const char *slash = strchr(p, '/');
    if (slash == NULL) {
      *name = p;
      return dir;
    }
    int child = dir_lookup(&w->in[dir].cur_dir, p, (size_t)(slash - p));
    if (child < 0 || !w->in[child].is_dir) return -1;
    dir = child;
    p = slash + 1;
  }
}

static void add_prim(world_t *w, int dir, const char *name, int ino, size_t group) {
  GROW(w->prims, w->nprims, w->cap_prims);
  w->prims[w->nprims++] = (prim_t){dir, name, ino, group};
  if (ino >= 0)
    dir_set(&w->in[dir].cur_dir, name, ino);
  else
    dir_remove(&w->in[dir].cur_dir, name);
}

static void add_change(inode_t *in, change_kind_t kind, uint64_t off, uint64_t len, const uint8_t *data) {
  GROW(in->pending, in->npending, in->cap_pending);
  in->pending[in->npending++] = (change_t){kind, off, len, data};
}

static void apply_change(buf_t *b, const change_t *c) {
  switch (c->kind) {
    case CH_WRITE:
      buf_write(b, (size_t)c->off, c->data, (size_t)c->len);
      break;
    case CH_FALLOCATE: /* mode 0: extends the size, reads as zeros, never shrinks */
      if (c->off + c->len > b->len) buf_resize(b, (size_t)(c->off + c->len));
      break;
    case CH_TRUNCATE:
      buf_resize(b, (size_t)c->len);
      break;
  }
}

static void world_init(world_t *w, const fsmodel_t *m) {
  memset(w, 0, sizeof *w);
  new_inode(w, 1, "");
  for (size_t i = 0; i < m->nsnap; i++) {
    const snap_entry_t *s = &m->snap[i];
    const char *name;
    int dir = resolve_parent(w, s->path, &name);
    int ino = new_inode(w, s->is_dir, s->path);
    buf_copy(&w->in[ino].cur, &s->data);
    buf_copy(&w->in[ino].dur, &s->data);
    /* Already durable: straight into both maps, no namespace change to undo. */
    dir_set(&w->in[dir].cur_dir, name, ino);
    dir_set(&w->in[dir].dur_dir, name, ino);
  }
}

static int fd_inode(const world_t *w, int fd) {
  return fd >= 0 && (size_t)fd < w->cap_fd ? w->fd_ino[fd] : -1;
}

static void set_fd(world_t *w, int fd, int ino) {
  if ((size_t)fd >= w->cap_fd) {
    size_t cap = w->cap_fd ? w->cap_fd : 64;
    while (cap <= (size_t)fd) cap *= 2;
    w->fd_ino = xrealloc(w->fd_ino, cap * sizeof *w->fd_ino);
    for (size_t i = w->cap_fd; i < cap; i++) w->fd_ino[i] = -1;
    w->cap_fd = cap;
  }
  w->fd_ino[fd] = ino;
}

/* Applies one recorded operation. Returns 1 if it changed what a crash could leave, 0 if not, or
 * -EINVAL if the stream does not make sense against the model (printed). */
static int replay(world_t *w, const op_t *op) {
  int ino;
  const char *name;
  switch (op->kind) {
    case OP_OPEN: {
      int dir = resolve_parent(w, op->path, &name);
      ino = op->path[0] ? (dir < 0 ? -1 : dir_lookup(&w->in[dir].cur_dir, name, strlen(name))) : 0;
      int changed = 0;
      if (ino < 0) {
        if (dir < 0 || !(op->flags & O_CREAT)) goto lost;
        ino = new_inode(w, 0, op->path);
        add_prim(w, dir, name, ino, w->groups++);
        changed = 1;
      } else if ((op->flags & O_TRUNC) && !w->in[ino].is_dir && (op->flags & O_ACCMODE) != O_RDONLY) {
        add_change(&w->in[ino], CH_TRUNCATE, 0, 0, NULL);
        buf_resize(&w->in[ino].cur, 0);
        changed = 1;
      }
      w->in[ino].label = op->path;
      set_fd(w, op->fd, ino);
      return changed;
    }
    case OP_CLOSE:
      if (fd_inode(w, op->fd) >= 0) set_fd(w, op->fd, -1);
      return 0;
    case OP_PWRITE:
    case OP_FALLOCATE:
    case OP_FTRUNCATE: {
      ino = fd_inode(w, op->fd);
      if (ino < 0 || w->in[ino].is_dir) goto lost;
      change_kind_t kind = op->kind == OP_PWRITE ? CH_WRITE : op->kind == OP_FALLOCATE ? CH_FALLOCATE : CH_TRUNCATE;
      add_change(&w->in[ino], kind, op->off, op->len, op->data);
      apply_change(&w->in[ino].cur, &w->in[ino].pending[w->in[ino].npending - 1]);
      return 1;
    }
    case OP_FDATASYNC:
    case OP_FSYNC: {
      ino = fd_inode(w, op->fd);
      if (ino < 0) goto lost;
      inode_t *in = &w->in[ino];
      /* fdatasync also makes a size change durable (it is needed to read the data back), so for this
       * model the two differ only in timestamps, which nothing here reads. Neither makes the file's
       * name durable: that takes an fsync of its directory. */
      if (in->is_dir) {
        dir_copy(&in->dur_dir, &in->cur_dir);
        in->synced_prims = w->nprims;
      } else {
        buf_copy(&in->dur, &in->cur);
        in->npending = 0;
      }
      return 1;
    }
    case OP_RENAME: {
      const char *to_name;
      int from_dir = resolve_parent(w, op->path, &name), to_dir = resolve_parent(w, op->path2, &to_name);
      if (from_dir < 0 || to_dir < 0) goto lost;
      ino = dir_lookup(&w->in[from_dir].cur_dir, name, strlen(name));
      if (ino < 0) goto lost;
      if (from_dir == to_dir && strcmp(name, to_name) == 0) return 0;
      size_t group = w->groups++;
      add_prim(w, from_dir, name, -1, group);
      add_prim(w, to_dir, to_name, ino, group);
      w->in[ino].label = op->path2;
      return 1;
    }
    case OP_UNLINK: {
      int dir = resolve_parent(w, op->path, &name);
      if (dir < 0 || dir_lookup(&w->in[dir].cur_dir, name, strlen(name)) < 0) goto lost;
      add_prim(w, dir, name, -1, w->groups++);
      return 1;
    }
    case OP_MKDIR: {
      int dir = resolve_parent(w, op->path, &name);
      if (dir < 0) goto lost;
      ino = new_inode(w, 1, op->path);
      add_prim(w, dir, name, ino, w->groups++);
      return 1;
    }
    case OP_ACK:
      if (op->value > w->acked[op->slot]) w->acked[op->slot] = op->value;
      return 1;
  }
lost:
  fprintf(stderr, "fsmodel: cannot follow op %d fd %d path %s\n", (int)op->kind, op->fd,
          op->path ? op->path : "(none)");
  return -EINVAL;
}

static void describe_op(const op_t *op, char *out, size_t size) {
  switch (op->kind) {
    case OP_OPEN:
      snprintf(out, size, "open %s%s%s -> fd %d", op->path, (op->flags & O_CREAT) ? " O_CREAT" : "",
               (op->flags & O_TRUNC) ? " O_TRUNC" : "", op->fd);
      break;
    case OP_CLOSE:
      snprintf(out, size, "close fd %d", op->fd);
      break;
    case OP_PWRITE:
      snprintf(out, size, "pwrite fd %d [%llu, %llu)", op->fd, (unsigned long long)op->off,
               (unsigned long long)(op->off + op->len));
      break;
    case OP_FALLOCATE:
      snprintf(out, size, "fallocate fd %d [%llu, %llu)", op->fd, (unsigned long long)op->off,
               (unsigned long long)(op->off + op->len));
      break;
    case OP_FTRUNCATE:
      snprintf(out, size, "ftruncate fd %d to %llu", op->fd, (unsigned long long)op->len);
      break;
    case OP_FDATASYNC:
      snprintf(out, size, "fdatasync fd %d", op->fd);
      break;
    case OP_FSYNC:
      snprintf(out, size, "fsync fd %d", op->fd);
      break;
    case OP_RENAME:
      snprintf(out, size, "rename %s -> %s", op->path, op->path2);
      break;
    case OP_UNLINK:
      snprintf(out, size, "unlink %s", op->path);
      break;
    case OP_MKDIR:
      snprintf(out, size, "mkdir %s", op->path);
      break;
    case OP_ACK:
      snprintf(out, size, "ack slot %u = %llu", op->slot, (unsigned long long)op->value);
      break;
  }
}

void fsmodel_print(const fsmodel_t *m, FILE *out) {
  for (size_t i = 0; i < m->nops; i++) {
    char line[PATH_MAX * 2 + 64];
    describe_op(&m->ops[i], line, sizeof line);
    fprintf(out, "    %4zu %s\n", i + 1, line);
  }
}

/* ---- enumeration ------------------------------------------------------------------------------ */

enum { DATA_DURABLE = 0, DATA_CURRENT = 1, DATA_SPECIAL = 2 };

typedef struct {
  world_t *w;
  const fsmodel_options_t *opt;
  const char *scratch;
  fsmodel_check_cb cb;
  void *arg;
  fsmodel_stats_t *stats;
  hashset_t disks, checked;
  /* per crash point */
  size_t point;
  char point_desc[256];
  dir_t **ns;      /* ns[k][ino]: the namespace with the first k unsynced change groups applied */
  size_t ns_count; /* k = 0..ns_count-1 */
  size_t ns_cap;
  int *choice; /* per inode: DATA_DURABLE, DATA_CURRENT or DATA_SPECIAL */
  size_t cap_choice;
  hash_t *cur_hash, *dur_hash;
  buf_t special; /* the one file build_special made: a prefix, torn or reordered version of its changes */
  hash_t special_hash;
  int reordered;
  char data_desc[512];
  int error;
} enum_t;

static const buf_t *content(const enum_t *e, int ino) {
  switch (e->choice[ino]) {
    case DATA_CURRENT:
      return &e->w->in[ino].cur;
    case DATA_SPECIAL:
      return &e->special;
    default:
      return &e->w->in[ino].dur;
  }
}

static hash_t content_hash(const enum_t *e, int ino) {
  switch (e->choice[ino]) {
    case DATA_CURRENT:
      return e->cur_hash[ino];
    case DATA_SPECIAL:
      return e->special_hash;
    default:
      return e->dur_hash[ino];
  }
}

static void hash_tree(const enum_t *e, const dir_t *ns, int dir, hash_t *h, int depth) {
  if (depth > 64) return; /* a directory cannot contain itself; this only guards the recursion */
  const dir_t *d = &ns[dir];
  for (size_t i = 0; i < d->n; i++) {
    int ino = d->v[i].ino;
    hash_bytes(h, (const uint8_t *)d->v[i].name, strlen(d->v[i].name));
    if (e->w->in[ino].is_dir) {
      hash_u64(h, 'D');
      hash_tree(e, ns, ino, h, depth + 1);
      hash_u64(h, 'E');
    } else {
      hash_t c = content_hash(e, ino);
      hash_u64(h, 'F');
      hash_u64(h, c.a);
      hash_u64(h, c.b);
    }
  }
}

static int write_file(const char *path, const buf_t *b) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) return -errno;
  size_t done = 0;
  while (done < b->len) {
    ssize_t n = write(fd, b->p + done, b->len - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int rc = n < 0 ? -errno : -EIO;
      close(fd);
      return rc;
    }
    done += (size_t)n;
  }
  return close(fd) < 0 ? -errno : 0;
}

static int materialize(const enum_t *e, const dir_t *ns, int dir, const char *path, int depth) {
  if (depth > 64) return -ELOOP;
  const dir_t *d = &ns[dir];
  for (size_t i = 0; i < d->n; i++) {
    char child[PATH_MAX];
    if ((size_t)snprintf(child, sizeof child, "%s/%s", path, d->v[i].name) >= sizeof child) return -ENAMETOOLONG;
    int ino = d->v[i].ino, rc;
    if (e->w->in[ino].is_dir) {
      rc = mkdir(child, 0755) < 0 ? -errno : 0;
      if (rc == 0) rc = materialize(e, ns, ino, child, depth + 1);
    } else {
      rc = write_file(child, content(e, ino));
    }
    if (rc != 0) return rc;
  }
  return 0;
}

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw) {
  (void)st;
  (void)type;
  (void)ftw;
  return remove(path) < 0 ? -1 : 0;
}

int fsmodel_remove_tree(const char *path) {
  struct stat st;
  if (lstat(path, &st) != 0) return errno == ENOENT ? 0 : -errno;
  return nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS) == 0 ? 0 : -errno;
}

/* Builds, deduplicates and checks the current data choice under every namespace variant. */
static void try_variant(enum_t *e) {
  if (e->error) return;
  for (size_t k = 0; k < e->ns_count; k++) {
    e->stats->candidates++;
    hash_t h = {0x243F6A8885A308D3ULL, 0x13198A2E03707344ULL};
    hash_tree(e, e->ns[k], 0, &h, 0);
    if (hashset_add(&e->disks, h)) e->stats->distinct_disks++;
    /* The same bytes after more acknowledgements must be checked again: more is promised then. */
    hash_t ha = h;
    for (unsigned s = 0; s < FSMODEL_ACK_SLOTS; s++) hash_u64(&ha, e->w->acked[s]);
    if (!hashset_add(&e->checked, ha)) continue;

    int rc = fsmodel_remove_tree(e->scratch);
    if (rc == 0) rc = mkdir(e->scratch, 0755) < 0 ? -errno : 0;
    if (rc == 0) rc = materialize(e, e->ns[k], 0, e->scratch, 0);
    if (rc != 0) {
      fprintf(stderr, "fsmodel: cannot write a crash state into %s: %s\n", e->scratch, strerror(-rc));
      e->error = rc;
      return;
    }
    char names[96], desc[1024];
    if (k == 0)
      snprintf(names, sizeof names, "durable names");
    else if (k + 1 == e->ns_count)
      snprintf(names, sizeof names, "current names");
    else
      snprintf(names, sizeof names, "durable names + first %zu of %zu unsynced changes", k, e->ns_count - 1);
    snprintf(desc, sizeof desc, "crash point %zu (%s); %s; %s", e->point, e->point_desc, names, e->data_desc);
    fsmodel_state_t state = {e->scratch, e->point, {0}, e->reordered, desc};
    memcpy(state.acked, e->w->acked, sizeof state.acked);
    e->stats->checked++;
    if (e->cb(&state, e->arg) != 0) {
      e->stats->failed++;
      if (e->reordered) e->stats->reordered_failed++;
    }
  }
}

/* The special file's bytes: its durable bytes plus its first `count` unsynced changes, then (if
 * part_end > part_start) bytes [part_start, part_end) of change `count`, which must be a write.
 * hole_start/hole_end (hole_end > hole_start): apply every change, but not bytes [hole_start, hole_end)
 * of change `count`. zero_fill: a torn write that extends the file leaves its whole range in the size,
 * zeros where the data never arrived. */
static void build_special(enum_t *e, int ino, size_t count, uint64_t part_end, int zero_fill, uint64_t hole_start,
                          uint64_t hole_end) {
  const inode_t *in = &e->w->in[ino];
  buf_copy(&e->special, &in->dur);
  for (size_t i = 0; i < count && i < in->npending; i++) apply_change(&e->special, &in->pending[i]);
  if (count < in->npending && in->pending[count].kind == CH_WRITE) {
    const change_t *c = &in->pending[count];
    if (hole_end > hole_start) {
      uint64_t a = hole_start > c->off ? hole_start : c->off,
               b = hole_end < c->off + c->len ? hole_end : c->off + c->len;
      buf_write(&e->special, (size_t)c->off, c->data, (size_t)(a - c->off));
      buf_write(&e->special, (size_t)b, c->data + (b - c->off), (size_t)(c->off + c->len - b));
      if (c->off + c->len > e->special.len) buf_resize(&e->special, (size_t)(c->off + c->len));
      for (size_t i = count + 1; i < in->npending; i++) apply_change(&e->special, &in->pending[i]);
    } else if (part_end > c->off) {
      buf_write(&e->special, (size_t)c->off, c->data, (size_t)(part_end - c->off));
      if (zero_fill && c->off + c->len > e->special.len) buf_resize(&e->special, (size_t)(c->off + c->len));
    }
  }
  e->special_hash = hash_of(e->special.p, e->special.len);
  e->choice[ino] = DATA_SPECIAL;
}

/* The cut points of a write [off, off + len) torn at `tear`-byte boundaries of the file, sampled
 * evenly down to max when there are more. */
static size_t cut_points(const enum_t *e, uint64_t off, uint64_t len, uint64_t tear, uint64_t *out, size_t cap) {
  size_t n = 0;
  for (uint64_t b = (off / tear + 1) * tear; b < off + len && n < cap; b += tear) out[n++] = b;
  size_t max = e->opt->max_torn_points;
  if (max == 0 || n <= max) return n;
  e->stats->sampled = 1;
  /* Deterministic: evenly spaced, always keeping the first and the last boundary. */
  for (size_t i = 0; i < max; i++) out[i] = out[max > 1 ? i * (n - 1) / (max - 1) : 0];
  return max;
}

static void torn_variants(enum_t *e, int ino, const char *others) {
  const inode_t *in = &e->w->in[ino];
  static uint64_t cuts[1 << 16];
  for (size_t j = 0; j < in->npending; j++) {
    build_special(e, ino, j, 0, 0, 0, 0);
    snprintf(e->data_desc, sizeof e->data_desc, "%s: first %zu of %zu unsynced changes; %s", in->label, j, in->npending,
             others);
    try_variant(e);
    const change_t *c = &in->pending[j];
    if (c->kind != CH_WRITE) continue;
    static const uint64_t tears[] = {512, 4096};
    for (size_t t = 0; t < 2; t++) {
      size_t n = cut_points(e, c->off, c->len, tears[t], cuts, sizeof cuts / sizeof cuts[0]);
      for (size_t i = 0; i < n; i++)
        for (int zero_fill = 0; zero_fill < 2; zero_fill++) {
          build_special(e, ino, j, cuts[i], zero_fill, 0, 0);
          snprintf(e->data_desc, sizeof e->data_desc,
                   "%s: first %zu of %zu unsynced changes, then write [%llu, %llu) torn at %llu (%llu-byte tear%s); %s",
                   in->label, j, in->npending, (unsigned long long)c->off, (unsigned long long)(c->off + c->len),
                   (unsigned long long)cuts[i], (unsigned long long)tears[t], zero_fill ? ", rest zero-filled" : "",
                   others);
          try_variant(e);
        }
    }
    if (e->opt->flags & FSMODEL_REORDER) {
      e->reordered = 1;
      for (uint64_t page = c->off / 4096 * 4096; page < c->off + c->len; page += 4096) {
        build_special(e, ino, j, 0, 0, page, page + 4096);
        snprintf(e->data_desc, sizeof e->data_desc,
                 "%s: every unsynced change but page [%llu, %llu) of write [%llu, %llu) (reordered writeback); %s",
                 in->label, (unsigned long long)page, (unsigned long long)(page + 4096), (unsigned long long)c->off,
                 (unsigned long long)(c->off + c->len), others);
        try_variant(e);
      }
      e->reordered = 0;
    }
  }
}

static int enumerate_point(enum_t *e) {
  world_t *w = e->w;
  e->stats->crash_points++;

  /* Namespace variants: the unsynced change groups, in the order they were made. */
  size_t *unsynced = xrealloc(NULL, (w->nprims + 1) * sizeof *unsynced);
  size_t nunsynced = 0, ngroups = 0;
  for (size_t i = 0; i < w->nprims; i++)
    if (i >= w->in[w->prims[i].dir].synced_prims) unsynced[nunsynced++] = i;
  for (size_t i = 0; i < nunsynced; i++)
    if (i == 0 || w->prims[unsynced[i]].group != w->prims[unsynced[i - 1]].group) ngroups++;
  e->ns_count = ngroups + 1;
  if (e->ns_count > e->ns_cap) {
    e->ns = xrealloc(e->ns, e->ns_count * sizeof *e->ns);
    for (size_t k = e->ns_cap; k < e->ns_count; k++) e->ns[k] = NULL;
    e->ns_cap = e->ns_count;
  }
  for (size_t k = 0, next = 0; k < e->ns_count; k++) {
    e->ns[k] = xrealloc(e->ns[k], w->n * sizeof **e->ns);
    for (size_t i = 0; i < w->n; i++) {
      e->ns[k][i] = (dir_t){NULL, 0, 0};
      if (w->in[i].is_dir) dir_copy(&e->ns[k][i], k == 0 ? &w->in[i].dur_dir : &e->ns[k - 1][i]);
    }
    if (k == 0) continue;
    size_t group = w->prims[unsynced[next]].group;
    for (; next < nunsynced && w->prims[unsynced[next]].group == group; next++) {
      const prim_t *p = &w->prims[unsynced[next]];
      if (p->ino >= 0)
        dir_set(&e->ns[k][p->dir], p->name, p->ino);
      else
        dir_remove(&e->ns[k][p->dir], p->name);
    }
  }
  free(unsynced);
  /* Self-check: every unsynced change applied to the durable namespace gives the current one. */
  for (size_t i = 0; i < w->n; i++)
    if (w->in[i].is_dir && !dir_equal(&e->ns[e->ns_count - 1][i], &w->in[i].cur_dir)) {
      fprintf(stderr, "fsmodel: namespace model inconsistent at crash point %zu\n", e->point);
      e->error = -EINVAL;
    }

  if (w->n > e->cap_choice) {
    e->cap_choice = w->n;
    e->choice = xrealloc(e->choice, w->n * sizeof *e->choice);
    e->cur_hash = xrealloc(e->cur_hash, w->n * sizeof *e->cur_hash);
    e->dur_hash = xrealloc(e->dur_hash, w->n * sizeof *e->dur_hash);
  }
  int *unsynced_files = xrealloc(NULL, w->n * sizeof *unsynced_files);
  size_t nu = 0;
  for (size_t i = 0; i < w->n; i++) {
    e->cur_hash[i] = hash_of(w->in[i].cur.p, w->in[i].cur.len);
    e->dur_hash[i] = hash_of(w->in[i].dur.p, w->in[i].dur.len);
    if (!w->in[i].is_dir && w->in[i].npending > 0) unsynced_files[nu++] = (int)i;
  }

  /* Whole-file choices: every subset of the unsynced files current, the rest durable (just "all"
   * and "none" if there are many). */
  size_t subsets = nu <= 6 ? (size_t)1 << nu : 2;
  for (size_t s = 0; s < subsets && !e->error; s++) {
    size_t mask = nu <= 6 ? s : (s ? ((size_t)1 << nu) - 1 : 0);
    for (size_t i = 0; i < w->n; i++) e->choice[i] = DATA_DURABLE;
    int n = 0;
    for (size_t i = 0; i < nu; i++)
      if (mask & ((size_t)1 << i)) e->choice[unsynced_files[i]] = DATA_CURRENT, n++;
    snprintf(e->data_desc, sizeof e->data_desc, "%s data (%d of %zu unsynced files current)",
             n == 0            ? "durable"
             : (size_t)n == nu ? "current"
                               : "mixed",
             n, nu);
    try_variant(e);
  }
  /* Torn files: one file torn, every other unsynced file durable, then every other one current. */
  for (size_t f = 0; f < nu && !e->error; f++)
    for (int others = DATA_DURABLE; others <= (nu > 1 ? DATA_CURRENT : DATA_DURABLE); others++) {
      for (size_t i = 0; i < w->n; i++) e->choice[i] = DATA_DURABLE;
      for (size_t i = 0; i < nu; i++) e->choice[unsynced_files[i]] = others;
      torn_variants(e, unsynced_files[f], others == DATA_CURRENT ? "other files current" : "other files durable");
    }
  free(unsynced_files);
  for (size_t k = 0; k < e->ns_count; k++)
    for (size_t i = 0; i < w->n; i++) free(e->ns[k][i].v);
  return e->error;
}

int fsmodel_copy_tree(const char *from, const char *to) {
  if (mkdir(to, 0755) != 0) return -errno;
  DIR *d = opendir(from);
  if (d == NULL) return -errno;
  int rc = 0;
  struct dirent *e;
  while (rc == 0 && (e = readdir(d)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    char a[PATH_MAX], b[PATH_MAX];
    if ((size_t)snprintf(a, sizeof a, "%s/%s", from, e->d_name) >= sizeof a ||
        (size_t)snprintf(b, sizeof b, "%s/%s", to, e->d_name) >= sizeof b) {
      rc = -ENAMETOOLONG;
      break;
    }
    struct stat st;
    if (lstat(a, &st) != 0) {
      rc = -errno;
    } else if (S_ISDIR(st.st_mode)) {
      rc = fsmodel_copy_tree(a, b);
    } else {
      buf_t data = {NULL, 0, 0};
      int fd = open(a, O_RDONLY);
      if (fd < 0) {
        rc = -errno;
        break;
      }
      buf_resize(&data, (size_t)st.st_size);
      for (size_t got = 0; rc == 0 && got < data.len;) {
        ssize_t n = pread(fd, data.p + got, data.len - got, (off_t)got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0)
          rc = n < 0 ? -errno : -EIO;
        else
          got += (size_t)n;
      }
      close(fd);
      if (rc == 0) rc = write_file(b, &data);
      free(data.p);
    }
  }
  closedir(d);
  return rc;
}

int fsmodel_enumerate(fsmodel_t *m, const fsmodel_options_t *options, const char *scratch, fsmodel_check_cb cb,
                      void *arg, fsmodel_stats_t *stats) {
  static const fsmodel_options_t defaults = {0, 0};
  world_t w;
  enum_t e;
  memset(&e, 0, sizeof e);
  memset(stats, 0, sizeof *stats);
  if (m->untracked_changes) {
    fprintf(stderr, "fsmodel: %zu renames crossed the base directory; the model cannot follow them\n",
            m->untracked_changes);
    return -EINVAL;
  }
  world_init(&w, m);
  e.w = &w;
  e.opt = options ? options : &defaults;
  e.scratch = scratch;
  e.cb = cb;
  e.arg = arg;
  e.stats = stats;
  snprintf(e.point_desc, sizeof e.point_desc, "before the first operation");
  /* Acknowledgements before the first operation describe the starting state. */
  size_t first = 0;
  while (first < m->nops && m->ops[first].kind == OP_ACK) replay(&w, &m->ops[first++]);
  int rc = enumerate_point(&e);
  for (size_t i = first; i < m->nops && rc == 0; i++) {
    int changed = replay(&w, &m->ops[i]);
    if (changed < 0) {
      rc = changed;
      break;
    }
    if (m->ops[i].kind != OP_ACK && changed) stats->ops++;
    if (!changed) continue;
    e.point = i + 1;
    describe_op(&m->ops[i], e.point_desc, sizeof e.point_desc);
    rc = enumerate_point(&e);
  }
  int rm = fsmodel_remove_tree(scratch);
  if (rc == 0) rc = rm;
  for (size_t k = 0; k < e.ns_cap; k++) free(e.ns[k]);
  free(e.ns);
  free(e.choice);
  free(e.cur_hash);
  free(e.dur_hash);
  free(e.special.p);
  free(e.disks.v);
  free(e.checked.v);
  world_free(&w);
  return rc;
}
