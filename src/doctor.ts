/**
 * `steadfast doctor`: what this machine is, which binary loaded, which CRC paths run, and a self-check
 * of every implementation the CPU can run (plus a forced one) against known values and each other.
 */
import * as zlib from 'node:zlib';
import { binding, bindingOrigin, libc, type BindingOrigin } from './binding';
import { crc32, crc32c, crc32cCombine, crcImplementation, crcInfo, type CrcInfo } from './crc';

/** One self-check: what was checked and whether it held. */
export interface DoctorCheck {
  name: string;
  ok: boolean;
  detail?: string;
}

/** The whole report `steadfast doctor --json` prints. */
export interface DoctorReport {
  version: string;
  platform: string;
  arch: string;
  libc: { family: string; version: string | null };
  node: string;
  napi: { node: number; binding: number };
  binary: BindingOrigin;
  crc: CrcInfo;
  checks: DoctorCheck[];
  ok: boolean;
}

function hex(n: number): string {
  return n.toString(16).padStart(8, '0');
}

/** A fixed pseudo-random sample (a multiplicative hash of the index), so a failed check can be replayed. */
function sampleBytes(n: number): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => Math.imul(i + 1, 0x9e3779b1) >>> 24);
}

function selfCheck(info: CrcInfo, implementation: typeof crcImplementation): DoctorCheck[] {
  const checks: DoctorCheck[] = [];
  const sample = sampleBytes(65536 + 7).subarray(7); // odd offset: the unaligned paths too
  const want = { crc32c: crc32c(sample), crc32: crc32(sample) };
  const names = new Set([...info.available, ...(info.forced ? [info.forced] : [])]);
  for (const name of names) {
    const impl = implementation(name);
    if (impl.crc32c) {
      const check = impl.crc32c('123456789');
      checks.push({ name: `${name} crc32c check value`, ok: check === 0xe3069283, detail: hex(check) });
      const got = impl.crc32c(sample);
      checks.push({ name: `${name} crc32c agrees on 64 KiB`, ok: got === want.crc32c, detail: hex(got) });
    }
    if (impl.crc32) {
      const check = impl.crc32('123456789');
      checks.push({ name: `${name} crc32 check value`, ok: check === 0xcbf43926, detail: hex(check) });
      const got = impl.crc32(sample);
      checks.push({ name: `${name} crc32 agrees on 64 KiB`, ok: got === want.crc32, detail: hex(got) });
    }
  }
  const zlibCrc32 = (zlib as { crc32?: (data: Uint8Array) => number }).crc32;
  if (zlibCrc32) {
    const z = zlibCrc32(sample);
    checks.push({ name: 'crc32 equals zlib.crc32', ok: z === want.crc32, detail: hex(z) });
  }
  const half = sample.length >> 1;
  const combined = crc32cCombine(crc32c(sample.subarray(0, half)), crc32c(sample.subarray(half)), sample.length - half);
  checks.push({ name: 'crc32c combine', ok: combined === want.crc32c, detail: hex(combined) });
  return checks;
}

/** Options of {@link doctor}; a seam for tests. */
export interface DoctorOptions {
  /** How an implementation is looked up (default: {@link crcImplementation}). */
  implementation?: typeof crcImplementation;
}

/** Gathers the report. Throws only if the binding cannot be loaded at all. */
export function doctor(options: DoctorOptions = {}): DoctorReport {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { version } = require('../package.json') as { version: string };
  const crc = crcInfo();
  const checks = selfCheck(crc, options.implementation ?? crcImplementation);
  return {
    version,
    platform: process.platform,
    arch: process.arch,
    libc: libc(),
    node: process.version,
    napi: { node: Number(process.versions.napi), binding: binding.napiVersion },
    binary: bindingOrigin(),
    crc,
    checks,
    ok: checks.every((c) => c.ok),
  };
}

/** The report as the lines `steadfast doctor` prints. */
export function formatDoctor(r: DoctorReport): string {
  const rows: [string, string][] = [
    ['steadfast', r.version],
    ['platform', `${r.platform}-${r.arch}`],
    ['libc', `${r.libc.family}${r.libc.version ? ` ${r.libc.version}` : ''}`],
    ['node', `${r.node} (Node-API ${r.napi.node}; binding built for ${r.napi.binding})`],
    ['binary', `${r.binary.kind === 'prebuild' ? 'prebuild' : 'local build'} ${r.binary.path}`],
    ['crc32c', r.crc.crc32c + (r.crc.forced ? ` (forced by STEADFAST_CRC=${r.crc.forced})` : '')],
    ['crc32', r.crc.crc32],
    ['available', r.crc.available.join(' ')],
    ['compiled', r.crc.compiled.join(' ')],
    ['cpu', `${r.crc.features.join(' ') || '(none detected)'} [${r.crc.detector}]`],
  ];
  const lines = rows.map(([k, v]) => `${k.padEnd(10)} ${v}`);
  for (const c of r.checks) lines.push(`${c.ok ? 'ok  ' : 'FAIL'}       ${c.name}${c.detail ? ` (${c.detail})` : ''}`);
  lines.push(`self-check ${r.ok ? 'passed' : 'FAILED'} (${r.checks.filter((c) => c.ok).length}/${r.checks.length})`);
  return lines.join('\n');
}
