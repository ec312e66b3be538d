// Real crashes: a child process (fixtures/writer.mjs) appends records and saves checkpoints until a
// SIGKILL lands at a random moment; then the store and the log are reopened here and everything the
// child was told is durable must be there, intact. The same directories serve every kill, so state
// accumulates and each recovery also recovers from the recoveries before it. (A kill loses the
// process, not the page cache: power loss is the C crash tests' job. This one proves the code paths
// and the acknowledgement discipline end to end, through the binding, with real processes.)
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { AppendLog, CheckpointStore } from '../../src/index';
import { emulated } from '../helpers';
import { parseState, recordData, recordId } from './fixtures/pattern.cjs';

// Under QEMU every instruction is emulated: fewer kills, longer waits, a longer bound.
const SLOW = emulated ? 10 : 1;
const MAX_KILLS = emulated ? 20 : 200;
const MAX_MS = emulated ? 90_000 : 60_000;
const SEGMENT_SIZE = 256 * 1024; // as the writer opens it
const writer = path.join(__dirname, 'fixtures', 'writer.mjs');

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'steadfast-kill-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const [dirA, dirB, logDir] = ['ckpt-a', 'ckpt-b', 'log'].map((name) => {
  const dir = path.join(tmp, name);
  fs.mkdirSync(dir);
  return dir;
});

interface Acknowledged {
  ready: { lastLsn: number; generation: number; counter: number } | null;
  appends: { lsn: number; id: string }[];
  saves: { generation: number; counter: number; lsn: number }[];
  truncations: number[];
}

/** Runs the writer and SIGKILLs it `delayMs` after it reports ready (or after spawning, if `early`). */
function runAndKill(run: number, delayMs: number, early: boolean): Promise<Acknowledged & { readyMs: number }> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const child = spawn(process.execPath, [writer, dirA, dirB, logDir, String(run)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let readyMs = -1;
    let killed = false;
    const kill = () => {
      killed = true;
      child.kill('SIGKILL');
    };
    // A writer that never gets ready (stuck in recovery) fails the test rather than hanging it.
    const watchdog = setTimeout(kill, emulated ? 120_000 : 30_000);
    if (early) setTimeout(kill, delayMs);
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      // The first line is the writer's R line: it has opened, recovered and starts writing.
      if (readyMs < 0 && stdout.includes('\n')) {
        readyMs = Date.now() - started;
        if (!early) setTimeout(kill, delayMs);
      }
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(watchdog);
      if (!killed || signal !== 'SIGKILL') {
        reject(new Error(`run ${run}: the writer ended by itself (code ${code}, signal ${signal}):\n${stderr}`));
        return;
      }
      if (readyMs < 0 && !early) {
        reject(new Error(`run ${run}: the writer never got ready within the watchdog's time:\n${stderr}`));
        return;
      }
      try {
        resolve({ ...parse(run, stdout), readyMs });
      } catch (err) {
        reject(err);
      }
    });
  });
}

function parse(run: number, stdout: string): Acknowledged {
  const ack: Acknowledged = { ready: null, appends: [], saves: [], truncations: [] };
  // A line the kill cut short (stdout is a socket, whose writes need not be atomic) was not printed
  // whole, so it does not count as acknowledged: claiming less is always safe.
  const lines = stdout.split('\n');
  lines.pop();
  for (const line of lines) {
    const [kind, ...f] = line.split(' ');
    if (kind === 'R') ack.ready = { lastLsn: Number(f[0]), generation: Number(f[1]), counter: Number(f[2]) };
    else if (kind === 'L') ack.appends.push({ lsn: Number(f[0]), id: f[1] });
    else if (kind === 'G') ack.saves.push({ generation: Number(f[0]), counter: Number(f[1]), lsn: Number(f[2]) });
    else if (kind === 'T') ack.truncations.push(Number(f[0]));
    else throw new Error(`run ${run}: unexpected line from the writer: ${line}`);
  }
  return ack;
}

// Everything acknowledged so far, over all runs.
const ackedRecords = new Map<number, { id: string; checked: boolean }>(); // LSN -> record, while the log must hold it
const generations = new Map<number, number>(); // generation -> counter, acknowledged or seen loaded
let lastAckedGeneration = 0;
let lastAckedCounter = 0;
let lastTruncation = 0;
const totals = {
  kills: 0,
  earlyKills: 0,
  runsWithAcks: 0,
  appends: 0,
  saves: 0,
  recordsReplayed: 0,
  lsnsChecked: 0,
  lsnsTruncated: 0,
  generationsChecked: 0,
  tornTails: 0,
};

/** Reopens the store and the log as the next process would and checks them against what was acknowledged. */
async function check(run: number): Promise<void> {
  const where = `after kill ${run}`;
  const store = await CheckpointStore.open({ dirs: [dirA, dirB] });
  let checkpoint: { generation: number; counter: number; lsn: number } | null = null;
  try {
    const loaded = await store.load();
    if (!loaded) {
      expect(lastAckedGeneration, `${where}: the store is empty although a save was acknowledged`).toBe(0);
    } else {
      const state = parseState(loaded.state);
      expect(state, `${where}: generation ${loaded.generation} holds bytes the writer never wrote`).not.toBeNull();
      checkpoint = { generation: loaded.generation, counter: state!.counter, lsn: state!.lsn };
      expect(loaded.generation, `${where}: loaded a generation older than the last acknowledged`).toBeGreaterThanOrEqual(
        lastAckedGeneration,
      );
      expect(state!.counter).toBeGreaterThanOrEqual(lastAckedCounter);
      expect(loaded.lsn, `${where}: the header's LSN differs from the one saved with the state`).toBe(state!.lsn);
      expect(loaded.fellBack, `${where}: the newest generation had no valid copy`).toBe(false);
      const known = generations.get(loaded.generation);
      if (known !== undefined) expect(state!.counter, `${where}: generation ${loaded.generation} changed its content`).toBe(known);
      generations.set(loaded.generation, state!.counter);
      totals.generationsChecked++;
    }
  } finally {
    await store.close();
  }

  const log = await AppendLog.open({ dir: logDir, segmentSize: SEGMENT_SIZE });
  try {
    if (log.recovery.tornBytes > 0) totals.tornTails++;
    const ids = new Set<string>();
    let first = 0;
    let expected = 0;
    for await (const { lsn, data } of log.replay()) {
      if (first === 0) first = expected = lsn;
      expect(lsn, `${where}: LSNs are not consecutive`).toBe(expected);
      expected++;
      const id = recordId(data);
      expect(id !== null && data.equals(recordData(id)), `${where}: LSN ${lsn} holds bytes the writer never wrote`).toBe(true);
      expect(ids.has(id!), `${where}: record ${id} appears twice`).toBe(false);
      ids.add(id!);
      const acked = ackedRecords.get(lsn);
      if (acked !== undefined) {
        expect(id, `${where}: LSN ${lsn} holds another record than the one acknowledged`).toBe(acked.id);
        if (!acked.checked) totals.lsnsChecked++;
        acked.checked = true;
      }
      totals.recordsReplayed++;
    }
    const last = first === 0 ? 0 : expected - 1;
    if (first !== 0) expect(log.lastLsn, `${where}: lastLsn is not the last record replayed`).toBe(last);
    let highest = 0;
    for (const [lsn, { id }] of ackedRecords) {
      highest = Math.max(highest, lsn);
      if (first !== 0 && lsn >= first) continue; // checked above (it is there: LSNs run on to the end)
      // Below the log's start only what a durable checkpoint covers may be gone.
      expect(checkpoint !== null && lsn <= checkpoint.lsn, `${where}: acknowledged LSN ${lsn} (${id}) is gone`).toBe(true);
      if (!ackedRecords.get(lsn)!.checked) totals.lsnsTruncated++;
      ackedRecords.delete(lsn);
    }
    expect(last, `${where}: the log ends before the last acknowledged LSN`).toBeGreaterThanOrEqual(highest);
    if (checkpoint) {
      expect(checkpoint.lsn, `${where}: the checkpoint covers LSNs the log never had`).toBeLessThanOrEqual(last);
      expect(checkpoint.lsn, `${where}: the log was truncated past the checkpoint`).toBeGreaterThanOrEqual(lastTruncation);
    }
    if (first > 1) {
      expect(checkpoint !== null && first <= checkpoint.lsn + 1, `${where}: the log starts at ${first}, after its checkpoint`).toBe(true);
    }
  } finally {
    await log.close();
  }
}

test(
  'every acknowledged append and save survives SIGKILLs at random moments, kill after kill',
  async () => {
    const started = Date.now();
    let readyMs = 200 * SLOW;
    for (let run = 1; run <= MAX_KILLS && Date.now() - started < MAX_MS; run++) {
      // One kill in eight lands anywhere from start-up through recovery; the rest while writing.
      const early = run % 8 === 0;
      const delay = early ? Math.random() * readyMs : (20 + Math.random() * 280) * SLOW;
      const ack = await runAndKill(run, delay, early);
      totals.kills++;
      if (early) totals.earlyKills++;
      else readyMs = ack.readyMs;
      if (ack.appends.length + ack.saves.length > 0) totals.runsWithAcks++;
      totals.appends += ack.appends.length;
      totals.saves += ack.saves.length;
      if (ack.ready) {
        // What the writer found on opening is what this process found after the previous kill.
        expect(ack.ready.generation, `run ${run}: the writer loaded another generation`).toBeGreaterThanOrEqual(lastAckedGeneration);
      }
      for (const { lsn, id } of ack.appends) {
        expect(ackedRecords.has(lsn), `run ${run}: LSN ${lsn} acknowledged twice`).toBe(false);
        ackedRecords.set(lsn, { id, checked: false });
      }
      for (const { generation, counter } of ack.saves) {
        expect(generation, `run ${run}: generations do not increase`).toBeGreaterThan(lastAckedGeneration);
        generations.set(generation, counter);
        lastAckedGeneration = generation;
        lastAckedCounter = counter;
      }
      lastTruncation = Math.max(lastTruncation, ...ack.truncations);
      await check(run);
    }
    console.log(
      `kill test: ${totals.kills} SIGKILLs (${totals.earlyKills} during start-up or recovery) in ` +
        `${((Date.now() - started) / 1000).toFixed(1)} s; ${totals.runsWithAcks} runs acknowledged writes before the kill; ` +
        `${totals.appends} appends and ${totals.saves} saves acknowledged; ${totals.lsnsChecked} acknowledged LSNs read back ` +
        `(${totals.lsnsTruncated} more were truncated first, each covered by the checkpoint loaded); ` +
        `${totals.generationsChecked} loaded generations checked; ${totals.recordsReplayed} records replayed; ` +
        `${totals.tornTails} torn tails cut`,
    );
    expect(totals.kills).toBeGreaterThanOrEqual(emulated ? 3 : 20);
    // Most kills must land while the writer is busy, or the test proves little.
    expect(totals.runsWithAcks).toBeGreaterThan((totals.kills - totals.earlyKills) / 2);
    expect(totals.saves).toBeGreaterThan(0);
    expect(totals.lsnsChecked).toBeGreaterThan(0);
  },
  MAX_MS + (emulated ? 240_000 : 60_000),
);
