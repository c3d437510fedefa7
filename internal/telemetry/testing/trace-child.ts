/**
 * A second process for tracing.spec.ts: starts tracing on the shared trace file, loads the four
 * instrumented libraries only afterwards (as a cmd main.ts does), runs a span under the remote
 * parent given in CHAT_TEST_CARRIER, and prints which libraries were patched.
 */
import { createRequire } from 'node:module';
import { isWrapped } from '@opentelemetry/instrumentation';
import { startTracing } from '../tracing';
import { withRemoteParent, withSpan } from '../trace-context';

async function main(): Promise<void> {
  const tracing = startTracing({ serviceName: 'child', traceFile: process.env.CHAT_TEST_TRACE_FILE, instanceId: 'child-1' });
  // As a cmd main.ts loads its composition module: a require after startTracing (see tracing.ts).
  const load = createRequire(__filename);
  const grpc = load('@grpc/grpc-js') as typeof import('@grpc/grpc-js');
  const kafkajs = load('kafkajs') as typeof import('kafkajs');
  const ioredis = load('ioredis') as typeof import('ioredis');
  const cassandra = load('cassandra-driver') as typeof import('cassandra-driver');
  const patched = {
    grpc: wrapped(grpc.Client.prototype, 'makeUnaryRequest'),
    kafkajs: wrapped(kafkajs.Kafka.prototype, 'producer'),
    ioredis: wrapped(ioredis.Redis.prototype, 'sendCommand'),
    cassandra: wrapped(cassandra.Client.prototype, 'batch'),
  };
  const carrier = JSON.parse(process.env.CHAT_TEST_CARRIER ?? '{}') as Record<string, string>;
  await withRemoteParent(carrier, 'child.handle', () => withSpan('child.inner', () => Promise.resolve()), { 'chat.test': 'yes' });
  await tracing.shutdown();
  process.stdout.write(JSON.stringify({ patched }));
}

function wrapped(proto: object, method: string): boolean {
  return isWrapped((proto as Record<string, unknown>)[method]);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
