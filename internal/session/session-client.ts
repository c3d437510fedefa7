import { ErrorCode } from '../../gen/chat/v1/errors';
import type { Connection, SessionServiceDefinition } from '../../gen/chat/v1/session';
import type { UserPresence } from '../../gen/chat/v1/message';
import { ChatError } from '../errors/chat-error';
import { CallBatcher } from '../rpc/call-batcher';
import type { RpcClient } from '../rpc/grpc-client';
import type { LeaseGrant, Sessions } from './sessions';

export interface SessionClientOptions {
  serverId: string;
  /** Connections per RegisterConnections / UnregisterConnections call (the service's bound). */
  maxConnectionsPerCall: number;
}

/**
 * A chat server's view of the session service over gRPC. Calls are coalesced, so their cost is
 * per server and event-loop turn, not per connection: the registrations, unregistrations, locates
 * and presence watches of one turn travel in one RegisterConnections, UnregisterConnections,
 * LocateUsers and AddPresenceWatches call each (a DM load is a locate per message the cache
 * misses; a login burst is watches of many connections). Heartbeats cost nothing here: the server
 * keeps its connections live with one RenewServerLease.
 */
export class SessionClient implements Sessions {
  private readonly registrations: CallBatcher<Connection, { becameOnline: boolean }>;
  private readonly unregistrations: CallBatcher<string, { becameOffline: boolean }>;
  private readonly locations: CallBatcher<ServerAndUser, Connection[]>;
  private readonly watches: CallBatcher<ServerAndUser, void>;

  constructor(
    private readonly rpc: RpcClient<typeof SessionServiceDefinition>,
    opts: SessionClientOptions,
  ) {
    const perTurn = { windowMs: 0, maxBatch: opts.maxConnectionsPerCall };
    this.registrations = new CallBatcher<Connection, { becameOnline: boolean }>(
      async (connections) =>
        (await rpc.call('registerConnections', { connections })).results.map((r) =>
          r.errorCode === ErrorCode.ERROR_CODE_UNSPECIFIED ? { becameOnline: r.becameOnline } : new ChatError(r.errorCode, r.errorMessage),
        ),
      perTurn,
    );
    this.unregistrations = new CallBatcher(async (sessionIds) => (await rpc.call('unregisterConnections', { sessionIds })).becameOffline.map((becameOffline) => ({ becameOffline })), perTurn);
    this.locations = new CallBatcher(async (items) => {
      const found = new Map<string, Map<string, Connection[]>>();
      await Promise.all(
        [...byServer(items)].map(async ([serverId, userIds]) => {
          const byUser = new Map<string, Connection[]>(userIds.map((u) => [u, []]));
          found.set(serverId, byUser);
          for (const c of (await rpc.call('locateUsers', { userIds, serverId })).connections) byUser.get(c.userId)?.push(c);
        }),
      );
      return items.map((i) => found.get(i.serverId)?.get(i.userId) ?? []);
    }, perTurn);
    this.watches = new CallBatcher(async (items) => {
      await Promise.all([...byServer(items)].map(([serverId, userIds]) => rpc.call('addPresenceWatches', { serverId, userIds })));
      return items.map(() => undefined);
    }, perTurn);
  }

  register(connection: Connection): Promise<{ becameOnline: boolean }> {
    return this.registrations.call(connection);
  }

  async renewServerLease(serverId: string, instance: string): Promise<LeaseGrant> {
    const { lapsed, ttlMs, epoch } = await this.rpc.call('renewServerLease', { serverId, instance });
    return { lapsed, ttlMs, epoch: Number(epoch) };
  }

  unregister(sessionId: string): Promise<{ becameOffline: boolean }> {
    return this.unregistrations.call(sessionId);
  }

  /** `locatorServerId` '' or absent: a one-off lookup the service does not remember. */
  async locate(userIds: readonly string[], locatorServerId = ''): Promise<Connection[]> {
    return (await Promise.all(userIds.map((userId) => this.locations.call({ serverId: locatorServerId, userId })))).flat();
  }

  async addPresenceWatches(serverId: string, userIds: readonly string[]): Promise<void> {
    await Promise.all(userIds.map((userId) => this.watches.call({ serverId, userId })));
  }

  async presence(userIds: readonly string[]): Promise<UserPresence[]> {
    return (await this.rpc.call('getPresence', { userIds: [...userIds] })).presences;
  }
}

interface ServerAndUser {
  serverId: string;
  userId: string;
}

/** The distinct users of a batch per server id (a server's calls travel together). */
function byServer(items: readonly ServerAndUser[]): Map<string, string[]> {
  const users = new Map<string, Set<string>>();
  for (const { serverId, userId } of items) {
    let set = users.get(serverId);
    if (!set) users.set(serverId, (set = new Set()));
    set.add(userId);
  }
  return new Map([...users].map(([serverId, set]) => [serverId, [...set]]));
}
