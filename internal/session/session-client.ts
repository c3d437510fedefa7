import type { Connection, SessionServiceDefinition } from '../../gen/chat/v1/session';
import type { UserPresence } from '../../gen/chat/v1/message';
import type { RpcClient } from '../rpc/grpc-client';
import type { Sessions } from './sessions';

interface PendingBeat {
  resolve(unknown: boolean): void;
  reject(err: unknown): void;
}

/**
 * A chat server's view of the session service over gRPC. Heartbeats of all its connections are
 * coalesced: every beat arriving within `heartbeatBatchMs` travels in one Heartbeat call, so the
 * cost is per server and interval, not per connection.
 */
export class SessionClient implements Sessions {
  private pending = new Map<string, PendingBeat[]>();
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly rpc: RpcClient<typeof SessionServiceDefinition>,
    private readonly opts: { serverId: string; heartbeatBatchMs: number; maxHeartbeatBatch: number },
  ) {}

  register(connection: Connection): Promise<{ becameOnline: boolean }> {
    return this.rpc.call('registerConnection', { connection });
  }

  heartbeat(sessionIds: readonly string[]): Promise<{ unknown: string[] }> {
    const waits = sessionIds.map(
      (id) =>
        new Promise<boolean>((resolve, reject) => {
          const list = this.pending.get(id) ?? [];
          list.push({ resolve, reject });
          this.pending.set(id, list);
        }),
    );
    if (this.pending.size >= this.opts.maxHeartbeatBatch) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), this.opts.heartbeatBatchMs);
    return Promise.all(waits).then((flags) => ({ unknown: sessionIds.filter((_, i) => flags[i]) }));
  }

  unregister(sessionId: string): Promise<{ becameOffline: boolean }> {
    return this.rpc.call('unregisterConnection', { sessionId });
  }

  async locate(userIds: readonly string[]): Promise<Connection[]> {
    return (await this.rpc.call('locateUsers', { userIds: [...userIds] })).connections;
  }

  async presence(userIds: readonly string[]): Promise<UserPresence[]> {
    return (await this.rpc.call('getPresence', { userIds: [...userIds] })).presences;
  }

  private flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.pending;
    this.pending = new Map();
    if (batch.size === 0) return;
    this.rpc.call('heartbeat', { serverId: this.opts.serverId, sessionIds: [...batch.keys()] }).then(
      ({ unknownSessionIds }) => {
        const unknown = new Set(unknownSessionIds);
        for (const [id, waiters] of batch) for (const w of waiters) w.resolve(unknown.has(id));
      },
      (err: unknown) => {
        for (const waiters of batch.values()) for (const w of waiters) w.reject(err);
      },
    );
  }
}
