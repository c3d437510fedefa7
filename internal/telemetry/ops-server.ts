import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { ChatMetrics } from './metrics';

/** Readiness: a boolean, or not ready with the reason /readyz reports. */
export type Readiness = boolean | { ready: boolean; reason?: string };

export interface OpsServerOptions {
  host: string;
  /** 0 picks a free port. */
  port: number;
  metrics: ChatMetrics;
  /** Whether the process takes traffic (false while starting or draining). */
  ready: () => Readiness;
  log: Logger;
}

export interface OpsServer {
  /** The bound port (the picked one when `port` was 0). */
  readonly port: number;
  /** Stops listening and drops idle keep-alive connections. */
  close(): Promise<void>;
}

/** A GET route handler; the same shape as the HTTP API's routes (internal/httpapi/http-api.ts). */
export type OpsRoute = (req: IncomingMessage, res: ServerResponse) => Promise<void>;

/**
 * The operations endpoint of a process without an HTTP API (session, group and history services,
 * the sync worker): `GET /healthz` (200 while the process runs), `GET /readyz` (200, or 503 with
 * `{"status":"not ready","reason":...}`), `GET /metrics` (Prometheus text). Anything else is 404
 * (405 for another method on these paths). Resolves once listening; rejects if the port is taken.
 */
export async function startOpsServer(opts: OpsServerOptions): Promise<OpsServer> {
  const routes = new Map<string, OpsRoute>([
    ['/healthz', healthzRoute()],
    ['/readyz', readyzRoute(opts.ready)],
    ['/metrics', metricsRoute(opts.metrics, opts.log)],
  ]);
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const route = routes.get(path);
    if (!route) return json(res, 404, { code: 'not_found', message: `no route ${path}` });
    if (req.method !== 'GET' && req.method !== 'HEAD') return json(res, 405, { code: 'unimplemented', message: 'method not allowed' });
    route(req, res).catch((err: unknown) => {
      opts.log.error({ err, path }, 'ops request failed');
      if (!res.headersSent) json(res, 500, { code: 'internal', message: 'internal error' });
      else res.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (err) => opts.log.error({ err }, 'ops server error'));
  const port = (server.address() as AddressInfo).port;
  opts.log.info({ host: opts.host, port }, 'ops server listening (/healthz /readyz /metrics)');
  let closing: Promise<void> | undefined;
  return {
    port,
    close: () =>
      (closing ??= new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeIdleConnections();
      })),
  };
}

/**
 * `GET /metrics` for an existing HTTP server: in internal/httpapi/http-api.ts,
 * `routes.set('GET /metrics', metricsRoute(opts.metrics, opts.log))`.
 */
export function metricsRoute(metrics: ChatMetrics, log?: Logger): OpsRoute {
  return async (_req, res) => {
    let body: string;
    try {
      body = await metrics.text();
    } catch (err) {
      log?.error({ err }, 'metrics collection failed');
      return json(res, 500, { code: 'internal', message: 'metrics collection failed' });
    }
    res.writeHead(200, { 'content-type': metrics.contentType }).end(body);
  };
}

/** `GET /healthz`: the process is alive. */
export function healthzRoute(): OpsRoute {
  return (_req, res) => Promise.resolve(json(res, 200, { status: 'ok' }));
}

/** `GET /readyz`: 200 `{"status":"ready"}` or 503 `{"status":"not ready","reason":...}`. */
export function readyzRoute(ready: () => Readiness): OpsRoute {
  return (_req, res) => {
    const r = ready();
    const ok = typeof r === 'boolean' ? r : r.ready;
    if (ok) json(res, 200, { status: 'ready' });
    else json(res, 503, { status: 'not ready', reason: (typeof r === 'object' ? r.reason : undefined) ?? 'starting or draining' });
    return Promise.resolve();
  };
}

function json(res: ServerResponse, statusCode: number, body: unknown): void {
  res.writeHead(statusCode, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}
