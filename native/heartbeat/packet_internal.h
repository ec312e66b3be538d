/* packet_internal.h: the heartbeat wire format's header layout and its key and id checks (packet.c),
 * shared with the engine (native/heartbeat/engine.c), which validates its options with the same
 * checks the encoder applies and reads the sender id where the header puts it. Not part of the public
 * API; docs/protocol.md specifies the layout. */
#ifndef STEADFAST_HEARTBEAT_PACKET_INTERNAL_H
#define STEADFAST_HEARTBEAT_PACKET_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "steadfast/heartbeat.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Header offsets (docs/protocol.md, "Header"). */
enum {
  SF__OFF_MAGIC = 0,
  SF__OFF_VERSION = 4,
  SF__OFF_TYPE = 5,
  SF__OFF_AUTH = 6,
  SF__OFF_KEY_ID = 7,
  SF__OFF_LENGTH = 8,
  SF__OFF_SENDER_LEN = 10,
  SF__OFF_FLAGS = 11,
  SF__OFF_INCARNATION = 12,
  SF__OFF_SEQ = 20,
  SF__OFF_SEND_TIME = 28,
  SF__OFF_LAG = 36,
  SF__OFF_INTERVAL = 40,
  SF__OFF_RTT = 44,
  SF__HEADER = 48,    /* the sender id follows */
  SF__BODY_FIXED = 17 /* target length (1), probe_id (8), echo_time (8), beside the target id */
};

/* Whether k is a key this code can use: HMAC keys of 16..64 bytes, SipHash keys of exactly 16. */
int sf__hb_key_ok(const sf_hb_key_t *k);

/* Whether s[0, n) is a node id: 1..64 bytes (min is 0 or 1) of well-formed UTF-8 without NUL. */
int sf__hb_id_ok(const uint8_t *s, size_t n, size_t min);

/* strnlen (POSIX, not C11) of an id field: SF_HB_MAX_ID + 1 means "not terminated within the field". */
size_t sf__hb_id_len(const char *s);

#ifdef __cplusplus
}
#endif

#endif /* STEADFAST_HEARTBEAT_PACKET_INTERNAL_H */
