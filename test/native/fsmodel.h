/* fsmodel.h: a recording sf_io_t and a model of what a crash can leave on disk, for crash_test.c.
 *
 * Recording: fsmodel_create() snapshots a base directory (everything in it counts as durable) and
 * hands out an sf_io_t that performs every call for real (through sf_io_default()) and records each
 * one that changes the base directory's contents: creating opens, pwrite with its bytes, fallocate,
 * ftruncate, fdatasync, fsync of a file or a directory, rename, unlink, mkdir; plus opens and closes,
 * so a descriptor can be followed to its inode across renames. Reads are not recorded. The test puts
 * acknowledgement markers in the same stream (fsmodel_ack) when an API call returns.
 *
 * Enumeration: fsmodel_enumerate() replays the stream one operation at a time and, after each one
 * (each crash point), builds every disk state a crash there could leave under the model described in
 * docs/crash-model.md (unsynced writes dropped, applied in order up to one torn at a 512-byte or
 * 4096-byte boundary, namespace changes without a directory fsync undone in order), removes the
 * duplicates, writes each remaining state into a scratch directory and calls the test's check on it
 * with what had been acknowledged before that crash point. */
#ifndef STEADFAST_TEST_FSMODEL_H
#define STEADFAST_TEST_FSMODEL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "steadfast/store.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Independent acknowledgement counters a test can raise (e.g. slot 0 = checkpoint generation, slot 1 =
 * log LSN). A crash state sees, per slot, the highest value acknowledged before its crash point. */
#define FSMODEL_ACK_SLOTS 4

typedef struct fsmodel_s fsmodel_t;

/* Variants beyond the ones every run builds. */
enum {
  /* Also build "reordered writeback" states: every unsynced change applied except one 4 KiB page of
   * one write, which keeps its old bytes (page-cache writeback does not go in write order). */
  FSMODEL_REORDER = 1 << 0,
};

typedef struct fsmodel_options_s {
  unsigned flags;         /* FSMODEL_REORDER, ... */
  size_t max_torn_points; /* per write and tear size; 0: all. Above it, cut points are sampled evenly */
} fsmodel_options_t;

/* One crash state, written out and ready to recover. */
typedef struct fsmodel_state_s {
  const char *dir;                   /* the materialized base directory (same relative layout) */
  size_t crash_point;                /* operations applied before the crash */
  uint64_t acked[FSMODEL_ACK_SLOTS]; /* per slot, the highest value acknowledged before the crash */
  int reordered;                     /* 1 if a page of a write is missing in the middle (REORDER) */
  const char *description;           /* for failure messages: the crash point and the variant */
} fsmodel_state_t;

/* Returns 0 when the recovered state is acceptable; anything else counts the state as failed. */
typedef int (*fsmodel_check_cb)(const fsmodel_state_t *state, void *arg);

typedef struct fsmodel_stats_s {
  size_t ops;              /* recorded operations that change the disk (opens of existing files, closes excluded) */
  size_t crash_points;     /* prefixes enumerated: before the first operation, after each change and each ack */
  size_t candidates;       /* states built before deduplication */
  size_t distinct_disks;   /* distinct disk contents */
  size_t checked;          /* distinct (disk contents, acknowledged values) pairs recovered and checked */
  size_t failed;           /* of those, how many the check rejected */
  size_t reordered_failed; /* of the failed, how many were reordered-writeback states */
  int sampled;             /* 1 if torn cut points were sampled (max_torn_points) */
} fsmodel_stats_t;

/* Snapshots base (which must exist) and starts recording. Returns 0 or -errno. */
int fsmodel_create(const char *base, fsmodel_t **out);
void fsmodel_free(fsmodel_t *model);

/* The recording table; valid until fsmodel_free. */
const sf_io_t *fsmodel_io(fsmodel_t *model);

/* Marks "value acknowledged in slot" at this point of the stream. Marks made before the first
 * operation hold from the first crash point on (what a previous run acknowledged). */
void fsmodel_ack(fsmodel_t *model, unsigned slot, uint64_t value);

/* Stops recording: later calls through the table still run but leave no trace. */
void fsmodel_stop(fsmodel_t *model);

/* Prints the recorded stream, one operation a line (for debugging a scenario). */
void fsmodel_print(const fsmodel_t *model, FILE *out);

/* Enumerates the crash states of the recorded stream into scratch (created and emptied for each
 * state, removed at the end) and checks each with cb. Returns 0, or -errno if the model itself failed
 * (I/O on the scratch directory, a stream it cannot follow). */
int fsmodel_enumerate(fsmodel_t *model, const fsmodel_options_t *options, const char *scratch, fsmodel_check_cb cb,
                      void *arg, fsmodel_stats_t *stats);

/* Removes a directory tree (for tests' own temporary directories). Returns 0 or -errno. */
int fsmodel_remove_tree(const char *path);

/* Copies the files and directories under from into to (created; must not exist), e.g. to keep a
 * crash state as the starting point of a second recording. Returns 0 or -errno. */
int fsmodel_copy_tree(const char *from, const char *to);

#ifdef __cplusplus
}
#endif

#endif /* STEADFAST_TEST_FSMODEL_H */
