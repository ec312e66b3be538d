// bench/heartbeat/sender.mjs: PEERS simulated peers beating at 1 Hz to one monitor on loopback, for
// the CPU part of `npm run bench:heartbeat`. Each peer has its own id, incarnation and sequence
// numbers; its beats are real packets (the package's encoder, CRC-32C, no key, no ack wanted). The
// beats are spread evenly over each second (peer i at i/PEERS of it) and sent from SOCKETS sockets,
// round-robin. Runs until stdin closes or SIGTERM.
// Usage: node sender.mjs PORT PEERS [SOCKETS]
import * as dgram from 'node:dgram';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { encodePacket } = require('../../dist/heartbeat/packet.js');

const [portArg, peersArg, socketsArg = '4'] = process.argv.slice(2);
const PORT = Number(portArg);
const PEERS = Number(peersArg);
const INTERVAL_MS = 1000;
setTimeout(() => process.exit(3), 300_000).unref();

const sockets = await Promise.all(
  Array.from(
    { length: Number(socketsArg) },
    () =>
      new Promise((resolve) => {
        const s = dgram.createSocket({ type: 'udp4', sendBufferSize: 1 << 20 });
        s.bind(0, '127.0.0.1', () => resolve(s));
      }),
  ),
);
const base = BigInt(Date.now()) * 1_000_000n;
const peers = Array.from({ length: PEERS }, (_, i) => ({ sender: `sim-peer-${i}`, incarnation: base + BigInt(i), seq: 0n }));

let sent = 0;
const start = performance.now();
function tick() {
  // Every beat due by now, in order: beat k is peer k % PEERS, due at k * INTERVAL_MS / PEERS.
  const due = Math.floor(((performance.now() - start) * PEERS) / INTERVAL_MS);
  for (; sent < due; sent++) {
    const peer = peers[sent % PEERS];
    peer.seq++;
    const packet = encodePacket({
      type: 'beat',
      sender: peer.sender,
      incarnation: peer.incarnation,
      seq: peer.seq,
      sendTime: process.hrtime.bigint(),
      lagUs: 0,
      intervalMs: INTERVAL_MS,
      rttUs: 0,
      flags: 0,
    });
    sockets[sent % sockets.length].send(packet, PORT, '127.0.0.1');
  }
}
const timer = setInterval(tick, 1); // as often as Node allows: at 10,000 peers, ~10 beats a tick
const stop = () => {
  clearInterval(timer);
  process.exit(0);
};
process.on('SIGTERM', stop);
process.stdin.on('end', stop).resume();
