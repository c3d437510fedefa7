/**
 * Runs synchronous driver work as a promise, so the ports stay async (the Cassandra adapters are)
 * and a thrown error becomes a rejection rather than a synchronous throw from an async API.
 */
export function settle<T>(work: () => T): Promise<T> {
  try {
    return Promise.resolve(work());
  } catch (err) {
    return Promise.reject(err instanceof Error ? err : new Error(String(err)));
  }
}
