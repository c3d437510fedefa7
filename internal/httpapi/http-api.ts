import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Logger } from 'pino';
import type { TokenIssuer } from '../auth/token-issuer';
import type { TokenVerifier } from '../auth/token-verifier';
import { assertUserId } from '../conversation/conversation-id';
import { ChatError } from '../errors/chat-error';
import { transportMapping } from '../errors/error-codes';
import { authenticate } from '../rpc/authenticate';
import type { UnaryMethod } from '../rpc/unary-method';
import type { ChatMetrics } from '../telemetry/metrics';
import { metricsRoute } from '../telemetry/ops-server';
import { readBody } from './read-body';
import { staticFiles, staticOr } from './static-files';
import type { HttpTls } from './tls-files';

export interface HttpApiOptions {
  methods: readonly UnaryMethod[];
  verifier: TokenVerifier;
  /** Present only in dev mode: serves POST /v1/dev/token. */
  devTokens?: TokenIssuer;
  /** Whether the process is ready for traffic (false while starting or draining). */
  ready: () => boolean;
  maxBodyBytes: number;
  log: Logger;
  /** A directory served for GET requests no route matches (the web client at `/`). */
  staticDir?: string;
  /** Served as GET /metrics (Prometheus text) when given. */
  metrics?: ChatMetrics;
  /** Served as GET /web-config.json: where the web client opens its WebSocket (the mesh's api-server has no /ws). */
  webWsUrls?: readonly string[];
  /** Serve https (and wss on the same port) with this certificate; plain http without it. */
  tls?: HttpTls;
}

type Handler = (req: IncomingMessage, res: ServerResponse) => Promise<void>;

/**
 * The HTTP API next to `/ws`: health, the dev token endpoint, and every unary RPC as a
 * Connect-protocol POST (`/chat.v1.<Service>/<Method>`, JSON or binary protobuf body).
 */
export function createHttpApi(opts: HttpApiOptions): Server {
  const routes = new Map<string, Handler>();
  routes.set('GET /healthz', (_req, res) => Promise.resolve(json(res, 200, { status: 'ok' })));
  routes.set('GET /readyz', (_req, res) => Promise.resolve(opts.ready() ? json(res, 200, { status: 'ready' }) : json(res, 503, { status: 'not ready' })));
  if (opts.metrics) routes.set('GET /metrics', metricsRoute(opts.metrics, opts.log));
  const webConfig = { wsUrls: opts.webWsUrls ?? [] };
  if (opts.webWsUrls) routes.set('GET /web-config.json', (_req, res) => Promise.resolve(json(res, 200, webConfig)));
  if (opts.devTokens) routes.set('POST /v1/dev/token', devTokenHandler(opts.devTokens, opts.maxBodyBytes));
  for (const m of opts.methods) routes.set(`POST /${m.service}/${m.name}`, unaryHandler(m, opts));
  const serveStatic = opts.staticDir ? staticFiles(opts.staticDir) : undefined;

  const listener: RequestListener = (req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const route = routes.get(`${req.method} ${path}`);
    const handler = route ?? staticOr(serveStatic, notFound(routes, path));
    handler(req, res).catch((err: unknown) => sendError(res, ChatError.from(err), opts.log));
  };
  // An https.Server is an http.Server on TLS (same events, listen and close), so callers need not care.
  return opts.tls ? createHttpsServer({ cert: opts.tls.cert, key: opts.tls.key }, listener) : createServer(listener);
}

function notFound(routes: Map<string, Handler>, path: string | undefined): Handler {
  const known = [...routes.keys()].some((k) => k.endsWith(` ${path}`));
  return (_req, res) => Promise.resolve(json(res, known ? 405 : 404, { code: known ? 'unimplemented' : 'not_found', message: known ? 'method not allowed' : `no route ${path}` }));
}

function devTokenHandler(issuer: TokenIssuer, maxBodyBytes: number): Handler {
  return async (req, res) => {
    const body = parseJson((await readBody(req, maxBodyBytes)).toString('utf8')) as { user_id?: unknown; userId?: unknown };
    const userId = body.user_id ?? body.userId;
    if (typeof userId !== 'string') throw ChatError.invalidArgument('body must be {"user_id": "<id>"}');
    json(res, 200, { token: await issuer.userToken(assertUserId(userId)) });
  };
}

function unaryHandler(m: UnaryMethod, opts: HttpApiOptions): Handler {
  return async (req, res) => {
    const contentType = (req.headers['content-type'] ?? 'application/json').split(';')[0].trim();
    const binary = contentType === 'application/proto';
    if (!binary && contentType !== 'application/json') throw ChatError.invalidArgument(`unsupported content-type ${contentType}; use application/json or application/proto`);
    const caller = await authenticate(opts.verifier, req.headers.authorization, m.access);
    const raw = await readBody(req, opts.maxBodyBytes);
    const request = binary ? decodeBinary(m, raw) : m.requestType.fromJSON(parseJson(raw.length ? raw.toString('utf8') : '{}'));
    const response = await m.handle(request, caller);
    if (binary) {
      res.writeHead(200, { 'content-type': 'application/proto' }).end(m.responseType.encode(response).finish());
    } else {
      json(res, 200, m.responseType.toJSON(response));
    }
  };
}

function decodeBinary(m: UnaryMethod, raw: Buffer): unknown {
  try {
    return m.requestType.decode(raw);
  } catch {
    throw ChatError.invalidArgument('body is not a valid protobuf message');
  }
}

function parseJson(text: string): object {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw ChatError.invalidArgument('body is not valid JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw ChatError.invalidArgument('body must be a JSON object');
  return value;
}

function json(res: ServerResponse, statusCode: number, body: unknown): void {
  res.writeHead(statusCode, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

function sendError(res: ServerResponse, err: ChatError, log: Logger): void {
  if (err.codeName === 'INTERNAL') log.error({ err: err.cause ?? err }, 'http request failed');
  if (res.headersSent) return void res.end();
  const t = transportMapping(err.code);
  res.setHeader('chat-error-code', err.codeName);
  json(res, t.http, { code: t.connect, message: err.message });
}
