import type { Logger } from 'pino';
import { laterCursor, type DeviceCursor } from '../history/message-store';
import type { DeliveredUpTo, ReceiptService } from '../receipts/receipt-service';
import type { DeviceCursorBatchWriter } from './device-cursor-batches';

/** Options of {@link AckBatcher}; the two limits are CHAT_ settings. */
export interface AckBatcherOptions {
  cursors: DeviceCursorBatchWriter;
  receipts: Pick<ReceiptService, 'deliveredBatch'>;
  /** CHAT_ACK_FLUSH_MS: an ack is written at most this long after the first one pending. */
  flushMs: number;
  /**
   * CHAT_ACK_MAX_BATCH: devices per cursor call and watermarks per receipt call; this many devices
   * pending start a flush at once.
   */
  maxBatch: number;
  log: Logger;
}

interface PendingDevice {
  userId: string;
  deviceId: string;
  cursors: Map<string, DeviceCursor>;
  /** The newest acknowledged id per conversation: the DELIVERED watermarks (exact positions move none). */
  delivered: Map<string, bigint>;
}

/**
 * The one writer of a chat server for what its devices acknowledge. Connections hand it their
 * acks; it keeps, per device and conversation, the newest id, and per flush (every `flushMs` after
 * the first pending ack, or at once when `maxBatch` devices are pending) writes them all: device
 * cursors in one call per `maxBatch` devices, and each user's DELIVERED watermarks (the newest id
 * any of its devices here acknowledged) in one call per `maxBatch` watermarks, which also publishes
 * the DM receipts. So a flush costs a couple of RPCs whatever the number of connections, where a
 * connection each used to cost its own, and acks from several devices of one user advance (and
 * publish) a watermark once.
 *
 * One flush runs at a time (a slow history service gets one batch, not a pile of them); acks that
 * arrive meanwhile wait for the next. A failed write is logged and not retried: a lost cursor only
 * means extra replay on the next resume, a lost watermark moves with the next ack.
 *
 * Until written, positions are answered by {@link unsaved}, so a device that reconnects to this
 * server resumes exactly where it acknowledged. One that reconnects elsewhere within the flush
 * interval resumes from its saved position, up to `flushMs` behind: that replays a few messages
 * again (the resume overlap window already replays more), which clients drop by id.
 */
export class AckBatcher {
  private pending = new Map<string, PendingDevice>();
  /** Batches being written; still answered by `unsaved`. */
  private readonly writing = new Set<ReadonlyMap<string, PendingDevice>>();
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private queued?: Promise<void>;
  private closed = false;

  constructor(private readonly opts: AckBatcherOptions) {}

  /**
   * A device acknowledged messages: `delivered` maps a conversation to the newest id it received
   * there (a DELIVERED watermark, and a hint position), `held` to the id up to which it holds every
   * message (an exact position, which replaces the hint of that conversation).
   */
  add(userId: string, deviceId: string, delivered: ReadonlyMap<string, bigint>, held: ReadonlyMap<string, bigint> = new Map()): void {
    if (delivered.size === 0 && held.size === 0) return;
    const key = deviceKey(userId, deviceId);
    let device = this.pending.get(key);
    if (!device) this.pending.set(key, (device = { userId, deviceId, cursors: new Map(), delivered: new Map() }));
    for (const [conversationId, id] of delivered) {
      if ((device.delivered.get(conversationId) ?? -1n) < id) device.delivered.set(conversationId, id);
      if (!held.has(conversationId)) device.cursors.set(conversationId, laterCursor(device.cursors.get(conversationId), { messageId: id, exact: false }));
    }
    for (const [conversationId, id] of held) {
      const prev = device.cursors.get(conversationId);
      device.cursors.set(conversationId, prev?.exact ? laterCursor(prev, { messageId: id, exact: true }) : { messageId: id, exact: true });
    }
    if (this.closed || this.pending.size >= this.opts.maxBatch) void this.flush();
    else this.timer ??= setTimeout(() => void this.flush(), this.opts.flushMs).unref();
  }

  /** The positions of a device acknowledged here and not yet written, if any. */
  unsaved(userId: string, deviceId: string): Map<string, DeviceCursor> | undefined {
    const key = deviceKey(userId, deviceId);
    let out: Map<string, DeviceCursor> | undefined;
    for (const batch of [...this.writing, this.pending]) {
      const device = batch.get(key);
      if (!device) continue;
      out ??= new Map();
      for (const [conversationId, c] of device.cursors) out.set(conversationId, laterCursor(out.get(conversationId), c));
    }
    return out;
  }

  /**
   * Writes what is pending when the write starts (after the one in progress, if any). Resolves
   * once everything added before the call was written or its failure logged; never rejects.
   */
  flush(): Promise<void> {
    if (this.queued) return this.queued;
    const run: Promise<void> = (this.running ?? Promise.resolve()).then(async () => {
      this.queued = undefined;
      this.running = run;
      try {
        await this.write();
      } finally {
        if (this.running === run) this.running = undefined;
      }
    });
    this.queued = run;
    return run;
  }

  /** Stops the timer and writes everything pending (drain); later acks are written at once. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.flush();
  }

  private async write(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.pending;
    if (batch.size === 0) return;
    this.pending = new Map();
    this.writing.add(batch);
    try {
      await Promise.all([this.saveCursors([...batch.values()]), this.advanceDelivered(deliveredUpTo(batch.values()))]);
    } finally {
      this.writing.delete(batch);
    }
  }

  private async saveCursors(devices: readonly PendingDevice[]): Promise<void> {
    for (const chunk of chunks(devices, this.opts.maxBatch)) {
      try {
        await this.opts.cursors.saveDeviceCursorsBatch(chunk);
      } catch (err) {
        this.opts.log.warn({ err, devices: chunk.length }, 'saving device cursors failed; those devices will get extra replay');
      }
    }
  }

  private async advanceDelivered(upTo: readonly DeliveredUpTo[]): Promise<void> {
    for (const chunk of chunks(upTo, this.opts.maxBatch)) {
      try {
        await this.opts.receipts.deliveredBatch(chunk);
      } catch (err) {
        this.opts.log.warn({ err, watermarks: chunk.length }, 'advancing delivered receipts failed; the next acks advance them');
      }
    }
  }
}

/** Per user and conversation, the newest id any of the user's devices acknowledged. */
function deliveredUpTo(devices: Iterable<PendingDevice>): DeliveredUpTo[] {
  const byUser = new Map<string, Map<string, bigint>>();
  for (const d of devices) {
    let marks = byUser.get(d.userId);
    if (!marks) byUser.set(d.userId, (marks = new Map<string, bigint>()));
    for (const [conversationId, id] of d.delivered) if ((marks.get(conversationId) ?? -1n) < id) marks.set(conversationId, id);
  }
  const out: DeliveredUpTo[] = [];
  for (const [userId, marks] of byUser) for (const [conversationId, messageId] of marks) out.push({ conversationId, userId, messageId });
  return out;
}

function* chunks<T>(items: readonly T[], size: number): Generator<T[]> {
  for (let i = 0; i < items.length; i += size) yield items.slice(i, i + size);
}

/** Length-prefixed, so no pair of ids can spell another pair's key. */
function deviceKey(userId: string, deviceId: string): string {
  return `${userId.length}:${userId}${deviceId}`;
}
