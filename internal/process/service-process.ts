import type { Logger } from 'pino';
import type { Config } from '../config/config';
import { closeAll, type Closer } from '../engines/open-engines';
import { startGrpcServer, type GrpcServiceBinding } from '../rpc/grpc-server';
import { grpcTlsFromConfig } from '../rpc/grpc-tls';
import type { ChatMetrics } from '../telemetry/metrics';
import { startOpsServer } from '../telemetry/ops-server';
import type { RunningProcess } from './run-main';

export interface ServiceProcessOptions {
  name: string;
  config: Config;
  log: Logger;
  metrics: ChatMetrics;
  /** What it serves over gRPC (none for the sync worker). */
  grpcServices: readonly GrpcServiceBinding[];
  /** Opened engines and clients, closed in reverse order on stop. */
  closers: Closer[];
  /** Runs first on stop (stop consuming, stop sweeping), before the servers close. */
  beforeClose?: () => Promise<void> | void;
}

/**
 * The serving shell of a back-end process of the mesh (session, group, history services, sync
 * worker): its gRPC services with health and reflection, and the ops endpoint on CHAT_HTTP_PORT
 * (/healthz, /readyz, /metrics). Stopping marks it NOT_SERVING and not ready first, so probes and
 * clients move away before anything closes.
 */
export async function serveProcess(opts: ServiceProcessOptions): Promise<RunningProcess> {
  const { config, log } = opts;
  let ready = false;
  const grpc = opts.grpcServices.length > 0 ? await startGrpcServer({ host: config.host, port: config.grpcPort, maxMessageBytes: config.rpcMaxMessageBytes, keepalive: { timeMs: config.grpcKeepaliveTimeMs, timeoutMs: config.grpcKeepaliveTimeoutMs }, tls: grpcTlsFromConfig(config), maxConnectionAge: config.grpcMaxConnectionAgeMs > 0 ? { ageMs: config.grpcMaxConnectionAgeMs, graceMs: config.rpcTimeoutMs } : undefined, services: opts.grpcServices, onCall: (path) => opts.metrics.rpcCalls.inc({ method: path }) }) : undefined;
  const ops = await startOpsServer({ host: config.host, port: config.httpPort, metrics: opts.metrics, ready: () => ready, log });
  ready = true;
  log.info({ grpc: grpc ? `${config.host}:${grpc.port}` : undefined, http: `http://${config.host}:${ops.port}` }, `${opts.name} ready`);
  let stopping: Promise<void> | undefined;
  return {
    stop: () =>
      (stopping ??= (async () => {
        ready = false;
        grpc?.setServing(false);
        await opts.beforeClose?.();
        await grpc?.close();
        await ops.close();
        await closeAll(opts.closers);
        log.info(`${opts.name} stopped`);
      })()),
  };
}
