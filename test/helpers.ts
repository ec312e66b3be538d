// Shared by the test files: paths, and running a child Node.js the same way on the host and under
// QEMU (process.execPath is the riscv64 node there; binfmt_misc starts it, QEMU_LD_PREFIX is inherited).
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import * as path from 'node:path';

export const root = path.join(__dirname, '..');
export const dist = path.join(root, 'dist');

/** Under QEMU every instruction is emulated: process start-up takes seconds, runs are scaled down. */
export const emulated = process.env.STEADFAST_EXPECT_ARCH !== undefined;

/** Runs `node ARGS` with the given complete environment (default: this process's). */
export function runNode(args: string[], env: NodeJS.ProcessEnv = process.env, cwd = root): SpawnSyncReturns<string> {
  const result = spawnSync(process.execPath, args, {
    cwd,
    env,
    encoding: 'utf8',
    timeout: 120_000,
  });
  if (result.error) throw result.error;
  return result;
}

/** This process's environment without the named variable. */
export function without(name: string): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env[name];
  return env;
}
