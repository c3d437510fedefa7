interface Interest {
  /** Server id -> expiry ms. */
  servers: Map<string, number>;
  /** The latest expiry of `servers`: the user's entry is wholly lapsed at this time. */
  untilMs: number;
}

/**
 * Per user, the chat servers interested in it until an expiry (the memory half of the
 * SessionStore's presence watchers and locators). The map is kept in the order of the latest add
 * per user, so with one TTL per kind the first users are the first to lapse: {@link prune} stops
 * at the first live one and costs what it removes, not the number of users.
 */
export class MemoryServerInterest {
  private readonly byUser = new Map<string, Interest>();

  add(serverId: string, userIds: readonly string[], nowMs: number, ttlMs: number): void {
    const expiry = nowMs + ttlMs;
    for (const userId of userIds) {
      const interest = this.byUser.get(userId) ?? { servers: new Map<string, number>(), untilMs: 0 };
      interest.servers.set(serverId, Math.max(interest.servers.get(serverId) ?? 0, expiry));
      interest.untilMs = Math.max(interest.untilMs, expiry);
      // Re-inserted at the end: the order of the map is the order of the latest adds.
      this.byUser.delete(userId);
      this.byUser.set(userId, interest);
    }
  }

  /** The servers whose entry for the user has not lapsed at `nowMs`. */
  live(userId: string, nowMs: number): string[] {
    const out: string[] = [];
    for (const [serverId, expiry] of this.byUser.get(userId)?.servers ?? []) if (expiry > nowMs) out.push(serverId);
    return out;
  }

  /**
   * Forgets users whose every entry lapsed by `nowMs`, from the oldest add on, stopping at the
   * first user still live (with mixed TTLs a lapsed user behind it waits for a later prune; reads
   * never return it anyway).
   */
  prune(nowMs: number): void {
    for (const [userId, interest] of this.byUser) {
      if (interest.untilMs > nowMs) return;
      this.byUser.delete(userId);
    }
  }

  /** Users remembered (live or not yet pruned); for tests. */
  get size(): number {
    return this.byUser.size;
  }
}
