import { Client, Metadata, type ClientDuplexStream } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { RelayRequest, RelayResponse, RelayServiceDefinition, type RelayDelivery } from '../../gen/chat/v1/relay';
import { channelOptions } from '../rpc/grpc-client';
import { grpcChannelCredentials, type GrpcTls } from '../rpc/grpc-tls';
import type { ServiceCredentials } from '../rpc/service-token';
import type { ChatMetrics, FallbackReason } from '../telemetry/metrics';
import type { DeliveryFallback } from './delivery-fallback';

export interface RelayTuning {
  /** A batch leaves after this long even when not full. */
  flushMs: number;
  /** Deliveries per batch at most; a full batch leaves at once. */
  maxBatch: number;
  /**
   * A stream that acknowledges nothing for this long while batches wait (or leaves one batch
   * unacknowledged for {@link MAX_ACK_WAIT_FACTOR} times this long) is failed: its batches go to
   * the fallback, and the stream is reopened after the backoff.
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

interface InFlight {
  deliveries: RelayDelivery[];
  sentAtMs: number;
}

/**
 * A peer that is behind but still acknowledging keeps its stream up to this many ack timeouts per
 * batch. Failing it sooner would not deliver sooner: the fallback lands on the same busy peer,
 * through Kafka, at about three times the CPU, and a relay that fails on lateness alone turns a
 * busy mesh into one that runs on the fallback (94 % of DM deliveries at half load, measured).
 */
export const MAX_ACK_WAIT_FACTOR = 10;

const RELAY_PATH = `/${RelayServiceDefinition.fullName}/${RelayServiceDefinition.methods.relay.name}`;

/**
 * The relay to one peer chat server: one long-lived bidi stream, opened on first use, carrying
 * batches that fill for at most `flushMs` or up to `maxBatch` deliveries. Every batch is either
 * acknowledged by the peer or handed to the Kafka fallback (ack timeout, stream error, stream
 * down), never dropped; after a failure the stream is reopened on demand after a backoff.
 */
export class RelayPeer {
  private readonly client: Client;
  private stream?: ClientDuplexStream<RelayRequest, RelayResponse>;
  private queue: RelayDelivery[] = [];
  private flushTimer?: NodeJS.Timeout;
  /** Unacknowledged batches in send order (a Map iterates in insertion order). */
  private readonly inFlight = new Map<string, InFlight>();
  private lastAckAtMs = 0;
  private watchdog?: NodeJS.Timeout;
  private nextBatchId = 0n;
  private downUntilMs = 0;
  private failures = 0;
  private closed = false;
  /** The service token for the next stream; renewed whenever a stream opens. */
  private token?: string;
  private tokenReady: Promise<unknown>;

  constructor(private readonly opts: RelayPeerOptions) {
    this.client = new Client(opts.address, grpcChannelCredentials(opts.tls), channelOptions(RelayServiceDefinition.fullName, { maxAttempts: 1 }));
    this.tokenReady = this.renewToken();
  }

  get address(): string {
    return this.opts.address;
  }

  send(delivery: RelayDelivery): void {
    if (this.closed || Date.now() < this.downUntilMs) {
      void this.opts.fallback.send(this.opts.targetServerId, [delivery], 'stream_down');
      return;
    }
    this.queue.push(delivery);
    if (this.queue.length >= this.opts.maxBatch) this.flush();
    else this.flushTimer ??= setTimeout(() => this.flush(), this.opts.flushMs);
  }

  /** Sends what is queued, waits (bounded by the ack timeout) for acks, then closes the stream. */
  async close(): Promise<void> {
    this.flush();
    this.closed = true;
    const deadline = Date.now() + this.opts.ackTimeoutMs;
    while (this.inFlight.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    this.fail('stream_down', 'closing');
    this.client.close();
  }

  private flush(): void {
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    if (this.queue.length === 0) return;
    if (this.token === undefined) {
      void this.tokenReady.then(() => this.flush());
      return;
    }
    const deliveries = this.queue;
    this.queue = [];
    const batchId = (++this.nextBatchId).toString();
    this.inFlight.set(batchId, { deliveries, sentAtMs: Date.now() });
    this.watchdog ??= setTimeout(() => this.checkAcks(), this.opts.ackTimeoutMs);
    this.opts.metrics.relayBatchMessages.observe(deliveries.length);
    this.openStream().write({ frame: { $case: 'batch', value: { batchId, deliveries } } });
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
   * Fails the stream when the peer has acknowledged nothing for the ack timeout while the oldest
   * batch waited at least that long (dead, stopped, or cut off), or when the oldest batch waited
   * MAX_ACK_WAIT_FACTOR ack timeouts; otherwise looks again when either could first be true.
   * A verdict is confirmed a tenth of the timeout later: timers run before an event-loop turn
   * reads its sockets, so a sender whose own loop was stalled (2 cores shared by a whole mesh)
   * would otherwise blame the peer for acks already waiting unread.
   */
  private checkAcks(confirming = false): void {
    this.watchdog = undefined;
    const oldest = this.inFlight.values().next().value;
    if (!oldest) return;
    const now = Date.now();
    const timeout = this.opts.ackTimeoutMs;
    const silentMs = now - Math.max(this.lastAckAtMs, oldest.sentAtMs);
    const waitedMs = now - oldest.sentAtMs;
    const overdue = silentMs >= timeout || waitedMs >= timeout * MAX_ACK_WAIT_FACTOR;
    if (overdue && !confirming) {
      this.watchdog = setTimeout(() => this.checkAcks(true), Math.ceil(timeout / 10));
      return;
    }
    if (silentMs >= timeout) return this.fail('ack_timeout', `no acknowledgement in ${silentMs} ms`);
    if (waitedMs >= timeout * MAX_ACK_WAIT_FACTOR) return this.fail('ack_timeout', `a batch waited ${waitedMs} ms while the peer acknowledged others`);
    this.watchdog = setTimeout(() => this.checkAcks(), Math.max(1, Math.min(timeout - silentMs, timeout * MAX_ACK_WAIT_FACTOR - waitedMs)));
  }

  private acked(batchId: string): void {
    const f = this.inFlight.get(batchId);
    if (!f) return;
    this.lastAckAtMs = Date.now();
    this.inFlight.delete(batchId);
    this.failures = 0;
    this.opts.metrics.relayBatches.inc({ result: 'acked' });
    this.opts.metrics.deliveries.inc({ path: 'relay' }, f.deliveries.reduce((n, d) => n + d.recipientUserIds.length, 0));
  }

  /** The stream is unusable: everything unacknowledged or queued goes to the fallback. */
  private fail(reason: FallbackReason, why: string, stream = this.stream): void {
    if (stream !== this.stream) return; // an older stream's late event
    clearTimeout(this.watchdog);
    this.watchdog = undefined;
    const pending = [...this.inFlight.values()].flatMap((f) => f.deliveries);
    if (this.inFlight.size > 0) this.opts.metrics.relayBatches.inc({ result: 'failed' }, this.inFlight.size);
    this.inFlight.clear();
    pending.push(...this.queue);
    this.queue = [];
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    if (this.stream) {
      this.stream = undefined;
      stream?.removeAllListeners('data');
      stream?.on('error', () => undefined);
      stream?.cancel();
      if (!this.closed) {
        this.failures++;
        this.downUntilMs = Date.now() + Math.min(this.opts.retryBackoffMs * 2 ** (this.failures - 1), this.opts.retryBackoffMs * 10);
        this.opts.log.warn({ peer: this.opts.targetServerId, address: this.opts.address, reason, why, fallback: pending.length }, 'relay stream failed; using the Kafka fallback');
      }
    }
    if (pending.length > 0) void this.opts.fallback.send(this.opts.targetServerId, pending, reason);
  }
}
