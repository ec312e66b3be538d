// The dispatcher: what it reports, and STEADFAST_CRC applied at load time (in child processes, since
// the choice is made once per process).
import * as path from 'node:path';
import { describe, expect, test } from 'vitest';
import { crcInfo } from '../../src/index';
import { dist, runNode, without } from '../helpers';

const info = crcInfo();

function childInfo(env: NodeJS.ProcessEnv): { status: number | null; info?: ReturnType<typeof crcInfo>; stderr: string } {
  const script = `process.stdout.write(JSON.stringify(require(${JSON.stringify(path.join(dist, 'index.js'))}).crcInfo()))`;
  const child = runNode(['-e', script], env);
  return { status: child.status, info: child.status === 0 ? JSON.parse(child.stdout) : undefined, stderr: child.stderr };
}

describe('crcInfo()', () => {
  test('lists portable last among the available implementations, and only compiled ones', () => {
    expect(info.available.at(-1)).toBe('portable');
    for (const name of info.available) expect(info.compiled).toContain(name);
  });

  test('names an implementation for each function that is available or forced', () => {
    for (const used of [info.crc32c, info.crc32]) {
      expect(used === info.forced || info.available.includes(used)).toBe(true);
    }
  });

  test('says which detector ran', () => {
    const expected = { x64: 'cpuid', riscv64: 'riscv_hwprobe', arm64: 'getauxval' }[process.arch as 'x64' | 'riscv64' | 'arm64'];
    if (expected) expect(info.detector).toContain(expected);
    expect(info.detector.length).toBeGreaterThan(0);
  });
});

describe('STEADFAST_CRC', () => {
  test('unset: detection chooses the first available implementation', () => {
    const r = childInfo(without('STEADFAST_CRC'));
    expect(r.status, r.stderr).toBe(0);
    expect(r.info!.forced).toBeNull();
    expect(r.info!.crc32c).toBe(r.info!.available[0]);
    if (r.info!.detector.includes('ENOSYS')) {
      // QEMU user mode and kernels before 6.4 cannot say whether Zbc is there: portable it is.
      expect(r.info!.crc32c).toBe('portable');
      expect(r.info!.available).toEqual(['portable']);
    }
  });

  test('=portable forces the portable path for both functions and says so', () => {
    const r = childInfo({ ...process.env, STEADFAST_CRC: 'portable' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.info).toMatchObject({ forced: 'portable', crc32c: 'portable', crc32: 'portable' });
  });

  test.each(info.compiled.filter((n) => n !== 'portable' && info.available.includes(n)))(
    '=%s forces that implementation where it has the function',
    (name) => {
      const r = childInfo({ ...process.env, STEADFAST_CRC: name });
      expect(r.status, r.stderr).toBe(0);
      expect(r.info!.forced).toBe(name);
      expect(r.info!.crc32c).toBe(name);
      expect([name, 'portable']).toContain(r.info!.crc32);
    },
  );

  test('an unknown name fails at load time with a clear, coded error', () => {
    const r = childInfo({ ...process.env, STEADFAST_CRC: 'avx9000' });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('ERR_STEADFAST_CRC_UNKNOWN');
    expect(r.stderr).toContain('"avx9000" is not a CRC implementation');
    expect(r.stderr).toContain('portable');
  });
});
