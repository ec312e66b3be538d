// The package as a user gets it: the right binary loads (a prebuild when PREBUILDS_ONLY=1), a missing
// one is a clear error, both module systems work, worker threads can load it, and the CLI reports.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { afterAll, describe, expect, test } from 'vitest';
import { doctor, formatDoctor } from '../src/doctor';
import { bindingOrigin, crc32c, crcImplementation, crcInfo, type CrcInput } from '../src/index';
import { dist, root, runNode, without } from './helpers';

// ELF e_machine values (System V ABI): the loaded .node must be built for the running CPU.
const ELF_MACHINE: Record<string, number> = { x64: 62, arm64: 183, riscv64: 243 };

describe('the native binary', () => {
  test('runs on the architecture the suite was started for', () => {
    expect(process.arch).toBe(process.env.STEADFAST_EXPECT_ARCH ?? os.arch());
  });

  test('is an ELF shared object for this CPU', () => {
    const header = fs.readFileSync(bindingOrigin().path).subarray(0, 20);
    expect(header.subarray(0, 4).toString('latin1')).toBe('\x7fELF');
    expect(header.readUInt16LE(16)).toBe(3); // ET_DYN
    expect(header.readUInt16LE(18)).toBe(ELF_MACHINE[process.arch]);
  });

  test('is the prebuild for this platform when PREBUILDS_ONLY=1, else a local build', () => {
    const origin = bindingOrigin();
    if (process.env.PREBUILDS_ONLY === '1') {
      expect(origin.kind).toBe('prebuild');
      expect(origin.path).toContain(path.join('prebuilds', `${process.platform}-${process.arch}`) + path.sep);
    } else {
      expect(origin.kind).toBe('build');
      expect(origin.path).toBe(path.join(root, 'build', 'Release', 'steadfast.node'));
    }
  });

  describe('when no binary fits', () => {
    const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'steadfast-nobinary-'));
    fs.cpSync(dist, path.join(empty, 'dist'), { recursive: true });
    fs.copyFileSync(path.join(root, 'package.json'), path.join(empty, 'package.json'));
    afterAll(() => fs.rmSync(empty, { recursive: true, force: true }));

    test('loading fails with ERR_STEADFAST_NO_BINARY naming the platform, where it looked, and how to build', () => {
      const env = { ...process.env, NODE_PATH: path.join(root, 'node_modules'), PREBUILDS_ONLY: '1' };
      const r = runNode(['-e', `require(${JSON.stringify(empty)})`], env);
      expect(r.status).not.toBe(0);
      expect(r.stderr).toContain('ERR_STEADFAST_NO_BINARY');
      expect(r.stderr).toContain(`no native binary for ${process.platform}-${process.arch}`);
      expect(r.stderr).toContain('libc glibc');
      expect(r.stderr).toContain(path.join(empty, 'prebuilds', `${process.platform}-${process.arch}`));
      expect(r.stderr).toContain('skipped: PREBUILDS_ONLY is set');
      expect(r.stderr).toContain('To build from source');
    });

    test('a binary that is there but cannot load fails with ERR_STEADFAST_BINARY_LOAD naming the file', () => {
      const dir = path.join(empty, 'prebuilds', `${process.platform}-${process.arch}`);
      fs.mkdirSync(dir, { recursive: true });
      const file = path.join(dir, 'steadfast.glibc.node');
      fs.writeFileSync(file, 'not an ELF file');
      try {
        const env = { ...process.env, NODE_PATH: path.join(root, 'node_modules'), PREBUILDS_ONLY: '1' };
        const r = runNode(['-e', `require(${JSON.stringify(empty)})`], env);
        expect(r.status).not.toBe(0);
        expect(r.stderr).toContain('ERR_STEADFAST_BINARY_LOAD');
        expect(r.stderr).toContain(`found ${file} but could not load it`);
        expect(r.stderr).toContain('To build from source');
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  });
});

describe('module systems', () => {
  test('require() of the CommonJS build works', () => {
    const r = runNode(['-e', `console.log(require(${JSON.stringify(dist)}).crc32c('123456789').toString(16))`]);
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('e3069283');
  });

  test('import of the ES module build works and shares the CommonJS exports', () => {
    const url = new URL(`file://${path.join(dist, 'index.mjs')}`).href;
    const code = `import { crc32, crcInfo } from ${JSON.stringify(url)}; console.log(crc32('123456789').toString(16), typeof crcInfo)`;
    const r = runNode(['--input-type=module', '-e', code]);
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('cbf43926 function');
  });

  test('a worker thread can load the addon and compute', async () => {
    const worker = new Worker(
      `const { parentPort } = require('node:worker_threads');
       parentPort.postMessage(require(${JSON.stringify(dist)}).crc32c('123456789'));`,
      { eval: true },
    );
    const result = await new Promise((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    await worker.terminate();
    expect(result).toBe(crc32c('123456789'));
  });
});

describe('steadfast doctor', () => {
  const cli = path.join(dist, 'cli.js');

  test('--json reports platform, binary, CRC choice and a passing self-check', () => {
    const r = runNode([cli, 'doctor', '--json']);
    expect(r.status, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report).toMatchObject({ platform: process.platform, arch: process.arch, node: process.version, ok: true });
    expect(report.libc.family).toBe('glibc');
    expect(report.napi.node).toBe(Number(process.versions.napi));
    expect(report.binary.path).toBe(bindingOrigin().path);
    expect(report.crc.available).toContain('portable');
    expect(report.checks.length).toBeGreaterThan(4);
    expect(report.checks.every((c: { ok: boolean }) => c.ok)).toBe(true);
  });

  test('prints a readable report that ends with the self-check result', () => {
    const r = runNode([cli, 'doctor']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^platform +linux-/m);
    expect(r.stdout).toMatch(/^crc32c +\S+/m);
    expect(r.stdout).toMatch(/^self-check passed \(\d+\/\d+\)$/m);
  });

  test('a failing self-check makes the report not ok and says FAILED', () => {
    const broken = (name: string) => {
      const impl = crcImplementation(name);
      return { ...impl, crc32c: impl.crc32c && ((data: CrcInput, value?: number) => (impl.crc32c!(data, value) ^ 1) >>> 0) };
    };
    const report = doctor({ implementation: broken });
    expect(report.ok).toBe(false);
    expect(report.checks.filter((c) => !c.ok).map((c) => c.name)).toContain(`${crcInfo().crc32c} crc32c check value`);
    expect(formatDoctor(report)).toMatch(/^self-check FAILED \(\d+\/\d+\)$/m);
  });

  test('exits 1 with one clear line when the binding cannot start', () => {
    const r = runNode([cli, 'doctor'], { ...without('STEADFAST_CRC'), STEADFAST_CRC: 'nonsense' });
    expect(r.status).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain('[ERR_STEADFAST_CRC_UNKNOWN]');
  });

  test('exits 2 on an unknown command or option', () => {
    expect(runNode([cli, 'frobnicate']).status).toBe(2);
    expect(runNode([cli, 'doctor', '--yaml']).status).toBe(2);
  });
});
