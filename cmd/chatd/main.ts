#!/usr/bin/env node
import { Command } from 'commander';
import pino from 'pino';
import { ConfigError, describeSettings, loadConfig } from '../../internal/config/config';
import { startChatd } from './chatd';

/** `chatd`: the whole chat system in one process on embedded adapters. Configured by CHAT_ env vars. */
async function main(): Promise<void> {
  new Command('chatd')
    .description('The chat mesh in one process: WebSocket /ws, HTTP API and gRPC on embedded adapters (in-process bus, memory presence, SQLite).')
    .addHelpText('after', `\n${describeSettings()}`)
    .parse();
  let config;
  try {
    config = loadConfig(process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`chatd: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const log = pino({ level: config.logLevel });
  const chatd = await startChatd(config, log);
  let signals = 0;
  const onSignal = (signal: string) => {
    if (++signals > 1) process.exit(1);
    log.info({ signal }, 'draining');
    chatd.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGINT', () => onSignal('SIGINT'));
}

main().catch((err: unknown) => {
  process.stderr.write(`chatd: cannot start: ${describe(err)}\n`);
  if (process.env.CHAT_LOG_LEVEL === 'debug' && err instanceof Error) process.stderr.write(`${err.stack}\n`);
  process.exit(1);
});

/** An error and its causes on one line: the operator sees which engine and why. */
function describe(err: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = err; e !== undefined && parts.length < 4; e = e instanceof Error ? e.cause : undefined) {
    const message = e instanceof Error ? e.message : JSON.stringify(e);
    if (!parts.some((p) => p.includes(message))) parts.push(message);
  }
  return parts.join(': ');
}
