#!/usr/bin/env node
import { createRequire } from 'node:module';
import { runMain } from '../../internal/process/run-main';

runMain({
  name: 'sync-worker',
  description: 'Consumes the message log (Kafka) and writes every message to history (Cassandra) in batches, committing offsets only after each batch is written.',
  required: ['kafkaBrokers', 'cassandraContactPoints'],
  start: (config, log) => (createRequire(__filename)('./sync-worker') as typeof import('./sync-worker')).startSyncWorker(config, log),
});
