/* io.c: the system-call table the checkpoint store and the log do all their I/O through, and the
 * durable-I/O helpers both use (write loops, directory fsync, error names).
 *
 * Every entry returns what the system call returns on success and -errno on failure, so a test's
 * replacement (fail the Nth fdatasync with EIO, return short writes) is a one-line function.
 * Nothing here retries an fsync: after a failed fsync or fdatasync the kernel may already have dropped
 * the dirty pages and cleared the error (the 2018 "fsyncgate" discussion), so a retry that succeeds
 * proves nothing. Callers close such a descriptor and start again from a new file. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "steadfast/store.h"

static int io_open(const sf_io_t *io, const char *path, int flags, mode_t mode) {
  (void)io;
  int fd = open(path, flags | O_CLOEXEC, mode);
  return fd < 0 ? -errno : fd;
}

static int io_close(const sf_io_t *io, int fd) {
  (void)io;
  /* On Linux the descriptor is released even when close() reports an error (EINTR included), so it is
   * never retried. */
  return close(fd) < 0 ? -errno : 0;
}

static ssize_t io_pread(const sf_io_t *io, int fd, void *buf, size_t len, off_t offset) {
  (void)io;
  ssize_t n = pread(fd, buf, len, offset);
  return n < 0 ? -errno : n;
}

static ssize_t io_pwrite(const sf_io_t *io, int fd, const void *buf, size_t len, off_t offset) {
  (void)io;
  ssize_t n = pwrite(fd, buf, len, offset);
  return n < 0 ? -errno : n;
}

static int io_fdatasync(const sf_io_t *io, int fd) {
  (void)io;
  return fdatasync(fd) < 0 ? -errno : 0;
}

static int io_fsync(const sf_io_t *io, int fd) {
  (void)io;
  return fsync(fd) < 0 ? -errno : 0;
}

static int io_fallocate(const sf_io_t *io, int fd, off_t offset, off_t len) {
  (void)io;
  /* fallocate(2), not posix_fallocate(3): glibc's emulation writes a byte per block where the
   * filesystem has no fallocate, which would cost a second write of the whole file. Callers treat
   * -EOPNOTSUPP as "no reservation possible here". */
  return fallocate(fd, 0, offset, len) < 0 ? -errno : 0;
}

static int io_ftruncate(const sf_io_t *io, int fd, off_t len) {
  (void)io;
  return ftruncate(fd, len) < 0 ? -errno : 0;
}

static int io_fstat(const sf_io_t *io, int fd, struct stat *st) {
  (void)io;
  return fstat(fd, st) < 0 ? -errno : 0;
}

static int io_rename(const sf_io_t *io, const char *from, const char *to) {
  (void)io;
  return rename(from, to) < 0 ? -errno : 0;
}

static int io_unlink(const sf_io_t *io, const char *path) {
  (void)io;
  return unlink(path) < 0 ? -errno : 0;
}

static int io_mkdir(const sf_io_t *io, const char *path, mode_t mode) {
  (void)io;
  return mkdir(path, mode) < 0 ? -errno : 0;
}

static int io_flock(const sf_io_t *io, int fd, int operation) {
  (void)io;
  int rc;
  do rc = flock(fd, operation);
  while (rc < 0 && errno == EINTR);
  return rc < 0 ? -errno : 0;
}

static int io_list(const sf_io_t *io, const char *dir, sf_io_list_cb cb, void *arg) {
  (void)io;
  DIR *d = opendir(dir);
  if (d == NULL) return -errno;
  int rc = 0;
  for (;;) {
    errno = 0;
    struct dirent *entry = readdir(d);
    if (entry == NULL) {
      rc = -errno; /* 0 at the end of the directory */
      break;
    }
    if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0) continue;
    rc = cb(entry->d_name, arg);
    if (rc != 0) break;
  }
  closedir(d);
  return rc;
}

static const sf_io_t sf__io_default = {
    .open = io_open,
    .close = io_close,
    .pread = io_pread,
    .pwrite = io_pwrite,
    .fdatasync = io_fdatasync,
    .fsync = io_fsync,
    .fallocate = io_fallocate,
    .ftruncate = io_ftruncate,
    .fstat = io_fstat,
    .rename = io_rename,
    .unlink = io_unlink,
    .mkdir = io_mkdir,
    .flock = io_flock,
    .list = io_list,
    .user = NULL,
};

const sf_io_t *sf_io_default(void) {
  return &sf__io_default;
}

int sf_io_write_all(const sf_io_t *io, int fd, const void *buf, size_t len, off_t offset) {
  const unsigned char *p = buf;
  while (len > 0) {
    ssize_t n = io->pwrite(io, fd, p, len, offset);
    if (n == -EINTR) continue;
    if (n < 0) return (int)n;
    /* A write of zero bytes for a nonzero request makes no progress and would loop forever; the
     * kernel only does that on a device in trouble. */
    if (n == 0) return -EIO;
    p += n;
    len -= (size_t)n;
    offset += n;
  }
  return 0;
}

int sf_io_read_all(const sf_io_t *io, int fd, void *buf, size_t len, off_t offset, size_t *got) {
  unsigned char *p = buf;
  size_t total = 0;
  while (total < len) {
    ssize_t n = io->pread(io, fd, p + total, len - total, offset + (off_t)total);
    if (n == -EINTR) continue;
    if (n < 0) {
      if (got != NULL) *got = total;
      return (int)n;
    }
    if (n == 0) break; /* end of file */
    total += (size_t)n;
  }
  if (got != NULL) *got = total;
  return 0;
}

int sf_io_fsync_dir(const sf_io_t *io, const char *dir) {
  /* A new or renamed name is durable only once its directory is: fsync(2) on the file covers its data
   * and inode, not the directory entry that points at it. */
  int fd = io->open(io, dir, O_RDONLY | O_DIRECTORY, 0);
  if (fd < 0) return fd;
  int rc = io->fsync(io, fd);
  io->close(io, fd);
  return rc;
}

const char *sf_store_error_name(int code) {
  switch (code) {
    case 0:
      return "OK";
    case SF_ECORRUPT:
      return "SF_CORRUPT";
    case SF_ELOCKED:
      return "SF_LOCKED";
    case SF_EVERSION:
      return "SF_VERSION";
    case SF_EFORMAT:
      return "SF_FORMAT";
    case SF_ECLOSED:
      return "SF_CLOSED";
    case SF_EFAILED:
      return "SF_FAILED";
    case SF_EEMPTY:
      return "SF_EMPTY";
  }
  /* The errno values the native code can meet (file I/O of the stores, sockets and threads of the
   * heartbeat engine); names as Node.js reports them (err.code). */
  static const struct {
    int value;
    const char *name;
  } names[] = {
      {EIO, "EIO"},
      {ENOSPC, "ENOSPC"},
      {EDQUOT, "EDQUOT"},
      {EACCES, "EACCES"},
      {EPERM, "EPERM"},
      {EROFS, "EROFS"},
      {ENOENT, "ENOENT"},
      {ENOTDIR, "ENOTDIR"},
      {EISDIR, "EISDIR"},
      {EEXIST, "EEXIST"},
      {ENOTEMPTY, "ENOTEMPTY"},
      {EINTR, "EINTR"},
      {EAGAIN, "EAGAIN"},
      {EBADF, "EBADF"},
      {EINVAL, "EINVAL"},
      {ENAMETOOLONG, "ENAMETOOLONG"},
      {EMFILE, "EMFILE"},
      {ENFILE, "ENFILE"},
      {ENOMEM, "ENOMEM"},
      {EXDEV, "EXDEV"},
      {EFBIG, "EFBIG"},
      {ELOOP, "ELOOP"},
      {EBUSY, "EBUSY"},
      {ETXTBSY, "ETXTBSY"},
      {EOPNOTSUPP, "EOPNOTSUPP"},
      {EOVERFLOW, "EOVERFLOW"},
      {ESTALE, "ESTALE"},
      {ENOSYS, "ENOSYS"},
      {ETIMEDOUT, "ETIMEDOUT"},
      {ENOLCK, "ENOLCK"},
      {EREMOTEIO, "EREMOTEIO"},
      {EADDRINUSE, "EADDRINUSE"},
      {EADDRNOTAVAIL, "EADDRNOTAVAIL"},
      {EAFNOSUPPORT, "EAFNOSUPPORT"},
      {EPROTONOSUPPORT, "EPROTONOSUPPORT"},
      {ENOBUFS, "ENOBUFS"},
      {EMSGSIZE, "EMSGSIZE"},
      {ENETUNREACH, "ENETUNREACH"},
      {EHOSTUNREACH, "EHOSTUNREACH"},
      {ECONNREFUSED, "ECONNREFUSED"},
      {ENODEV, "ENODEV"},
  };
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    if (-names[i].value == code) return names[i].name;
  }
  return "EUNKNOWN";
}
