import { Command } from 'commander';
import pino, { type Logger } from 'pino';
import { ConfigError, describeSettings, loadConfig, requireSettings, type Config } from '../config/config';
import type { SettingKey } from '../config/config-schema';
import { startTracing } from '../telemetry/tracing';

/** A started process: stopping drains it and closes what it opened. */
export interface RunningProcess {
  stop(): Promise<void>;
}

export interface MainSpec {
  /** The process name: `chat-server`, `sync-worker`, ... (also the trace service name). */
  name: string;
  description: string;
  /** Settings this process cannot run without (its engines, the services it calls). */
  required: readonly SettingKey[];
  /**
   * Loads the composition module and starts the process. Called after tracing started, so the
   * module must be loaded here (createRequire), not imported at the top of main.ts: the tracing
   * instrumentations patch grpc-js, kafkajs, ioredis and cassandra-driver when first required.
   */
  start(config: Config, log: Logger): Promise<RunningProcess>;
}

/**
 * The shared `main` of every process: parse and validate the configuration (exit 2 naming each
 * bad variable), start tracing, start the process (exit 1 with the cause on one line), drain on
 * SIGTERM/SIGINT (a second signal exits at once).
 */
export function runMain(spec: MainSpec): void {
  new Command(spec.name).description(spec.description).addHelpText('after', `\n${describeSettings()}`).parse();
  let config: Config;
  try {
    config = loadConfig(process.env);
    requireSettings(config, spec.required, spec.name);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${spec.name}: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const tracing = startTracing({ serviceName: spec.name, traceFile: config.traceFile, instanceId: `${spec.name}/${config.serverId}/${process.pid}` });
  const log = pino({ level: config.logLevel, base: { service: spec.name, pid: process.pid } });
  spec.start(config, log).then(
    (running) => {
      let signals = 0;
      const onSignal = (signal: string) => {
        if (++signals > 1) process.exit(1);
        log.info({ signal }, 'draining');
        running
          .stop()
          .then(() => tracing.shutdown())
          .then(
            () => process.exit(process.exitCode ?? 0),
            (err: unknown) => {
              log.error({ err }, 'shutdown failed');
              process.exit(1);
            },
          );
      };
      process.on('SIGTERM', () => onSignal('SIGTERM'));
      process.on('SIGINT', () => onSignal('SIGINT'));
    },
    (err: unknown) => {
      if (err instanceof ConfigError) {
        process.stderr.write(`${spec.name}: ${err.message}\n`);
        process.exit(2);
      }
      process.stderr.write(`${spec.name}: cannot start: ${describeError(err)}\n`);
      if (config.logLevel === 'debug' && err instanceof Error) process.stderr.write(`${err.stack}\n`);
      process.exit(1);
    },
  );
}

/** An error and its causes on one line: the operator sees which engine and why. */
export function describeError(err: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = err; e !== undefined && parts.length < 4; e = e instanceof Error ? e.cause : undefined) {
    const message = e instanceof Error ? e.message : JSON.stringify(e);
    if (!parts.some((p) => p.includes(message))) parts.push(message);
  }
  return parts.join(': ');
}
