import type { ServerDuplexStream, UntypedServiceImplementation } from '@grpc/grpc-js';
import pino from 'pino';
import type { EphemeralEvent } from '../../../gen/chat/v1/ephemeral';
import type { ConnectResponse } from '../../../gen/chat/v1/gateway';
import type { ChatMessage, UserPresence } from '../../../gen/chat/v1/message';
import { RelayServiceService, type RelayBatch, type RelayDelivery, type RelayRequest, type RelayResponse } from '../../../gen/chat/v1/relay';
import { TokenVerifier } from '../../auth/token-verifier';
import { MemoryBus } from '../../bus/bus-memory';
import { pushEphemeral } from '../../ephemeral/ephemeral-events';
import { ConnectionRegistry, type RegisteredConnection } from '../../gateway/connection-registry';
import { startGrpcServer, type RunningGrpcServer } from '../../rpc/grpc-server';
import { MintedServiceToken } from '../../rpc/service-token';
import { ChatMetrics } from '../../telemetry/metrics';
import { parseMetrics, sampleValue } from '../../telemetry/metrics-parse';
import { DeliveryFallback } from '../delivery-fallback';
import { pushDeliveries } from '../local-push';
import { isDelivery, type RelayItem } from '../relay-item';
import type { RelayTuning } from '../relay-peer';
import { RelayRouter } from '../relay-router';
import { relayServiceImplementation, type RelayServerOptions } from '../relay-server';
import type { ServerInbox } from '../server-inbox';

/**
 * Both ends of the relay for its tests: a sending chat server ('a': RelayRouter, DeliveryFallback
 * on an in-process bus), receiving chat servers on real gRPC servers (port 0) pushing to a
 * ConnectionRegistry of recording devices, and peers that misbehave on purpose.
 */

export const SECRET = 'relay-spec-secret-0123456789abcdefghij';
export const log = pino({ level: 'silent' });
const servers: RunningGrpcServer[] = [];

/** Closes every receiver started so far (call it from the spec's `after`). */
export async function closeReceivers(): Promise<void> {
  await Promise.all(servers.splice(0).map((s) => s.close()));
}

/** A device that records what it is pushed: message ids, and who typed for typing frames. */
export class Device implements RegisteredConnection {
  readonly got: string[] = [];
  readonly typing: string[] = [];
  constructor(
    readonly userId: string,
    readonly sessionId: string,
  ) {}
  pushMessage(m: ChatMessage): void {
    this.got.push(m.messageId);
  }
  pushPresence(_p: UserPresence): void {}
  pushEphemeral(f: ConnectResponse): void {
    if (f.frame?.$case === 'typing') this.typing.push(f.frame.value.userId);
  }
}

let id = 1000;
export const delivery = (to: string, text = 'x'): RelayDelivery => ({
  message: { messageId: String(++id), conversationId: 'dm:a:b', senderId: 'a', clientMsgId: `c${id}`, text, createdAt: new Date(), seq: String(id), epoch: '1' },
  recipientUserIds: [to],
  excludeSessionId: '',
  traceContext: {},
});
export const ids = (ds: readonly RelayDelivery[]) => ds.map((d) => d.message!.messageId);
/** A typing event; each is typed by a user of its own, so that the order of arrival shows. */
export const typing = (to: string[], excludeSessionId = ''): EphemeralEvent => ({ recipientIds: to, excludeSessionId, event: { $case: 'typing', value: { conversationId: 'dm:a:b', userId: `typer${++id}` } } });
export const typers = (es: readonly EphemeralEvent[]) => es.map((e) => (e.event?.$case === 'typing' ? e.event.value.userId : '?'));
/** `items` split by kind: the message ids of the deliveries, the typers of the events. */
export const byKind = (items: readonly RelayItem[]) => ({ messages: ids(items.filter(isDelivery)), typers: typers(items.filter((i): i is EphemeralEvent => !isDelivery(i))) });

/** An inbox that records what reaches it, in order per kind. */
export function recordingInbox() {
  const got = { arrived: [] as string[], typers: [] as string[], events: [] as EphemeralEvent[], presences: [] as UserPresence[], connectionsChanged: [] as string[], calls: 0 };
  const inbox: ServerInbox = {
    deliveries: (ds) => void (got.calls++, got.arrived.push(...ids(ds))),
    events: (es) => void (got.calls++, got.events.push(...es), got.typers.push(...typers(es))),
    presences: (ps) => void (got.calls++, got.presences.push(...ps)),
    connectionsChanged: (us) => void (got.calls++, got.connectionsChanged.push(...us)),
  };
  return { inbox, got };
}

export const TUNING: RelayTuning = { flushMs: 5, maxBatch: 256, maxInFlight: 4, maxQueued: 4096, ackTimeoutMs: 300, retryBackoffMs: 100 };

export function sender(opts: { bus?: MemoryBus; enabled?: boolean; tuning?: Partial<RelayTuning> } = {}) {
  const bus = opts.bus ?? new MemoryBus(log);
  const metrics = new ChatMetrics({ service: 'chat-server', instance: 'a', processMetrics: false });
  const fallback = new DeliveryFallback({ bus, metrics, log, publishTimeoutMs: 1_000 });
  const tuning = { ...TUNING, ...opts.tuning };
  const credentials = new MintedServiceToken(SECRET, 'chat-server-a');
  const router = new RelayRouter({ serverId: 'a', enabled: opts.enabled ?? true, credentials, fallback, metrics, log, ...tuning });
  const value = async (key: string) => sampleValue(parseMetrics(await metrics.text()), key);
  /** What the fallback carried to `serverId`, in the order its topic holds it (per kind). */
  const viaFallback = async (serverId: string) => {
    const { inbox, got } = recordingInbox();
    const sub = fallback.consume(serverId, inbox);
    await sub.ready;
    return { arrived: got.arrived, typers: got.typers, events: got.events, close: () => sub.close() };
  };
  return { bus, router, fallback, metrics, value, viaFallback, credentials, tuning };
}

export async function receiver(serverId: string, implementation: (opts: RelayServerOptions) => UntypedServiceImplementation = relayServiceImplementation) {
  const registry = new ConnectionRegistry();
  const verifier = await TokenVerifier.create({ algorithms: ['HS256'], secret: SECRET, clockToleranceSec: 5 });
  const metrics = new ChatMetrics({ service: 'chat-server', instance: serverId, processMetrics: false });
  // As a chat server wires its inbox (cmd/chat-server): pushed to the registry's connections.
  const inbox: ServerInbox = {
    deliveries: (ds, path) => pushDeliveries(registry, metrics, path, ds),
    events: (es) => pushEphemeral(registry, es),
    presences: (ps) => ps.forEach((p) => registry.publishPresence(p)),
    connectionsChanged: () => undefined,
  };
  const server = await startGrpcServer({ host: '127.0.0.1', port: 0, maxMessageBytes: 4 << 20, services: [{ definition: RelayServiceService, name: 'chat.v1.RelayService', implementation: implementation({ serverId, verifier, inbox, log }) }] });
  servers.push(server);
  return { registry, server, address: `127.0.0.1:${server.port}` };
}

/** A peer that acknowledges batch n (counted from 1) after `delayMs(n)`, or never when that is undefined. */
export const lagging = (delayMs: (n: number) => number | undefined) => () => ({
  relay: (call: ServerDuplexStream<RelayRequest, RelayResponse>) => {
    let n = 0;
    call.on('data', (req: RelayRequest) => {
      if (req.frame?.$case !== 'batch') return;
      const batchId = req.frame.value.batchId;
      const delay = delayMs(++n);
      if (delay !== undefined) setTimeout(() => call.write({ batchId }), delay);
    });
  },
});

/**
 * A live but busy peer: it works on one batch at a time, `perBatchMs` each, records the messages
 * in `got`, then acknowledges; `onBatch` sees each batch as it arrives.
 */
export const busy = (perBatchMs: number, got: string[], onBatch?: (b: RelayBatch) => void) => () => ({
  relay: (call: ServerDuplexStream<RelayRequest, RelayResponse>) => {
    const backlog: RelayBatch[] = [];
    let working = false;
    const next = () => {
      const batch = backlog.shift();
      working = batch !== undefined;
      if (!batch) return;
      setTimeout(() => {
        got.push(...ids(batch.deliveries));
        call.write({ batchId: batch.batchId });
        next();
      }, perBatchMs);
    };
    call.on('data', (req: RelayRequest) => {
      if (req.frame?.$case !== 'batch') return;
      onBatch?.(req.frame.value);
      backlog.push(req.frame.value);
      if (!working) next();
    });
  },
});
