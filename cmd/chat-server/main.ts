#!/usr/bin/env node
import { createRequire } from 'node:module';
import { runMain } from '../../internal/process/run-main';

runMain({
  name: 'chat-server',
  description: 'A chat server of the mesh: WebSocket /ws and GatewayService for clients, RelayService between chat servers, Kafka message log and fallback.',
  required: ['kafkaBrokers', 'redisUrl', 'sessionServiceAddr', 'groupServiceAddr', 'historyServiceAddr'],
  start: (config, log) => (createRequire(__filename)('./chat-server') as typeof import('./chat-server')).startChatServer(config, log),
});
