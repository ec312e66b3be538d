// bench/crc.mjs: throughput of steadfast's CRC-32C and CRC-32 against the packages people use now,
// side by side in one process.    npm run bench:crc [-- --rounds 7 --batch-ms 60]
//
// Method. Every (implementation, size) pair is a "cell". Inputs are views at offset 0 of one
// pre-allocated buffer of random bytes, cache-warm as far as the caches reach (on a server part with a
// large L3, 16 MiB is an L3 figure, not a DRAM one), as in a loop that
// checksums fresh packets. Each cell is warmed up (its JIT settles) and calibrated to a batch of
// --batch-ms; then --rounds rounds run, and every round times one batch of every cell, size by size,
// starting at a different implementation each round, so that a noisy neighbour on a shared machine
// slows every implementation alike rather than one of them. A cell's figure is its BEST batch: noise
// only ever slows a batch down, so the best is the least disturbed. The gap between median and best
// is printed as a noise gauge. GB/s are 1e9 bytes per second.
//
// Before anything is timed, every implementation (ours and the competitors') must return the same
// CRC as steadfast for the same inputs: a benchmark of a wrong answer is worthless, so a mismatch
// exits 1, as does a crash. A missed target does not (machines are noisy).

import { randomFillSync } from 'node:crypto';
import { createRequire } from 'node:module';
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import zlib from 'node:zlib';

import { cpuModel, packageVersion, table } from './report.mjs';

// The competitors live in bench/node_modules (bench/package.json), installed by `npm run bench:crc`,
// so that installing steadfast itself never compiles them; this require resolves them from here.
const require = createRequire(import.meta.url);

const { values: options } = parseArgs({
  options: { rounds: { type: 'string', default: '7' }, 'batch-ms': { type: 'string', default: '60' } },
});
const ROUNDS = Number(options.rounds);
const BATCH_NS = Number(options['batch-ms']) * 1e6;
if (!(Number.isInteger(ROUNDS) && ROUNDS > 0 && BATCH_NS > 0)) {
  console.error('usage: node bench/crc.mjs [--rounds N] [--batch-ms MS]');
  process.exit(2);
}

const SIZES = [
  [64, '64 B'],
  [1024, '1 KiB'],
  [64 * 1024, '64 KiB'],
  [1024 * 1024, '1 MiB'],
  [16 * 1024 * 1024, '16 MiB'],
];
const LARGEST = SIZES[SIZES.length - 1][0];
const KIB64 = 64 * 1024;

// --- the contestants -----------------------------------------------------------------------------

let steadfast;
let binding;
try {
  steadfast = await import('../dist/index.mjs');
  ({ binding } = require('../dist/binding.js'));
} catch (error) {
  console.error('steadfast did not load; build it first:');
  console.error('  npx cmake-js compile --out build && npx tsc -p tsconfig.build.json');
  console.error(error.stack);
  process.exit(1);
}
const info = steadfast.crcInfo();

/** Per algorithm: { name, fn(data, value?) -> CRC, ours?, dispatched?, key? } in table order. */
const contestants = { crc32c: [], crc32: [] };
const notes = [];

for (const algorithm of ['crc32c', 'crc32']) {
  const name = `steadfast ${algorithm} (dispatched: ${info[algorithm]})`;
  contestants[algorithm].push({ name, fn: steadfast[algorithm], ours: true, dispatched: true });
}
const dispatched = (algorithm) => contestants[algorithm].find((c) => c.dispatched);
for (const name of info.available) {
  const impl = steadfast.crcImplementation(name);
  if (impl.crc32c) contestants.crc32c.push({ name: `steadfast ${name}`, fn: impl.crc32c, ours: true });
  if (impl.crc32) contestants.crc32.push({ name: `steadfast ${name}`, fn: impl.crc32, ours: true });
}
for (const name of info.compiled.filter((n) => !info.available.includes(n))) {
  notes.push(`steadfast ${name}: compiled in, but this CPU cannot run it (not measured)`);
}

/** Adds a competitor, or a note saying why it is left out. */
function competitor(algorithm, key, name, load) {
  try {
    const fn = load();
    if (typeof fn !== 'function') throw new Error('no such function');
    contestants[algorithm].push({ name, fn, key });
  } catch (error) {
    notes.push(`${name}: did not load (${String(error.message).split('\n')[0]}); left out`);
  }
}

// crc-32 returns a signed 32-bit integer.
const unsigned = (f) => (data, value) => f(data, value) >>> 0;
const nodeRs = `@node-rs/crc32 ${packageVersion('@node-rs/crc32')}`;
const crc32js = `crc-32 ${packageVersion('crc-32')}`;

competitor('crc32', 'zlib', `zlib.crc32 (zlib ${process.versions.zlib})`, () => zlib.crc32);
competitor('crc32c', 'node-rs', `${nodeRs} crc32c`, () => require('@node-rs/crc32').crc32c);
competitor('crc32', 'node-rs', `${nodeRs} crc32`, () => require('@node-rs/crc32').crc32);
competitor('crc32c', 'sse4_crc32', `sse4_crc32 ${packageVersion('sse4_crc32')}`, () => {
  const sse4 = require('sse4_crc32');
  if (!sse4.hardware_support) notes.push('sse4_crc32 reports no hardware support: it runs its table fallback');
  return sse4.calculate;
});
competitor('crc32c', 'fast-crc32c', `fast-crc32c ${packageVersion('fast-crc32c')}`, () => {
  // fast-crc32c takes the first backend that loads: its own copy of sse4_crc32, else pure JS.
  const fast = require('fast-crc32c');
  let backend = 'its pure JS fallback';
  try {
    if (fast.calculate === require('fast-crc32c/impls/sse4_crc32c.js').calculate) {
      backend = `its own sse4_crc32 ${packageVersion('fast-crc32c/node_modules/sse4_crc32')} (native)`;
    }
  } catch {}
  notes.push(`fast-crc32c runs on ${backend}`);
  return fast.calculate;
});
competitor('crc32c', 'crc-32c-js', `${crc32js} crc32c (pure JS)`, () => unsigned(require('crc-32/crc32c').buf));
competitor('crc32', 'crc-32-js', `${crc32js} (pure JS)`, () => unsigned(require('crc-32').buf));

// --- inputs --------------------------------------------------------------------------------------

const pool = Buffer.allocUnsafeSlow(LARGEST + 64);
randomFillSync(pool);
const views = new Map(SIZES.map(([bytes]) => [bytes, pool.subarray(0, bytes)]));

// --- correctness first ---------------------------------------------------------------------------

const hex = (v) => (typeof v === 'number' ? (v >>> 0).toString(16).padStart(8, '0') : v);
const KNOWN = { crc32c: 0xe3069283, crc32: 0xcbf43926 }; // of "123456789" (RFC 3720 B.4; zlib)

/** Calls fn, turning a throw into a description, so one broken package cannot stop the check. */
function attempt(fn, ...args) {
  try {
    return fn(...args) >>> 0;
  } catch (error) {
    return `a thrown ${error.name} (${error.message})`;
  }
}

function verify() {
  const failures = [];
  const check = Buffer.from('123456789');
  const cases = [['"123456789"', check]];
  for (const bytes of [0, 1, 3, 7, 8, 15, 16, 63, 64, 65, 255, 256, 257, 1000, 4097, 100003]) {
    cases.push([`${bytes} B`, pool.subarray(0, bytes)], [`${bytes} B at offset 3`, pool.subarray(3, 3 + bytes)]);
  }
  for (const [bytes, label] of SIZES) cases.push([`the ${label} benchmark input`, views.get(bytes)]);

  for (const algorithm of ['crc32c', 'crc32']) {
    const reference = steadfast[algorithm];
    if (reference(check) !== KNOWN[algorithm]) {
      failures.push(`steadfast ${algorithm}("123456789") = ${hex(reference(check))}, not ${hex(KNOWN[algorithm])}`);
    }
    for (const c of contestants[algorithm]) {
      for (const [label, data] of cases) {
        const got = attempt(c.fn, data);
        if (got !== reference(data)) {
          failures.push(`${c.name} on ${label}: ${hex(got)}, steadfast says ${hex(reference(data))}`);
          break;
        }
      }
      // Continuing a CRC (the `value` argument) must mean the same thing. For our own paths that is
      // the contract; a competitor that reads it differently is not timed wrongly (timing passes no
      // value), so that is a note, not a failure.
      const whole = reference(pool.subarray(0, 4001));
      const continued = attempt(c.fn, pool.subarray(1000, 4001), attempt(c.fn, pool.subarray(0, 1000)));
      if (continued !== whole) {
        const line = `${c.name}: continuing a CRC through its value argument gave ${hex(continued)}, not ${hex(whole)}`;
        if (c.ours) failures.push(line);
        else notes.push(`${line} (the timing does not use it)`);
      }
    }
  }
  return { failures, inputs: cases.length };
}

// --- timing --------------------------------------------------------------------------------------

const now = () => process.hrtime.bigint();
let blackhole = 0;

// A runner per cell, each compiled from its own source so that every cell has its own call site and
// type feedback: one shared loop calling a dozen different functions would be megamorphic, adding
// the harness's cost to every 64-byte call and favouring whoever ran first.
function makeRunner(fn, data) {
  const sink = (x) => {
    blackhole ^= x;
  };
  return new Function('fn', 'data', 'now', 'sink', `
    return function run(iterations) {
      let x = 0;
      const start = now();
      for (let i = 0; i < iterations; i++) x ^= fn(data);
      const ns = Number(now() - start);
      sink(x);
      return ns;
    };`)(fn, data, now, sink);
}

function warmAndCalibrate(cell) {
  let iterations = 1;
  // Grow until one chunk takes 10 ms; then run once more with the JIT settled and size the batch.
  while (cell.run(iterations) < 10e6) iterations *= 2;
  const ns = cell.run(iterations);
  cell.iterations = Math.max(1, Math.round((iterations * BATCH_NS) / Math.max(ns, 1)));
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

// --- output helpers ------------------------------------------------------------------------------

const gbps = (v) => (v === undefined ? 'n/a' : v >= 10 ? v.toFixed(1) : v.toFixed(2));
const times = (v) => (Number.isFinite(v) ? `${Number(v.toFixed(2))}x` : 'n/a');
const percent = (v) => `${(100 * v).toFixed(0)}%`;
const sizeLabel = (bytes) => SIZES.find(([b]) => b === bytes)[1];

// --- main ----------------------------------------------------------------------------------------

const startedAt = Date.now();
const elapsed = () => `${((Date.now() - startedAt) / 1000).toFixed(0)} s`;

console.log('# steadfast CRC benchmark\n');
console.log(`- CPU: ${cpuModel()} (${cpus().length} logical CPUs)`);
console.log(`- Node.js ${process.version} (${process.arch}, V8 ${process.versions.v8})`);
console.log(`- crcInfo(): ${JSON.stringify(info)}`);
console.log(
  `- Method: best of ${ROUNDS} interleaved rounds of one ~${BATCH_NS / 1e6} ms batch per cell; inputs are` +
    ' cache-warm views at offset 0 of one random buffer; GB/s = 1e9 bytes/s.',
);

const { failures, inputs } = verify();
for (const line of notes) console.log(`- Note: ${line}`);
if (failures.length) {
  console.error('\n!!! WRONG ANSWERS: nothing was timed !!!');
  for (const line of failures) console.error(`!!! ${line}`);
  process.exit(1);
}
console.log(
  `- Checked before timing: every contestant returns steadfast's CRC on ${inputs} inputs (the benchmark's` +
    ' own, "123456789", lengths 0 to 100003 at offsets 0 and 3); ours also continue a CRC correctly.',
);

const cells = [];
for (const algorithm of ['crc32c', 'crc32']) {
  for (const contestant of contestants[algorithm]) {
    for (const [bytes] of SIZES) {
      const run = makeRunner(contestant.fn, views.get(bytes));
      cells.push({ algorithm, contestant, bytes, group: bytes, run, ns: [] });
    }
  }
}
const memoryCell = { bytes: LARGEST, group: LARGEST, run: makeRunner(binding.memoryRead, views.get(LARGEST)), ns: [] };
cells.push(memoryCell);
// The dispatched functions over 0 bytes: the cost of a call (argument checks, N-API, dispatch) with no
// CRC in it, which every 64-byte call pays too. Timed among the 64-byte cells.
for (const algorithm of ['crc32c', 'crc32']) {
  const contestant = dispatched(algorithm);
  const run = makeRunner(contestant.fn, pool.subarray(0, 0));
  cells.push({ algorithm, contestant, bytes: 0, group: 64, run, ns: [] });
}

for (const cell of cells) warmAndCalibrate(cell);
const groups = SIZES.map(([bytes]) => cells.filter((cell) => cell.group === bytes));
for (let round = 0; round < ROUNDS; round++) {
  for (const group of groups) {
    const first = round % group.length;
    for (let k = 0; k < group.length; k++) {
      const cell = group[(first + k) % group.length];
      cell.ns.push(cell.run(cell.iterations) / cell.iterations);
    }
  }
  if (process.stderr.isTTY) process.stderr.write(`round ${round + 1}/${ROUNDS} done (${elapsed()})\n`);
}
for (const cell of cells) {
  cell.bestNs = Math.min(...cell.ns);
  cell.best = cell.bytes / cell.bestNs; // bytes per ns = GB/s
  cell.median = cell.bytes / median(cell.ns);
}

const cellOf = (contestant, bytes) => cells.find((cell) => cell.contestant === contestant && cell.bytes === bytes);
const gbpsOf = (contestant, bytes) => (contestant ? cellOf(contestant, bytes).best : undefined);
const competitorOf = (algorithm, key) => contestants[algorithm].find((c) => c.key === key);
const memoryGbps = memoryCell.best;

for (const [algorithm, title] of [
  ['crc32c', 'CRC-32C (Castagnoli)'],
  ['crc32', 'CRC-32 (IEEE, as zlib)'],
]) {
  const ours = dispatched(algorithm);
  const sizeHeader = SIZES.map(([, label]) => label);
  console.log(`\n## ${title}: GB/s, best of ${ROUNDS}\n`);
  const rows = contestants[algorithm].map((c) => [c.name, ...SIZES.map(([bytes]) => gbps(gbpsOf(c, bytes)))]);
  console.log(table(['implementation', ...sizeHeader], rows));

  console.log(`\n### ${title}: steadfast (dispatched) / competitor\n`);
  const ratios = contestants[algorithm]
    .filter((c) => !c.ours)
    .map((c) => [c.name, ...SIZES.map(([bytes]) => times(gbpsOf(ours, bytes) / gbpsOf(c, bytes)))]);
  console.log(table(['competitor', ...sizeHeader], ratios));

  const ns64 = cellOf(ours, 64).bestNs;
  const ns0 = cellOf(ours, 0).bestNs;
  console.log(
    `\n64 B: steadfast ${algorithm} takes ${ns64.toFixed(1)} ns a call, and ${ns0.toFixed(1)} ns over 0 bytes: the` +
      ` call itself is ${percent(ns0 / ns64)} of a 64-byte call. (The per-implementation rows call through` +
      ' crcImplementation(), which passes one argument more.)',
  );
  const ours16 = gbpsOf(ours, LARGEST);
  console.log(
    `16 MiB: memory-read reference (binding.memoryRead: one pass, 8 64-bit XOR accumulators)` +
      ` ${gbps(memoryGbps)} GB/s; steadfast ${algorithm} ${gbps(ours16)} GB/s = ${percent(ours16 / memoryGbps)} of it.`,
  );
}

// Noise gauge: how far each cell's median batch fell below its best one.
const gaps = cells
  .filter((cell) => cell.bytes > 0)
  .map((cell) => ({ cell, gap: 1 - cell.median / cell.best }))
  .sort((a, b) => b.gap - a.gap);
const widest = gaps[0].cell;
const widestName =
  widest === memoryCell ? 'memory read' : `${widest.algorithm}, ${widest.contestant.name}, ${sizeLabel(widest.bytes)}`;
console.log(
  `\nNoise: the median batch is within 5% of the best in ${gaps.filter((g) => g.gap <= 0.05).length} of` +
    ` ${gaps.length} cells; widest gap ${percent(gaps[0].gap)} (${widestName}).`,
);

// --- targets -------------------------------------------------------------------------------------

console.log('\n## Targets\n');
function target(label, ours, theirs, need, { aim, format = times } = {}) {
  if (ours === undefined || theirs === undefined) {
    console.log(`SKIP  ${label} (a competitor did not load)`);
    return;
  }
  const ratio = ours / theirs;
  const aimNote = aim ? `; aim ${format(aim)} ${ratio >= aim ? 'reached' : 'not reached'}` : '';
  console.log(
    `${ratio >= need ? 'PASS' : 'MISS'}  ${label}: ${gbps(ours)} vs ${gbps(theirs)} GB/s = ${format(ratio)}` +
      ` (need ${format(need)}${aimNote})`,
  );
}
const ours32c = dispatched('crc32c');
const ours32 = dispatched('crc32');
const sse4 = competitorOf('crc32c', 'sse4_crc32');
target('CRC-32C 64 KiB >= 3x sse4_crc32', gbpsOf(ours32c, KIB64), gbpsOf(sse4, KIB64), 3, { aim: 5 });
target('CRC-32 64 KiB >= 4x zlib.crc32', gbpsOf(ours32, KIB64), gbpsOf(competitorOf('crc32', 'zlib'), KIB64), 4);
target('CRC-32C 64 B >= fast-crc32c', gbpsOf(ours32c, 64), gbpsOf(competitorOf('crc32c', 'fast-crc32c'), 64), 1);
for (const ours of [ours32c, ours32]) {
  const label = `${ours === ours32c ? 'CRC-32C' : 'CRC-32'} 16 MiB >= 80% of memory read`;
  target(label, gbpsOf(ours, LARGEST), memoryGbps, 0.8, { format: percent });
}

console.log(`\n(${elapsed()}; checksum of all results ${hex(blackhole)})`);
