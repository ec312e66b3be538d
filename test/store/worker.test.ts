// Teardown in worker threads: a worker terminated while store operations it started are in flight must
// not take the process down with it (Node completes the queued native work while the worker's
// environment is torn down, when nothing can be thrown into JS), and must not leave the store or the log
// locked. Run in a child process, so that an abort shows up as an exit status instead of ending vitest.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, expect, test } from 'vitest';
import { emulated, runNode } from '../helpers';

const roots: string[] = [];
afterEach(() => {
  for (const root of roots.splice(0)) fs.rmSync(root, { recursive: true, force: true });
});

test('terminating workers with a save, appends, an open and an inspection in flight leaves the process running and the store reopenable', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'steadfast-worker-'));
  roots.push(root);
  const fixture = path.join(__dirname, 'fixtures', 'worker-teardown.cjs');
  const result = runNode([fixture, root, String(emulated ? 2 : 8)]);
  expect(result.signal).toBeNull();
  expect(result.stderr).toBe('');
  expect(result.status).toBe(0);
  expect(result.stdout.trim()).toBe('ok');
}, 180_000);
