import type { Logger } from 'pino';
import type { GrpcTls } from '../rpc/grpc-tls';
import type { ServiceCredentials } from '../rpc/service-token';
import type { ChatMetrics } from '../telemetry/metrics';
import type { DeliveryFallback } from './delivery-fallback';
import type { RelayItem } from './relay-item';
import { RelayPeer, type RelayTuning } from './relay-peer';

export interface RelayRouterOptions extends RelayTuning {
  serverId: string;
  /** False: every delivery and event goes to the fallback (CHAT_RELAY_ENABLED). */
  enabled: boolean;
  credentials: ServiceCredentials;
  /** mTLS to peers with the internal CA; plaintext without it. */
  tls?: GrpcTls;
  fallback: DeliveryFallback;
  metrics: ChatMetrics;
  log: Logger;
}

/**
 * Routes deliveries and ephemeral events to peer chat servers: one RelayPeer (one stream) per
 * peer, created on first use and replaced when the peer's advertised address changes. A peer
 * without an address (it never registered one) is reached through the fallback only. The items
 * queued in its peers show as `chat_relay_queued_deliveries`.
 */
export class RelayRouter {
  private readonly peers = new Map<string, RelayPeer>();
  private closed = false;
  private readonly untrackQueue: () => void;

  constructor(private readonly opts: RelayRouterOptions) {
    this.untrackQueue = opts.metrics.trackRelayQueue(() => {
      let n = 0;
      for (const peer of this.peers.values()) n += peer.stats.queued;
      return n;
    });
  }

  /**
   * Hands a delivery or an event (its recipients connected to `serverId`, found at `address`) to
   * that server's relay, or to its delivery topic; never throws, never drops (see RelayPeer).
   */
  send(serverId: string, address: string, item: RelayItem): void {
    if (!this.opts.enabled) {
      void this.opts.fallback.send(serverId, [item], 'relay_off');
      return;
    }
    if (!address || this.closed) {
      void this.opts.fallback.send(serverId, [item], 'unknown_peer');
      return;
    }
    let peer = this.peers.get(serverId);
    if (peer && peer.address !== address) {
      void peer.close();
      peer = undefined;
    }
    if (!peer) {
      peer = new RelayPeer({ ...this.opts, sourceServerId: this.opts.serverId, targetServerId: serverId, address });
      this.peers.set(serverId, peer);
    }
    peer.send(item);
  }

  /** Flushes every peer and waits (bounded) for their acknowledgements; later sends fall back. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.peers.values()].map((p) => p.close()));
    this.peers.clear();
    this.untrackQueue();
  }
}
