/**
 * The conversation of each message recently pushed to one connection, so that an `ack` (which
 * names only message ids) can advance the right per-conversation resume position, and so that a
 * message reaching the connection twice (relay and fallback, a retry delivered again, live and in
 * its replay) is pushed once while it is noted. Bounded: the
 * oldest entries are forgotten first, and an ack of a forgotten id only means more replay later.
 * Acked ids are dropped at once, so a client that acks keeps the map small.
 *
 * The order of arrival is kept in a ring of ids, not read back from the Map: evicting with
 * `map.keys().next()` walks over every entry deleted before it, which made each delivery to a
 * connection past its capacity cost 6 µs instead of 0.3.
 */
export class DeliveredIds {
  private readonly map = new Map<string, string>();
  private readonly ring: string[] = [];
  private next = 0;

  constructor(private readonly capacity: number) {}

  /** Notes a message pushed to the connection; false when it is still noted (pushed before, not acked since). */
  remember(messageId: string, conversationId: string): boolean {
    if (this.map.has(messageId)) return false; // pushed live and replayed: it keeps its first place
    if (this.ring.length < this.capacity) this.ring.push(messageId);
    else {
      this.map.delete(this.ring[this.next]);
      this.ring[this.next] = messageId;
      this.next = (this.next + 1) % this.capacity;
    }
    this.map.set(messageId, conversationId);
    return true;
  }

  /** The conversation of a delivered message, forgotten once asked for: an ack is needed once. */
  take(messageId: string): string | undefined {
    const conversationId = this.map.get(messageId);
    if (conversationId !== undefined) this.map.delete(messageId);
    return conversationId;
  }
}
