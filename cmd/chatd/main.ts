#!/usr/bin/env node
import { createRequire } from 'node:module';
import { runMain } from '../../internal/process/run-main';

/** `chatd`: the whole chat system in one process on embedded adapters. Configured by CHAT_ env vars. */
runMain({
  name: 'chatd',
  description: 'The chat mesh in one process: WebSocket /ws, HTTP API and gRPC on embedded adapters (in-process bus, memory presence, SQLite).',
  required: [],
  start: (config, log) => (createRequire(__filename)('./chatd') as typeof import('./chatd')).startChatd(config, log),
});
