import type { EphemeralEvent } from '../../gen/chat/v1/ephemeral';
import type { Connection } from '../../gen/chat/v1/session';
import type { ConnectionRegistry } from '../gateway/connection-registry';
import type { RelayRouter } from '../relay/relay-router';
import type { Sessions } from '../session/sessions';
import { pushEphemeral } from './ephemeral-events';
import type { EphemeralPublisher } from './ephemeral-publisher';

export interface MeshEphemeralPublisherOptions {
  /** This chat server. */
  serverId: string;
  /** Its own connections. */
  registry: Pick<ConnectionRegistry, 'deliverEphemeral'>;
  /** Where recipients are connected: the chat server's LocateCache, shared with message delivery. */
  locations: Pick<Sessions, 'locate'>;
  router: Pick<RelayRouter, 'send'>;
}

type Located = { connections: Connection[] } | { err: unknown };

/**
 * The EphemeralPublisher of a chat server of the mesh, routed like a message: this server's own
 * connections at once, then one event per other server holding recipients, its `recipientIds`
 * narrowed to that server's users, over the relay (that server's Kafka delivery topic when the
 * relay cannot reach it). A chat server so hears only of the events for its own connections.
 *
 * Lookups run concurrently, but the events of one conversation are handed to the router in
 * publish order (a cached lookup would otherwise overtake one that asks the session service); the
 * router keeps that order per peer.
 */
export class MeshEphemeralPublisher implements EphemeralPublisher {
  /** Per conversation, the hand-over of its latest publish still waiting for a lookup. */
  private readonly tails = new Map<string, Promise<void>>();

  constructor(private readonly opts: MeshEphemeralPublisherOptions) {}

  publish(conversationId: string, event: EphemeralEvent): Promise<void> {
    if (event.recipientIds.length === 0) return Promise.resolve();
    pushEphemeral(this.opts.registry, [event]);
    const located: Promise<Located> = this.opts.locations.locate(event.recipientIds).then(
      (connections) => ({ connections }),
      (err: unknown) => ({ err }),
    );
    const before = this.tails.get(conversationId);
    const handed = (before ? before.then(() => located) : located).then((l) => {
      if ('err' in l) throw l.err;
      this.route(event, l.connections);
    });
    const tail = handed.catch(() => undefined);
    this.tails.set(conversationId, tail);
    void tail.then(() => {
      if (this.tails.get(conversationId) === tail) this.tails.delete(conversationId);
    });
    return handed;
  }

  /** Conversations with a publish waiting for its lookup (for tests: none left behind). */
  get waiting(): number {
    return this.tails.size;
  }

  private route(event: EphemeralEvent, connections: readonly Connection[]): void {
    const byServer = new Map<string, { address: string; users: Set<string> }>();
    for (const c of connections) {
      if (c.serverId === this.opts.serverId) continue;
      const entry = byServer.get(c.serverId) ?? { address: c.serverAddress, users: new Set<string>() };
      entry.users.add(c.userId);
      byServer.set(c.serverId, entry);
    }
    for (const [serverId, { address, users }] of byServer) this.opts.router.send(serverId, address, { ...event, recipientIds: [...users] });
  }
}
