/**
 * The one loader of the native binding. node-gyp-build looks for `prebuilds/<platform>-<arch>/` first,
 * then `build/Release/` (skipped when `PREBUILDS_ONLY=1`). When nothing fits, the error says what was
 * looked for, where, and how to build from source.
 */
import * as path from 'node:path';
import { SteadfastError } from './errors';

// node-gyp-build ships no types; this is the part of it used here.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const nodeGypBuild: { resolve(dir: string): string } = require('node-gyp-build');

/** The functions the native module exports (native/napi/binding.cc). */
export interface NativeBinding {
  crc32c(data: ArrayBufferView, value: number): number;
  crc32(data: ArrayBufferView, value: number): number;
  crc32cCombine(crcA: number, crcB: number, lengthB: number): number;
  crc32Combine(crcA: number, crcB: number, lengthB: number): number;
  crc32cWith(index: number, data: ArrayBufferView, value: number): number;
  crc32With(index: number, data: ArrayBufferView, value: number): number;
  crcImplementations(): { name: string; crc32c: boolean; crc32: boolean; available: boolean }[];
  crcSelection(): { crc32c: string; crc32: string; forced: string | null; features: string; detector: string };
  crcForce(name: string | null): number;
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

function noBinary(cause: unknown): SteadfastError {
  const target = `${process.platform}-${process.arch}`;
  const onlyPrebuilds = process.env.PREBUILDS_ONLY === '1' || process.env.PREBUILDS_ONLY === 'true';
  const looked = [path.join(packageRoot, 'prebuilds', target) + path.sep];
  looked.push(path.join(packageRoot, 'build', 'Release') + path.sep + (onlyPrebuilds ? ' (skipped: PREBUILDS_ONLY=1)' : ''));
  const err = new SteadfastError(
    'ERR_STEADFAST_NO_BINARY',
    `steadfast has no native binary for ${target} (libc ${libc().family}, Node.js ${process.version}, ` +
      `Node-API ${process.versions.napi}).\n` +
      `Looked in:\n  ${looked.join('\n  ')}\n` +
      'Prebuilt binaries ship for linux-x64 and linux-riscv64 (glibc). To build from source you need cmake and a ' +
      'C/C++ compiler: in a clone of the steadfast repository run `npm install` (it builds build/Release/steadfast.node), ' +
      'or see "Build from source on a board" in the README.',
  );
  (err as { cause?: unknown }).cause = cause;
  return err;
}

function load(): { binding: NativeBinding; origin: BindingOrigin } {
  let file: string;
  try {
    file = nodeGypBuild.resolve(packageRoot);
  } catch (cause) {
    throw noBinary(cause);
  }
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const binding = require(file) as NativeBinding;
  const kind = file.split(path.sep).includes('prebuilds') ? 'prebuild' : 'build';
  return { binding, origin: { path: file, kind } };
}

const loaded = load();

/** The native module. Internal: use the typed functions exported from the package instead. */
export const binding: NativeBinding = loaded.binding;

/** Which `.node` file was loaded, and whether it was a prebuild or a local build. */
export function bindingOrigin(): BindingOrigin {
  return { ...loaded.origin };
}
