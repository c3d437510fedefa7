import { Client, Metadata, type ClientDuplexStream } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { RelayRequest, RelayResponse, RelayServiceDefinition } from '../../gen/chat/v1/relay';
import { channelOptions } from '../rpc/grpc-client';
import { grpcChannelCredentials, type GrpcTls } from '../rpc/grpc-tls';
import type { ServiceCredentials } from '../rpc/service-token';
import type { ChatMetrics, FallbackReason } from '../telemetry/metrics';
import type { DeliveryFallback } from './delivery-fallback';
import { FallbackBatcher } from './fallback-batcher';
import { batchParts, deliveryRecipients, type RelayItem } from './relay-item';

export interface RelayTuning {
  /** A batch leaves after this long even when not full. */
  flushMs: number;
  /** Deliveries and events (relay-item.ts) per batch at most; a full batch leaves at once. */
  maxBatch: number;
  /**
   * Batches written to the peer and not yet acknowledged, at most (the window). While the window
   * is full, or the stream's write buffer is, deliveries wait in the peer's queue and leave as
   * acknowledgements come back, in batches of up to `maxBatch`: a peer that is behind gets fewer,
   * bigger batches (cheaper per message on both ends) instead of a backlog it cannot see the end of.
   */
  maxInFlight: number;
  /**
   * Deliveries and events waiting in the peer's queue, at most. One that finds the queue full goes
   * to the fallback (reason `queue_full`): the peer is alive but further behind than the queue holds.
   */
  maxQueued: number;
  /**
   * Liveness: a stream with unacknowledged batches that gets no acknowledgement for this long
   * (counted from the later of the last acknowledgement and the oldest batch's write), or that
   * leaves its oldest batch unacknowledged this long after a later one was acknowledged (a peer
   * acknowledges in order, so that batch was skipped), is failed: its unacknowledged and queued
   * deliveries go to the fallback, and the stream is reopened after the backoff. A peer that
   * acknowledges slowly keeps its stream however long its backlog takes.
   */
  ackTimeoutMs: number;
  /** After a failed stream, deliveries go straight to the fallback for this long (doubling to 10x). */
  retryBackoffMs: number;
}

export interface RelayPeerOptions extends RelayTuning {
  sourceServerId: string;
  targetServerId: string;
  address: string;
  credentials: ServiceCredentials;
  /** mTLS with the internal CA; plaintext without it. */
  tls?: GrpcTls;
  fallback: DeliveryFallback;
  metrics: ChatMetrics;
  log: Logger;
}

/** What a peer holds, for the queued-deliveries gauge and for tests. */
export interface RelayPeerStats {
  /** Deliveries and events in the queue, not yet written. */
  queued: number;
  /** Batches written and not yet acknowledged. */
  inFlight: number;
  /** The stream's write buffer is full: nothing more is written until it drains. */
  writeBlocked: boolean;
}

interface InFlight {
  seq: number;
  items: RelayItem[];
  sentAtMs: number;
  /** When a later batch was first acknowledged while this one was not. */
  overtakenAtMs?: number;
}

const RELAY_PATH = `/${RelayServiceDefinition.fullName}/${RelayServiceDefinition.methods.relay.name}`;

/**
 * The relay to one peer chat server: one long-lived bidi stream, opened on first use, carrying
 * batches that fill for at most `flushMs` or up to `maxBatch` items, at most `maxInFlight` of them
 * unacknowledged. An item is a message delivery or an ephemeral event (typing, receipt), and the
 * two are treated alike throughout. Items beyond the window wait in a bounded queue and leave as
 * acks come back; a full queue overflows to the Kafka fallback. Every item is either acknowledged
 * by the peer or handed to the fallback (queue full, peer silent, stream error, stream down),
 * never dropped. Order is kept on the stream (the queue and the window are FIFO, the peer
 * acknowledges in order) and within the fallback, not between the two, nor between the deliveries
 * and the events of one batch (server-inbox.ts); after a failure the stream is reopened on demand
 * after a backoff.
 */
export class RelayPeer {
  private readonly client: Client;
  private readonly spill: FallbackBatcher;
  private stream?: ClientDuplexStream<RelayRequest, RelayResponse>;
  private queue: RelayItem[] = [];
  private flushTimer?: NodeJS.Timeout;
  /** The queue waits for the window, the write buffer or the token, not for the flush timer. */
  private blocked = false;
  private writeBlocked = false;
  /** Unacknowledged batches in send order (a Map iterates in insertion order). */
  private readonly inFlight = new Map<string, InFlight>();
  private lastAckAtMs = 0;
  private watchdog?: NodeJS.Timeout;
  private nextSeq = 0;
  private downUntilMs = 0;
  private failures = 0;
  private closed = false;
  /** Called when nothing is queued or unacknowledged any more, or the stream failed (close waits). */
  private onSettled?: () => void;
  /** The service token for the next stream; renewed whenever a stream opens. */
  private token?: string;
  private tokenReady: Promise<unknown>;
  private awaitingToken = false;

  constructor(private readonly opts: RelayPeerOptions) {
    this.client = new Client(opts.address, grpcChannelCredentials(opts.tls), channelOptions(RelayServiceDefinition.fullName, { maxAttempts: 1 }));
    this.spill = new FallbackBatcher({ targetServerId: opts.targetServerId, fallback: opts.fallback, flushMs: opts.flushMs, maxBatch: opts.maxBatch });
    this.tokenReady = this.renewToken();
  }

  get address(): string {
    return this.opts.address;
  }

  get stats(): RelayPeerStats {
    return { queued: this.queue.length, inFlight: this.inFlight.size, writeBlocked: this.writeBlocked };
  }

  /** Queues a delivery or an event for the peer, or hands it to the fallback (see the class). */
  send(item: RelayItem): void {
    if (this.closed || Date.now() < this.downUntilMs) return this.spill.add(item, 'stream_down');
    if (this.queue.length >= this.opts.maxQueued) return this.spill.add(item, 'queue_full');
    this.queue.push(item);
    if (this.blocked) return; // an ack, 'drain' or the token pumps the queue
    if (this.queue.length >= this.opts.maxBatch) this.pump();
    else this.flushTimer ??= setTimeout(() => this.pump(), this.opts.flushMs);
  }

  /**
   * Sends what is queued, waits (bounded by the ack timeout) for the acks, then closes the stream;
   * whatever is still unacknowledged or queued goes to the fallback.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.pump();
    if (this.inFlight.size > 0 || this.queue.length > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => this.onSettled?.(), this.opts.ackTimeoutMs);
        this.onSettled = () => {
          clearTimeout(timer);
          this.onSettled = undefined;
          resolve();
        };
      });
    }
    this.fail('stream_down', 'closing');
    this.spill.flush();
    this.client.close();
  }

  /** Writes queued items in batches while the window and the stream's write buffer allow. */
  private pump(): void {
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    if (!this.stream && this.token === undefined) return this.waitForToken();
    const { maxBatch, maxInFlight } = this.opts;
    while (this.queue.length > 0 && this.inFlight.size < maxInFlight && !this.writeBlocked) {
      let items = this.queue;
      if (items.length > maxBatch) items = this.queue.splice(0, maxBatch);
      else this.queue = [];
      this.write(items);
    }
    this.blocked = this.queue.length > 0;
  }

  private write(items: RelayItem[]): void {
    const stream = this.openStream();
    const seq = ++this.nextSeq;
    const batchId = String(seq);
    this.inFlight.set(batchId, { seq, items, sentAtMs: Date.now() });
    this.watchdog ??= setTimeout(() => this.checkLiveness(), this.opts.ackTimeoutMs);
    this.opts.metrics.relayBatchMessages.observe(items.length);
    const { deliveries, events } = batchParts(items);
    // false: grpc-js buffered the batch but holds as many as it should (the peer or the network
    // is not taking them); nothing more is written until 'drain'.
    if (!stream.write({ frame: { $case: 'batch', value: { batchId, deliveries, events, presences: [], connectionsChanged: [] } } })) {
      this.writeBlocked = true;
      stream.once('drain', () => {
        if (stream !== this.stream) return;
        this.writeBlocked = false;
        this.pump();
      });
    }
  }

  private waitForToken(): void {
    this.blocked = true;
    if (this.awaitingToken) return;
    this.awaitingToken = true;
    void this.tokenReady.then(() => {
      this.awaitingToken = false;
      if (this.token !== undefined) return this.pump();
      this.tokenReady = this.renewToken(); // for the next attempt, after the backoff
      this.fail('stream_down', 'no service token for the relay');
    });
  }

  private openStream(): ClientDuplexStream<RelayRequest, RelayResponse> {
    if (this.stream) return this.stream;
    const metadata = new Metadata();
    metadata.set('authorization', `Bearer ${this.token}`);
    this.tokenReady = this.renewToken();
    const stream = this.client.makeBidiStreamRequest(
      RELAY_PATH,
      (m: RelayRequest) => Buffer.from(RelayRequest.encode(m).finish()),
      (b: Buffer) => RelayResponse.decode(b),
      metadata,
    );
    this.stream = stream;
    this.writeBlocked = false;
    stream.write({ frame: { $case: 'open', value: { sourceServerId: this.opts.sourceServerId, targetServerId: this.opts.targetServerId } } });
    stream.on('data', (res: RelayResponse) => this.acked(res.batchId));
    stream.on('error', (err: Error) => this.fail('stream_down', err.message, stream));
    stream.on('end', () => this.fail('stream_down', 'peer ended the stream', stream));
    return stream;
  }

  private renewToken(): Promise<unknown> {
    return this.opts.credentials.token().then(
      (t) => (this.token = t),
      (err: unknown) => this.opts.log.error({ err }, 'no service token for the relay'),
    );
  }

  /**
   * Fails the stream when the peer answers nothing for the ack timeout while batches wait (dead,
   * stopped, or cut off), or when its oldest batch was overtaken by an ack of a later one an ack
   * timeout ago; otherwise looks again when either could first be true. A slow ack is no verdict:
   * any ack shows the peer alive, and the window keeps what it has to get through bounded.
   * A verdict is confirmed a tenth of the timeout later: timers run before an event-loop turn
   * reads its sockets, so a sender whose own loop was stalled (2 cores shared by a whole mesh)
   * would otherwise blame the peer for acks already waiting unread.
   */
  private checkLiveness(confirming = false): void {
    this.watchdog = undefined;
    const oldest = this.inFlight.values().next().value;
    if (!oldest) return;
    const now = Date.now();
    const timeout = this.opts.ackTimeoutMs;
    const silentMs = now - Math.max(this.lastAckAtMs, oldest.sentAtMs);
    const skippedMs = oldest.overtakenAtMs === undefined ? 0 : now - oldest.overtakenAtMs;
    if (silentMs >= timeout || skippedMs >= timeout) {
      if (!confirming) {
        this.watchdog = setTimeout(() => this.checkLiveness(true), Math.ceil(timeout / 10));
        return;
      }
      if (silentMs >= timeout) return this.fail('ack_timeout', `no acknowledgement in ${silentMs} ms`);
      return this.fail('ack_timeout', `batch ${oldest.seq} unacknowledged ${skippedMs} ms after a later one was`);
    }
    const next = oldest.overtakenAtMs === undefined ? timeout - silentMs : Math.min(timeout - silentMs, timeout - skippedMs);
    this.watchdog = setTimeout(() => this.checkLiveness(), Math.max(1, next));
  }

  private acked(batchId: string): void {
    const f = this.inFlight.get(batchId);
    if (!f) return;
    const now = Date.now();
    this.lastAckAtMs = now;
    this.inFlight.delete(batchId);
    // Batches still unacknowledged ahead of this one were overtaken (usually there are none).
    for (const older of this.inFlight.values()) {
      if (older.seq > f.seq) break;
      older.overtakenAtMs ??= now;
    }
    this.failures = 0;
    this.opts.metrics.relayBatches.inc({ result: 'acked' });
    this.opts.metrics.deliveries.inc({ path: 'relay' }, deliveryRecipients(f.items));
    if (this.blocked) this.pump();
    if (this.inFlight.size === 0 && this.queue.length === 0) this.onSettled?.();
  }

  /** The stream is unusable: everything unacknowledged or queued goes to the fallback, in order. */
  private fail(reason: FallbackReason, why: string, stream = this.stream): void {
    if (stream !== this.stream) return; // an older stream's late event
    clearTimeout(this.watchdog);
    this.watchdog = undefined;
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    const pending = [...this.inFlight.values()].flatMap((f) => f.items).concat(this.queue);
    if (this.inFlight.size > 0) this.opts.metrics.relayBatches.inc({ result: 'failed' }, this.inFlight.size);
    this.inFlight.clear();
    this.queue = [];
    this.blocked = false;
    this.writeBlocked = false;
    if (this.stream) {
      this.stream = undefined;
      stream?.removeAllListeners('data');
      stream?.on('error', () => undefined);
      stream?.cancel();
    }
    if (!this.closed && (stream || pending.length > 0)) {
      this.failures++;
      this.downUntilMs = Date.now() + Math.min(this.opts.retryBackoffMs * 2 ** (this.failures - 1), this.opts.retryBackoffMs * 10);
      this.opts.log.warn({ peer: this.opts.targetServerId, address: this.opts.address, reason, why, fallback: pending.length }, 'relay stream failed; using the Kafka fallback');
    }
    this.spill.sendNow(pending, reason);
    this.onSettled?.();
  }
}
