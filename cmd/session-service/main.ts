#!/usr/bin/env node
import { createRequire } from 'node:module';
import { runMain } from '../../internal/process/run-main';

runMain({
  name: 'session-service',
  description: 'SessionService over Redis: connections, presence (heartbeat TTL and sweep); presence and connection changes to the Kafka delivery topics of the chat servers that watch or located those users.',
  required: ['redisUrl', 'kafkaBrokers', 'groupServiceAddr', 'historyServiceAddr'],
  start: (config, log) => (createRequire(__filename)('./session-service') as typeof import('./session-service')).startSessionService(config, log),
});
