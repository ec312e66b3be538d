// bench/heartbeat/agent.mjs: one real node at default settings, for the detection part of
// `npm run bench:heartbeat`: an agent beating to a monitor, or a mesh member beating to the others,
// until it is SIGKILLed (or stdin closes).
// Usage: node agent.mjs '{"role":"agent","id":"victim-1","peers":["127.0.0.1:7400"],"key":"<hex>"[,"bind":"127.0.0.1:PORT"]}'
import { Heartbeat } from '../../dist/index.mjs';

const { key, ...options } = JSON.parse(process.argv[2]);
setTimeout(() => process.exit(3), 300_000).unref();
const node = new Heartbeat({ ...options, key: Buffer.from(key, 'hex') });
process.stdin.on('end', () => node.close().then(() => process.exit(0))).resume();
