import { dmConversationId } from '../../internal/conversation/conversation-id';
import { ChatClientError } from '../../internal/client/chat-client-error';

/**
 * The conversation a command argument names: an argument containing ':' is a conversation id
 * (`dm:<a>:<b>` or `g:<group_id>`) taken as is; anything else is a user id, meaning the DM between
 * `selfId` and that user.
 */
export function conversationTarget(arg: string, selfId: string): string {
  if (arg.includes(':')) return arg;
  if (arg === selfId) throw new ChatClientError('invalid_argument', 'a DM needs another user than yourself');
  return dmConversationId(selfId, arg);
}
