import type { MessagePage, MessageReader, PageQuery } from '../history/message-store';

interface Waiting {
  query: PageQuery & { afterId: bigint };
  resolve: (page: MessagePage) => void;
  reject: (err: unknown) => void;
}

interface Conversation {
  queued: Waiting[];
  reading: boolean;
}

/**
 * Forward page reads (`afterId`) of one conversation share history reads: while one is being
 * read, the next ones queue, and the queue is then read once, from the earliest position with the
 * largest limit, and each gets its own slice. A reconnect storm, where every member device of a
 * group resumes the same conversation from nearby positions, then costs a read per round trip of
 * history, not one per device. Backward pages and conversation lists pass through.
 *
 * A slice is exact: the messages after its position, up to its limit, `hasMore` as the store would
 * answer. When the shared page ends before a slice is full and history has more (a position far
 * ahead of the earliest), that query is read on its own.
 */
export class SharedForwardPages implements Pick<MessageReader, 'listMessages' | 'listConversations'> {
  private readonly conversations = new Map<string, Conversation>();

  constructor(private readonly reader: Pick<MessageReader, 'listMessages' | 'listConversations'>) {}

  listConversations(...args: Parameters<MessageReader['listConversations']>): ReturnType<MessageReader['listConversations']> {
    return this.reader.listConversations(...args);
  }

  listMessages(query: PageQuery): Promise<MessagePage> {
    const { afterId } = query;
    if (afterId === undefined || query.beforeId !== undefined) return this.reader.listMessages(query);
    return new Promise<MessagePage>((resolve, reject) => {
      let c = this.conversations.get(query.conversationId);
      if (!c) this.conversations.set(query.conversationId, (c = { queued: [], reading: false }));
      c.queued.push({ query: { ...query, afterId }, resolve, reject });
      if (!c.reading) void this.read(query.conversationId, c);
    });
  }

  private async read(conversationId: string, c: Conversation): Promise<void> {
    c.reading = true;
    try {
      while (c.queued.length > 0) {
        const batch = c.queued;
        c.queued = [];
        await this.serve(conversationId, batch);
      }
    } finally {
      c.reading = false;
      this.conversations.delete(conversationId);
    }
  }

  private async serve(conversationId: string, batch: Waiting[]): Promise<void> {
    if (batch.length === 1) {
      const [w] = batch;
      await this.reader.listMessages(w.query).then(w.resolve, w.reject);
      return;
    }
    let from = batch[0].query.afterId;
    let limit = 0;
    for (const w of batch) {
      if (w.query.afterId < from) from = w.query.afterId;
      limit = Math.max(limit, w.query.limit);
    }
    let page: MessagePage;
    try {
      page = await this.reader.listMessages({ conversationId, afterId: from, limit });
    } catch (err) {
      for (const w of batch) w.reject(err);
      return;
    }
    const alone: Promise<void>[] = [];
    for (const w of batch) {
      const after = page.messages.filter((m) => BigInt(m.messageId) > w.query.afterId);
      if (after.length > w.query.limit) w.resolve({ messages: after.slice(0, w.query.limit), hasMore: true });
      else if (after.length === w.query.limit || !page.hasMore) w.resolve({ messages: after, hasMore: page.hasMore });
      else alone.push(this.reader.listMessages(w.query).then(w.resolve, w.reject));
    }
    await Promise.all(alone);
  }
}
