import { mapConcurrent } from '../cassandra/map-concurrent';
import type { DeviceCursor, DeviceCursorStore } from '../history/message-store';

/** One device's positions per conversation (exact, or a hint: the newest id it acknowledged). */
export interface DeviceCursors {
  userId: string;
  deviceId: string;
  cursors: ReadonlyMap<string, DeviceCursor>;
}

/**
 * Where a chat server's AckBatcher (ack-batcher.ts) saves device positions: the HistoryService client in the
 * mesh (one SaveDeviceCursorsBatch call), {@link StoreCursorBatchWriter} over the message store in
 * `chatd`.
 *
 * Guarantees implementers keep: each device's positions keep the maximum of old and new, as in
 * DeviceCursorStore, also for a device listed twice; a call that rejects may have saved some of the
 * devices (saving them again is harmless).
 */
export interface DeviceCursorBatchWriter {
  saveDeviceCursorsBatch(devices: readonly DeviceCursors[]): Promise<void>;
}

/**
 * Devices saved in parallel by {@link StoreCursorBatchWriter}: a SQLite store runs them one after
 * another anyway; a Cassandra one (`chatd` with CHAT_STORE=cassandra) gets at most this many
 * single-partition writes in flight, as the history service does.
 */
const DEVICES_IN_FLIGHT = 32;

/** The embedded writer: one store call per device, for `chatd`, which holds the store itself. */
export class StoreCursorBatchWriter implements DeviceCursorBatchWriter {
  constructor(private readonly store: Pick<DeviceCursorStore, 'saveDeviceCursors'>) {}

  async saveDeviceCursorsBatch(devices: readonly DeviceCursors[]): Promise<void> {
    await mapConcurrent(devices, DEVICES_IN_FLIGHT, (d) => this.store.saveDeviceCursors(d.userId, d.deviceId, d.cursors));
  }
}
