/* replay.h: the per-sender anti-replay window of the heartbeat engine (internal; docs/protocol.md,
 * "Incarnation and the replay window"). One sf__hb_replay_t per sender id remembers that sender's
 * incarnation, the highest sequence number accepted in it, and which of the `size` sequence numbers
 * just below it were seen, as IPsec does (RFC 4303, section 3.4.3). It lives inside the engine's
 * per-peer record; it allocates nothing and takes no lock (the engine thread owns it).
 *
 * ORDER MATTERS: call sf__hb_replay_check only for a packet that sf_hb_packet_decode accepted, that
 * is, after its tag verified. Checking first would let anyone who can send a datagram move a
 * sender's window forward (a forged seq of 2^63 makes every real packet "too old") or reset it with a
 * forged newer incarnation. Without a key (CRC-32C) nothing stops such forgery anyway; the window
 * then only weeds out duplicated and reordered datagrams. */
#ifndef SF__HB_REPLAY_H
#define SF__HB_REPLAY_H

#include <stdint.h>

#define SF__HB_REPLAY_MAX 1024 /* the largest window, in sequence numbers (the bitmap's size) */

/* sf__hb_replay_check's "accepted, and this is a new incarnation" result (a positive value, so
 * `rc < 0` still means "drop it"). */
#define SF__HB_REPLAY_RESTARTED 1

typedef struct sf__hb_replay_s {
  uint64_t incarnation;                  /* the sender's incarnation the window belongs to */
  uint64_t top;                          /* highest sequence number accepted in it */
  uint64_t bits[SF__HB_REPLAY_MAX / 64]; /* bit (seq % 1024) set: seq was accepted (for top-size < seq <= top) */
  uint32_t size;                         /* window length, 1..SF__HB_REPLAY_MAX */
  uint32_t started;                      /* 0 until the first packet is accepted */
} sf__hb_replay_t;

/* An empty window of `size` sequence numbers (clamped to 1..SF__HB_REPLAY_MAX). The first packet
 * checked against it is accepted whatever its incarnation and sequence number (except seq 0). */
void sf__hb_replay_init(sf__hb_replay_t *w, uint32_t size);

/* Judges one verified packet of (incarnation, seq) and records it if accepted. Returns:
 *   0                        accepted: same incarnation, seq new and inside the window (or the first
 *                            packet since init); recorded, so the same seq is refused next time;
 *   SF__HB_REPLAY_RESTARTED  accepted: a newer incarnation than the window's, i.e. the sender
 *                            restarted. The window was reset to the new incarnation with only this
 *                            seq recorded (read w->incarnation BEFORE the call to know the previous one);
 *   SF_EREPLAY               refused, nothing changed: an older incarnation, seq 0 (never sent, seqs
 *                            start at 1), a seq already accepted, or a seq at or below top - size.
 * A jump forward of any size is accepted (no overflow: seqs are compared, never added to). */
int sf__hb_replay_check(sf__hb_replay_t *w, uint64_t incarnation, uint64_t seq);

#endif /* SF__HB_REPLAY_H */
