import { hostname } from 'node:os';
import type { Logger } from 'pino';
import type { Config } from '../../internal/config/config';
import { closeAll, openCassandra, openKafkaBus, type Closer } from '../../internal/engines/open-engines';
import { CassandraMessageStore } from '../../internal/history/message-store-cassandra';
import { SyncWorker } from '../../internal/messagelog/sync-worker';
import type { RunningProcess } from '../../internal/process/run-main';
import { serveProcess } from '../../internal/process/service-process';
import { ChatMetrics } from '../../internal/telemetry/metrics';

/** The sync worker: message log (Kafka) → history (Cassandra), a batch at a time, offsets committed after each batch's write. Wiring only. */
export async function startSyncWorker(config: Config, log: Logger): Promise<RunningProcess> {
  const closers: Closer[] = [];
  try {
    const metrics = new ChatMetrics({ service: 'sync-worker', instance: `${hostname()}/${process.pid}` });
    const store = await CassandraMessageStore.open({ session: openCassandra(config, closers), writeConcurrency: config.syncWriteConcurrency });
    const bus = await openKafkaBus(config, log, 'sync-worker', closers, metrics);
    const worker = new SyncWorker({ bus, store, metrics, log, retryBackoffMs: 100, maxRetryBackoffMs: 5_000, maxBatch: config.syncMaxBatch, lingerMs: config.syncLingerMs });
    await worker.start();
    return await serveProcess({ name: 'sync-worker', config, log, metrics, closers, grpcServices: [], beforeClose: () => worker.stop() });
  } catch (err) {
    await closeAll(closers);
    throw err;
  }
}
