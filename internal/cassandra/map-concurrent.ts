/**
 * Maps `items` through `fn` with at most `limit` calls in flight, keeping the input order. For
 * fan-out reads and writes against Cassandra, where one call per key is the efficient access
 * path but thousands at once would overrun a connection's in-flight request limit.
 * Rejects with the first failure and starts no further calls after it.
 */
export async function mapConcurrent<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  let failed = false;
  const worker = async (): Promise<void> => {
    while (!failed && next < items.length) {
      const i = next++;
      try {
        results[i] = await fn(items[i]);
      } catch (err) {
        failed = true;
        throw err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return results;
}
