// bench/heartbeat/js-monitor.mjs: the baseline of `npm run bench:heartbeat`: a heartbeat monitor as
// one would write it in plain Node.js, on a node:dgram socket, doing the bookkeeping steadfast's engine
// does: decode the same packets (docs/protocol.md: header, sender id, CRC-32C tag, checked with the
// package's native crc32c so that the baseline is not slowed by a JS CRC), reject replays (incarnation,
// then sequence number), keep a per-peer history of inter-arrival times (the last 200, with running
// sums), and compute every peer's phi on a timer every interval/4, moving it alive -> suspect -> dead.

import * as dgram from 'node:dgram';

const HEADER = 48;
const MAGIC = 0x53464842; // "SFHB"
const TYPE_BEAT = 1;
const HISTORY = 200;
const SUSPECT_PHI = 3;
const DEAD_PHI = 8;

/** phi of `elapsed` ms for a normal distribution (mean, std), through Akka's logistic approximation. */
function phi(elapsed, mean, std) {
  const y = (elapsed - mean) / std;
  const e = Math.exp(-y * (1.5976 + 0.070566 * y * y));
  return elapsed > mean ? -Math.log10(e / (1 + e)) : -Math.log10(1 - 1 / (1 + e));
}

export class JsMonitor {
  /**
   * @param {{ crc32c: (data: Uint8Array) => number, intervalMs: number, minStdDevMs?: number, acceptablePauseMs?: number }} o
   */
  constructor({ crc32c, intervalMs, minStdDevMs = intervalMs / 4, acceptablePauseMs = intervalMs / 2 }) {
    this.crc32c = crc32c;
    this.intervalMs = intervalMs;
    this.minStdDevMs = minStdDevMs;
    this.acceptablePauseMs = acceptablePauseMs;
    this.peers = new Map();
    this.stats = { received: 0, accepted: 0, dropped: 0, transitions: 0 };
    this.socket = dgram.createSocket('udp4');
    this.socket.on('message', (msg) => this.onMessage(msg));
    this.timer = null;
  }

  /** Binds to 127.0.0.1 on an ephemeral port and starts the phi timer; resolves with the port. */
  start() {
    return new Promise((resolve) => {
      this.socket.bind(0, '127.0.0.1', () => {
        this.timer = setInterval(() => this.evaluate(), this.intervalMs / 4);
        resolve(this.socket.address().port);
      });
    });
  }

  onMessage(buf) {
    this.stats.received++;
    const now = performance.now();
    if (buf.length < HEADER || buf.readUInt32BE(0) !== MAGIC || buf[4] !== 1 || buf.readUInt16BE(8) !== buf.length) {
      this.stats.dropped++;
      return;
    }
    const idLength = buf[10];
    const tagAt = HEADER + idLength;
    if (buf[5] !== TYPE_BEAT || buf[6] !== 0 || idLength < 1 || idLength > 64 || tagAt + 4 !== buf.length) {
      this.stats.dropped++;
      return;
    }
    if (this.crc32c(buf.subarray(0, tagAt)) !== buf.readUInt32BE(tagAt)) {
      this.stats.dropped++;
      return;
    }
    const id = buf.toString('utf8', HEADER, tagAt);
    const incarnation = buf.readBigUInt64BE(12);
    const seq = buf.readBigUInt64BE(20);
    let peer = this.peers.get(id);
    if (peer === undefined || incarnation > peer.incarnation) {
      // A new peer, or a restarted one: a fresh history, seeded with its announced interval.
      const interval = buf.readUInt32BE(40) || this.intervalMs;
      peer = {
        incarnation,
        seq,
        last: now,
        history: new Float64Array(HISTORY),
        next: 1,
        count: 1,
        sum: interval,
        sumSquares: interval * interval,
        state: 'alive',
        phi: 0,
      };
      peer.history[0] = interval;
      this.peers.set(id, peer);
      this.stats.accepted++;
      return;
    }
    if (incarnation < peer.incarnation || seq <= peer.seq) {
      this.stats.dropped++;
      return;
    }
    peer.seq = seq;
    const gap = now - peer.last;
    peer.last = now;
    if (peer.count === HISTORY) {
      const old = peer.history[peer.next];
      peer.sum -= old;
      peer.sumSquares -= old * old;
    } else {
      peer.count++;
    }
    peer.history[peer.next] = gap;
    peer.next = (peer.next + 1) % HISTORY;
    peer.sum += gap;
    peer.sumSquares += gap * gap;
    if (peer.state !== 'alive') {
      peer.state = 'alive';
      this.stats.transitions++;
    }
    this.stats.accepted++;
  }

  evaluate() {
    const now = performance.now();
    for (const peer of this.peers.values()) {
      const mean = peer.sum / peer.count;
      const variance = Math.max(0, peer.sumSquares / peer.count - mean * mean);
      const std = Math.max(Math.sqrt(variance), this.minStdDevMs);
      peer.phi = phi(now - peer.last, mean + this.acceptablePauseMs, std);
      const state = peer.phi >= DEAD_PHI ? 'dead' : peer.phi >= SUSPECT_PHI ? 'suspect' : 'alive';
      if (state !== peer.state && !(peer.state === 'dead' && state === 'suspect')) {
        peer.state = state;
        this.stats.transitions++;
      }
    }
  }

  tracked() {
    return this.peers.size;
  }

  alive() {
    let n = 0;
    for (const peer of this.peers.values()) if (peer.state === 'alive') n++;
    return n;
  }

  close() {
    clearInterval(this.timer);
    return new Promise((resolve) => this.socket.close(resolve));
  }
}
