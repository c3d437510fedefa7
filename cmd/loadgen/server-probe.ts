/**
 * Runs a benchmarked server (`node server-probe.js <entry> [args]`) with a side channel for the
 * loadgen: on IPC `{op:'memory'}` it runs a full GC (when started with --expose-gc) and answers
 * process.memoryUsage(). It touches nothing on the server's paths; the entry then runs as if it
 * had been started directly (argv[1] is the entry).
 */
import { resolve } from 'node:path';

const entry = process.argv[2];
if (!entry) {
  process.stderr.write('usage: server-probe <entry> [args...]\n');
  process.exit(2);
}
process.argv.splice(1, 2, resolve(entry));
process.on('message', (msg: { op?: string }) => {
  if (msg.op !== 'memory') return;
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc) {
    gc();
    gc();
  }
  process.send?.({ op: 'memory', usage: process.memoryUsage() });
});
process.channel?.unref();
// eslint-disable-next-line @typescript-eslint/no-require-imports
require(resolve(entry));
