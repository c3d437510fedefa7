import type { ChatMessage } from '../../gen/chat/v1/message';
import { parseConversationId } from '../conversation/conversation-id';
import type { ConversationIndex } from '../history/message-store';
import type { Delivery } from './delivery';

export interface KnownConversationsOptions {
  /** (user, DM) pairs remembered at most (CHAT_CONVERSATION_CACHE_ENTRIES); 0 remembers none. */
  maxEntries: number;
}

/**
 * A {@link ConversationIndex} that remembers its yeses. The presence visibility rule asks whether
 * a DM between two users has a message, on every subscription and on every presence change a
 * watcher is sent; in the mesh each ask is an RPC to the history service and a Cassandra read. A DM
 * never stops existing once it has a message, so a yes never goes stale and is kept (least
 * recently used out first); a no is always asked again.
 *
 * It also learns from the message flow ({@link noteMessage}): a DM message accepted or delivered
 * here makes the DM known for both users at once, before the sync worker has written it to
 * history, so subscribing to the presence of the user one has just written to works at once.
 */
export class KnownConversations implements ConversationIndex {
  private readonly known = new Set<string>();

  constructor(
    private readonly index: ConversationIndex,
    private readonly opts: KnownConversationsOptions,
  ) {}

  async hasConversation(userId: string, conversationId: string): Promise<boolean> {
    const key = keyOf(userId, conversationId);
    if (this.known.delete(key)) {
      this.known.add(key);
      return true;
    }
    const yes = await this.index.hasConversation(userId, conversationId);
    if (yes) this.remember(key);
    return yes;
  }

  /** A message accepted into the log or delivered from it: a DM's two users both have it. */
  noteMessage(message: Pick<ChatMessage, 'conversationId'> | undefined): void {
    if (!message?.conversationId.startsWith('dm:')) return;
    let members: readonly string[];
    try {
      const ref = parseConversationId(message.conversationId);
      if (ref.kind !== 'dm') return;
      members = ref.members;
    } catch {
      return; // not a DM id this server would accept; nothing to learn
    }
    for (const u of members) this.remember(keyOf(u, message.conversationId));
  }

  get size(): number {
    return this.known.size;
  }

  private remember(key: string): void {
    if (this.opts.maxEntries === 0) return;
    this.known.delete(key);
    this.known.add(key);
    for (const k of this.known) {
      if (this.known.size <= this.opts.maxEntries) return;
      this.known.delete(k);
    }
  }
}

/** A Delivery that tells `known` of every message it is handed (the messages a server accepts). */
export function notingDelivery(known: Pick<KnownConversations, 'noteMessage'>, delivery: Delivery): Delivery {
  return {
    deliver(message, recipientIds, excludeSessionId) {
      known.noteMessage(message);
      delivery.deliver(message, recipientIds, excludeSessionId);
    },
  };
}

function keyOf(userId: string, conversationId: string): string {
  return `${userId}\u0000${conversationId}`;
}
