/* engine.c: the heartbeat engine of steadfast/heartbeat.h. It owns the engine thread (epoll over a
 * non-blocking UDP socket, a CLOCK_MONOTONIC timerfd and a shutdown eventfd), the peer table (an
 * open-addressing hash by id), the deadline heap that schedules failure checks, the three roles
 * (monitor, agent, mesh with SWIM indirect probes), the local pause guard, JS lag reporting, the
 * event queue and the loss test hook. The detector's arithmetic is in detector.c, the wire format in
 * packet.c, the replay window in replay.c; docs/failure-detection.md explains the behaviour.
 *
 * Threads and the one lock: every field below `mu` in sf_hb_engine_s is guarded by it. The engine
 * thread takes it for one wake-up's work (a bounded number of datagrams and one tick), public calls
 * take it for a copy or a table update. The notify callback is called without the lock, and only
 * when the queue went from empty to non-empty, so a consumer that drains on each wake-up sees every
 * event. Nothing allocates per packet: receive and send buffers are preallocated batches, peers are
 * allocated when they are learned.
 *
 * Scheduling: the thread never computes phi for every peer on every tick. Each tracked peer sits in a
 * min-heap keyed by the time its next verdict could fall due (suspect while alive, dead while
 * suspect). A beat does not touch the heap unless it moves that time earlier; when an entry comes due
 * the verdict is recomputed and the entry re-keyed if the peer beat in the meantime. phi reaches a
 * threshold at mean + y * std dev after the last beat, with y computed once per threshold
 * (sf__hb_phi_inverse_y), so a deadline costs one square root.
 *
 * Receiving: each datagram is taken at its kernel receive timestamp (SO_TIMESTAMPNS), not at the time
 * it is read, so a busy engine can drain its socket every few milliseconds instead of waking for each
 * datagram (sf__rx_pace) without blurring inter-arrival samples or RTTs; a quiet one reads at once.
 *
 * Addresses: a socket bound to an IPv6 address has IPV6_V6ONLY off, and IPv4 targets are stored as
 * v4-mapped addresses (::ffff:a.b.c.d) so they can be reached and recognised; events and members()
 * show them as plain IPv4 again. An IPv4 socket cannot reach IPv6 targets (-EAFNOSUPPORT). */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "steadfast/heartbeat.h"
#include "detector_internal.h"
#include "engine_internal.h"
#include "packet_internal.h"
#include "replay.h"

#define SF__NS_PER_MS INT64_C(1000000)
#define SF__NEVER INT64_MIN
#define SF__NOT_IN_HEAP UINT32_MAX
#define SF__RCVBUF (1 << 20) /* absorbs the burst of beats queued while the process was stopped */

/* ---- Types ----------------------------------------------------------------------------------------- */

typedef struct sf__addr_s {
  union {
    struct sockaddr sa;
    struct sockaddr_in in4;
    struct sockaddr_in6 in6;
  } u;
  socklen_t len;
} sf__addr_t;

/* One peer: a monitor's learned agent, a mesh member, or an agent's target (a monitor). Tracked peers
 * (monitor and mesh) carry an inter-arrival ring of max_samples after the record. */
typedef struct sf__peer_s {
  char id[SF_HB_MAX_ID + 1]; /* "" for a target not heard from yet */
  uint8_t state;             /* sf_hb_state_t */
  uint8_t stalled;
  uint8_t tracked;   /* has a history and is judged (monitor, mesh) */
  uint8_t is_target; /* in e->targets (beats go to addr) */
  uint8_t is_self;   /* a target that turned out to be this engine: no beats to it */
  uint8_t probing;   /* mesh: an indirect probe round is running */
  uint8_t probe_ok;  /* ... and the member answered in it (directly or through a helper) */
  uint8_t in_hash;
  uint8_t skip_sample; /* the next beat starts a new rhythm (a restart): no inter-arrival sample */
  sf__addr_t addr;
  uint32_t heap_index;
  uint32_t interval_ms; /* the interval its beats advertise */
  uint32_t lag_us;      /* its reported JS lag, SF_HB_LAG_UNKNOWN if unknown */
  uint32_t rtt_us;      /* latest RTT, 0 if none */
  uint64_t incarnation;
  uint64_t beats;      /* valid packets received from it */
  uint64_t beats_sent; /* targets: beats sent to it (every Nth asks for an ACK) */
  uint64_t probe_id;
  int64_t probe_end; /* when the running probe round gives up */
  int64_t last_arrival;
  int64_t deadline; /* heap key */
  sf__hb_history_t history;
  sf__hb_replay_t replay;
  uint32_t samples[]; /* tracked peers: history storage */
} sf__peer_t;

/* A PING this member sent on behalf of another (SWIM indirect probe), waiting for the target's ACK. */
typedef struct sf__relay_s {
  uint64_t probe_id;
  int64_t expires;
  char target[SF_HB_MAX_ID + 1];
  sf__addr_t requester;
} sf__relay_t;

/* Room for the kernel's receive timestamp (SCM_TIMESTAMPNS) of one datagram, aligned for cmsghdr. */
typedef union sf__rx_ctl_u {
  struct cmsghdr align;
  char buf[CMSG_SPACE(sizeof(struct timespec))];
} sf__rx_ctl_t;

/* A slot of the id hash: the peer and its id's hash side by side, so that a probe reads only the
 * slot array and the one peer whose hash matches (a peer record is a cache miss of its own). */
typedef struct sf__slot_s {
  uint64_t hash;
  sf__peer_t *p; /* NULL: empty */
} sf__slot_t;

typedef struct sf__loss_rule_s {
  sf__addr_t addr;
  double rate;
} sf__loss_rule_t;

struct sf_hb_engine_s {
  /* Set at start, read-only afterwards; but o.keys, o.nkeys and o.send_key_id, which
   * sf_hb_engine_set_keys replaces, are guarded by mu. */
  sf_hb_options_t o;
  int fd, epfd, timerfd, stopfd;
  sf__addr_t local; /* the address the socket is bound to (getsockname, so with its port) */
  pthread_t thread;
  int64_t tick_ns, interval_ns, probe_timeout_ns, pause_threshold_ns;
  double y_suspect, y_dead; /* sf__hb_phi_inverse_y of the thresholds */
  uint32_t want_ack_every;  /* beats per ACK request */
  size_t peer_bytes;        /* sizeof a tracked peer with its ring (o.phi.max_samples samples) */

  int64_t coalesce_ns; /* under load, the socket is read at most this often */

  /* Engine thread only. */
  int64_t last_wake;
  int64_t wake_now; /* this wake-up's time, which the packets sent while receiving carry */
  int64_t next_beat;
  int notify_pending;
  /* Receiving: the datagrams read at each drain, and the pacing of the drains (sf__rx_pace). */
  int rx_armed;            /* epoll watches the socket (a quiet engine reads at once) */
  int rx_busy;             /* the last rate window saw at least SF__HB_BUSY_RATE datagrams a second */
  int64_t rx_resume;       /* when a socket that epoll does not watch is drained next */
  int64_t rx_since;        /* the previous drain: no datagram read now arrived before it */
  int64_t rx_window_start; /* the rate window */
  uint32_t rx_window_count;
  struct mmsghdr in_msgs[SF__HB_BATCH];
  struct iovec in_iov[SF__HB_BATCH];
  sf__addr_t in_addr[SF__HB_BATCH];
  sf__rx_ctl_t in_ctl[SF__HB_BATCH];
  uint64_t in_sender_hash[SF__HB_BATCH]; /* sf__rx_prefetch: the hash of each datagram's sender id */
  uint8_t in_buf[SF__HB_BATCH][SF_HB_MAX_PACKET];
  struct mmsghdr out_msgs[SF__HB_BATCH];
  struct iovec out_iov[SF__HB_BATCH];
  sf__addr_t out_addr[SF__HB_BATCH];
  uint8_t out_buf[SF__HB_BATCH][SF_HB_MAX_PACKET];
  int nout;
  sf__relay_t relays[SF__HB_RELAYS];
  uint32_t next_relay;

  pthread_mutex_t mu;
  int stopping, leave;
  uint32_t test_stall_ms;
  uint64_t seq;
  uint64_t rng;
  uint64_t hash_seed;
  uint64_t own_hash;                      /* sf__hash_id of o.id */
  int64_t no_samples_until;               /* the burst read right after a local pause adds no samples */
  int64_t last_evict_scan;                /* when a full monitor last looked for a peer to forget */
  uint32_t max_peers;                     /* SF__HB_MAX_PEERS, lowered by a test hook */
  sf__hb_hmac_key_t hmac[SF_HB_MAX_KEYS]; /* for each HMAC key of o.keys, its schedule (sf__hb_hmac_prepare) */
  int send_key;                           /* index in o.keys, -1: CRC-32C */
  /* JS lag (sf_hb_engine_js_tick). */
  int js_ticked;
  int64_t js_last_tick;
  uint32_t js_period_ms, js_measured_us;
  /* Peers. */
  sf__slot_t *slots; /* hash by id, open addressing, linear probing */
  uint32_t nslots, npeers;
  sf__peer_t **targets;
  uint32_t ntargets, targets_cap;
  sf__peer_t **heap;
  uint32_t nheap, heap_cap;
  /* Events. */
  sf_hb_event_t *queue;
  uint32_t queue_cap, queue_head, queue_count;
  /* Loss hook. */
  double loss_rate;
  sf__loss_rule_t loss_rules[SF__HB_MAX_LOSS_RULES];
  uint32_t nloss_rules;
  sf_hb_stats_t stats;
};

/* ---- Small helpers --------------------------------------------------------------------------------- */

static int64_t sf__now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static double sf__wall_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* xorshift64* (Vigna, "An experimental exploration of Marsaglia's xorshift generators", 2016): the
 * loss hook and probe choices need speed and spread, not secrecy. */
static uint64_t sf__rand(sf_hb_engine_t *e) {
  uint64_t x = e->rng;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  e->rng = x;
  return x * UINT64_C(2685821657736338717);
}

static double sf__rand_unit(sf_hb_engine_t *e) {
  return (double)(sf__rand(e) >> 11) * (1.0 / 9007199254740992.0);
}

static uint64_t sf__random_seed(void) {
  uint64_t s = 0;
  if (getrandom(&s, sizeof s, GRND_NONBLOCK) != (ssize_t)sizeof s) s = (uint64_t)sf__now() ^ (uint64_t)getpid() << 32;
  return s != 0 ? s : UINT64_C(0x9e3779b97f4a7c15);
}

/* The id hash, seeded per engine so that ids chosen by a remote sender cannot be aimed at one chain.
 * A multiply-xorshift over 8-byte words; ids are at most 64 bytes. */
static uint64_t sf__hash_bytes(const sf_hb_engine_t *e, const char *id, size_t n) {
  uint64_t h = e->hash_seed;
  for (size_t i = 0; i < n; i += 8) {
    uint64_t w = 0;
    size_t m = n - i < 8 ? n - i : 8;
    memcpy(&w, id + i, m);
    h = (h ^ w) * UINT64_C(0x9e3779b97f4a7c15);
    h ^= h >> 29;
  }
  h = (h ^ n) * UINT64_C(0xbf58476d1ce4e5b9);
  return h ^ (h >> 31);
}

static uint64_t sf__hash_id(const sf_hb_engine_t *e, const char *id) {
  return sf__hash_bytes(e, id, strlen(id));
}

/* ---- Addresses ------------------------------------------------------------------------------------- */

/* addr in the socket's family: IPv4 becomes v4-mapped on an IPv6 socket, v4-mapped becomes IPv4 on an
 * IPv4 socket. -EINVAL for a bad length or family, -EAFNOSUPPORT for IPv6 on an IPv4 socket. */
static int sf__addr_for_socket(int family, const struct sockaddr *addr, socklen_t len, sf__addr_t *out) {
  memset(out, 0, sizeof *out);
  if (addr == NULL) return -EINVAL;
  if (addr->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
    const struct sockaddr_in *a = (const struct sockaddr_in *)addr;
    if (family == AF_INET) {
      out->u.in4.sin_family = AF_INET;
      out->u.in4.sin_port = a->sin_port;
      out->u.in4.sin_addr = a->sin_addr;
      out->len = sizeof(struct sockaddr_in);
    } else {
      out->u.in6.sin6_family = AF_INET6;
      out->u.in6.sin6_port = a->sin_port;
      out->u.in6.sin6_addr.s6_addr[10] = 0xff;
      out->u.in6.sin6_addr.s6_addr[11] = 0xff;
      memcpy(&out->u.in6.sin6_addr.s6_addr[12], &a->sin_addr, 4);
      out->len = sizeof(struct sockaddr_in6);
    }
    return 0;
  }
  if (addr->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
    const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)addr;
    if (family == AF_INET6) {
      out->u.in6.sin6_family = AF_INET6;
      out->u.in6.sin6_port = a->sin6_port;
      out->u.in6.sin6_addr = a->sin6_addr;
      out->u.in6.sin6_scope_id = a->sin6_scope_id;
      out->len = sizeof(struct sockaddr_in6);
      return 0;
    }
    if (!IN6_IS_ADDR_V4MAPPED(&a->sin6_addr)) return -EAFNOSUPPORT;
    out->u.in4.sin_family = AF_INET;
    out->u.in4.sin_port = a->sin6_port;
    memcpy(&out->u.in4.sin_addr, &a->sin6_addr.s6_addr[12], 4);
    out->len = sizeof(struct sockaddr_in);
    return 0;
  }
  return -EINVAL;
}

/* The address as events and members() show it: v4-mapped back to plain IPv4. */
static void sf__addr_report(const sf__addr_t *a, struct sockaddr_storage *out) {
  memset(out, 0, sizeof *out);
  if (a->len == 0) return;
  if (a->u.sa.sa_family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&a->u.in6.sin6_addr)) {
    sf__addr_t v4;
    sf__addr_for_socket(AF_INET, &a->u.sa, a->len, &v4);
    memcpy(out, &v4.u, v4.len);
    return;
  }
  memcpy(out, &a->u, a->len);
}

static int sf__addr_equal(const sf__addr_t *a, const sf__addr_t *b) {
  if (a->u.sa.sa_family != b->u.sa.sa_family) return 0;
  if (a->u.sa.sa_family == AF_INET)
    return a->u.in4.sin_port == b->u.in4.sin_port && a->u.in4.sin_addr.s_addr == b->u.in4.sin_addr.s_addr;
  if (a->u.sa.sa_family == AF_INET6)
    return a->u.in6.sin6_port == b->u.in6.sin6_port &&
           memcmp(&a->u.in6.sin6_addr, &b->u.in6.sin6_addr, sizeof a->u.in6.sin6_addr) == 0;
  return 0;
}

/* Whether a is this engine's own socket: its port, and its address, or for a socket bound to the
 * wildcard an address of this host (which binding a throwaway socket to it tells). The caller passes
 * the address of a target, so a spoofed source can at most make us recognise a target that really is
 * this socket. */
static int sf__is_own_address(const sf_hb_engine_t *e, const sf__addr_t *a) {
  const sf__addr_t *l = &e->local;
  if (a->u.sa.sa_family != l->u.sa.sa_family) return 0;
  int wildcard;
  if (l->u.sa.sa_family == AF_INET) {
    if (a->u.in4.sin_port != l->u.in4.sin_port) return 0;
    wildcard = l->u.in4.sin_addr.s_addr == htonl(INADDR_ANY);
  } else {
    if (a->u.in6.sin6_port != l->u.in6.sin6_port) return 0;
    wildcard = IN6_IS_ADDR_UNSPECIFIED(&l->u.in6.sin6_addr);
  }
  if (!wildcard) return sf__addr_equal(a, l);
  sf__addr_t probe = *a;
  if (a->u.sa.sa_family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&a->u.in6.sin6_addr))
    sf__addr_for_socket(AF_INET, &a->u.sa, a->len, &probe);
  if (probe.u.sa.sa_family == AF_INET)
    probe.u.in4.sin_port = 0;
  else
    probe.u.in6.sin6_port = 0;
  int fd = socket(probe.u.sa.sa_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  int local = bind(fd, &probe.u.sa, probe.len) == 0;
  close(fd);
  return local;
}

/* ---- Peer table: hash by id ------------------------------------------------------------------------ */

/* The peer of id, whose sf__hash_id is h. The hashes stored in the slots are compared first, so a
 * probe past another id costs no visit to that peer's record. */
static sf__peer_t *sf__find_hashed(const sf_hb_engine_t *e, const char *id, uint64_t h) {
  if (e->nslots == 0) return NULL;
  uint32_t mask = e->nslots - 1;
  for (uint32_t i = (uint32_t)h & mask;; i = (i + 1) & mask) {
    const sf__slot_t *s = &e->slots[i];
    if (s->p == NULL) return NULL;
    if (s->hash == h && strcmp(s->p->id, id) == 0) return s->p;
  }
}

static sf__peer_t *sf__find(const sf_hb_engine_t *e, const char *id) {
  return sf__find_hashed(e, id, sf__hash_id(e, id));
}

static void sf__place(sf__slot_t *slots, uint32_t nslots, uint64_t h, sf__peer_t *p) {
  uint32_t mask = nslots - 1;
  uint32_t i = (uint32_t)h & mask;
  while (slots[i].p != NULL) i = (i + 1) & mask;
  slots[i].hash = h;
  slots[i].p = p;
}

/* Inserts p (its id set, not yet present); keeps the load at most 1/2 so probes stay short. */
static int sf__hash_insert(sf_hb_engine_t *e, sf__peer_t *p) {
  if ((e->npeers + 1) * 2 > e->nslots) {
    uint32_t n = e->nslots ? e->nslots * 2 : 64;
    sf__slot_t *slots = calloc(n, sizeof *slots);
    if (slots == NULL) return -ENOMEM;
    for (uint32_t i = 0; i < e->nslots; i++)
      if (e->slots[i].p != NULL) sf__place(slots, n, e->slots[i].hash, e->slots[i].p);
    free(e->slots);
    e->slots = slots;
    e->nslots = n;
  }
  sf__place(e->slots, e->nslots, sf__hash_id(e, p->id), p);
  e->npeers++;
  p->in_hash = 1;
  return 0;
}

/* Removes p, then moves later members of its cluster back into the hole so lookups still find them
 * (deletion without tombstones for linear probing: Knuth, TAOCP vol. 3, 6.4, Algorithm R). */
static void sf__hash_remove(sf_hb_engine_t *e, sf__peer_t *p) {
  if (!p->in_hash) return;
  uint32_t mask = e->nslots - 1;
  uint32_t i = (uint32_t)sf__hash_id(e, p->id) & mask;
  while (e->slots[i].p != p) i = (i + 1) & mask;
  e->slots[i].p = NULL;
  for (uint32_t j = (i + 1) & mask; e->slots[j].p != NULL; j = (j + 1) & mask) {
    uint32_t home = (uint32_t)e->slots[j].hash & mask;
    /* Move slots[j] into the hole at i unless its home lies cyclically in (i, j]. */
    int stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
    if (stays) continue;
    e->slots[i] = e->slots[j];
    e->slots[j].p = NULL;
    i = j;
  }
  e->npeers--;
  p->in_hash = 0;
}

/* ---- Deadline heap --------------------------------------------------------------------------------- */

static void sf__heap_set(sf_hb_engine_t *e, uint32_t i, sf__peer_t *p) {
  e->heap[i] = p;
  p->heap_index = i;
}

static void sf__heap_up(sf_hb_engine_t *e, uint32_t i) {
  sf__peer_t *p = e->heap[i];
  while (i > 0) {
    uint32_t parent = (i - 1) / 2;
    if (e->heap[parent]->deadline <= p->deadline) break;
    sf__heap_set(e, i, e->heap[parent]);
    i = parent;
  }
  sf__heap_set(e, i, p);
}

static void sf__heap_down(sf_hb_engine_t *e, uint32_t i) {
  sf__peer_t *p = e->heap[i];
  for (;;) {
    uint32_t c = 2 * i + 1;
    if (c >= e->nheap) break;
    if (c + 1 < e->nheap && e->heap[c + 1]->deadline < e->heap[c]->deadline) c++;
    if (p->deadline <= e->heap[c]->deadline) break;
    sf__heap_set(e, i, e->heap[c]);
    i = c;
  }
  sf__heap_set(e, i, p);
}

static void sf__heap_remove(sf_hb_engine_t *e, sf__peer_t *p) {
  uint32_t i = p->heap_index;
  if (i == SF__NOT_IN_HEAP) return;
  p->heap_index = SF__NOT_IN_HEAP;
  e->nheap--;
  if (i == e->nheap) return;
  sf__peer_t *moved = e->heap[e->nheap];
  sf__heap_set(e, i, moved);
  sf__heap_up(e, i);
  sf__heap_down(e, moved->heap_index);
}

/* Schedules p's next check at `at`: pushes it, or moves it if `at` is earlier than its key (a later
 * key is left alone: the check recomputes and re-keys, see the header). */
static int sf__schedule(sf_hb_engine_t *e, sf__peer_t *p, int64_t at) {
  if (p->heap_index == SF__NOT_IN_HEAP) {
    if (e->nheap == e->heap_cap) {
      uint32_t n = e->heap_cap ? e->heap_cap * 2 : 64;
      sf__peer_t **h = realloc(e->heap, n * sizeof *h);
      if (h == NULL) return -ENOMEM;
      e->heap = h;
      e->heap_cap = n;
    }
    p->deadline = at;
    sf__heap_set(e, e->nheap++, p);
    sf__heap_up(e, p->heap_index);
  } else if (at < p->deadline) {
    p->deadline = at;
    sf__heap_up(e, p->heap_index);
  }
  return 0;
}

/* ---- Peers ----------------------------------------------------------------------------------------- */

static double sf__peer_interval(const sf_hb_engine_t *e, const sf__peer_t *p) {
  uint32_t ms = p->interval_ms ? p->interval_ms : e->o.interval_ms;
  return ms < 10 ? 10 : ms > 60000 ? 60000 : ms;
}

static void sf__peer_reset_history(sf_hb_engine_t *e, sf__peer_t *p) {
  if (!p->tracked) return;
  double first = e->o.phi.first_interval_ms > 0 ? e->o.phi.first_interval_ms : sf__peer_interval(e, p);
  sf__hb_history_reset(&p->history, p->samples, e->o.phi.max_samples, first);
}

/* Sets up p, all zeros, as a peer not heard from: interval_ms is the interval it advertises (0: not
 * known yet), which its first history assumes. */
static void sf__peer_init(sf_hb_engine_t *e, sf__peer_t *p, int tracked, uint32_t interval_ms) {
  p->tracked = (uint8_t)tracked;
  p->interval_ms = interval_ms;
  p->heap_index = SF__NOT_IN_HEAP;
  p->lag_us = SF_HB_LAG_UNKNOWN;
  p->last_arrival = SF__NEVER;
  sf__hb_replay_init(&p->replay, e->o.replay_window);
  sf__peer_reset_history(e, p);
}

static sf__peer_t *sf__peer_new(sf_hb_engine_t *e, int tracked, uint32_t interval_ms) {
  sf__peer_t *p = calloc(1, tracked ? e->peer_bytes : sizeof(sf__peer_t));
  if (p == NULL) return NULL;
  sf__peer_init(e, p, tracked, interval_ms);
  return p;
}

/* The distribution (mean + pause, floored std dev) of p, in ms. */
static void sf__peer_distribution(const sf_hb_engine_t *e, const sf__peer_t *p, double *mean, double *sd) {
  sf__hb_detector_params_t params;
  sf__hb_detector_params(&e->o.phi, sf__peer_interval(e, p), &params);
  sf__hb_detector_distribution(&p->history, &params, mean, sd);
}

static double sf__peer_phi(const sf_hb_engine_t *e, const sf__peer_t *p, int64_t now) {
  if (!p->tracked || p->last_arrival == SF__NEVER) return 0;
  double mean, sd;
  sf__peer_distribution(e, p, &mean, &sd);
  return sf_hb_phi((double)(now - p->last_arrival) / 1e6, mean, sd);
}

/* When phi of p reaches the threshold whose inverse is y. */
static int64_t sf__peer_time_at(const sf_hb_engine_t *e, const sf__peer_t *p, double y) {
  double mean, sd;
  sf__peer_distribution(e, p, &mean, &sd);
  double ms = mean + y * sd;
  if (ms < 0) ms = 0;
  if (ms > 1e9) ms = 1e9;
  return p->last_arrival + (int64_t)(ms * 1e6);
}

/* Forgets p entirely: out of the hash, the heap and the targets (the caller fixes the latter). */
static void sf__peer_free(sf_hb_engine_t *e, sf__peer_t *p) {
  sf__hash_remove(e, p);
  sf__heap_remove(e, p);
  free(p);
}

/* Makes p an unheard-of target again (same address, no id, fresh detector and window). */
static void sf__peer_unbind(sf_hb_engine_t *e, sf__peer_t *p) {
  sf__hash_remove(e, p);
  sf__heap_remove(e, p);
  sf__addr_t addr = p->addr;
  uint8_t tracked = p->tracked, is_self = p->is_self;
  size_t bytes = tracked ? e->peer_bytes : sizeof(sf__peer_t);
  memset(p, 0, bytes);
  sf__peer_init(e, p, tracked, 0);
  p->addr = addr;
  p->is_self = is_self;
  p->is_target = 1;
}

static sf__peer_t *sf__target_by_addr(const sf_hb_engine_t *e, const sf__addr_t *a, uint32_t *index) {
  /* Linear: agents have a few targets and meshes tens to hundreds; only packets from a sender whose
   * id is not yet known come here. */
  for (uint32_t i = 0; i < e->ntargets; i++) {
    if (sf__addr_equal(&e->targets[i]->addr, a)) {
      if (index != NULL) *index = i;
      return e->targets[i];
    }
  }
  return NULL;
}

/* ---- Events ---------------------------------------------------------------------------------------- */

static void sf__emit(sf_hb_engine_t *e, uint8_t type, const sf__peer_t *p, uint64_t previous, int64_t now,
                     double pause_ms) {
  if (e->queue_count == e->queue_cap) {
    if (e->queue_cap < SF__HB_EVENT_QUEUE_MAX) {
      /* Grow, unrolling the ring to the start of the new array. */
      uint32_t n = e->queue_cap ? e->queue_cap * 2 : 64;
      sf_hb_event_t *q = malloc(n * sizeof *q);
      if (q != NULL) {
        for (uint32_t i = 0; i < e->queue_count; i++) q[i] = e->queue[(e->queue_head + i) % e->queue_cap];
        free(e->queue);
        e->queue = q;
        e->queue_cap = n;
        e->queue_head = 0;
      }
    }
    if (e->queue_count == e->queue_cap) {
      if (e->queue_cap == 0) return;
      /* Full: the oldest goes, the newest state is worth more to a consumer that fell behind. */
      e->queue_head = (e->queue_head + 1) % e->queue_cap;
      e->queue_count--;
    }
  }
  sf_hb_event_t *ev = &e->queue[(e->queue_head + e->queue_count) % e->queue_cap];
  memset(ev, 0, sizeof *ev);
  ev->type = type;
  ev->rtt_ms = -1;
  ev->lag_ms = -1;
  ev->at_ms = sf__wall_ms();
  if (p != NULL) {
    memcpy(ev->id, p->id, sizeof ev->id);
    sf__addr_report(&p->addr, &ev->addr);
    ev->incarnation = p->incarnation;
    ev->previous_incarnation = previous;
    ev->phi = sf__peer_phi(e, p, now);
    ev->last_seen_ms = p->last_arrival == SF__NEVER ? -1 : (double)(now - p->last_arrival) / 1e6;
    ev->rtt_ms = p->rtt_us ? p->rtt_us / 1000.0 : -1;
    ev->lag_ms = p->lag_us == SF_HB_LAG_UNKNOWN ? -1 : p->lag_us / 1000.0;
  } else {
    ev->last_seen_ms = pause_ms;
  }
  if (e->queue_count++ == 0) e->notify_pending = 1;
}

/* ---- Sending --------------------------------------------------------------------------------------- */

static void sf__flush(sf_hb_engine_t *e) {
  int i = 0;
  while (i < e->nout) {
    int n = sendmmsg(e->fd, e->out_msgs + i, (unsigned)(e->nout - i), MSG_DONTWAIT);
    if (n > 0) {
      e->stats.sent += (uint64_t)n;
      i += n;
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      /* The first datagram of the rest failed (a full send buffer, an unreachable address): it is
       * lost, as on a lossy network; the others still go. */
      e->stats.send_errors++;
      i++;
    }
  }
  e->nout = 0;
}

/* Points each send slot at its buffers, once: a packet queued then sets only its length and its
 * address's (sf__rx_init does the same for receiving). */
static void sf__tx_init(sf_hb_engine_t *e) {
  for (int i = 0; i < SF__HB_BATCH; i++) {
    e->out_iov[i].iov_base = e->out_buf[i];
    struct msghdr *h = &e->out_msgs[i].msg_hdr;
    h->msg_name = &e->out_addr[i].u;
    h->msg_iov = &e->out_iov[i];
    h->msg_iovlen = 1;
  }
}

/* Encodes p (header fields filled here) and queues it for `to`; flushes a full batch. */
static void sf__send(sf_hb_engine_t *e, sf_hb_packet_t *p, const sf__addr_t *to, int64_t now) {
  if (e->nout == SF__HB_BATCH) sf__flush(e);
  memcpy(p->sender, e->o.id, sizeof p->sender);
  p->incarnation = e->o.incarnation;
  p->seq = ++e->seq;
  p->send_time = (uint64_t)now;
  p->interval_ms = e->o.interval_ms;
  /* The lag the JS thread would report now: what it measured last, or how overdue its next tick is
   * if that is more (a blocked JS thread cannot call in, so its lag must grow on its own). */
  if (!e->js_ticked) {
    p->lag_us = SF_HB_LAG_UNKNOWN;
  } else {
    int64_t overdue_us = (now - e->js_last_tick) / 1000 - (int64_t)e->js_period_ms * 1000;
    int64_t lag = overdue_us > (int64_t)e->js_measured_us ? overdue_us : (int64_t)e->js_measured_us;
    p->lag_us = lag >= (int64_t)SF_HB_LAG_UNKNOWN ? SF_HB_LAG_UNKNOWN - 1 : (uint32_t)lag;
  }
  int n = sf__hb_packet_encode_prepared(p, e->send_key >= 0 ? &e->o.keys[e->send_key] : NULL,
                                        e->send_key >= 0 ? &e->hmac[e->send_key] : NULL, e->out_buf[e->nout],
                                        SF_HB_MAX_PACKET);
  if (n <= 0) {
    /* Cannot happen with the options validated at start; counted rather than hidden. */
    e->stats.send_errors++;
    return;
  }
  int i = e->nout++;
  e->out_addr[i] = *to;
  e->out_iov[i].iov_len = (size_t)n;
  e->out_msgs[i].msg_hdr.msg_namelen = to->len;
}

static void sf__send_beats(sf_hb_engine_t *e, int64_t now, int leaving) {
  for (uint32_t i = 0; i < e->ntargets; i++) {
    sf__peer_t *t = e->targets[i];
    if (t->is_self) continue;
    sf_hb_packet_t p;
    memset(&p, 0, sizeof p);
    p.type = SF_HB_BEAT;
    if (t->beats_sent++ % e->want_ack_every == 0) p.flags |= SF_HB_FLAG_WANT_ACK;
    if (leaving) p.flags = SF_HB_FLAG_LEAVING;
    p.rtt_us = t->rtt_us;
    sf__send(e, &p, &t->addr, now);
  }
}

static void sf__send_body(sf_hb_engine_t *e, uint8_t type, const char *target, uint64_t probe_id, uint64_t echo,
                          const sf__addr_t *to, int64_t now) {
  sf_hb_packet_t p;
  memset(&p, 0, sizeof p);
  p.type = type;
  if (target != NULL) memcpy(p.target, target, sizeof p.target);
  p.probe_id = probe_id;
  p.echo_time = echo;
  sf__send(e, &p, to, now);
}

/* ---- Verdicts -------------------------------------------------------------------------------------- */

/* A SWIM indirect probe round for suspect member p: a direct PING, and PING_REQs to up to k members
 * that are alive, chosen at random (reservoir sampling), which PING p and forward its ACK. */
static void sf__start_probe(sf_hb_engine_t *e, sf__peer_t *p, int64_t now, int64_t end) {
  p->probing = 1;
  p->probe_ok = 0;
  do p->probe_id = sf__rand(e);
  while (p->probe_id == 0);
  p->probe_end = end;
  sf__send_body(e, SF_HB_PING, NULL, p->probe_id, 0, &p->addr, now);
  sf__peer_t *chosen[SF__HB_MAX_INDIRECT_PROBES];
  uint32_t k = e->o.indirect_probes, seen = 0;
  for (uint32_t i = 0; i < e->ntargets && k > 0; i++) {
    sf__peer_t *q = e->targets[i];
    if (q == p || q->is_self || q->state != SF_HB_STATE_ALIVE) continue;
    if (seen < k) {
      chosen[seen] = q;
    } else {
      uint64_t j = sf__rand(e) % (seen + 1);
      if (j < k) chosen[j] = q;
    }
    seen++;
  }
  uint32_t n = seen < k ? seen : k;
  for (uint32_t i = 0; i < n; i++) sf__send_body(e, SF_HB_PING_REQ, p->id, p->probe_id, 0, &chosen[i]->addr, now);
}

/* p's check came due: decide suspect or dead, or re-key it if it beat since. */
static void sf__check(sf_hb_engine_t *e, sf__peer_t *p, int64_t now) {
  if (p->last_arrival == SF__NEVER) return; /* judged only once it beat */
  if (p->state == SF_HB_STATE_ALIVE) {
    int64_t at = sf__peer_time_at(e, p, e->y_suspect);
    if (now < at) {
      sf__schedule(e, p, at);
      return;
    }
    p->state = SF_HB_STATE_SUSPECT;
    sf__emit(e, SF_HB_EV_SUSPECT, p, 0, now, 0);
    /* Probing starts at suspect so that it overlaps the wait for phi to reach the dead threshold:
     * the probes cost no extra detection time unless they take longer than that wait. The round is
     * timed from when phi crossed the suspect threshold, not from the tick that noticed it (up to a
     * tick later), so that conviction comes by max(T_dead, T_suspect + probe timeout) plus a tick,
     * the documented bound; a tick that came very late still leaves the round half its time. */
    if (e->o.role == SF_HB_MESH) {
      int64_t end = at + e->probe_timeout_ns;
      if (end < now + e->probe_timeout_ns / 2) end = now + e->probe_timeout_ns / 2;
      sf__start_probe(e, p, now, end);
    }
  }
  if (p->state != SF_HB_STATE_SUSPECT) return;
  int64_t at = sf__peer_time_at(e, p, e->y_dead);
  if (p->probing && p->probe_end > at) at = p->probe_end;
  if (now < at) {
    sf__schedule(e, p, at);
    return;
  }
  if (p->probing && p->probe_ok) {
    /* It answered a probe in this round, so it lives though its beats do not reach us: it stays
     * suspect and is probed again. */
    sf__start_probe(e, p, now, now + e->probe_timeout_ns);
    sf__schedule(e, p, p->probe_end);
    return;
  }
  p->probing = 0;
  p->state = SF_HB_STATE_DEAD;
  sf__emit(e, SF_HB_EV_DEAD, p, 0, now, 0);
}

static void sf__check_due(sf_hb_engine_t *e, int64_t now) {
  while (e->nheap > 0 && e->heap[0]->deadline <= now) {
    sf__peer_t *p = e->heap[0];
    sf__heap_remove(e, p);
    sf__check(e, p, now);
  }
}

/* ---- Receiving ------------------------------------------------------------------------------------- */

static int sf__loss_drops(sf_hb_engine_t *e, const sf__addr_t *from) {
  double rate = e->loss_rate;
  for (uint32_t i = 0; i < e->nloss_rules; i++)
    if (sf__addr_equal(&e->loss_rules[i].addr, from)) rate = e->loss_rules[i].rate;
  return rate > 0 && sf__rand_unit(e) < rate;
}

/* A monitor whose table is full makes room by forgetting, without an event, the peer that has been
 * dead or left the longest: agents that restart under new ids (the default id carries the pid) would
 * otherwise fill the table for good, and no new agent could be learned. Live and suspect peers are
 * never forgotten. The search is a pass over the table, so it runs at most once a tick however many
 * strangers knock. Returns 1 if a peer was forgotten. */
static int sf__evict_one(sf_hb_engine_t *e, int64_t now) {
  if (e->last_evict_scan != 0 && now - e->last_evict_scan < e->tick_ns) return 0;
  e->last_evict_scan = now;
  sf__peer_t *victim = NULL;
  for (uint32_t i = 0; i < e->nslots; i++) {
    sf__peer_t *p = e->slots[i].p;
    if (p == NULL || p->is_target || (p->state != SF_HB_STATE_DEAD && p->state != SF_HB_STATE_LEFT)) continue;
    if (victim == NULL || p->last_arrival < victim->last_arrival) victim = p;
  }
  if (victim == NULL) return 0;
  sf__peer_free(e, victim);
  return 1;
}

/* The peer a valid packet from an unknown id belongs to, created or bound as the role allows, or
 * NULL (counted as dropped_unknown by the caller). */
static sf__peer_t *sf__admit(sf_hb_engine_t *e, const sf_hb_packet_t *pkt, const sf__addr_t *from, int64_t now) {
  if (e->o.role == SF_HB_MONITOR) {
    if (pkt->type != SF_HB_BEAT) return NULL;
    if (e->npeers >= e->max_peers && !sf__evict_one(e, now)) return NULL;
    sf__peer_t *p = sf__peer_new(e, 1, pkt->interval_ms);
    if (p == NULL) return NULL;
    memcpy(p->id, pkt->sender, sizeof p->id);
    p->addr = *from;
    if (sf__hash_insert(e, p) != 0) {
      free(p);
      return NULL;
    }
    return p;
  }
  /* Agent and mesh: only from a target's address. */
  uint32_t index;
  sf__peer_t *t = sf__target_by_addr(e, from, &index);
  if (t == NULL || t->is_self || e->npeers >= e->max_peers) return NULL;
  if (t->id[0] != '\0') {
    /* Another process (a new id) now answers at this address. An agent just re-binds its target. A
     * mesh member keeps the old member, which stops beating and goes dead as it should, and binds a
     * new one to the address. */
    if (e->o.role == SF_HB_AGENT) {
      sf__peer_unbind(e, t);
    } else {
      sf__peer_t *n = sf__peer_new(e, 1, 0);
      if (n == NULL) return NULL;
      n->addr = t->addr;
      n->is_target = 1;
      t->is_target = 0;
      e->targets[index] = n;
      t = n;
    }
  }
  memcpy(t->id, pkt->sender, sizeof t->id);
  t->interval_ms = pkt->interval_ms;
  sf__peer_reset_history(e, t);
  if (sf__hash_insert(e, t) != 0) {
    t->id[0] = '\0';
    return NULL;
  }
  return t;
}

static void sf__on_beat(sf_hb_engine_t *e, sf__peer_t *p, const sf_hb_packet_t *pkt, const sf__addr_t *from,
                        int64_t now) {
  if (!p->tracked) return; /* an agent's target beating to it: nothing to track */
  /* A beat sent before the peer's LEAVING beat but delivered after it (reordered) must not bring it
   * back: the LEAVING beat is the last packet of its incarnation, so such a beat lies below the top
   * of the window, where a beat sent later could not. */
  if (p->state == SF_HB_STATE_LEFT && pkt->seq < p->replay.top) return;
  if (pkt->interval_ms != 0) p->interval_ms = pkt->interval_ms;
  p->lag_us = pkt->lag_us;
  if (e->o.role == SF_HB_MONITOR || p->rtt_us == 0) p->rtt_us = pkt->rtt_us;
  /* The inter-arrival sample, unless it spans something that is not the peer's rhythm: a verdict of
   * dead or left (it was gone), a gap as long as the dead time (a member kept only by its probes), a
   * restart, or a pause of this engine (the burst of queued beats read after it). One such gap would
   * otherwise widen the distribution, and slow detection, for the next max_samples beats. */
  if (p->last_arrival != SF__NEVER && p->state != SF_HB_STATE_DEAD && p->state != SF_HB_STATE_LEFT && !p->skip_sample &&
      now >= e->no_samples_until && now < sf__peer_time_at(e, p, e->y_dead))
    sf__hb_history_add(&p->history, (now - p->last_arrival) / 1000);
  p->skip_sample = 0;
  p->last_arrival = now;
  if (pkt->flags & SF_HB_FLAG_LEAVING) {
    p->probing = 0;
    sf__heap_remove(e, p);
    if (p->state != SF_HB_STATE_LEFT) {
      p->state = SF_HB_STATE_LEFT;
      sf__emit(e, SF_HB_EV_LEFT, p, 0, now, 0);
    }
    return;
  }
  if (p->state != SF_HB_STATE_ALIVE) {
    p->state = SF_HB_STATE_ALIVE;
    p->probing = 0;
    sf__emit(e, SF_HB_EV_ALIVE, p, 0, now, 0);
  }
  if (p->lag_us != SF_HB_LAG_UNKNOWN) {
    /* Hysteresis: stalled at the threshold, resumed under half of it, so a lag that hovers around
     * the threshold does not flap. */
    double lag_ms = p->lag_us / 1000.0;
    if (!p->stalled && lag_ms >= e->o.stall_ms) {
      p->stalled = 1;
      sf__emit(e, SF_HB_EV_STALLED, p, 0, now, 0);
    } else if (p->stalled && lag_ms < e->o.stall_ms / 2) {
      p->stalled = 0;
      sf__emit(e, SF_HB_EV_RESUMED, p, 0, now, 0);
    }
  }
  sf__schedule(e, p, sf__peer_time_at(e, p, e->y_suspect));
  if (pkt->flags & SF_HB_FLAG_WANT_ACK) sf__send_body(e, SF_HB_ACK, NULL, 0, pkt->send_time, from, e->wake_now);
}

static void sf__on_ack(sf_hb_engine_t *e, sf__peer_t *p, const sf_hb_packet_t *pkt, int64_t now) {
  if (pkt->probe_id == 0) {
    /* The answer to one of our beats: the RTT, on our own clock. */
    if (p->is_target && pkt->echo_time != 0 && pkt->echo_time <= (uint64_t)now) {
      uint64_t rtt_us = ((uint64_t)now - pkt->echo_time) / 1000;
      if (rtt_us < 60000000) p->rtt_us = rtt_us == 0 ? 1 : (uint32_t)rtt_us;
    }
    return;
  }
  /* The answer to a PING: ours (p is the member we probe; sf__on_packet already counted it as a
   * direct sign of life), or one we sent for another member, whose ACK we forward. */
  for (uint32_t i = 0; i < SF__HB_RELAYS; i++) {
    sf__relay_t *r = &e->relays[i];
    if (r->probe_id != pkt->probe_id || r->expires < now || strcmp(r->target, p->id) != 0) continue;
    sf__send_body(e, SF_HB_PING_ACK, p->id, r->probe_id, pkt->echo_time, &r->requester, e->wake_now);
    r->probe_id = 0;
    break;
  }
}

static void sf__on_ping_req(sf_hb_engine_t *e, sf__peer_t *p, const sf_hb_packet_t *pkt, const sf__addr_t *from,
                            int64_t now) {
  sf__peer_t *t = sf__find(e, pkt->target);
  if (t == NULL || t == p || !t->is_target || t->is_self) return;
  sf__relay_t *r = &e->relays[e->next_relay];
  e->next_relay = (e->next_relay + 1) % SF__HB_RELAYS;
  r->probe_id = pkt->probe_id;
  r->expires = now + e->probe_timeout_ns;
  memcpy(r->target, t->id, sizeof r->target);
  r->requester = *from;
  sf__send_body(e, SF_HB_PING, NULL, pkt->probe_id, 0, &t->addr, e->wake_now);
}

/* Handles one datagram. sender_hash: sf__hash_id of its sender, as sf__rx_prefetch computed it from
 * the raw header, or NULL (computed here). A datagram that decodes has its sender where the prefetch
 * read it, its length byte in 1..SF_HB_MAX_ID and inside the datagram, and no NUL in it, so the
 * prefetch hashed exactly the bytes of pkt.sender. */
static void sf__on_packet(sf_hb_engine_t *e, const uint8_t *buf, size_t len, int truncated, const sf__addr_t *from,
                          int64_t now, const uint64_t *sender_hash) {
  e->stats.received++;
  if ((e->loss_rate > 0 || e->nloss_rules > 0) && sf__loss_drops(e, from)) {
    e->stats.dropped_injected++;
    return;
  }
  sf_hb_packet_t pkt;
  int rc = truncated ? SF_EMALFORMED : sf__hb_packet_decode_prepared(buf, len, e->o.keys, e->hmac, e->o.nkeys, &pkt);
  if (rc == SF_EPROTO_VERSION) {
    e->stats.dropped_version++;
    return;
  } else if (rc == SF_EAUTH) {
    e->stats.dropped_auth++;
    return;
  } else if (rc != 0) {
    e->stats.dropped_malformed++;
    return;
  }
  uint64_t hash = sender_hash != NULL ? *sender_hash : sf__hash_id(e, pkt.sender);
  if (hash == e->own_hash && strcmp(pkt.sender, e->o.id) == 0) {
    /* Our own packet came back. From a target whose address is this very socket, the target is this
     * engine (a mesh list or an agent's monitors that include it): stop beating there. From anywhere
     * else it is a reflection: anyone who captured one of our packets can send it back to us from a
     * target's (spoofed) address, and no MAC or replay window stops that, since the packet is ours
     * and we keep no window for ourselves. It must not silence a real target. */
    sf__peer_t *t = sf__target_by_addr(e, from, NULL);
    if (t != NULL && !t->is_self && sf__is_own_address(e, from)) t->is_self = 1;
    e->stats.dropped_unknown++;
    return;
  }
  sf__peer_t *p = sf__find_hashed(e, pkt.sender, hash);
  if (p == NULL) {
    /* Never create a peer for a packet its window would refuse anyway. */
    if (pkt.seq == 0) {
      e->stats.dropped_replay++;
      return;
    }
    p = sf__admit(e, &pkt, from, now);
    if (p == NULL) {
      e->stats.dropped_unknown++;
      return;
    }
  }
  /* The window only after the tag verified (replay.h); it also tells a restart. */
  uint64_t previous = p->replay.incarnation;
  int first = !p->replay.started;
  rc = sf__hb_replay_check(&p->replay, pkt.incarnation, pkt.seq);
  if (rc < 0) {
    e->stats.dropped_replay++;
    return;
  }
  e->stats.accepted++;
  p->beats++;
  /* A monitor follows an agent that moved (a restart on another port, a new address): events show
   * where its packets come from. Mesh and agent targets keep the address they were given. */
  if (e->o.role == SF_HB_MONITOR && !sf__addr_equal(&p->addr, from)) p->addr = *from;
  if (first || rc == SF__HB_REPLAY_RESTARTED) {
    p->incarnation = pkt.incarnation;
    if (rc == SF__HB_REPLAY_RESTARTED) {
      /* A new process: its rhythm starts over, and the gap since the old one's last beat is no sample. */
      p->interval_ms = pkt.interval_ms ? pkt.interval_ms : p->interval_ms;
      sf__peer_reset_history(e, p);
      p->skip_sample = 1;
      p->rtt_us = 0;
      if (p->tracked) sf__emit(e, SF_HB_EV_RESTARTED, p, previous, now, 0);
    }
  }
  if (!p->tracked) p->last_arrival = now; /* an agent's target: last seen only */
  /* Any packet from a member under probe is a direct sign of life. */
  if (p->probing) p->probe_ok = 1;
  switch (pkt.type) {
    case SF_HB_BEAT:
      sf__on_beat(e, p, &pkt, from, now);
      break;
    case SF_HB_ACK:
      sf__on_ack(e, p, &pkt, now);
      break;
    case SF_HB_PING:
      if (e->o.role == SF_HB_MESH) sf__send_body(e, SF_HB_ACK, NULL, pkt.probe_id, pkt.send_time, from, e->wake_now);
      break;
    case SF_HB_PING_REQ:
      if (e->o.role == SF_HB_MESH) sf__on_ping_req(e, p, &pkt, from, now);
      break;
    case SF_HB_PING_ACK: {
      sf__peer_t *t = sf__find(e, pkt.target);
      if (t != NULL && t->probing && t->probe_id == pkt.probe_id) t->probe_ok = 1;
      break;
    }
  }
}

/* Points each receive slot at its buffers, once: a drain then resets only the lengths the kernel
 * wrote, for the datagrams it read. */
static void sf__rx_init(sf_hb_engine_t *e) {
  for (int i = 0; i < SF__HB_BATCH; i++) {
    e->in_iov[i].iov_base = e->in_buf[i];
    e->in_iov[i].iov_len = SF_HB_MAX_PACKET;
    struct msghdr *h = &e->in_msgs[i].msg_hdr;
    h->msg_name = &e->in_addr[i].u;
    h->msg_namelen = sizeof e->in_addr[i].u;
    h->msg_iov = &e->in_iov[i];
    h->msg_iovlen = 1;
    h->msg_control = e->in_ctl[i].buf;
    h->msg_controllen = sizeof e->in_ctl[i].buf;
  }
}

/* Before a batch of n datagrams is handled, asks the cache for what handling them will read: the
 * hash slots of their senders, then the records of the peers in those slots. With thousands of
 * peers each is a cache miss, and taken one after the other these misses were most of the time a
 * beat cost; issued together they overlap. The sender id is read where the header puts it
 * (docs/protocol.md), without any check beyond staying inside the datagram; its hash is kept in
 * in_sender_hash for sf__on_packet, which uses it only for a datagram that decodes. Returns whether
 * it hashed the senders (not when no peer is known yet). */
static int sf__rx_prefetch(sf_hb_engine_t *e, int n) {
  if (e->nslots == 0) return 0;
  uint32_t mask = e->nslots - 1, home[SF__HB_BATCH];
  for (int i = 0; i < n; i++) {
    const uint8_t *b = e->in_buf[i];
    size_t len = e->in_msgs[i].msg_len, id_len = len > SF__OFF_SENDER_LEN ? b[SF__OFF_SENDER_LEN] : 0;
    home[i] = UINT32_MAX;
    if (id_len == 0 || id_len > SF_HB_MAX_ID || SF__HEADER + id_len > len) continue;
    e->in_sender_hash[i] = sf__hash_bytes(e, (const char *)b + SF__HEADER, id_len);
    home[i] = (uint32_t)e->in_sender_hash[i] & mask;
    __builtin_prefetch(&e->slots[home[i]]);
  }
  for (int i = 0; i < n; i++) {
    if (home[i] == UINT32_MAX || e->slots[home[i]].p == NULL) continue;
    const char *p = (const char *)e->slots[home[i]].p;
    for (size_t off = 0; off < sizeof(sf__peer_t); off += 64) __builtin_prefetch(p + off);
  }
  return 1;
}

/* When datagram h arrived, on CLOCK_MONOTONIC: the kernel's receive timestamp (SO_TIMESTAMPNS,
 * CLOCK_REALTIME) plus `offset`, the difference of the two clocks read once per drain, clamped to
 * [since, now] (a step of the wall clock moves an arrival by at most the time between two drains);
 * `now` when the kernel gave none. */
static int64_t sf__rx_arrival(struct msghdr *h, int64_t offset, int64_t since, int64_t now) {
  for (struct cmsghdr *c = CMSG_FIRSTHDR(h); c != NULL; c = CMSG_NXTHDR(h, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_TIMESTAMPNS) continue;
    struct timespec ts;
    memcpy(&ts, CMSG_DATA(c), sizeof ts);
    int64_t at = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec + offset;
    return at > now ? now : at < since ? since : at;
  }
  return now;
}

/* Reads what waits in the socket (at most SF__HB_RECV_BATCHES batches, so a flood cannot starve the
 * timer) and returns how many datagrams. Each is handled at its arrival time (sf__rx_arrival), so
 * that inter-arrival samples and RTTs do not depend on when the engine got round to reading; with
 * `exact` 0 (the burst read after a local pause) at `now`, which is what the pause guard expects. */
static uint32_t sf__receive(sf_hb_engine_t *e, int64_t now, int exact) {
  struct timespec rt;
  clock_gettime(CLOCK_REALTIME, &rt);
  int64_t offset = sf__now() - ((int64_t)rt.tv_sec * 1000000000 + rt.tv_nsec);
  uint32_t total = 0;
  for (int batch = 0; batch < SF__HB_RECV_BATCHES; batch++) {
    int n = recvmmsg(e->fd, e->in_msgs, SF__HB_BATCH, MSG_DONTWAIT, NULL);
    int hashed = n > 1 && sf__rx_prefetch(e, n);
    if (n < 0) {
      /* EAGAIN: drained. Another error (ECONNREFUSED from an ICMP error) is consumed by being
       * reported, and the datagrams behind it still wait: read on. */
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      continue;
    }
    for (int i = 0; i < n; i++) {
      struct msghdr *h = &e->in_msgs[i].msg_hdr;
      sf__addr_t *from = &e->in_addr[i];
      from->len = h->msg_namelen;
      int64_t at = exact ? sf__rx_arrival(h, offset, e->rx_since, now) : now;
      int truncated = (h->msg_flags & MSG_TRUNC) != 0;
      sf__on_packet(e, e->in_buf[i], e->in_msgs[i].msg_len, truncated, from, at, hashed ? &e->in_sender_hash[i] : NULL);
      h->msg_namelen = sizeof e->in_addr[i].u;
      h->msg_controllen = sizeof e->in_ctl[i].buf;
    }
    total += (uint32_t)n;
    if (n < SF__HB_BATCH) break;
  }
  e->rx_since = now;
  return total;
}

/* Wake-up coalescing. A quiet engine (an agent, a small mesh) has epoll watch its socket and reads
 * each datagram as it comes. Under load, a wake-up per datagram or per small burst is most of the
 * engine's cost (the kernel's share above all), so once a rate window (SF__HB_RATE_WINDOW_MS) has
 * seen SF__HB_BUSY_RATE datagrams a second, epoll stops watching the socket and the thread drains it
 * every coalesce_ns instead (and on every tick), until a window sees less than half that rate. The
 * arrival times stay exact (kernel timestamps); what waits up to coalesce_ns is the handling: the
 * ACKs this engine sends, and events. docs/failure-detection.md, "Cost and limits". */
static void sf__rx_pace(sf_hb_engine_t *e, int64_t now, uint32_t got) {
  e->rx_window_count += got;
  int64_t span = now - e->rx_window_start;
  if (span >= SF__HB_RATE_WINDOW_MS * SF__NS_PER_MS) {
    double rate = (double)e->rx_window_count * 1e9 / (double)span;
    e->rx_busy = rate >= (e->rx_busy ? SF__HB_BUSY_RATE / 2 : SF__HB_BUSY_RATE);
    e->rx_window_start = now;
    e->rx_window_count = 0;
  }
  int armed = !e->rx_busy;
  if (armed != e->rx_armed) {
    struct epoll_event ev = {.events = armed ? EPOLLIN : 0, .data.u32 = 0};
    if (epoll_ctl(e->epfd, EPOLL_CTL_MOD, e->fd, &ev) == 0) e->rx_armed = armed;
  }
  if (!e->rx_armed) e->rx_resume = now + e->coalesce_ns;
}

/* ---- The thread ------------------------------------------------------------------------------------ */

/* The local pause guard: this engine was not scheduled for `pause` ns, so it could not have heard
 * anyone in that window. Every peer's clock moves forward by the pause (the heap keys with it, which
 * keeps the heap's order), and the burst of datagrams queued meanwhile adds no samples. */
static void sf__on_pause(sf_hb_engine_t *e, int64_t pause, int64_t now) {
  e->stats.pauses++;
  for (uint32_t i = 0; i < e->nslots; i++) {
    sf__peer_t *p = e->slots[i].p;
    if (p == NULL || !p->tracked || p->last_arrival == SF__NEVER) continue;
    p->last_arrival += pause;
    if (p->probing) p->probe_end += pause;
  }
  for (uint32_t i = 0; i < e->nheap; i++) e->heap[i]->deadline += pause;
  e->no_samples_until = now + 2 * e->tick_ns;
  sf__emit(e, SF_HB_EV_PAUSED, NULL, 0, now, (double)pause / 1e6);
}

static void *sf__thread(void *arg) {
  sf_hb_engine_t *e = arg;
  for (;;) {
    struct epoll_event evs[3];
    int timeout = -1;
    if (!e->rx_armed) {
      int64_t wait = e->rx_resume - sf__now();
      timeout = wait <= 0 ? 0 : (int)((wait + SF__NS_PER_MS - 1) / SF__NS_PER_MS);
    }
    int n = epoll_wait(e->epfd, evs, 3, timeout);
    if (n < 0) {
      if (errno == EINTR) continue;
      break; /* cannot happen with valid descriptors; stop rather than spin */
    }
    int readable = 0, tick = 0, stop = 0;
    for (int i = 0; i < n; i++) {
      if (evs[i].data.u32 == 0) readable = 1;
      if (evs[i].data.u32 == 1) tick = 1;
      if (evs[i].data.u32 == 2) stop = 1;
    }
    pthread_mutex_lock(&e->mu);
    if (e->test_stall_ms) {
      struct timespec ts = {e->test_stall_ms / 1000, (long)(e->test_stall_ms % 1000) * 1000000};
      e->test_stall_ms = 0;
      pthread_mutex_unlock(&e->mu);
      while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
      }
      pthread_mutex_lock(&e->mu);
    }
    int64_t now = sf__now();
    e->wake_now = now;
    if (stop || e->stopping) {
      if (e->leave) {
        sf__send_beats(e, now, 1);
        sf__flush(e);
      }
      pthread_mutex_unlock(&e->mu);
      break;
    }
    /* Timer overruns and a clock jump both show as a long gap between wake-ups (the timer alone
     * wakes us every tick). */
    if (e->last_wake != 0 && now - e->last_wake > e->pause_threshold_ns)
      sf__on_pause(e, now - e->last_wake - e->tick_ns, now);
    e->last_wake = now;
    /* Datagrams first, verdicts after: beats that waited in the socket must count before anyone is
     * judged. A socket epoll does not watch (under load) is drained at every wake-up. */
    if (readable || !e->rx_armed) sf__rx_pace(e, now, sf__receive(e, now, now >= e->no_samples_until));
    if (tick) {
      uint64_t expirations;
      while (read(e->timerfd, &expirations, sizeof expirations) < 0 && errno == EINTR) {
      }
      e->stats.ticks++;
      /* Half a tick early is on time: the timer and next_beat started microseconds apart, and a beat
       * that slipped to the next tick would jitter by a whole tick. */
      if (e->ntargets > 0 && now + e->tick_ns / 2 >= e->next_beat) {
        sf__send_beats(e, now, 0);
        e->next_beat += e->interval_ns;
        if (e->next_beat <= now) e->next_beat = now + e->interval_ns;
      }
      sf__check_due(e, now);
    }
    sf__flush(e);
    int notify = e->notify_pending;
    e->notify_pending = 0;
    pthread_mutex_unlock(&e->mu);
    if (notify && e->o.notify != NULL) e->o.notify(e->o.notify_user);
  }
  return NULL;
}

/* ---- Public API ------------------------------------------------------------------------------------ */

void sf_hb_options_init(sf_hb_options_t *o) {
  memset(o, 0, sizeof *o);
  o->interval_ms = 100;
  o->suspect_phi = 3;
  o->dead_phi = 8;
  /* min_std_dev_ms and acceptable_pause_ms stay 0: they follow each peer's interval
   * (SF__HB_DEFAULT_*_FACTOR, docs/failure-detection.md); first_interval_ms 0: the peer's interval. */
  o->phi.max_samples = SF__HB_DEFAULT_SAMPLES;
  o->stall_ms = 1000;
  o->indirect_probes = 3;
  o->probe_timeout_ms = 0; /* 2 * interval */
  o->replay_window = 256;
}

/* The timer's period: a quarter of the interval, at least SF__HB_MIN_TICK_MS. Verdicts come up to one
 * tick late, which the detection bound includes. */
static uint32_t sf__tick_ms(uint32_t interval_ms) {
  return interval_ms / 4 < SF__HB_MIN_TICK_MS ? SF__HB_MIN_TICK_MS : interval_ms / 4;
}

/* probe_timeout_ms 0 means twice the interval. */
static uint32_t sf__probe_timeout_ms(const sf_hb_options_t *o) {
  return o->probe_timeout_ms != 0 ? o->probe_timeout_ms : 2 * o->interval_ms;
}

double sf_hb_detection_bound_ms(const sf_hb_options_t *o) {
  double conviction = sf__hb_detection_time_ms(&o->phi, o->interval_ms, o->dead_phi);
  if (o->role == SF_HB_MESH) {
    /* Probes start at suspect and a member is convicted only once the round is over. */
    double probed = sf__hb_detection_time_ms(&o->phi, o->interval_ms, o->suspect_phi) + sf__probe_timeout_ms(o);
    if (probed > conviction) conviction = probed;
  }
  return conviction + sf__tick_ms(o->interval_ms);
}

/* The HMAC key schedules of e->o.keys, done once here rather than for every packet. */
static void sf__prepare_keys(sf_hb_engine_t *e) {
  const sf_hb_key_t *keys = e->o.keys;
  memset(e->hmac, 0, sizeof e->hmac);
  for (uint32_t i = 0; i < e->o.nkeys; i++)
    if (keys[i].auth == SF_HB_AUTH_HMAC_SHA256) sf__hb_hmac_prepare(keys[i].bytes, keys[i].len, &e->hmac[i]);
}

/* Keys a packet can be signed with and verified by; send_key_id among them. */
static int sf__keys_ok(const sf_hb_key_t *keys, uint32_t nkeys, uint8_t send_key_id, int *send_index) {
  *send_index = -1;
  if (nkeys > SF_HB_MAX_KEYS) return -EINVAL;
  if (nkeys > 0 && keys == NULL) return -EINVAL;
  for (uint32_t i = 0; i < nkeys; i++) {
    for (uint32_t j = 0; j < i; j++)
      if (keys[j].id == keys[i].id) return -EINVAL;
    if (!sf__hb_key_ok(&keys[i])) return -EINVAL; /* length or scheme, as the encoder checks it */
    if (keys[i].id == send_key_id) *send_index = (int)i;
  }
  if (nkeys > 0 && *send_index < 0) return -EINVAL;
  return 0;
}

static int sf__options_ok(const sf_hb_options_t *o, int *send_index) {
  if (o->role != SF_HB_MONITOR && o->role != SF_HB_AGENT && o->role != SF_HB_MESH) return -EINVAL;
  if (o->interval_ms < 10 || o->interval_ms > 60000) return -EINVAL;
  if (!(o->suspect_phi > 0) || !(o->dead_phi > o->suspect_phi) || !isfinite(o->dead_phi)) return -EINVAL;
  if (o->phi.max_samples != 0 && (o->phi.max_samples < 2 || o->phi.max_samples > SF__HB_MAX_SAMPLES)) return -EINVAL;
  if (!(o->phi.min_std_dev_ms >= 0) || !(o->phi.acceptable_pause_ms >= 0) || !(o->phi.first_interval_ms >= 0) ||
      !isfinite(o->phi.min_std_dev_ms) || !isfinite(o->phi.acceptable_pause_ms) || !isfinite(o->phi.first_interval_ms))
    return -EINVAL;
  if (!(o->stall_ms > 0) || !isfinite(o->stall_ms)) return -EINVAL;
  if (o->indirect_probes > SF__HB_MAX_INDIRECT_PROBES) return -EINVAL;
  if (o->probe_timeout_ms > 600000) return -EINVAL;
  if (o->replay_window < 1 || o->replay_window > SF__HB_REPLAY_MAX) return -EINVAL;
  if (o->bind.ss_family == AF_INET) {
    if (o->bind_len < (socklen_t)sizeof(struct sockaddr_in)) return -EINVAL;
  } else if (o->bind.ss_family == AF_INET6) {
    if (o->bind_len < (socklen_t)sizeof(struct sockaddr_in6)) return -EINVAL;
  } else {
    return -EINVAL;
  }
  /* The id: 1..64 bytes of UTF-8 without NUL, as the encoder checks it. */
  if (!sf__hb_id_ok((const uint8_t *)o->id, sf__hb_id_len(o->id), 1)) return -EINVAL;
  return sf__keys_ok(o->keys, o->nkeys, o->send_key_id, send_index);
}

static void sf__engine_free(sf_hb_engine_t *e) {
  for (uint32_t i = 0; i < e->nslots; i++)
    if (e->slots[i].p != NULL && !e->slots[i].p->is_target) free(e->slots[i].p);
  for (uint32_t i = 0; i < e->ntargets; i++) free(e->targets[i]);
  free(e->slots);
  free(e->targets);
  free(e->heap);
  free(e->queue);
  if (e->fd >= 0) close(e->fd);
  if (e->epfd >= 0) close(e->epfd);
  if (e->timerfd >= 0) close(e->timerfd);
  if (e->stopfd >= 0) close(e->stopfd);
  pthread_mutex_destroy(&e->mu);
  free(e);
}

int sf_hb_engine_start(const sf_hb_options_t *o, sf_hb_engine_t **out) {
  if (out != NULL) *out = NULL;
  if (o == NULL || out == NULL) return -EINVAL;
  int send_index;
  int rc = sf__options_ok(o, &send_index);
  if (rc != 0) return rc;

  sf_hb_engine_t *e = calloc(1, sizeof *e);
  if (e == NULL) return -ENOMEM;
  e->fd = e->epfd = e->timerfd = e->stopfd = -1;
  pthread_mutex_init(&e->mu, NULL);
  e->o = *o;
  e->o.id[SF_HB_MAX_ID] = '\0';
  if (e->o.phi.max_samples == 0) e->o.phi.max_samples = SF__HB_DEFAULT_SAMPLES;
  e->o.probe_timeout_ms = sf__probe_timeout_ms(&e->o);
  if (e->o.incarnation == 0) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    e->o.incarnation = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
  }
  e->max_peers = SF__HB_MAX_PEERS;
  e->peer_bytes = sizeof(sf__peer_t) + (size_t)e->o.phi.max_samples * sizeof(uint32_t);
  sf__prepare_keys(e);
  e->send_key = send_index;
  e->interval_ns = (int64_t)e->o.interval_ms * SF__NS_PER_MS;
  uint32_t tick_ms = sf__tick_ms(e->o.interval_ms);
  e->tick_ns = (int64_t)tick_ms * SF__NS_PER_MS;
  e->probe_timeout_ns = (int64_t)e->o.probe_timeout_ms * SF__NS_PER_MS;
  e->coalesce_ns = (int64_t)SF__HB_COALESCE_MS * SF__NS_PER_MS;
  if (e->coalesce_ns > e->tick_ns) e->coalesce_ns = e->tick_ns;
  /* A gap of four ticks, and at least one interval and 50 ms, is a pause: shorter hiccups are
   * absorbed by the acceptable pause of the detector. */
  e->pause_threshold_ns = 4 * e->tick_ns;
  if (e->pause_threshold_ns < e->interval_ns) e->pause_threshold_ns = e->interval_ns;
  if (e->pause_threshold_ns < 50 * SF__NS_PER_MS) e->pause_threshold_ns = 50 * SF__NS_PER_MS;
  e->y_suspect = sf__hb_phi_inverse_y(e->o.suspect_phi);
  e->y_dead = sf__hb_phi_inverse_y(e->o.dead_phi);
  /* About one RTT sample a second, and at most one ACK per five beats so a monitor of thousands of
   * slow agents does not double its sends. */
  e->want_ack_every = 1000 / e->o.interval_ms < 5 ? 5 : 1000 / e->o.interval_ms;
  e->rng = sf__random_seed();
  e->hash_seed = sf__random_seed();
  e->own_hash = sf__hash_id(e, e->o.id);

  e->fd = socket(e->o.bind.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (e->fd < 0) goto fail_errno;
  if (e->o.bind.ss_family == AF_INET6) {
    int off = 0;
    setsockopt(e->fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off); /* best effort: v4-mapped targets */
  }
  int rcvbuf = SF__RCVBUF;
  setsockopt(e->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf); /* best effort: capped by rmem_max */
  int on = 1; /* receive timestamps; without them a datagram arrives when it is read */
  setsockopt(e->fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on);
  if (bind(e->fd, (const struct sockaddr *)&o->bind, o->bind_len) != 0) goto fail_errno;
  e->local.len = sizeof e->local.u;
  if (getsockname(e->fd, &e->local.u.sa, &e->local.len) != 0) goto fail_errno;
  e->epfd = epoll_create1(EPOLL_CLOEXEC);
  if (e->epfd < 0) goto fail_errno;
  e->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  if (e->timerfd < 0) goto fail_errno;
  e->stopfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (e->stopfd < 0) goto fail_errno;
  struct itimerspec its = {{tick_ms / 1000, (long)(tick_ms % 1000) * 1000000},
                           {tick_ms / 1000, (long)(tick_ms % 1000) * 1000000}};
  if (timerfd_settime(e->timerfd, 0, &its, NULL) != 0) goto fail_errno;
  int fds[3] = {e->fd, e->timerfd, e->stopfd};
  for (uint32_t i = 0; i < 3; i++) {
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = i};
    if (epoll_ctl(e->epfd, EPOLL_CTL_ADD, fds[i], &ev) != 0) goto fail_errno;
  }
  e->next_beat = sf__now();
  e->rx_armed = 1;
  e->rx_since = e->rx_window_start = e->next_beat;
  sf__rx_init(e);
  sf__tx_init(e);
  rc = pthread_create(&e->thread, NULL, sf__thread, e);
  if (rc != 0) {
    sf__engine_free(e);
    return -rc;
  }
  *out = e;
  return 0;

fail_errno:
  rc = -errno;
  sf__engine_free(e);
  return rc;
}

void sf_hb_engine_stop(sf_hb_engine_t *e, int leave) {
  if (e == NULL) return;
  pthread_mutex_lock(&e->mu);
  e->stopping = 1;
  e->leave = leave != 0;
  pthread_mutex_unlock(&e->mu);
  uint64_t one = 1;
  while (write(e->stopfd, &one, sizeof one) < 0 && errno == EINTR) {
  }
  pthread_join(e->thread, NULL);
  sf__engine_free(e);
}

int sf_hb_engine_address(sf_hb_engine_t *e, struct sockaddr_storage *out, socklen_t *len) {
  if (e == NULL || out == NULL || len == NULL) return -EINVAL;
  memset(out, 0, sizeof *out);
  memcpy(out, &e->local.u, e->local.len); /* getsockname at start: the socket's address never changes */
  *len = e->local.len;
  return 0;
}

int sf_hb_engine_add_target(sf_hb_engine_t *e, const struct sockaddr *addr, socklen_t len) {
  if (e == NULL) return -EINVAL;
  if (e->o.role == SF_HB_MONITOR) return -EINVAL;
  sf__addr_t a;
  int rc = sf__addr_for_socket(e->o.bind.ss_family, addr, len, &a);
  if (rc != 0) return rc;
  pthread_mutex_lock(&e->mu);
  if (sf__target_by_addr(e, &a, NULL) != NULL) {
    rc = -EEXIST;
  } else if (e->ntargets >= SF__HB_MAX_TARGETS) {
    rc = -ENOSPC;
  } else {
    if (e->ntargets == e->targets_cap) {
      uint32_t n = e->targets_cap ? e->targets_cap * 2 : 8;
      sf__peer_t **t = realloc(e->targets, n * sizeof *t);
      if (t == NULL) {
        rc = -ENOMEM;
        goto out;
      }
      e->targets = t;
      e->targets_cap = n;
    }
    sf__peer_t *p = sf__peer_new(e, e->o.role == SF_HB_MESH, 0);
    if (p == NULL) {
      rc = -ENOMEM;
      goto out;
    }
    p->addr = a;
    p->is_target = 1;
    e->targets[e->ntargets++] = p;
  }
out:
  pthread_mutex_unlock(&e->mu);
  return rc;
}

int sf_hb_engine_remove_target(sf_hb_engine_t *e, const struct sockaddr *addr, socklen_t len) {
  if (e == NULL) return -EINVAL;
  sf__addr_t a;
  int rc = sf__addr_for_socket(e->o.bind.ss_family, addr, len, &a);
  if (rc != 0) return rc == -EAFNOSUPPORT ? -ENOENT : rc;
  pthread_mutex_lock(&e->mu);
  uint32_t index;
  sf__peer_t *p = sf__target_by_addr(e, &a, &index);
  if (p == NULL) {
    rc = -ENOENT;
  } else {
    e->targets[index] = e->targets[--e->ntargets];
    sf__peer_free(e, p);
  }
  pthread_mutex_unlock(&e->mu);
  return rc;
}

int sf_hb_engine_forget(sf_hb_engine_t *e, const char *id) {
  if (e == NULL || id == NULL) return -EINVAL;
  pthread_mutex_lock(&e->mu);
  int rc = 0;
  sf__peer_t *p = id[0] != '\0' && strlen(id) <= SF_HB_MAX_ID ? sf__find(e, id) : NULL;
  if (p == NULL)
    rc = -ENOENT;
  else if (p->is_target)
    sf__peer_unbind(e, p); /* a target stays, as one not heard from yet */
  else
    sf__peer_free(e, p);
  pthread_mutex_unlock(&e->mu);
  return rc;
}

int sf_hb_engine_set_keys(sf_hb_engine_t *e, const sf_hb_key_t *keys, uint32_t nkeys, uint8_t send_key_id) {
  if (e == NULL) return -EINVAL;
  int send_index;
  int rc = sf__keys_ok(keys, nkeys, send_key_id, &send_index);
  if (rc != 0) return rc;
  pthread_mutex_lock(&e->mu);
  memset(e->o.keys, 0, sizeof e->o.keys);
  if (nkeys > 0) memcpy(e->o.keys, keys, nkeys * sizeof *keys);
  e->o.nkeys = nkeys;
  e->o.send_key_id = send_key_id;
  sf__prepare_keys(e);
  e->send_key = send_index;
  pthread_mutex_unlock(&e->mu);
  return 0;
}

void sf_hb_engine_js_tick(sf_hb_engine_t *e, uint32_t period_ms, uint32_t measured_lag_us) {
  if (e == NULL) return;
  int64_t now = sf__now();
  pthread_mutex_lock(&e->mu);
  e->js_ticked = 1;
  e->js_last_tick = now;
  e->js_period_ms = period_ms;
  e->js_measured_us = measured_lag_us;
  pthread_mutex_unlock(&e->mu);
}

size_t sf_hb_engine_drain(sf_hb_engine_t *e, sf_hb_event_t *out, size_t max) {
  if (e == NULL || out == NULL) return 0;
  pthread_mutex_lock(&e->mu);
  size_t n = e->queue_count < max ? e->queue_count : max;
  for (size_t i = 0; i < n; i++) {
    out[i] = e->queue[e->queue_head];
    e->queue_head = (e->queue_head + 1) % e->queue_cap;
  }
  e->queue_count -= (uint32_t)n;
  pthread_mutex_unlock(&e->mu);
  return n;
}

static void sf__member(const sf_hb_engine_t *e, const sf__peer_t *p, int64_t now, sf_hb_member_t *m) {
  memset(m, 0, sizeof *m);
  memcpy(m->id, p->id, sizeof m->id);
  sf__addr_report(&p->addr, &m->addr);
  m->state = p->state;
  m->stalled = p->stalled;
  m->incarnation = p->incarnation;
  m->phi = sf__peer_phi(e, p, now);
  m->last_seen_ms = p->last_arrival == SF__NEVER ? -1 : (double)(now - p->last_arrival) / 1e6;
  m->rtt_ms = p->rtt_us ? p->rtt_us / 1000.0 : -1;
  m->lag_ms = p->lag_us == SF_HB_LAG_UNKNOWN ? -1 : p->lag_us / 1000.0;
  m->mean_interval_ms = p->tracked ? sf__hb_history_mean_ms(&p->history) : 0;
  m->beats = p->beats;
}

size_t sf_hb_engine_members(sf_hb_engine_t *e, sf_hb_member_t *out, size_t max) {
  if (e == NULL) return 0;
  int64_t now = sf__now();
  size_t n = 0;
  pthread_mutex_lock(&e->mu);
  /* Targets first (in the order added; an agent's monitors, a mesh's members), then the peers that are
   * not targets (a monitor's agents; a mesh member replaced at its address). */
  for (uint32_t i = 0; i < e->ntargets; i++) {
    if (e->targets[i]->is_self) continue;
    if (n < max && out != NULL) sf__member(e, e->targets[i], now, &out[n]);
    n++;
  }
  for (uint32_t i = 0; i < e->nslots; i++) {
    sf__peer_t *p = e->slots[i].p;
    if (p == NULL || p->is_target) continue;
    if (n < max && out != NULL) sf__member(e, p, now, &out[n]);
    n++;
  }
  pthread_mutex_unlock(&e->mu);
  return n;
}

uint64_t sf_hb_engine_incarnation(const sf_hb_engine_t *e) {
  return e->o.incarnation; /* set at start, read-only afterwards */
}

void sf_hb_engine_stats(sf_hb_engine_t *e, sf_hb_stats_t *out) {
  if (out == NULL) return;
  memset(out, 0, sizeof *out);
  if (e == NULL) return;
  pthread_mutex_lock(&e->mu);
  *out = e->stats;
  pthread_mutex_unlock(&e->mu);
}

int sf_hb_engine_set_loss(sf_hb_engine_t *e, double rate, const struct sockaddr *addr, socklen_t len) {
  if (e == NULL || !(rate >= 0 && rate <= 1)) return -EINVAL;
  if (addr == NULL) {
    pthread_mutex_lock(&e->mu);
    e->loss_rate = rate;
    pthread_mutex_unlock(&e->mu);
    return 0;
  }
  sf__addr_t a;
  int rc = sf__addr_for_socket(e->o.bind.ss_family, addr, len, &a);
  if (rc != 0) return rc;
  pthread_mutex_lock(&e->mu);
  uint32_t i = 0;
  while (i < e->nloss_rules && !sf__addr_equal(&e->loss_rules[i].addr, &a)) i++;
  if (rate == 0) {
    if (i < e->nloss_rules) e->loss_rules[i] = e->loss_rules[--e->nloss_rules];
  } else if (i < e->nloss_rules) {
    e->loss_rules[i].rate = rate;
  } else if (e->nloss_rules < SF__HB_MAX_LOSS_RULES) {
    e->loss_rules[e->nloss_rules].addr = a;
    e->loss_rules[e->nloss_rules++].rate = rate;
  } else {
    rc = -ENOSPC;
  }
  pthread_mutex_unlock(&e->mu);
  return rc;
}

/* ---- Internal (engine_internal.h) ------------------------------------------------------------------ */

size_t sf__hb_engine_bytes_per_peer(const sf_hb_engine_t *e) {
  return e->peer_bytes + 2 * sizeof(sf__slot_t) /* hash slots at load 1/2 */ + sizeof(sf__peer_t *) /* heap */;
}

void sf__hb_engine_test_stall(sf_hb_engine_t *e, uint32_t ms) {
  pthread_mutex_lock(&e->mu);
  e->test_stall_ms = ms;
  pthread_mutex_unlock(&e->mu);
}

void sf__hb_engine_test_max_peers(sf_hb_engine_t *e, uint32_t n) {
  pthread_mutex_lock(&e->mu);
  e->max_peers = n < 1 ? 1 : n > SF__HB_MAX_PEERS ? SF__HB_MAX_PEERS : n;
  pthread_mutex_unlock(&e->mu);
}
