#!/usr/bin/env node
import { createRequire } from 'node:module';
import { runMain } from '../../internal/process/run-main';

runMain({
  name: 'session-service',
  description: 'SessionService over Redis: connections, presence (heartbeat TTL and sweep), presence events on Kafka.',
  required: ['redisUrl', 'kafkaBrokers', 'groupServiceAddr', 'historyServiceAddr'],
  start: (config, log) => (createRequire(__filename)('./session-service') as typeof import('./session-service')).startSessionService(config, log),
});
