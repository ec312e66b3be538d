// bench/heartbeat.mjs: how fast steadfast's heartbeats notice a dead process, whether they raise false
// alarms, and what tracking many peers costs, against a monitor written in plain Node.js.
//     npm run bench:heartbeat [-- --quick]
//     STEADFAST_BENCH=cpu npm run bench:heartbeat     only (b), the CPU and memory table
//     STEADFAST_BENCH_ROUNDS=N                         rounds of (b) (default 2); the table shows the spread
//     STEADFAST_BENCH_PACKAGE=DIR                      (b) runs steadfast's monitor from another build (a
//                                                      directory with dist/ and build/Release/), e.g. a copy
//                                                      of an older commit's, to compare builds in one run
//
// (a) Detection at default settings: a monitor in this process; real agents in child processes
//     (bench/heartbeat/agent.mjs), each SIGKILLed at a random moment 1-2 s after the monitor first saw
//     it, several in flight at once. Detection time is this process's clock from the kill() call to
//     the `dead` event (so it includes the delivery of the event to JS); the engine's own evidence
//     (the dead event's lastSeenMs, time since the last beat) is shown beside it. Healthy agents run
//     all along: any `dead` event for one of them, or for a victim before its kill, is a false alarm.
// (b) CPU and memory of one monitor process (bench/heartbeat/cpu-monitor.mjs) tracking 1,000 and
//     10,000 peers beating at 1 Hz, simulated by a second process (bench/heartbeat/sender.mjs: real
//     packets, each peer its own id, incarnation and sequence numbers, spread evenly over the second,
//     from 4 sockets; both monitors configured for 1 s beats), against the same bookkeeping done in
//     JS on node:dgram (bench/heartbeat/js-monitor.mjs). CPU is process.cpuUsage() of the monitor
//     process (all threads, user + system) over a window after every peer is tracked, and once with
//     no peer for the fixed cost of each process; two rounds (STEADFAST_BENCH_ROUNDS) in alternating
//     order, each cell keeping its least CPU and showing the spread over the rounds. Memory per
//     peer is the growth of its RSS from before it listened, divided by the peers.
// (c) (a) again with 5% of the monitor's incoming datagrams dropped (the engine's simulateLoss hook);
//     and (a) once more in a mesh (the observer and two helpers here, every other node a mesh member
//     in a child), where a silent member is probed indirectly before it is declared dead.
// Every loop is bounded by count and time (the whole run takes about 4 minutes). A missed target does
// not fail the run; a wrong answer does (a victim never declared dead, a monitor that does not track
// every simulated peer).

import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as dgram from 'node:dgram';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { cpuModel, quantile, table } from './report.mjs';

const benchDir = path.dirname(fileURLToPath(import.meta.url));
const here = (name) => path.join(benchDir, 'heartbeat', name);

const { values: options } = parseArgs({ options: { quick: { type: 'boolean', default: false } } });
// --quick: a smoke run (fewer kills, shorter windows), to see that everything runs.
const SCALE = options.quick ? 0.2 : 1;

let steadfast;
try {
  steadfast = await import('../dist/index.mjs');
  if (typeof steadfast.Heartbeat !== 'function') throw new Error('dist/ has no Heartbeat: it predates the heartbeat engine');
} catch (error) {
  console.error('steadfast did not load; build it first: npm run compile');
  console.error(error.stack);
  process.exit(1);
}
const { Heartbeat, detectionBoundMs } = steadfast;

const KILLS = Math.max(8, Math.round(40 * SCALE));
const KILL_BUDGET_MS = 75_000 * SCALE;
const IN_FLIGHT = 4; // victims alive at once
const HEALTHY = 6; // agents that must never be declared dead
const CPU_WINDOW_MS = Math.max(3000, 8000 * SCALE);
const ONLY_CPU = process.env.STEADFAST_BENCH === 'cpu';
if (process.env.STEADFAST_BENCH && !ONLY_CPU) {
  console.error(`STEADFAST_BENCH=${process.env.STEADFAST_BENCH}: the only part that runs alone is 'cpu'`);
  process.exit(2);
}
const CPU_ROUNDS = Math.max(1, Number(process.env.STEADFAST_BENCH_ROUNDS) || 2);
const PEER_COUNTS = [0, 1000, 10_000]; // 0: the fixed cost of an idle monitor process
const failures = [];
const startedAt = Date.now();

// --- helpers -----------------------------------------------------------------------------------------

const ms = (v) => (Number.isFinite(v) ? `${Math.round(v)} ms` : 'n/a');
const times = (v) => (Number.isFinite(v) ? `${v.toFixed(1)}x` : 'n/a');
const percent = (v) => `${(100 * v).toFixed(1)}%`;
const bytes = (v) => (v >= 1024 ? `${(v / 1024).toFixed(2)} KiB` : `${Math.round(v)} B`);
const sleep = (t) => new Promise((r) => setTimeout(r, t));
/** `promise`, or 'timeout' after `t` ms (the timer cleared either way, so none outlives the run). */
function within(promise, t) {
  let timer;
  return Promise.race([promise, new Promise((r) => (timer = setTimeout(r, t, 'timeout')))]).finally(() => clearTimeout(timer));
}

/** A child node process whose stdout lines are handed to `onLine`; killed at exit whatever happens. */
const children = new Set();
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});
function child(args, onLine = () => {}) {
  const c = spawn(process.execPath, ['--no-warnings', ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  children.add(c);
  let out = '';
  c.stderrText = '';
  c.stdout.setEncoding('utf8').on('data', (chunk) => {
    out += chunk;
    let nl;
    while ((nl = out.indexOf('\n')) >= 0) {
      const line = out.slice(0, nl);
      out = out.slice(nl + 1);
      onLine(line);
    }
  });
  c.stderr.setEncoding('utf8').on('data', (chunk) => (c.stderrText += chunk));
  c.stdin.on('error', () => {});
  c.exited = new Promise((r) => c.on('exit', () => (children.delete(c), r())));
  return c;
}

// --- (a) and (c): detection of SIGKILLed agents ------------------------------------------------------

/** A UDP port free right now on 127.0.0.1 (bound to 0, read, closed). */
function freePort() {
  return new Promise((resolve, reject) => {
    const socket = dgram.createSocket('udp4');
    socket.once('error', reject);
    socket.bind(0, '127.0.0.1', () => {
      const { port } = socket.address();
      socket.close(() => resolve(port));
    });
  });
}

/**
 * An observer in this process, HEALTHY nodes, and KILLS victims killed IN_FLIGHT at a time. Monitor:
 * the observer is a monitor and the others agents beating to it. Mesh: the observer and two helpers
 * (which answer its indirect probes) are mesh members here; every other node is a mesh member in a
 * child, listing the three, and added to their lists before it starts. Returns the detection times
 * (at the observer), the engine's lastSeenMs at each dead event, and the false alarms.
 */
async function detection({ loss, mesh }) {
  const key = randomBytes(32);
  const local = [];
  if (mesh) {
    const ports = [await freePort(), await freePort(), await freePort()];
    for (const [i, port] of ports.entries()) {
      const bind = `127.0.0.1:${port}`;
      local.push(Heartbeat.mesh({ id: `bench-mesh-${i}`, bind, peers: ports.filter((p) => p !== port).map((p) => `127.0.0.1:${p}`), key }));
    }
  } else {
    local.push(Heartbeat.monitor({ id: 'bench-monitor', bind: '127.0.0.1:0', key }));
  }
  const observer = local[0];
  if (loss > 0) observer.simulateLoss(loss);
  const targets = local.map((hb) => `127.0.0.1:${hb.address.port}`);
  const killedAt = new Map(); // id -> performance.now() of the kill
  const waiting = new Map(); // id -> { alive, dead } resolvers
  const detections = [];
  const lastSeen = [];
  const falseDead = [];
  observer.on('event', (event) => {
    const id = event.peer.id;
    const w = waiting.get(id);
    if (event.type === 'alive' && w?.alive) w.alive();
    if (event.type !== 'dead') return;
    const at = performance.now();
    if (!killedAt.has(id)) {
      falseDead.push(`${id} (phi ${event.phi.toFixed(1)}, last seen ${Math.round(event.lastSeenMs)} ms)`);
      return;
    }
    detections.push(at - killedAt.get(id));
    lastSeen.push(event.lastSeenMs);
    w?.dead();
  });
  /** A node in a child process; in a mesh, on a port found first and made a member of the local three. */
  async function start(id) {
    const options = { role: mesh ? 'mesh' : 'agent', id, peers: targets, key: key.toString('hex') };
    if (mesh) {
      options.bind = `127.0.0.1:${await freePort()}`;
      for (const hb of local) hb.addPeer(options.bind);
    }
    const node = child([here('agent.mjs'), JSON.stringify(options)]);
    node.bind = options.bind;
    return node;
  }
  const healthy = [];
  for (let i = 0; i < HEALTHY; i++) healthy.push(await start(`healthy-${i}`));

  let started = 0;
  const deadline = performance.now() + KILL_BUDGET_MS;
  const where = `${mesh ? 'mesh' : 'monitor'}${loss ? `, ${percent(loss)} loss` : ''}`;
  async function slot() {
    while (started < KILLS && performance.now() < deadline) {
      const id = `victim-${started++}`;
      let alive;
      let dead;
      const seen = new Promise((r) => (alive = r));
      const gone = new Promise((r) => (dead = r));
      waiting.set(id, { alive, dead });
      const victim = await start(id);
      if ((await within(seen, 30_000)) === 'timeout') {
        failures.push(`${id} (${where}): never seen${victim.stderrText ? `: ${victim.stderrText.trim()}` : ''}`);
        victim.kill('SIGKILL');
      } else {
        // A random phase against the beats: 1 to 2 s after the observer first saw it.
        await sleep(1000 + Math.random() * 1000);
        killedAt.set(id, performance.now());
        victim.kill('SIGKILL');
        if ((await within(gone, 30_000)) === 'timeout') failures.push(`${id} (${where}): never declared dead after its SIGKILL`);
      }
      await victim.exited;
      waiting.delete(id);
      if (mesh) for (const hb of local) hb.removePeer(victim.bind);
    }
  }
  await Promise.all(Array.from({ length: IN_FLIGHT }, slot));
  const healthyAlive = observer.members().filter((m) => m.id.startsWith('healthy-') && m.state === 'alive').length;
  const stats = observer.stats();
  for (const h of healthy) h.stdin.end();
  await Promise.all(healthy.map((h) => within(h.exited, 5000)));
  for (const hb of local) await hb.close();
  if (healthyAlive !== HEALTHY) failures.push(`${where}: ${HEALTHY - healthyAlive} healthy nodes not alive at the end`);
  return { loss, mesh, detections, lastSeen, falseDead, stats };
}

// --- (b): CPU and memory of a monitor process --------------------------------------------------------

async function cpuRun(kind, peers) {
  let result = null;
  let portKnown;
  const gotPort = new Promise((r) => (portKnown = r));
  const monitor = child([here('cpu-monitor.mjs'), kind, String(peers), String(CPU_WINDOW_MS)], (line) => {
    const o = JSON.parse(line);
    if (Object.keys(o).length === 1 && o.port) portKnown(o.port);
    else result = o;
  });
  monitor.exited.then(() => portKnown(null));
  const port = await gotPort;
  const sender = port ? child([here('sender.mjs'), String(port), String(peers), '4']) : null;
  await monitor.exited;
  if (sender) {
    sender.kill('SIGTERM');
    await sender.exited;
  }
  if (!result || result.error) {
    failures.push(`${kind} monitor, ${peers} peers: ${result?.error ?? `no result: ${monitor.stderrText.trim()}`}`);
    return null;
  }
  // Every simulated peer must be tracked and alive at the end, and (nearly) every beat accepted.
  if (result.alive !== peers) failures.push(`${kind} monitor, ${peers} peers: ${result.alive} alive at the end`);
  const expected = (peers * result.wallMs) / 1000;
  if (result.accepted < 0.95 * expected) {
    failures.push(`${kind} monitor, ${peers} peers: accepted ${result.accepted} beats of ~${Math.round(expected)} sent`);
  }
  return { ...result, cpuMs: result.userMs + result.systemMs };
}

// --- run ---------------------------------------------------------------------------------------------

console.log('# steadfast heartbeat benchmark\n');
console.log(`- CPU: ${cpuModel()} (${os.cpus().length} logical CPUs); Node.js ${process.version} (${process.arch}); load average ${os.loadavg()[0].toFixed(2)}`);
console.log(
  `- Detection bound at default settings (docs/failure-detection.md, detectionBoundMs()): ${ms(detectionBoundMs())} after the last beat` +
    `${options.quick ? '; --quick (a smoke run)' : ''}`,
);

const clean = ONLY_CPU ? null : await detection({ loss: 0, mesh: false });
if (clean && process.stderr.isTTY) process.stderr.write('detection without loss done\n');
// Side by side, in rounds: each round runs both monitors for every peer count, in alternating order;
// each cell keeps its least CPU over the rounds (neighbours on a shared machine only ever add to it),
// and every round's figure for the spread.
const cpu = PEER_COUNTS.map((peers) => ({ peers, ours: null, js: null, oursRuns: [], jsRuns: [] }));
const best = (a, b) => (!a ? b : !b ? a : b.cpuMs < a.cpuMs ? b : a);
for (let round = 0; round < CPU_ROUNDS; round++) {
  for (const cell of cpu) {
    for (const kind of round % 2 ? ['js', 'steadfast'] : ['steadfast', 'js']) {
      const r = await cpuRun(kind, cell.peers);
      if (kind === 'js') cell.js = best(cell.js, r);
      else cell.ours = best(cell.ours, r);
      if (r) (kind === 'js' ? cell.jsRuns : cell.oursRuns).push(r);
    }
    if (process.stderr.isTTY) process.stderr.write(`CPU with ${cell.peers} peers, round ${round + 1} done\n`);
  }
}
const idle = cpu.find((c) => c.peers === 0);
/** CPU per second of wall time beyond what the same monitor uses with no peer. */
const netCpu = (r, idleRun) => r.cpuMs / r.wallMs - idleRun.cpuMs / idleRun.wallMs;
const lossy = ONLY_CPU ? null : await detection({ loss: 0.05, mesh: false });
if (lossy && process.stderr.isTTY) process.stderr.write('detection with 5% loss done\n');
const meshed = ONLY_CPU ? null : await detection({ loss: 0, mesh: true });

function detectionRows(r) {
  return [
    `${r.mesh ? 'mesh (3 members here)' : 'monitor'}, ${r.loss ? '5% loss on the observer' : 'no loss'}`,
    String(r.detections.length),
    ms(quantile(r.detections, 0.5)),
    ms(quantile(r.detections, 0.99)),
    ms(Math.max(...r.detections)),
    `${ms(quantile(r.lastSeen, 0.5))} / ${ms(Math.max(...r.lastSeen))}`,
    String(r.falseDead.length),
    r.loss ? `${r.stats.droppedInjected} of ${r.stats.received}` : '0',
  ];
}
if (!ONLY_CPU) {
  console.log(
    `\n## Detection of a SIGKILLed node (default settings; ${HEALTHY} healthy nodes beating meanwhile; kill() to the \`dead\` event at the observer)\n`,
  );
  console.log(
    table(
      ['run', 'kills', 'p50', 'p99', 'max', "engine's last seen p50 / max", 'false dead', 'datagrams dropped'],
      [detectionRows(clean), detectionRows(lossy), detectionRows(meshed)],
    ),
  );
  for (const r of [clean, lossy, meshed]) {
    for (const f of r.falseDead) console.log(`- false dead (${r.mesh ? 'mesh' : 'monitor'}${r.loss ? ', 5% loss' : ''}): ${f}`);
  }
  console.log(
    `\nDetection bounds (detectionBoundMs): monitor ${ms(detectionBoundMs())}, mesh ${ms(detectionBoundMs({ role: 'mesh' }))} ` +
      '(a mesh asks two other members to probe a silent one, from suspect on, before it declares it dead).',
  );
}

console.log(
  `\n## One monitor process tracking peers that beat at 1 Hz (CPU over ${CPU_WINDOW_MS / 1000} s: user + system, all threads; best of ${CPU_ROUNDS} rounds, [least..most] over the rounds)${
    process.env.STEADFAST_BENCH_PACKAGE ? `; steadfast from ${process.env.STEADFAST_BENCH_PACKAGE}` : ''
  }\n`,
);
const cpuShare = (r) => (r ? `${percent(r.cpuMs / r.wallMs)} (${Math.round(r.userMs)} + ${Math.round(r.systemMs)} ms)` : 'failed');
/** The spread over the rounds: least and most CPU share. */
const spread = (runs) => {
  if (runs.length < 2) return '';
  const shares = runs.map((r) => r.cpuMs / r.wallMs);
  return ` [${percent(Math.min(...shares))}..${percent(Math.max(...shares))}]`;
};
/** The ratio JS / steadfast of each round's pair of runs: least and most. */
const ratioSpread = ({ oursRuns, jsRuns }) => {
  const n = Math.min(oursRuns.length, jsRuns.length);
  if (n < 2) return '';
  const ratios = Array.from({ length: n }, (_, i) => jsRuns[i].cpuMs / jsRuns[i].wallMs / (oursRuns[i].cpuMs / oursRuns[i].wallMs));
  return ` [${times(Math.min(...ratios))}..${times(Math.max(...ratios))}]`;
};
console.log(
  table(
    ['peers', 'steadfast CPU', 'plain JS dgram CPU', 'JS / steadfast', 'same, net of the idle process', 'same, user time only', 'steadfast memory per peer', 'JS memory per peer', 'beats accepted (steadfast, JS)'],
    cpu.map(({ peers, ours, js, oursRuns, jsRuns }) => [
      peers === 0 ? '0 (idle process)' : peers.toLocaleString('en-US'),
      cpuShare(ours) + spread(oursRuns),
      cpuShare(js) + spread(jsRuns),
      ours && js ? times(js.cpuMs / ours.cpuMs) + ratioSpread({ oursRuns, jsRuns }) : 'n/a',
      ours && js && peers && idle?.ours && idle?.js ? times(netCpu(js, idle.js) / netCpu(ours, idle.ours)) : '',
      ours && js ? times(js.userMs / ours.userMs) : 'n/a',
      ours && peers ? bytes(ours.rssDelta / peers) : 'n/a',
      js && peers ? bytes(js.rssDelta / peers) : 'n/a',
      `${ours?.accepted ?? '-'}, ${js?.accepted ?? '-'}`,
    ]),
  ),
);
console.log(
  '\nCPU share = CPU time / wall time of the window (100% = one core). The idle row is each monitor process with no\n' +
    "peer (steadfast's JS side runs its 250 ms lag timer, its engine its own timer). Memory per peer = growth of the\n" +
    "monitor process's RSS from before it listened to the end of the window, / peers (includes the allocator's slack).\n" +
    'User time only: what each does in user space (the kernel\'s share, receiving the datagrams, is the same work\n' +
    'for both, but the split between user and system time is noisy on a VM).',
);

console.log('\n## Targets\n');
const target = (ok, text) => console.log(`${ok ? 'PASS' : 'MISS'}  ${text}`);
if (!ONLY_CPU) {
  target(quantile(clean.detections, 0.5) <= 1000, `p50 detection <= 1 s: ${ms(quantile(clean.detections, 0.5))}`);
  target(quantile(clean.detections, 0.99) <= 1500, `p99 detection <= 1.5 s: ${ms(quantile(clean.detections, 0.99))}`);
  target(clean.falseDead.length === 0, `no false dead: ${clean.falseDead.length}`);
  target(lossy.falseDead.length === 0, `no false dead with 5% loss: ${lossy.falseDead.length}`);
  target(quantile(lossy.detections, 0.5) <= 1000, `p50 detection with 5% loss <= 1 s: ${ms(quantile(lossy.detections, 0.5))}`);
  target(quantile(lossy.detections, 0.99) <= 1500, `p99 detection with 5% loss <= 1.5 s: ${ms(quantile(lossy.detections, 0.99))}`);
  target(quantile(meshed.detections, 0.99) <= 1500, `mesh p99 detection (indirect probes) <= 1.5 s: ${ms(quantile(meshed.detections, 0.99))}`);
  target(meshed.falseDead.length === 0, `no false dead in the mesh: ${meshed.falseDead.length}`);
}
for (const { peers, ours, js } of cpu.filter((c) => c.peers > 0)) {
  const ratio = ours && js ? js.cpuMs / ours.cpuMs : Number.NaN;
  target(ratio >= 5, `${peers.toLocaleString('en-US')} peers: >= 5x less CPU than the JS monitor: ${times(ratio)}`);
}

console.log(`\n(${((Date.now() - startedAt) / 1000).toFixed(0)} s)`);
if (failures.length) {
  console.error('\n!!! WRONG ANSWERS !!!');
  for (const line of failures) console.error(`!!! ${line}`);
  process.exit(1);
}
