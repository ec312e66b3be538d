/**
 * The ES module entry point: the same functions as the CommonJS build (one native binding, one
 * dispatcher state), re-exported by name.
 *
 * @packageDocumentation
 */
export * from './index.js';
