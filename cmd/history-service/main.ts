#!/usr/bin/env node
import { createRequire } from 'node:module';
import { runMain } from '../../internal/process/run-main';

runMain({
  name: 'history-service',
  description: 'HistoryService over Cassandra: message pages by cursor, conversation lists, device cursors, receipt watermarks.',
  required: ['cassandraContactPoints', 'groupServiceAddr'],
  start: (config, log) => (createRequire(__filename)('./history-service') as typeof import('./history-service')).startHistoryService(config, log),
});
