/**
 * Whether history already holds every message acknowledged so far. A resume asks before it reads
 * history: in the mesh a message is acknowledged once it is in the Kafka log, and the sync worker
 * writes it to Cassandra a little later, so a replay read too early would miss it silently.
 */
export interface HistoryCatchUp {
  /**
   * Resolves true once every message acknowledged before this call is readable from history, or
   * false when that was not seen within `timeoutMs` (the caller then reports a gap).
   */
  waitForHistory(timeoutMs: number): Promise<boolean>;
}

/** `chatd`: a send is acknowledged only after its history write, so history is never behind. */
export const HISTORY_WRITTEN_BEFORE_ACK: HistoryCatchUp = {
  waitForHistory: () => Promise.resolve(true),
};
