import type { ServerWritableStream, UntypedServiceImplementation } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { ErrorCode } from '../../gen/chat/v1/errors';
import type { UserPresence } from '../../gen/chat/v1/message';
import { SessionServiceDefinition, WatchPresenceResponse, type Connection, type RegisterConnectionResult, type WatchPresenceRequest } from '../../gen/chat/v1/session';
import type { TokenVerifier } from '../auth/token-verifier';
import { assertUserId } from '../conversation/conversation-id';
import { ChatError } from '../errors/chat-error';
import { authenticate } from '../rpc/authenticate';
import { bearerOf, toServiceError } from '../rpc/grpc-unary';
import { unaryMethods, type UnaryMethod } from '../rpc/unary-method';
import { serverOfSession } from './session-store';
import type { Sessions } from './sessions';

export interface SessionRpcOptions {
  sessions: Sessions;
  /** The presence visibility rule (users who share a conversation). */
  visiblePresences: (viewer: string, targets: readonly string[]) => Promise<Set<string>>;
  maxUsersPerCall: number;
}

/** A chat server id as CHAT_SERVER_ID takes it: it names the server's Kafka delivery topic. */
const SERVER_ID = /^[A-Za-z0-9_.-]{1,64}$/;

function serverIdOf(serverId: string): string {
  if (!SERVER_ID.test(serverId)) throw ChatError.invalidArgument('server_id must be 1-64 characters of [A-Za-z0-9_.-]');
  return serverId;
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
    if (serverOfSession(connection.sessionId) !== serverIdOf(connection.serverId)) throw ChatError.invalidArgument('session_id must be `<server_id>.<unique>`');
    return sessions.register(connection);
  };
  return unaryMethods(SessionServiceDefinition, {
    registerConnection: { access: 'internal', handle: (req) => register(req.connection) },
    registerConnections: {
      access: 'internal',
      handle: async (req) => ({ results: await Promise.all(bounded(req.connections, 'connections').map((c) => registerOneOfBatch(() => register(c)))) }),
    },
    renewServerLease: {
      access: 'internal',
      handle: async (req) => {
        if (!req.instance) throw ChatError.invalidArgument('instance is required');
        const { lapsed, ttlMs, epoch } = await sessions.renewServerLease(serverIdOf(req.serverId), req.instance);
        return { lapsed, ttlMs, epoch: String(epoch) };
      },
    },
    heartbeat: {
      access: 'internal',
      handle: async (req) => {
        const { lapsed } = await sessions.renewServerLease(serverIdOf(req.serverId), `heartbeat:${req.serverId}`);
        return { unknownSessionIds: lapsed ? req.sessionIds : [] };
      },
    },
    unregisterConnection: { access: 'internal', handle: (req) => sessions.unregister(req.sessionId) },
    unregisterConnections: {
      access: 'internal',
      handle: async (req) => ({ becameOffline: await Promise.all(bounded(req.sessionIds, 'sessions').map(async (id) => (await sessions.unregister(id)).becameOffline)) }),
    },
    locateUsers: {
      access: 'internal',
      handle: async (req) => ({ connections: await sessions.locate(bounded(req.userIds), req.serverId ? serverIdOf(req.serverId) : undefined) }),
    },
    addPresenceWatches: {
      access: 'internal',
      handle: async (req) => {
        const serverId = serverIdOf(req.serverId);
        await sessions.addPresenceWatches(serverId, [...new Set(bounded(req.userIds).map((u) => assertUserId(u)))]);
        return {};
      },
    },
    getPresence: {
      access: 'public',
      handle: async (req, caller) => {
        const ids = [...new Set(bounded(req.userIds))];
        const visible = caller.kind === 'service' ? ids : await opts.visiblePresences(caller.id, ids).then((seen) => ids.filter((u) => seen.has(u)));
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

/** Where WatchPresence streams from: the transitions this process reports (SessionTracker). */
export interface PresenceTransitions {
  onPresence(listener: (p: UserPresence) => void): () => void;
}

/**
 * SessionService.WatchPresence: the presence transitions this session service process reports
 * (its own calls and sweeps; with several replicas, each stream sees its replica's). Chat servers
 * do not use it: they get the changes of the users they watch in their inbox (AddPresenceWatches).
 */
export function watchPresenceImplementation(transitions: PresenceTransitions, verifier: TokenVerifier, log: Logger): UntypedServiceImplementation {
  return {
    watchPresence: (call: ServerWritableStream<WatchPresenceRequest, WatchPresenceResponse>) => {
      authenticate(verifier, bearerOf(call.metadata), 'internal').then(
        () => {
          const stop = transitions.onPresence((presence) => void call.write({ presence }));
          call.on('cancelled', stop);
          call.on('close', stop);
        },
        (err: unknown) => void call.emit('error', Object.assign(new Error(), toServiceError(err, log, 'SessionService/WatchPresence'))),
      );
    },
  };
}
