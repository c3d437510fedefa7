#!/usr/bin/env node
import { createRequire } from 'node:module';
import { runMain } from '../../internal/process/run-main';

runMain({
  name: 'group-service',
  description: 'GroupService over Cassandra: groups of up to CHAT_MAX_GROUP_SIZE members (group ids from a worker id leased in Redis).',
  required: ['cassandraContactPoints', 'redisUrl'],
  start: (config, log) => (createRequire(__filename)('./group-service') as typeof import('./group-service')).startGroupService(config, log),
});
