import { ChatApi } from '../../internal/client/chat-api';
import { ChatClient, nodeWebSocket, type ChatClientOptions } from '../../internal/client/chat-client';
import { ChatClientError } from '../../internal/client/chat-client-error';
import { ChatSession, type ChatSessionOptions } from '../../internal/client/chat-session';
import { ChatHttpClient } from '../../internal/client/http-client';
import { jwtSubject } from '../../internal/client/jwt-subject';
import { Output } from './output';

/** The global options, as commander parsed them (flags over CHAT_* variables over defaults). */
export interface GlobalOptions {
  server: string;
  user?: string;
  token?: string;
  device?: string;
  json?: boolean;
}

/** Whom the CLI acts as. */
export interface Identity {
  token: string;
  userId: string;
}

/**
 * What every command needs, built once from the global options: where the server is, whom to act
 * as (a `--token`, or a dev token fetched for `--user`), and where to print.
 */
export class CliContext {
  readonly out: Output;
  readonly server: string;
  private identityPromise: Promise<Identity> | undefined;

  constructor(private readonly opts: GlobalOptions) {
    this.out = new Output(opts.json ?? false);
    try {
      const url = new URL(opts.server);
      if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('not http(s)');
    } catch {
      throw new ChatClientError('invalid_argument', `--server must be an http(s) URL, got ${JSON.stringify(opts.server)}`);
    }
    this.server = opts.server;
  }

  /** A client of the server's HTTP endpoints, without a token. */
  anonymousHttp(): ChatHttpClient {
    return new ChatHttpClient({ baseUrl: this.server });
  }

  /** True when tokens come from the dev token endpoint (no `--token`), so a fresh one can be fetched. */
  get usesDevTokens(): boolean {
    return !this.opts.token;
  }

  /**
   * The token and user id to act as: `--token` (its `sub` is the user id), else a dev token fetched
   * for `--user`. Fetched once; `refresh` fetches a new dev token (after a reconnect, say).
   */
  identity(refresh = false): Promise<Identity> {
    if (!this.identityPromise || (refresh && this.usesDevTokens)) this.identityPromise = this.resolveIdentity();
    return this.identityPromise;
  }

  /** Typed unary calls as the current identity. */
  async api(): Promise<ChatApi> {
    const { token } = await this.identity();
    return new ChatApi(new ChatHttpClient({ baseUrl: this.server, token }));
  }

  /** `--device`, else `cli-<user>`. */
  async deviceId(): Promise<string> {
    return this.opts.device ?? `cli-${(await this.identity()).userId}`;
  }

  /** Opens a WebSocket session as the current identity and device. */
  async connect(extra: Partial<ChatClientOptions> = {}): Promise<ChatClient> {
    const { token } = await this.identity();
    const deviceId = await this.deviceId();
    return ChatClient.connect({ url: this.anonymousHttp().wsUrl, token, deviceId, ...extra });
  }

  /**
   * A reconnecting session (not started) as the current identity and device; each reconnect asks
   * for the identity again, so a dev token that expired is fetched anew.
   */
  async session(extra: Partial<ChatSessionOptions> = {}): Promise<ChatSession> {
    await this.identity();
    return new ChatSession({
      url: this.anonymousHttp().wsUrl,
      token: async (reconnect) => (await this.identity(reconnect)).token,
      deviceId: await this.deviceId(),
      WebSocket: nodeWebSocket,
      ...extra,
    });
  }

  private async resolveIdentity(): Promise<Identity> {
    if (this.opts.token) {
      const userId = jwtSubject(this.opts.token) ?? this.opts.user;
      if (!userId) throw new ChatClientError('invalid_argument', 'cannot read the user id (sub) from --token; give --user too');
      return { token: this.opts.token, userId };
    }
    if (this.opts.user) return { token: await this.anonymousHttp().devToken(this.opts.user), userId: this.opts.user };
    throw new ChatClientError('unauthenticated', 'say who you are: --user <id> (dev mode) or --token <jwt> (or CHAT_USER / CHAT_TOKEN)');
  }
}
