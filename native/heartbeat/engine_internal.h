/* engine_internal.h: the heartbeat engine's limits and its test hooks (native/heartbeat/engine.c).
 * Not part of the public API; the engine test includes it to check the limits and to simulate a
 * local pause. docs/failure-detection.md documents the limits. */
#ifndef STEADFAST_HEARTBEAT_ENGINE_INTERNAL_H
#define STEADFAST_HEARTBEAT_ENGINE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "steadfast/heartbeat.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Peers a monitor learns. When the table is full, the peer dead or left the longest is forgotten to
 * make room; with none such, beats from more are dropped_unknown. */
#define SF__HB_MAX_PEERS 65536
#define SF__HB_MAX_TARGETS 65536      /* targets an agent or a mesh member beats to */
#define SF__HB_EVENT_QUEUE_MAX 65536  /* queued events; on overflow the oldest is dropped */
#define SF__HB_BATCH 64               /* datagrams per recvmmsg / sendmmsg call */
#define SF__HB_RECV_BATCHES 16        /* recvmmsg calls per wake-up, so a flood cannot starve the timer */
#define SF__HB_RELAYS 256             /* indirect probes this member runs for others at once */
#define SF__HB_MAX_INDIRECT_PROBES 16 /* the largest k */
#define SF__HB_MAX_LOSS_RULES 16      /* per-address loss rates of the test hook */
#define SF__HB_MIN_TICK_MS 5          /* the timer ticks every max(interval / 4, 5 ms) */
/* Wake-up coalescing (engine.c, sf__rx_pace): an engine that read at least SF__HB_BUSY_RATE datagrams
 * a second over a window of SF__HB_RATE_WINDOW_MS drains its socket every SF__HB_COALESCE_MS (at most
 * a tick) instead of waking for each datagram, until a window sees less than half that rate. */
#define SF__HB_COALESCE_MS 5
#define SF__HB_BUSY_RATE 500
#define SF__HB_RATE_WINDOW_MS 100

/* HMAC-SHA-256 with its key schedule done once (sha256.c): the SHA-256 states after the key's ipad
 * block and after its opad block (RFC 2104, section 4, "Implementation note"), so that a tag costs
 * the compressions of the message and of the outer hash only, two fewer than sf_hmac_sha256. */
typedef struct sf__hb_hmac_key_s {
  uint32_t inner[8];
  uint32_t outer[8];
} sf__hb_hmac_key_t;

void sf__hb_hmac_prepare(const uint8_t *key, size_t key_len, sf__hb_hmac_key_t *out);
void sf__hb_hmac_prepared(const sf__hb_hmac_key_t *k, const void *data, size_t len, uint8_t out[32]);

/* sf_hb_packet_encode and sf_hb_packet_decode with the keys' schedules prepared (packet.c): prepared
 * holds, for each HMAC key, sf__hb_hmac_prepare of it (for key, of that key; for keys, index for
 * index); NULL: computed per packet, as the public functions do. The result is the same. */
int sf__hb_packet_encode_prepared(const sf_hb_packet_t *p, const sf_hb_key_t *key, const sf__hb_hmac_key_t *prepared,
                                  uint8_t *buf, size_t cap);
int sf__hb_packet_decode_prepared(const uint8_t *buf, size_t len, const sf_hb_key_t *keys,
                                  const sf__hb_hmac_key_t *prepared, size_t nkeys, sf_hb_packet_t *out);

/* Bytes one tracked peer costs: its record with its inter-arrival ring, plus its share of the id
 * hash table (load <= 1/2) and of the deadline heap. */
size_t sf__hb_engine_bytes_per_peer(const sf_hb_engine_t *e);

/* Test hook: at its next wake-up the engine thread sleeps `ms` milliseconds without its lock, as if
 * the process had not been scheduled, so the local pause guard can be tested without SIGSTOP. */
void sf__hb_engine_test_stall(sf_hb_engine_t *e, uint32_t ms);

/* Test hook: lowers the peer limit (1..SF__HB_MAX_PEERS) so that a full table can be tested. */
void sf__hb_engine_test_max_peers(sf_hb_engine_t *e, uint32_t n);

#ifdef __cplusplus
}
#endif

#endif /* STEADFAST_HEARTBEAT_ENGINE_INTERNAL_H */
