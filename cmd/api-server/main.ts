#!/usr/bin/env node
import { createRequire } from 'node:module';
import { runMain } from '../../internal/process/run-main';

runMain({
  name: 'api-server',
  description: 'The HTTP API of the mesh (Connect-style JSON/proto routes forwarded to the services, dev tokens in dev mode, the web client).',
  required: ['sessionServiceAddr', 'groupServiceAddr', 'historyServiceAddr'],
  start: (config, log) => (createRequire(__filename)('./api-server') as typeof import('./api-server')).startApiServer(config, log),
});
