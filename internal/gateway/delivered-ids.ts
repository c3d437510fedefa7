/**
 * The conversation of each message recently pushed to one connection, so that an `ack` (which
 * names only message ids) can advance the right per-conversation resume position. Bounded: the
 * oldest entries are forgotten first, and an ack of a forgotten id only means more replay later.
 */
export class DeliveredIds {
  private readonly map = new Map<string, string>();

  constructor(private readonly capacity: number) {}

  remember(messageId: string, conversationId: string): void {
    this.map.set(messageId, conversationId);
    if (this.map.size > this.capacity) this.map.delete(this.map.keys().next().value!);
  }

  conversationOf(messageId: string): string | undefined {
    return this.map.get(messageId);
  }
}
