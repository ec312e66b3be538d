/* steadfast/heartbeat.h: the heartbeat engine. One engine owns one UDP socket (IPv4 or IPv6) and one
 * thread (epoll + timerfd on CLOCK_MONOTONIC, batched recvmmsg/sendmmsg). It sends beats to its
 * targets, tracks the peers it hears from with a phi-accrual failure detector, asks other mesh
 * members to probe a peer before declaring it dead (SWIM indirect probes), and reports state
 * changes as events. The wire format is specified, with byte offsets, in docs/protocol.md.
 *
 * Errors follow libuv: 0 or a negative number, -errno (-EADDRINUSE, -EINVAL, ...) or an SF_E* code.
 *
 * Threads: sf_hb_engine_start and sf_hb_engine_stop are called from the owner's thread (the JS thread).
 * Every other sf_hb_engine_* function is safe to call from any thread while the engine runs; they take
 * the engine's lock for a short, bounded time. The notify callback runs on the engine thread.
 */
#ifndef STEADFAST_HEARTBEAT_H
#define STEADFAST_HEARTBEAT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Errors (beside those of steadfast/store.h, which end at -30007) ---------------------------- */

#define SF_EMALFORMED (-30101)     /* a packet shorter than its header, a bad length or id, a bad type */
#define SF_EPROTO_VERSION (-30102) /* a packet of an unknown protocol version (or wrong magic) */
#define SF_EAUTH (-30103)          /* a packet whose tag does not verify, or with an unknown key id */
#define SF_EREPLAY (-30104)        /* a packet already seen, too old for the window, or of an old incarnation */

/* "SF_MALFORMED", "SF_PROTO_VERSION", "SF_AUTH", "SF_REPLAY", or an errno name ("EADDRINUSE"...);
 * "EUNKNOWN" otherwise. Never NULL. */
const char *sf_hb_error_name(int code);

/* ---- Message authentication ---------------------------------------------------------------------- */

typedef enum sf_hb_auth_e {
  SF_HB_AUTH_CRC32C = 0,      /* no key: CRC-32C of the packet, integrity only (anyone can forge) */
  SF_HB_AUTH_HMAC_SHA256 = 1, /* HMAC-SHA-256 (RFC 2104, FIPS 180-4) truncated to 128 bits; key 16..64 bytes */
  SF_HB_AUTH_SIPHASH24 = 2    /* SipHash-2-4, 64-bit tag, 128-bit key (Aumasson and Bernstein, 2012) */
} sf_hb_auth_t;

#define SF_HB_MAX_KEYS 4
#define SF_HB_MAX_KEY_LEN 64

typedef struct sf_hb_key_s {
  uint8_t id; /* key id carried in every packet (0..255), so that keys rotate without downtime */
  sf_hb_auth_t auth;
  uint8_t len;
  uint8_t bytes[SF_HB_MAX_KEY_LEN];
} sf_hb_key_t;

/* Primitives, also used by the tests against published vectors. */
void sf_sha256(const void *data, size_t len, uint8_t out[32]);
void sf_hmac_sha256(const uint8_t *key, size_t key_len, const void *data, size_t len, uint8_t out[32]);
uint64_t sf_siphash24(const uint8_t key[16], const void *data, size_t len);

/* ---- Packets (docs/protocol.md) ------------------------------------------------------------------ */

#define SF_HB_PROTOCOL_VERSION 1
#define SF_HB_MAX_ID 64      /* node ids are 1..64 bytes (UTF-8, no NUL) */
#define SF_HB_MAX_PACKET 512 /* no valid packet is longer */
#define SF_HB_LAG_UNKNOWN UINT32_MAX

typedef enum sf_hb_type_e {
  SF_HB_BEAT = 1,     /* "I am alive": agent -> monitor, member -> member */
  SF_HB_ACK = 2,      /* reply to a beat that asked for one (RTT), or to a PING */
  SF_HB_PING_REQ = 3, /* "please probe `target` for me" (SWIM indirect probe) */
  SF_HB_PING = 4,     /* a probe; answered by an ACK */
  SF_HB_PING_ACK = 5  /* an indirect prober forwarding the target's ACK to the requester */
} sf_hb_type_t;

#define SF_HB_FLAG_WANT_ACK 0x01 /* BEAT: the receiver replies with an ACK echoing send_time */
#define SF_HB_FLAG_LEAVING 0x02  /* BEAT: the sender is closing on purpose (graceful leave) */

/* A packet, decoded. The ids are NUL-terminated copies. */
typedef struct sf_hb_packet_s {
  uint8_t version;
  uint8_t type; /* sf_hb_type_t */
  uint8_t auth; /* sf_hb_auth_t */
  uint8_t key_id;
  uint8_t flags;
  char sender[SF_HB_MAX_ID + 1];
  uint64_t incarnation; /* the sender's; changes on every start */
  uint64_t seq;         /* per (sender, incarnation), starts at 1, +1 per packet sent */
  uint64_t send_time;   /* sender's CLOCK_MONOTONIC, ns */
  uint32_t lag_us;      /* sender's JS event-loop lag, microseconds; SF_HB_LAG_UNKNOWN if unknown */
  uint32_t interval_ms; /* sender's beat interval */
  uint32_t rtt_us;      /* sender's latest RTT measurement to the receiver, 0 if none */
  /* ACK, PING, PING_REQ, PING_ACK only: */
  char target[SF_HB_MAX_ID + 1]; /* PING_REQ/PING_ACK: the probed member; ACK/PING: "" */
  uint64_t probe_id;             /* chosen by the original requester, echoed by every hop */
  uint64_t echo_time;            /* ACK: the send_time of the packet being answered */
} sf_hb_packet_t;

/* Encodes p into buf (cap bytes), tagged with key (NULL: CRC-32C; p->auth and p->key_id are taken from
 * the key). Returns the length written, or -ENOSPC, or SF_EMALFORMED for an id of a bad length. */
int sf_hb_packet_encode(const sf_hb_packet_t *p, const sf_hb_key_t *key, uint8_t *buf, size_t cap);

/* Decodes and verifies buf. keys/nkeys: the keys accepted (nkeys 0: only CRC-32C packets are
 * accepted; with keys, CRC-32C packets are refused with SF_EAUTH). Returns 0 or SF_EMALFORMED,
 * SF_EPROTO_VERSION, SF_EAUTH. Never reads outside buf[0, len). */
int sf_hb_packet_decode(const uint8_t *buf, size_t len, const sf_hb_key_t *keys, size_t nkeys, sf_hb_packet_t *out);

/* ---- Failure detector (phi accrual, as in Akka; Hayashibara et al. 2004) ------------------------ */

typedef struct sf_hb_phi_options_s {
  uint32_t max_samples;       /* inter-arrival history kept (default 200) */
  double min_std_dev_ms;      /* floor of the standard deviation (default: docs/failure-detection.md) */
  double acceptable_pause_ms; /* added to the mean (default: docs/failure-detection.md) */
  double first_interval_ms;   /* the history starts with this interval (the sender's interval) */
} sf_hb_phi_options_t;

/* phi = -log10(1 - F(elapsed)), F the normal CDF with (mean + acceptable pause, max(std dev, floor)),
 * through the logistic approximation Akka uses. Exposed for tests. */
double sf_hb_phi(double elapsed_ms, double mean_ms, double std_dev_ms);

/* ---- Engine -------------------------------------------------------------------------------------- */

typedef enum sf_hb_role_e {
  SF_HB_MONITOR = 1, /* tracks whoever beats to it (learns agents on their first valid beat); acks beats */
  SF_HB_AGENT = 2,   /* beats to its targets (monitors); tracks nobody, but measures RTT from the acks */
  SF_HB_MESH = 3     /* beats to every target and tracks them; indirect probes before declaring dead */
} sf_hb_role_t;

typedef enum sf_hb_state_e {
  SF_HB_STATE_UNKNOWN = 0, /* a mesh target never heard from yet */
  SF_HB_STATE_ALIVE = 1,
  SF_HB_STATE_SUSPECT = 2,
  SF_HB_STATE_DEAD = 3,
  SF_HB_STATE_LEFT = 4 /* said goodbye (FLAG_LEAVING) */
} sf_hb_state_t;

typedef enum sf_hb_event_type_e {
  SF_HB_EV_ALIVE = 1,     /* first beat from a peer, or beats again after suspect/dead */
  SF_HB_EV_SUSPECT = 2,   /* phi passed the suspect threshold */
  SF_HB_EV_DEAD = 3,      /* phi passed the dead threshold (and, in a mesh, no indirect probe got through) */
  SF_HB_EV_RESTARTED = 4, /* a beat with a newer incarnation: the peer process started again */
  SF_HB_EV_STALLED = 5,   /* the peer beats, but its JS event-loop lag passed the stall threshold */
  SF_HB_EV_RESUMED = 6,   /* the peer's lag fell back under the threshold */
  SF_HB_EV_LEFT = 7,      /* the peer closed on purpose */
  SF_HB_EV_PAUSED = 8     /* this engine itself was not scheduled for a while (local pause guard);
                             peer fields are empty, last_seen_ms holds the pause */
} sf_hb_event_type_t;

/* One event with its evidence. Times are milliseconds. */
typedef struct sf_hb_event_s {
  uint8_t type; /* sf_hb_event_type_t */
  char id[SF_HB_MAX_ID + 1];
  struct sockaddr_storage addr; /* where the peer's packets come from */
  uint64_t incarnation;
  uint64_t previous_incarnation; /* RESTARTED: the one before */
  double phi;                    /* at the time of the event */
  double last_seen_ms;           /* time since the peer's last valid packet */
  double rtt_ms;                 /* latest RTT, -1 if none measured */
  double lag_ms;                 /* the peer's reported JS lag, -1 if unknown */
  double at_ms;                  /* CLOCK_REALTIME of the event, ms since the epoch */
} sf_hb_event_t;

/* A member, as members() shows it. */
typedef struct sf_hb_member_s {
  char id[SF_HB_MAX_ID + 1]; /* "" for a mesh target not heard from yet */
  struct sockaddr_storage addr;
  uint8_t state;   /* sf_hb_state_t */
  uint8_t stalled; /* 1 while its lag is over the stall threshold */
  uint64_t incarnation;
  double phi;
  double last_seen_ms; /* -1 if never */
  double rtt_ms;       /* -1 if none */
  double lag_ms;       /* -1 if unknown */
  double mean_interval_ms;
  uint64_t beats; /* valid packets received from it */
} sf_hb_member_t;

/* Counters; every dropped packet is counted in exactly one dropped_* field. */
typedef struct sf_hb_stats_s {
  uint64_t received;          /* datagrams read from the socket */
  uint64_t accepted;          /* datagrams that passed every check */
  uint64_t sent;              /* datagrams sent */
  uint64_t send_errors;       /* sendmmsg failures (the datagram is lost, like a lossy network) */
  uint64_t dropped_malformed; /* SF_EMALFORMED */
  uint64_t dropped_version;   /* SF_EPROTO_VERSION */
  uint64_t dropped_auth;      /* SF_EAUTH */
  uint64_t dropped_replay;    /* SF_EREPLAY */
  uint64_t dropped_unknown;   /* valid, but from a sender this role does not track (mesh: not a member) */
  uint64_t dropped_injected;  /* dropped by the loss test hook */
  uint64_t pauses;            /* local pauses detected by the pause guard */
  uint64_t ticks;             /* timer expirations handled */
} sf_hb_stats_t;

typedef struct sf_hb_engine_s sf_hb_engine_t;

/* Runs on the engine thread when the event queue goes from empty to non-empty (wake-ups coalesce).
 * It must not call back into the engine; it should only wake the consumer, which then calls
 * sf_hb_engine_drain. */
typedef void (*sf_hb_notify_cb)(void *user);

typedef struct sf_hb_options_s {
  sf_hb_role_t role;
  char id[SF_HB_MAX_ID + 1]; /* this node's id, 1..64 bytes */
  struct sockaddr_storage bind;
  socklen_t bind_len;
  uint32_t interval_ms;             /* beat interval (default 100) */
  double suspect_phi;               /* default 3 */
  double dead_phi;                  /* default 8 (phiThreshold in JS) */
  sf_hb_phi_options_t phi;          /* zeros: defaults */
  double stall_ms;                  /* lag above which a peer is `stalled` (default 1000) */
  uint32_t indirect_probes;         /* mesh: k, members asked to probe before dead (default 3) */
  uint32_t probe_timeout_ms;        /* mesh: how long indirect probes may take (default 2 * interval) */
  uint32_t replay_window;           /* sequence window per sender, 1..1024 (default 256) */
  sf_hb_key_t keys[SF_HB_MAX_KEYS]; /* nkeys 0: CRC-32C only */
  uint32_t nkeys;
  uint8_t send_key_id;  /* which of keys signs what this engine sends */
  uint64_t incarnation; /* 0: CLOCK_REALTIME in ns at start (so a restart is always newer) */
  sf_hb_notify_cb notify;
  void *notify_user;
} sf_hb_options_t;

/* Fills o with the defaults (role and id are left for the caller). */
void sf_hb_options_init(sf_hb_options_t *o);

/* Validates o, creates and binds the socket and starts the thread. Returns 0 and the engine, or
 * -EINVAL (bad option), -EADDRINUSE, -EADDRNOTAVAIL, -EACCES, ... (nothing is left running). */
int sf_hb_engine_start(const sf_hb_options_t *o, sf_hb_engine_t **out);

/* Stops the thread (eventfd, then join), sends a LEAVING beat to the targets first if `leave`,
 * closes the socket and frees the engine. No notify call runs after it returns. */
void sf_hb_engine_stop(sf_hb_engine_t *e, int leave);

/* The detection bound of docs/failure-detection.md for these options (zeros in `phi` and
 * probe_timeout_ms meaning the defaults, as for sf_hb_engine_start): the time, in ms after the last beat
 * of a peer that beat steadily every interval_ms, by which it is declared dead. That is when phi reaches
 * dead_phi with the standard deviation at its floor or, in a mesh, the end of the first indirect-probe
 * round if that is later, plus one tick of the engine's timer. */
double sf_hb_detection_bound_ms(const sf_hb_options_t *o);

/* This engine's incarnation (options.incarnation, or the CLOCK_REALTIME ns it took at start). */
uint64_t sf_hb_engine_incarnation(const sf_hb_engine_t *e);

/* The address the socket is bound to (the port, when bind asked for port 0). */
int sf_hb_engine_address(sf_hb_engine_t *e, struct sockaddr_storage *out, socklen_t *len);

/* Agent and mesh: the addresses beats go to. Mesh members are tracked once they beat. */
int sf_hb_engine_add_target(sf_hb_engine_t *e, const struct sockaddr *addr, socklen_t len);
/* Removes a target and forgets the member that beats from that address (no event). -ENOENT if absent. */
int sf_hb_engine_remove_target(sf_hb_engine_t *e, const struct sockaddr *addr, socklen_t len);
/* Monitor: forgets a learned peer by id (no event). -ENOENT if absent. */
int sf_hb_engine_forget(sf_hb_engine_t *e, const char *id);

/* Replaces the keys (rotation). New packets are signed with send_key_id; every key listed verifies. */
int sf_hb_engine_set_keys(sf_hb_engine_t *e, const sf_hb_key_t *keys, uint32_t nkeys, uint8_t send_key_id);

/* The JS thread calls this on a timer (every period_ms) with the lag it measured for that timer.
 * The lag each beat carries is the larger of that and how overdue the next call is, so a JS thread
 * that is blocked shows a growing lag although it cannot call in. */
void sf_hb_engine_js_tick(sf_hb_engine_t *e, uint32_t period_ms, uint32_t measured_lag_us);

/* Moves up to max queued events into out; returns how many. */
size_t sf_hb_engine_drain(sf_hb_engine_t *e, sf_hb_event_t *out, size_t max);

/* Copies up to max members into out; returns how many there are (may exceed max). */
size_t sf_hb_engine_members(sf_hb_engine_t *e, sf_hb_member_t *out, size_t max);

void sf_hb_engine_stats(sf_hb_engine_t *e, sf_hb_stats_t *out);

/* Test hook: drop incoming datagrams at random with probability `rate` (0..1), from every sender
 * (addr NULL) or from one address only. Dropped datagrams are counted in dropped_injected. */
int sf_hb_engine_set_loss(sf_hb_engine_t *e, double rate, const struct sockaddr *addr, socklen_t len);

#ifdef __cplusplus
}
#endif

#endif /* STEADFAST_HEARTBEAT_H */
