import type { Principal } from '../auth/principal';
import type { ConversationAccess } from '../chat/conversation-access';
import type { EphemeralPublisher } from '../ephemeral/ephemeral-publisher';

export interface TypingServiceOptions {
  access: ConversationAccess;
  ephemeral: EphemeralPublisher;
  /** Groups with more members than this get no typing indicators (CHAT_TYPING_MAX_GROUP_SIZE). */
  maxGroupSize: number;
}

/**
 * Typing indicators: authorized like a send, never stored, pushed to the other participants'
 * devices wherever they are connected (EphemeralPublisher). Rate limits are per connection (the
 * gateway's).
 */
export class TypingService {
  constructor(private readonly opts: TypingServiceOptions) {}

  /**
   * Tells the other participants that `user` is typing. Throws INVALID_ARGUMENT for a bad
   * conversation id and PERMISSION_DENIED for a non-participant; in a group above the size limit
   * it does nothing. Rejects when the recipients cannot be located.
   */
  async typing(user: Principal, conversationId: string, originSessionId: string): Promise<void> {
    const participants = await this.opts.access.participants(user, conversationId);
    if (participants.length > this.opts.maxGroupSize) return;
    await this.opts.ephemeral.publish(conversationId, {
      recipientIds: participants.filter((u) => u !== user.id),
      excludeSessionId: originSessionId,
      event: { $case: 'typing', value: { conversationId, userId: user.id } },
    });
  }
}
