/**
 * A map from a key to a short list of values: a user's connections or sessions, never more than
 * CHAT_MAX_CONNECTIONS_PER_USER. A one-element array costs about a third of a one-element Set's
 * heap, which counts when most of 20,000 users have a single connection, and iterating it
 * allocates nothing. Changes copy the list, so a loop over `get(key)` is not disturbed when the
 * loop's own work removes or adds a value (a delivery that closes a slow connection). Changes are
 * linear: use a Set for lists that can grow long.
 */
export class KeyedLists<K, V> {
  private readonly lists = new Map<K, V[]>();

  add(key: K, value: V): void {
    const list = this.lists.get(key);
    if (!list) this.lists.set(key, [value]);
    else if (!list.includes(value)) this.lists.set(key, [...list, value]);
  }

  /** Removes the value; a key left with none is dropped. Returns how many values the key still has. */
  remove(key: K, value: V): number {
    const list = this.lists.get(key);
    if (!list) return 0;
    if (!list.includes(value)) return list.length;
    const left = list.filter((v) => v !== value);
    if (left.length === 0) this.lists.delete(key);
    else this.lists.set(key, left);
    return left.length;
  }

  get(key: K): readonly V[] {
    return this.lists.get(key) ?? NONE;
  }

  values(): IterableIterator<readonly V[]> {
    return this.lists.values();
  }
}

const NONE: readonly never[] = Object.freeze([]);
