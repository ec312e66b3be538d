/**
 * The one loader of the native binding. node-gyp-build looks for `prebuilds/<platform>-<arch>/` first,
 * then `build/Release/` (skipped when `PREBUILDS_ONLY=1`). When nothing fits, the error says what was
 * looked for, where, and how to build from source.
 */
import * as path from 'node:path';
import { SteadfastError } from './errors';
import type { HeartbeatBinding } from './heartbeat/native';

// node-gyp-build ships no types; this is the part of it used here.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const nodeGypBuild: { resolve(dir: string): string } = require('node-gyp-build');

/**
 * The functions the native module exports (native/napi/binding.cc; the heartbeat's, hb*, from
 * native/napi/heartbeat.cc).
 */
export interface NativeBinding extends HeartbeatBinding {
  crc32c(data: ArrayBufferView, value: number): number;
  crc32(data: ArrayBufferView, value: number): number;
  crc32cCombine(crcA: number, crcB: number, lengthB: number): number;
  crc32Combine(crcA: number, crcB: number, lengthB: number): number;
  crc32cWith(index: number, data: ArrayBufferView, value: number): number;
  crc32With(index: number, data: ArrayBufferView, value: number): number;
  crcImplementations(): { name: string; crc32c: boolean; crc32: boolean; available: boolean }[];
  crcSelection(): {
    crc32c: string;
    crc32: string;
    forced: string | null;
    features: string;
    detector: string;
    /** A STEADFAST_CRC value that names no implementation of this build. */
    unknown: string | null;
  };
  memoryRead(data: ArrayBufferView): number;
  napiVersion: number;
}

/** Where the binding came from. */
export interface BindingOrigin {
  /** Absolute path of the `.node` file that was loaded. */
  path: string;
  /** `'prebuild'` for a file under `prebuilds/`, `'build'` for a local build from source. */
  kind: 'prebuild' | 'build';
}

/** The package's root directory (this file is in `src/` or `dist/`). */
export const packageRoot = path.join(__dirname, '..');

/** The C library the running Node.js uses: `'glibc'` or `'musl'` (Linux), or `'unknown'`. */
export function libc(): { family: 'glibc' | 'musl' | 'unknown'; version: string | null } {
  const header = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header;
  if (header?.glibcVersionRuntime) return { family: 'glibc', version: header.glibcVersionRuntime };
  return { family: process.platform === 'linux' ? 'musl' : 'unknown', version: null };
}

function buildHint(): string {
  return (
    'Prebuilt binaries ship for linux-x64, linux-riscv64 and linux-arm64 (glibc). To build from source you ' +
    'need cmake and a C/C++ compiler: in a clone of the steadfast repository run `npm install` (it builds ' +
    'build/Release/steadfast.node), or see "Build from source on a board" in the README.'
  );
}

function target(): string {
  return `${process.platform}-${process.arch} (libc ${libc().family}, Node.js ${process.version}, Node-API ${process.versions.napi})`;
}

function withCause(err: SteadfastError, cause: unknown): SteadfastError {
  (err as { cause?: unknown }).cause = cause;
  return err;
}

function noBinary(cause: unknown): SteadfastError {
  // node-gyp-build skips build/ for any non-empty PREBUILDS_ONLY.
  const onlyPrebuilds = Boolean(process.env.PREBUILDS_ONLY);
  const looked = [
    path.join(packageRoot, 'prebuilds', `${process.platform}-${process.arch}`) + path.sep,
    path.join(packageRoot, 'build', 'Release') + path.sep + (onlyPrebuilds ? ' (skipped: PREBUILDS_ONLY is set)' : ''),
  ];
  const message = `steadfast has no native binary for ${target()}.\nLooked in:\n  ${looked.join('\n  ')}\n${buildHint()}`;
  return withCause(new SteadfastError('ERR_STEADFAST_NO_BINARY', message), cause);
}

function cannotLoad(file: string, cause: unknown): SteadfastError {
  const reason = cause instanceof Error ? cause.message.split('\n')[0] : String(cause);
  const message =
    `steadfast found ${file} but could not load it on ${target()}: ${reason}\n` +
    `The binary may need a newer C library than this system has, or be for another libc. ${buildHint()}`;
  return withCause(new SteadfastError('ERR_STEADFAST_BINARY_LOAD', message), cause);
}

function load(): { binding: NativeBinding; origin: BindingOrigin } {
  let file: string;
  try {
    file = nodeGypBuild.resolve(packageRoot);
  } catch (cause) {
    throw noBinary(cause);
  }
  let binding: NativeBinding;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    binding = require(file) as NativeBinding;
  } catch (cause) {
    throw cannotLoad(file, cause);
  }
  const kind = path.relative(packageRoot, file).split(path.sep)[0] === 'prebuilds' ? 'prebuild' : 'build';
  return { binding, origin: { path: file, kind } };
}

const loaded = load();

/** The native module. Internal: use the typed functions exported from the package instead. */
export const binding: NativeBinding = loaded.binding;

/** Which `.node` file was loaded, and whether it was a prebuild or a local build. */
export function bindingOrigin(): BindingOrigin {
  return { ...loaded.origin };
}
