import { ChatClientError } from './chat-client-error';

/**
 * Converts a message to and from its proto3 JSON form; the generated `MessageFns` of gen/ fit.
 * Without one, {@link ChatHttpClient.call} sends the body as is and returns the parsed JSON as is,
 * where default values are absent and timestamps are strings.
 */
export interface JsonCodec<T> {
  toJSON(message: T): unknown;
  fromJSON(object: unknown): T;
}

/** Options of a {@link ChatHttpClient}. */
export interface ChatHttpClientOptions {
  /** The server's HTTP base URL, e.g. `http://127.0.0.1:8080`. */
  baseUrl: string;
  /** A JWT sent as `Authorization: Bearer`; calls without one are anonymous. */
  token?: string;
  /** Deadline of each call. Default 10 000 ms. */
  timeoutMs?: number;
}

/** Connect error codes by HTTP status, for error answers without a Connect JSON body. */
const CODE_BY_STATUS: Record<number, string> = {
  400: 'invalid_argument',
  401: 'unauthenticated',
  403: 'permission_denied',
  404: 'not_found',
  408: 'deadline_exceeded',
  409: 'already_exists',
  412: 'failed_precondition',
  413: 'resource_exhausted',
  429: 'resource_exhausted',
  501: 'unimplemented',
  503: 'unavailable',
  504: 'deadline_exceeded',
};

/**
 * A client of the server's HTTP endpoints: the dev token issuer and Connect-style unary JSON calls
 * (`POST /<package.Service>/<Method>`). Every failure is a {@link ChatClientError}: the Connect code
 * and message of an error body, `unavailable` when the server cannot be reached, `deadline_exceeded`
 * after `timeoutMs`.
 */
export class ChatHttpClient {
  readonly baseUrl: string;
  token: string | undefined;
  private readonly timeoutMs: number;

  constructor(opts: ChatHttpClientOptions) {
    this.baseUrl = opts.baseUrl.replace(/\/+$/, '');
    this.token = opts.token;
    this.timeoutMs = opts.timeoutMs ?? 10_000;
  }

  /** The WebSocket URL of the same server (`http` → `ws`, `https` → `wss`, path `/ws`). */
  get wsUrl(): string {
    const url = new URL(this.baseUrl);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    url.pathname = `${url.pathname.replace(/\/+$/, '')}/ws`;
    return url.toString();
  }

  /** Asks the server for a token of `userId`; only servers in dev mode issue them (else `not_found`). */
  async devToken(userId: string): Promise<string> {
    let body: unknown;
    try {
      body = await this.post('/v1/dev/token', { user_id: userId });
    } catch (err) {
      if (err instanceof ChatClientError && err.code === 'not_found') {
        throw new ChatClientError('not_found', `${this.baseUrl} issues no dev tokens (is it in dev mode?)`, { cause: err });
      }
      throw err;
    }
    if (typeof body !== 'object' || body === null || typeof (body as { token?: unknown }).token !== 'string') {
      throw new ChatClientError('internal', 'the dev token answer has no token');
    }
    return (body as { token: string }).token;
  }

  /**
   * Calls `service` (e.g. `chat.v1.GroupService`) method `method` (e.g. `CreateGroup`) with `body`.
   * With a codec pair the body is encoded with `codec.request.toJSON` and the answer decoded with
   * `codec.response.fromJSON`; without one both pass as plain JSON.
   */
  async call<Req, Res>(
    service: string,
    method: string,
    body: Req,
    codec?: { request: JsonCodec<Req>; response: JsonCodec<Res> },
  ): Promise<Res> {
    const answer = await this.post(`/${service}/${method}`, codec ? codec.request.toJSON(body) : body);
    return codec ? codec.response.fromJSON(answer ?? {}) : (answer as Res);
  }

  private async post(path: string, body: unknown): Promise<unknown> {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    const url = `${this.baseUrl}${path}`;
    let response: Response;
    let text: string;
    try {
      response = await fetch(url, {
        method: 'POST',
        headers,
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      text = await response.text();
    } catch (err) {
      if (err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError')) {
        throw new ChatClientError('deadline_exceeded', `POST ${url}: no answer within ${this.timeoutMs} ms`, { cause: err });
      }
      const cause = err instanceof Error && err.cause instanceof Error ? err.cause.message : String(err);
      throw new ChatClientError('unavailable', `POST ${url}: ${cause}`, { cause: err });
    }
    const json = parseJson(text);
    if (!response.ok) throw errorFromAnswer(response.status, json, text);
    if (json === undefined && text.trim() !== '') {
      throw new ChatClientError('internal', `POST ${url}: the answer is not JSON`);
    }
    return json;
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function errorFromAnswer(status: number, json: unknown, text: string): ChatClientError {
  const body = typeof json === 'object' && json !== null ? (json as { code?: unknown; message?: unknown }) : {};
  const code = typeof body.code === 'string' ? body.code : (CODE_BY_STATUS[status] ?? (status >= 500 ? 'internal' : 'unknown'));
  const message = typeof body.message === 'string' ? body.message : text.trim().slice(0, 200) || `HTTP ${status}`;
  return new ChatClientError(code, message);
}
