import type { Connection } from '../../gen/chat/v1/session';
import type { UserPresence } from '../../gen/chat/v1/message';

/**
 * What a chat server needs from the session service. In `chatd` the SessionTracker itself; in the
 * mesh a gRPC client of SessionService (with deadlines and batched heartbeats).
 */
export interface Sessions {
  register(connection: Connection): Promise<{ becameOnline: boolean }>;
  heartbeat(sessionIds: readonly string[]): Promise<{ unknown: string[] }>;
  unregister(sessionId: string): Promise<{ becameOffline: boolean }>;
  locate(userIds: readonly string[]): Promise<Connection[]>;
  presence(userIds: readonly string[]): Promise<UserPresence[]>;
}
