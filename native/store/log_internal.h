/* log_internal.h: the log segment format's constants and its one scanner, shared by log.c's recovery,
 * sf_log_inspect and sf_log_parse_segment (and so by the fuzzer). docs/format.md, "Append-only log",
 * specifies every byte named here. */
#ifndef STEADFAST_STORE_LOG_INTERNAL_H
#define STEADFAST_STORE_LOG_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#define SF__LOG_HEADER_SIZE 32u /* segment header; the first record starts here */
#define SF__LOG_FRAME_SIZE 24u  /* record header in front of every payload */
#define SF__LOG_VERSION_MAJOR 1u
#define SF__LOG_VERSION_MINOR 0u
#define SF__LOG_MAX_RECORD (256u << 20)
#define SF__LOG_DEFAULT_SEGMENT ((uint64_t)16 << 20)
#define SF__LOG_MIN_SEGMENT 128u
/* The largest segment_size an open accepts. */
#define SF__LOG_MAX_SEGMENT ((uint64_t)1 << 30)
/* The largest segment file the format allows: a segment of the largest size, or one holding a single
 * record of the largest size (header, frame, payload), whichever is larger. Recovery refuses a larger
 * file as SF_ECORRUPT instead of allocating its size. */
#define SF__LOG_MAX_FILE                                                                         \
  (SF__LOG_MAX_SEGMENT > SF__LOG_HEADER_SIZE + SF__LOG_FRAME_SIZE + (uint64_t)SF__LOG_MAX_RECORD \
       ? SF__LOG_MAX_SEGMENT                                                                     \
       : SF__LOG_HEADER_SIZE + SF__LOG_FRAME_SIZE + (uint64_t)SF__LOG_MAX_RECORD)
/* Record flags bits 0..23: the record's position in its commit (its LSN minus the LSN of the commit's
 * first record), so any whole frame names where its commit began. Bits 24..31 are reserved: written as
 * 0, ignored by readers. */
#define SF__LOG_POSITION_MASK 0x00FFFFFFu
/* Most records in one commit, so that every position fits its 24 bits; a longer batch is written as
 * several commits, each ended by its own fdatasync. */
#define SF__LOG_MAX_COMMIT_RECORDS 0x00FFFFFFu
/* Payloads up to this many bytes are checksummed at commit, header and payload in one pass. A larger
 * one is checksummed at append, outside the locks, so that appenders on several threads do it in
 * parallel, and folded in at commit with sf_crc32c_combine. One pass is less work in total: a combine
 * (a 32-step multiply per set bit of the length, plus one) took 70-140 ns on the x86-64 CI machine,
 * where one pass over a 100-byte record took 14 ns with the hardware CRC and 104 ns with the tables. */
#define SF__LOG_CRC_AT_COMMIT 1024u

/* How the records of a segment end. */
typedef enum sf__log_end_e {
  SF__LOG_END_CLEAN = 0, /* an all-zero frame header (or no room for one) and only zeros after it */
  /* A bad or stale frame, or nonzero bytes after an all-zero header, where every valid frame of this
   * salt after it belongs to the commit that holds the first missing LSN: what a crash during the last
   * commit leaves. */
  SF__LOG_END_TORN = 1,
  /* Damage followed by a valid frame of another commit, or a valid frame with the wrong LSN or a
   * commit position that does not continue the records before it. */
  SF__LOG_END_CORRUPT = 2
} sf__log_end_t;

typedef struct sf__log_scan_s {
  int status;        /* header: 0, SF_EFORMAT, SF_EVERSION or SF_ECORRUPT (records are not scanned then) */
  char problem[256]; /* "" or what ended the records / what is wrong with the header */
  uint32_t version_major, version_minor;
  uint32_t salt;
  uint64_t first_lsn;
  uint64_t records;
  uint64_t last_lsn;      /* first_lsn - 1 when there is no record */
  uint64_t data_end;      /* offset just past the last valid record (where the end was found) */
  sf__log_end_t end;      /* meaningful when status is 0 */
  uint64_t tail_end;      /* one past the last nonzero byte at or after data_end (data_end if none) */
  uint64_t resume_offset; /* END_CORRUPT: the first valid frame of this salt after the damage */
  uint64_t resume_lsn;    /* ... and its LSN */
  uint64_t after_records; /* END_CORRUPT: valid consecutive records from resume_offset on */
  uint64_t after_last_lsn;
} sf__log_scan_t;

/* Scans one whole segment held in memory. Never reads outside bytes[0..len). Returns out->status. */
int sf__log_scan(const uint8_t *bytes, size_t len, sf__log_scan_t *out);

struct sf_log_s;
/* For tests only: the most records one commit may hold (1..SF__LOG_MAX_COMMIT_RECORDS), so that the
 * split of a longer batch can be tested without 16 million records. */
void sf__log_set_commit_limit(struct sf_log_s *log, uint32_t records);

#endif /* STEADFAST_STORE_LOG_INTERNAL_H */
