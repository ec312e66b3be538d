/* steadfast/store.h: durable state. A checkpoint store (whole snapshots, mirrored over several
 * directories) and an append-only log (every change between snapshots), with the I/O they do routed
 * through one table of system calls that tests can replace.
 *
 * Errors follow libuv: a function returns 0 or a negative number, either -errno (-EIO, -ENOSPC, ...)
 * or one of the SF_E* codes below; values come back through out-parameters. Functions that can fail
 * for a reason worth telling the user about also fill an sf_store_error_t with the path, offset and
 * LSNs concerned. The file formats are specified, with byte offsets, in docs/format.md.
 *
 * Threads: a store or log handle may be used from one thread at a time, except where a function says
 * otherwise (sf_log_append and sf_log_commit are safe to call concurrently with each other). Every
 * function may block on disk I/O: call them from worker threads (libuv's pool), never from the JS
 * thread.
 */
#ifndef STEADFAST_STORE_H
#define STEADFAST_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Errors ------------------------------------------------------------------------------------ */

/* Project error codes, below every errno value. */
#define SF_ECORRUPT (-30001) /* stored data failed a check (CRC, length, sequence) */
#define SF_ELOCKED (-30002)  /* another process (or handle) holds the store or log */
#define SF_EVERSION (-30003) /* written by a newer, incompatible format version */
#define SF_EFORMAT (-30004)  /* not a steadfast file at all (wrong magic, too short) */
#define SF_ECLOSED (-30005)  /* the handle was closed */
#define SF_EFAILED (-30006)  /* an earlier write or sync failed; the handle refuses further writes */
#define SF_EEMPTY (-30007)   /* nothing valid to load, although files were there */

/* The stable name of an error code: "EIO", "ENOSPC", "SF_CORRUPT", "SF_LOCKED", ... ("EUNKNOWN" for
 * a code without a name here). Never NULL. */
const char *sf_store_error_name(int code);

typedef struct sf_store_error_s {
  int code;           /* same value the function returned */
  char path[4096];    /* file or directory concerned, "" if none */
  char message[512];  /* one sentence for humans, without the path */
  int64_t offset;     /* byte offset in path, -1 if none */
  uint64_t lsn_first; /* log: first LSN concerned (0 if none) */
  uint64_t lsn_last;  /* log: last LSN concerned (0 if none) */
  int64_t pid;        /* SF_ELOCKED: pid of the holder as it recorded itself, 0 if unknown */
} sf_store_error_t;

/* ---- System-call table (SQLite os_unix.c style) ------------------------------------------------ */

/* Every system call the store and the log make goes through one of these. Each returns what the
 * system call returns on success and -errno on failure (never -1 with errno). A test can copy
 * sf_io_default(), replace entries (to fail the Nth pwrite with EIO, return short writes or EINTR,
 * count fsyncs or record every operation) and pass its table to sf_ckpt_open/sf_log_open. `user` is
 * the test's own pointer. The table must outlive every handle opened with it. */
typedef struct sf_io_s sf_io_t;
typedef int (*sf_io_list_cb)(const char *name, void *arg); /* nonzero return stops the listing */
struct sf_io_s {
  int (*open)(const sf_io_t *io, const char *path, int flags, mode_t mode);
  int (*close)(const sf_io_t *io, int fd);
  ssize_t (*pread)(const sf_io_t *io, int fd, void *buf, size_t len, off_t offset);
  ssize_t (*pwrite)(const sf_io_t *io, int fd, const void *buf, size_t len, off_t offset);
  int (*fdatasync)(const sf_io_t *io, int fd);
  int (*fsync)(const sf_io_t *io, int fd);                              /* also used on directory descriptors */
  int (*fallocate)(const sf_io_t *io, int fd, off_t offset, off_t len); /* mode 0 */
  int (*ftruncate)(const sf_io_t *io, int fd, off_t len);
  int (*fstat)(const sf_io_t *io, int fd, struct stat *st);
  int (*rename)(const sf_io_t *io, const char *from, const char *to);
  int (*unlink)(const sf_io_t *io, const char *path);
  int (*mkdir)(const sf_io_t *io, const char *path, mode_t mode);
  int (*flock)(const sf_io_t *io, int fd, int operation);
  /* Calls cb for every entry of dir except "." and ".."; returns 0, -errno, or cb's nonzero value. */
  int (*list)(const sf_io_t *io, const char *dir, sf_io_list_cb cb, void *arg);
  void *user;
};

/* The table of real system calls. */
const sf_io_t *sf_io_default(void);

/* Durable-I/O helpers over a table, shared by the store and the log (and usable by tests).
 * sf_io_write_all writes len bytes at offset, retrying on EINTR and continuing after short writes;
 * a write that makes no progress (returns 0) is -EIO. sf_io_read_all likewise; it stops early only at
 * end of file and reports the bytes read through *got. sf_io_fsync_dir opens dir read-only, fsyncs it
 * and closes it. */
int sf_io_write_all(const sf_io_t *io, int fd, const void *buf, size_t len, off_t offset);
int sf_io_read_all(const sf_io_t *io, int fd, void *buf, size_t len, off_t offset, size_t *got);
int sf_io_fsync_dir(const sf_io_t *io, const char *dir);

/* ---- Checkpoint store ------------------------------------------------------------------------------
 * A store is one or more directories (mirrors, ideally on different disks). A save writes the same
 * file, ckpt-<generation as 16 hex digits>.sfc, to each directory in turn, each through a temporary
 * file, fallocate, a write loop, fdatasync, rename and an fsync of the directory, and returns only
 * when every mirror holds it durably. A load picks the newest generation that has a valid copy (or
 * one that can be pieced together chunk by chunk from several damaged copies), repairs the other
 * mirrors from it and reports what it repaired. */

typedef struct sf_ckpt_s sf_ckpt_t;

typedef struct sf_ckpt_options_s {
  const char *const *dirs; /* mirror directories; each must exist */
  size_t dir_count;        /* 1..SF_CKPT_MAX_DIRS */
  uint32_t keep;           /* generations to keep, >= 1 (0 means the default, 2) */
  uint32_t chunk_size;     /* payload chunk covered by one CRC: power of two, 4 KiB..16 MiB (0: 64 KiB) */
  const sf_io_t *io;       /* NULL: sf_io_default() */
} sf_ckpt_options_t;

#define SF_CKPT_MAX_DIRS 16

/* Opens a store: takes the lock in every directory (SF_ELOCKED naming the holder's pid when another
 * handle has it), removes temporary files a crashed save left behind and finds the highest generation
 * present. */
int sf_ckpt_open(const sf_ckpt_options_t *options, sf_ckpt_t **out, sf_store_error_t *err);
/* Releases the locks and frees the handle. Always succeeds. */
void sf_ckpt_close(sf_ckpt_t *store);

/* Saves payload as the next generation, durable in every mirror, then deletes generations beyond
 * `keep`. `lsn` is the log position the snapshot covers (0: none). On an error *generation is
 * normally untouched; it is set anyway when the new file is already in place in every mirror (a failed
 * directory fsync or a failed prune), since the new generation is then kept and a load may return it. */
int sf_ckpt_save(sf_ckpt_t *store, const void *payload, size_t len, uint64_t lsn, uint64_t *generation,
                 sf_store_error_t *err);
/* Nanoseconds (CLOCK_MONOTONIC) the last sf_ckpt_save on this store spent computing CRC-32Cs: the
 * chunk table, header and trailer. For benchmarks and metrics; 0 before the first save. */
uint64_t sf_ckpt_last_save_crc_ns(const sf_ckpt_t *store);

/* What a load or a verify did to one file. */
typedef enum sf_ckpt_action_e {
  SF_CKPT_REWROTE = 1,    /* a damaged copy was replaced by a good one */
  SF_CKPT_RESTORED = 2,   /* a missing copy was written from a good one */
  SF_CKPT_MOVED_ASIDE = 3 /* an invalid file was renamed to <name>.corrupt[-N], never deleted */
} sf_ckpt_action_t;

typedef struct sf_ckpt_repair_s {
  sf_ckpt_action_t action;
  uint64_t generation;
  char path[4096];   /* the file repaired, restored, or moved aside (its old name) */
  char problem[256]; /* what was wrong, e.g. "chunk 3 CRC mismatch" or "missing" */
} sf_ckpt_repair_t;

typedef struct sf_ckpt_loaded_s {
  uint64_t generation; /* 0 when the store is empty (payload is then NULL) */
  uint64_t lsn;
  uint64_t created_ns; /* CLOCK_REALTIME at save, nanoseconds since the epoch */
  void *payload;       /* malloc'd; the caller frees it with free() */
  size_t len;
  int fell_back;             /* 1 if a newer generation existed but had no valid copy */
  uint64_t newest_seen;      /* the highest generation found among the files, valid or not */
  sf_ckpt_repair_t *repairs; /* malloc'd array (free()), repair_count entries */
  size_t repair_count;
  int chunks_pieced; /* 1 if the payload was pieced together from chunks of several damaged copies */
} sf_ckpt_loaded_t;

/* Loads the newest valid generation. Returns 0 with generation 0 for an empty store (no checkpoint
 * files at all); SF_EEMPTY when checkpoint files exist but none is valid; SF_EVERSION when the newest
 * generation was written by a newer major format version (nothing is moved or repaired then). */
int sf_ckpt_load(sf_ckpt_t *store, sf_ckpt_loaded_t *out, sf_store_error_t *err);
void sf_ckpt_loaded_free(sf_ckpt_loaded_t *loaded);

/* One file, as sf_ckpt_inspect or sf_ckpt_list sees it. */
typedef struct sf_ckpt_file_s {
  char path[4096];
  uint64_t generation; /* from the header if it is valid, else from the file name */
  uint64_t size;       /* file size in bytes */
  uint64_t payload_len;
  uint64_t lsn;
  uint64_t created_ns;
  uint32_t version_major, version_minor;
  uint32_t chunk_size;
  int status;         /* 0 if the copy is whole and valid, else the error code (SF_ECORRUPT, ...) */
  char problem[256];  /* "" or what is wrong: "header CRC mismatch", "chunk 3 CRC mismatch", ... */
  int64_t bad_offset; /* first byte found wrong, -1 if none */
} sf_ckpt_file_t;

/* Lists every checkpoint file of the store's directories, oldest generation first, checking each
 * completely (every chunk CRC). Changes nothing. *files is malloc'd (free()). */
int sf_ckpt_list(sf_ckpt_t *store, sf_ckpt_file_t **files, size_t *count, sf_store_error_t *err);

/* The same for directories that may be in use by another process: takes no lock, changes nothing.
 * For `steadfast checkpoint inspect|verify`. io may be NULL. */
int sf_ckpt_inspect(const char *const *dirs, size_t dir_count, const sf_io_t *io, sf_ckpt_file_t **files, size_t *count,
                    sf_store_error_t *err);

/* Checks one file's bytes (a whole checkpoint file in memory) without any I/O: the parser the
 * loader uses, exposed for the fuzzer and for tests. Returns 0 or SF_EFORMAT/SF_EVERSION/SF_ECORRUPT
 * and fills *info (path left empty). */
int sf_ckpt_parse(const void *bytes, size_t len, sf_ckpt_file_t *info);

/* ---- Append-only log -------------------------------------------------------------------------------
 * A directory of segment files, log-<first LSN as 16 hex digits>.sfl. Records get consecutive LSNs
 * from 1. sf_log_append frames a record and queues it (no I/O); sf_log_commit writes everything
 * queued with one write and makes it durable with one fdatasync, so records that arrive while a
 * commit runs share the next one (group commit). */

typedef struct sf_log_s sf_log_t;

typedef struct sf_log_options_s {
  const char *dir;       /* must exist */
  uint64_t segment_size; /* bytes per segment file (0: 16 MiB); a larger record gets a segment of its own */
  int point_in_time;     /* 1: a corrupt record in the middle ends the log there instead of failing */
  const sf_io_t *io;     /* NULL: sf_io_default() */
} sf_log_options_t;

/* What opening found and did. */
typedef struct sf_log_recovery_s {
  uint64_t first_lsn; /* first record present (0 if the log is empty) */
  uint64_t last_lsn;  /* last valid record (0 if the log is empty) */
  uint64_t segments;
  uint64_t torn_bytes;      /* bytes cut from a torn tail (kept in torn_path) */
  char torn_path[4096];     /* side file holding the cut bytes, "" if nothing was cut */
  uint64_t dropped_records; /* point-in-time recovery: valid records dropped after the corruption */
  uint64_t dropped_first_lsn, dropped_last_lsn;
  char corrupt_path[4096]; /* point-in-time recovery: segment where the corruption was found */
  int64_t corrupt_offset;  /* -1 if none */
} sf_log_recovery_t;

/* Opens (creating the first segment of an empty directory) and recovers the log: a torn tail of the
 * last segment is cut back to the last valid record and the cut bytes are kept in a side file; a
 * corrupt record followed by valid ones is SF_ECORRUPT naming the segment, offset and LSN range,
 * unless options->point_in_time is set. */
int sf_log_open(const sf_log_options_t *options, sf_log_t **out, sf_log_recovery_t *recovery, sf_store_error_t *err);
/* Frees the handle (after the last commit returned). Uncommitted records are dropped. */
void sf_log_close(sf_log_t *log);

/* Queues one record and returns its LSN through *lsn. No I/O; safe to call concurrently with
 * sf_log_commit. The record is durable once an sf_log_commit that started after this call returns
 * a durable LSN >= *lsn. Returns SF_EFAILED after a failed commit. */
int sf_log_append(sf_log_t *log, const void *data, size_t len, uint64_t *lsn, sf_store_error_t *err);
/* Writes every queued record and fdatasyncs once; *durable_lsn is then the highest durable LSN. Only
 * one commit runs at a time (a second caller waits for the lock). After a failed write or sync the
 * log is failed for good (fsyncgate: that descriptor is never synced again): this and every later
 * append and commit return SF_EFAILED; reopen the log to recover. */
int sf_log_commit(sf_log_t *log, uint64_t *durable_lsn, sf_store_error_t *err);

/* A record read back. data points into a buffer owned by the reader. */
typedef struct sf_log_record_s {
  uint64_t lsn;
  const void *data;
  size_t len;
} sf_log_record_t;

/* Calls cb for each durable record with from_lsn <= lsn <= the durable LSN at the time of the call,
 * re-checking every CRC, until cb returns nonzero (then returns that value) or max_bytes of payload
 * have been delivered (the last record may pass it). Returns 0 when it stopped at the end.
 * *next_lsn is the LSN to continue from. Safe to call concurrently with append and commit, but not with
 * sf_log_truncate_before (the caller serializes those two; the TypeScript layer does). */
typedef int (*sf_log_record_cb)(const sf_log_record_t *record, void *arg);
int sf_log_read(sf_log_t *log, uint64_t from_lsn, size_t max_bytes, sf_log_record_cb cb, void *arg, uint64_t *next_lsn,
                sf_store_error_t *err);

/* Deletes every segment whose records all have LSN < lsn (never the last segment) and fsyncs the
 * directory. *removed is the number of segments deleted. */
int sf_log_truncate_before(sf_log_t *log, uint64_t lsn, uint64_t *removed, sf_store_error_t *err);

/* One segment as sf_log_inspect sees it. */
typedef struct sf_log_segment_s {
  char path[4096];
  uint64_t size;          /* file size */
  uint64_t data_end;      /* offset just past the last valid record */
  uint64_t first_lsn;     /* from the header (or the name if the header is bad) */
  uint64_t last_lsn;      /* last valid record, first_lsn - 1 if none */
  uint64_t records;       /* valid records */
  uint32_t salt;          /* from the header */
  int status;             /* 0, or SF_ECORRUPT/SF_EFORMAT/SF_EVERSION */
  char problem[256];      /* "" or what is wrong, e.g. "record CRC mismatch (torn tail)" */
  int64_t problem_offset; /* -1 if none */
} sf_log_segment_t;

/* Checks every segment of dir without a lock and without changing anything. *segments is malloc'd. */
int sf_log_inspect(const char *dir, const sf_io_t *io, sf_log_segment_t **segments, size_t *count,
                   sf_store_error_t *err);

/* Scans one segment's bytes in memory, the parser recovery uses; for the fuzzer and tests. Fills
 * *info (path empty) and returns 0 or the status it found. */
int sf_log_parse_segment(const void *bytes, size_t len, sf_log_segment_t *info);

#ifdef __cplusplus
}
#endif

#endif /* STEADFAST_STORE_H */
