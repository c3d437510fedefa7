import type { ServerWritableStream, UntypedServiceImplementation } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { ErrorCode } from '../../gen/chat/v1/errors';
import { SessionServiceDefinition, WatchPresenceResponse, type Connection, type RegisterConnectionResult, type WatchPresenceRequest } from '../../gen/chat/v1/session';
import type { TokenVerifier } from '../auth/token-verifier';
import type { Bus } from '../bus/bus';
import { ChatError } from '../errors/chat-error';
import { authenticate } from '../rpc/authenticate';
import { bearerOf, toServiceError } from '../rpc/grpc-unary';
import { unaryMethods, type UnaryMethod } from '../rpc/unary-method';
import { PRESENCE_TOPIC, decodePresence } from './presence-topic';
import type { Sessions } from './sessions';

export interface SessionRpcOptions {
  sessions: Sessions;
  /** The presence visibility rule (users who share a conversation). */
  canSeePresence: (viewer: string, target: string) => Promise<boolean>;
  maxUsersPerCall: number;
}

/** SessionService unary RPCs: connection bookkeeping for chat servers, presence for everyone. */
export function sessionRpc(opts: SessionRpcOptions): UnaryMethod[] {
  const { sessions } = opts;
  const bounded = <T>(items: readonly T[], what = 'users') => {
    if (items.length > opts.maxUsersPerCall) throw ChatError.limitExceeded(`at most ${opts.maxUsersPerCall} ${what} per call`);
    return items;
  };
  const register = (connection: Connection | undefined) => {
    if (!connection?.sessionId || !connection.userId) throw ChatError.invalidArgument('connection with user_id and session_id is required');
    return sessions.register(connection);
  };
  return unaryMethods(SessionServiceDefinition, {
    registerConnection: { access: 'internal', handle: (req) => register(req.connection) },
    registerConnections: {
      access: 'internal',
      handle: async (req) => ({ results: await Promise.all(bounded(req.connections, 'connections').map((c) => registerOneOfBatch(() => register(c)))) }),
    },
    heartbeat: { access: 'internal', handle: async (req) => ({ unknownSessionIds: (await sessions.heartbeat(req.sessionIds)).unknown }) },
    unregisterConnection: { access: 'internal', handle: (req) => sessions.unregister(req.sessionId) },
    unregisterConnections: {
      access: 'internal',
      handle: async (req) => ({ becameOffline: await Promise.all(bounded(req.sessionIds, 'sessions').map(async (id) => (await sessions.unregister(id)).becameOffline)) }),
    },
    locateUsers: { access: 'internal', handle: async (req) => ({ connections: await sessions.locate(bounded(req.userIds)) }) },
    getPresence: {
      access: 'public',
      handle: async (req, caller) => {
        const ids = [...new Set(bounded(req.userIds))];
        const visible = caller.kind === 'service' ? ids : (await Promise.all(ids.map(async (u) => ((await opts.canSeePresence(caller.id, u)) ? u : undefined)))).filter((u): u is string => u !== undefined);
        return { presences: await sessions.presence(visible) };
      },
    },
  });
}

/**
 * One connection of a RegisterConnections batch: a refusal (ChatError) is its own result, as it
 * would have been its own call; anything else fails the whole call, so it is logged once and the
 * chat server retries or refuses every hello of the batch alike.
 */
async function registerOneOfBatch(register: () => Promise<{ becameOnline: boolean }>): Promise<RegisterConnectionResult> {
  try {
    return { becameOnline: (await register()).becameOnline, errorCode: ErrorCode.ERROR_CODE_UNSPECIFIED, errorMessage: '' };
  } catch (err) {
    if (!(err instanceof ChatError) || err.code === ErrorCode.ERROR_CODE_UNAVAILABLE || err.code === ErrorCode.ERROR_CODE_INTERNAL) throw err;
    return { becameOnline: false, errorCode: err.code, errorMessage: err.message };
  }
}

/** SessionService.WatchPresence: every presence transition from the bus, for chat servers. */
export function watchPresenceImplementation(bus: Bus, verifier: TokenVerifier, log: Logger): UntypedServiceImplementation {
  return {
    watchPresence: (call: ServerWritableStream<WatchPresenceRequest, WatchPresenceResponse>) => {
      authenticate(verifier, bearerOf(call.metadata), 'internal').then(
        () => {
          const sub = bus.subscribe(PRESENCE_TOPIC, (r) => void call.write({ presence: decodePresence(r.payload) }));
          call.on('cancelled', () => void sub.close());
          call.on('close', () => void sub.close());
        },
        (err: unknown) => void call.emit('error', Object.assign(new Error(), toServiceError(err, log, 'SessionService/WatchPresence'))),
      );
    },
  };
}
