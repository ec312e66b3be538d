// bench/heartbeat/cpu-monitor.mjs: one monitor in its own process, for the CPU part of
// `npm run bench:heartbeat`: steadfast's engine or the plain JS baseline (js-monitor.mjs), tracking
// peers that bench/heartbeat/sender.mjs makes up. It prints {"port"} once listening; waits until it
// tracks all PEERS as alive; settles; measures its own CPU (process.cpuUsage: every thread, user and
// system) and memory over WINDOW_MS; and prints the figures as one JSON line.
// Usage: node cpu-monitor.mjs steadfast|js PEERS WINDOW_MS
// STEADFAST_BENCH_PACKAGE=DIR: steadfast's monitor from another build (DIR/dist, DIR/build/Release).
import { createRequire } from 'node:module';
import * as path from 'node:path';

const require = createRequire(import.meta.url);
const [kind, peersArg, windowArg] = process.argv.slice(2);
const other = kind === 'steadfast' ? process.env.STEADFAST_BENCH_PACKAGE : undefined;
const steadfast = require(other ? path.resolve(other, 'dist/index.js') : '../../dist/index.js');

const PEERS = Number(peersArg);
const WINDOW_MS = Number(windowArg);
const INTERVAL_MS = 1000; // the peers beat at 1 Hz, and the monitors are configured for it
const say = (o) => process.stdout.write(`${JSON.stringify(o)}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// A parent that died cannot stop us: give up well after any run would have ended.
setTimeout(() => process.exit(3), 300_000).unref();

// The baseline memory: everything loaded, nothing listening yet.
await sleep(200);
const rssBefore = process.memoryUsage().rss;

let monitor;
if (kind === 'steadfast') {
  const hb = steadfast.Heartbeat.monitor({ id: 'bench-monitor', bind: '127.0.0.1:0', intervalMs: INTERVAL_MS });
  const alive = () => hb.members().filter((m) => m.state === 'alive').length;
  monitor = {
    port: hb.address.port,
    tracked: () => hb.members().length,
    alive,
    counters: () => {
      const s = hb.stats();
      return { received: s.received, accepted: s.accepted };
    },
    close: () => hb.close({ leave: false }),
  };
} else {
  const { JsMonitor } = await import('./js-monitor.mjs');
  const js = new JsMonitor({ crc32c: steadfast.crc32c, intervalMs: INTERVAL_MS });
  const port = await js.start();
  monitor = {
    port,
    tracked: () => js.tracked(),
    alive: () => js.alive(),
    counters: () => ({ received: js.stats.received, accepted: js.stats.accepted }),
    close: () => js.close(),
  };
}
say({ port: monitor.port });

const learnDeadline = Date.now() + 60_000;
while (monitor.alive() < PEERS) {
  if (Date.now() > learnDeadline) {
    say({ error: `tracks ${monitor.tracked()} peers (${monitor.alive()} alive) of ${PEERS} after 60 s` });
    process.exit(1);
  }
  await sleep(250);
}
await sleep(2000); // every peer has a few beats of history; the start-up work is over

const counters0 = monitor.counters();
const cpu0 = process.cpuUsage();
const t0 = performance.now();
await sleep(WINDOW_MS);
const cpu = process.cpuUsage(cpu0);
const wallMs = performance.now() - t0;
const counters1 = monitor.counters();
const rssAfter = process.memoryUsage().rss;
say({
  kind,
  peers: PEERS,
  wallMs,
  userMs: cpu.user / 1000,
  systemMs: cpu.system / 1000,
  received: counters1.received - counters0.received,
  accepted: counters1.accepted - counters0.accepted,
  alive: monitor.alive(),
  tracked: monitor.tracked(),
  rssDelta: rssAfter - rssBefore,
  maxRss: process.resourceUsage().maxRSS * 1024,
});
await monitor.close();
process.exit(0);
