/**
 * Which users a SQLite append already knows to be listed under a conversation (committed rows of
 * `user_conversations`), so it writes only the rows that are new. Without it every message of a
 * 500-member group ran 500 upserts that changed nothing. Rows are never deleted, so an entry never
 * goes stale; entries are added only after their transaction committed. Bounded by conversations,
 * the least recently used dropped first (a dropped one costs its upserts once more).
 */
export class ListedParticipants {
  private readonly byConversation = new Map<string, Set<string>>();

  constructor(private readonly maxConversations: number) {}

  /** The participants not known to be listed yet (all of them for an unknown conversation). */
  missing(conversationId: string, userIds: readonly string[]): readonly string[] {
    const known = this.byConversation.get(conversationId);
    return known === undefined ? userIds : userIds.filter((u) => !known.has(u));
  }

  /** Records rows that are now committed. */
  committed(conversationId: string, userIds: readonly string[]): void {
    let known = this.byConversation.get(conversationId);
    if (known === undefined) {
      if (this.byConversation.size >= this.maxConversations) this.byConversation.delete(this.byConversation.keys().next().value!);
      known = new Set();
    } else {
      this.byConversation.delete(conversationId); // re-inserted below: most recently used last
    }
    this.byConversation.set(conversationId, known);
    for (const u of userIds) known.add(u);
  }
}
