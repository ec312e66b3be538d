/**
 * Codecs: how a checkpoint store turns state into bytes and back. Three are built in — `'raw'` (bytes
 * as they are), `'json'` and `'v8'` (the structured clone serializer) — and any object with `encode`
 * and `decode` can be passed instead.
 */
import { Buffer } from 'node:buffer';
import { isUint8Array } from 'node:util/types';
import * as v8 from 'node:v8';
import { invalidArgType } from '../errors';
import { invalidArgValue } from './errors';

/** Turns state into bytes (`encode`) and bytes back into state (`decode`). */
export interface Codec<T> {
  /** The bytes to store for `state`. Must return a Uint8Array (a Buffer is one). */
  encode(state: T): Uint8Array;
  /** The state stored as `bytes`. */
  decode(bytes: Buffer): T;
}

/**
 * The built-in codecs:
 * - `'raw'`: state is a Buffer or Uint8Array, stored as it is; loads give a Buffer.
 * - `'json'`: `JSON.stringify` as UTF-8; loads give what `JSON.parse` gives (Dates come back as strings).
 * - `'v8'`: `v8.serialize`/`v8.deserialize`: Maps, Sets, Dates, typed arrays, cycles; the format may
 *   change between major Node.js versions, so prefer `'json'` for state that must outlive an upgrade.
 */
export type CodecName = 'raw' | 'json' | 'v8';

const raw: Codec<Uint8Array> = {
  encode(state) {
    if (!isUint8Array(state)) throw invalidArgType('state', 'an instance of Buffer or Uint8Array', state);
    return state;
  },
  decode: (bytes) => bytes,
};

const json: Codec<unknown> = {
  encode(state) {
    const text = JSON.stringify(state);
    // JSON.stringify gives undefined for undefined, functions and symbols: nothing to store.
    if (text === undefined) throw invalidArgValue('state', state, 'cannot be represented as JSON');
    return Buffer.from(text, 'utf8');
  },
  decode: (bytes) => JSON.parse(bytes.toString('utf8')) as unknown,
};

const structured: Codec<unknown> = {
  encode: (state) => v8.serialize(state),
  decode: (bytes) => v8.deserialize(bytes) as unknown,
};

const builtIn: Record<CodecName, Codec<unknown>> = { raw: raw as Codec<unknown>, json, v8: structured };

/**
 * The codec named by `codec` (default `'raw'`), or `codec` itself when it is an object with `encode`
 * and `decode` functions. The encoder it returns checks that what it produces is a Uint8Array.
 * @throws TypeError `ERR_INVALID_ARG_TYPE` or `ERR_INVALID_ARG_VALUE` for anything else.
 */
export function resolveCodec<T>(codec: CodecName | Codec<T> | undefined, name = 'options.codec'): Codec<T> {
  if (codec === undefined) return builtIn.raw as Codec<T>;
  if (typeof codec === 'string') {
    if (!Object.hasOwn(builtIn, codec)) throw invalidArgValue(name, codec, "must be 'raw', 'json' or 'v8'");
    return builtIn[codec] as Codec<T>;
  }
  if (typeof codec !== 'object' || codec === null) {
    throw invalidArgType(name, "one of 'raw', 'json', 'v8' or an object with encode and decode", codec);
  }
  if (typeof codec.encode !== 'function' || typeof codec.decode !== 'function') {
    throw invalidArgType(name, 'an object with encode and decode functions', codec);
  }
  const custom = codec;
  return {
    encode(state) {
      const bytes = custom.encode(state);
      if (!isUint8Array(bytes)) {
        const err = new TypeError(`${name}.encode() must return a Uint8Array`) as TypeError & { code: string };
        err.code = 'ERR_INVALID_RETURN_VALUE';
        throw err;
      }
      return bytes;
    },
    decode: (bytes) => custom.decode(bytes),
  };
}
