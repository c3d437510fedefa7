import type { ConnectResponse } from '../../gen/chat/v1/gateway';
import type { ChatMessage, UserPresence } from '../../gen/chat/v1/message';
import { KeyedLists } from '../collections/keyed-lists';

/** What the registry needs of a live, authenticated connection. */
export interface RegisteredConnection {
  readonly userId: string;
  readonly sessionId: string;
  pushMessage(message: ChatMessage): void;
  pushPresence(presence: UserPresence): void;
  /** A typing or receipt frame from the bus (already authorized by its publisher). */
  pushEphemeral(frame: ConnectResponse): void;
}

/**
 * The live connections of this chat server, indexed by user (for delivery) and by watched user
 * (for presence fan-out). Everything is O(connections of the users involved).
 */
export class ConnectionRegistry {
  private readonly byUser = new KeyedLists<string, RegisteredConnection>();
  // A popular user can have thousands of watchers: Sets, for O(1) removal.
  private readonly watchers = new Map<string, Set<RegisteredConnection>>();

  add(conn: RegisteredConnection): void {
    this.byUser.add(conn.userId, conn);
  }

  /** Removes the connection and all its presence watches. */
  remove(conn: RegisteredConnection, watched: Iterable<string>): void {
    this.byUser.remove(conn.userId, conn);
    for (const userId of watched) removeFrom(this.watchers, userId, conn);
  }

  watch(conn: RegisteredConnection, userId: string): void {
    addTo(this.watchers, userId, conn);
  }

  unwatch(conn: RegisteredConnection, userId: string): void {
    removeFrom(this.watchers, userId, conn);
  }

  /** The users some connection here watches: those whose presence watches this server renews. */
  watchedUsers(): IterableIterator<string> {
    return this.watchers.keys();
  }

  connectionsOf(userId: string): Iterable<RegisteredConnection> {
    return this.byUser.get(userId);
  }

  /** Pushes a message to every local device of the recipients except the sending one. */
  deliverLocal(message: ChatMessage, recipientIds: readonly string[], excludeSessionId?: string): number {
    let pushed = 0;
    for (const userId of recipientIds) {
      for (const conn of this.byUser.get(userId)) {
        if (conn.sessionId === excludeSessionId) continue;
        conn.pushMessage(message);
        pushed++;
      }
    }
    return pushed;
  }

  /** Pushes a typing or receipt frame to every local device of the recipients but one session. */
  deliverEphemeral(frame: ConnectResponse, recipientIds: readonly string[], excludeSessionId: string): void {
    for (const userId of new Set(recipientIds)) {
      for (const conn of this.byUser.get(userId)) {
        if (conn.sessionId !== excludeSessionId) conn.pushEphemeral(frame);
      }
    }
  }

  /** Pushes a presence change to every local connection watching that user. */
  publishPresence(presence: UserPresence): void {
    for (const conn of this.watchers.get(presence.userId) ?? []) conn.pushPresence(presence);
  }

  get size(): number {
    let n = 0;
    for (const list of this.byUser.values()) n += list.length;
    return n;
  }

  all(): RegisteredConnection[] {
    return [...this.byUser.values()].flat();
  }
}

function addTo<K, V>(map: Map<K, Set<V>>, key: K, value: V): void {
  let set = map.get(key);
  if (!set) map.set(key, (set = new Set()));
  set.add(value);
}

function removeFrom<K, V>(map: Map<K, Set<V>>, key: K, value: V): void {
  const set = map.get(key);
  if (!set) return;
  set.delete(value);
  if (set.size === 0) map.delete(key);
}
