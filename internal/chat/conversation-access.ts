import type { Principal } from '../auth/principal';
import { dmConversationId, parseConversationId } from '../conversation/conversation-id';
import { ChatError } from '../errors/chat-error';
import type { GroupService } from '../group/group-service';
import type { ConversationIndex } from '../history/message-store';

/**
 * The group reads access needs: the GroupService itself in `chatd` and the group service, the
 * GroupService client in chat servers.
 */
export type GroupDirectory = Pick<GroupService, 'membersForSend' | 'checkMember' | 'usersSharingAGroup'>;

/**
 * Who may read and write a conversation: the two users of a DM, the members of a group. Services
 * may read any conversation. Also the presence visibility rule: users see each other's presence
 * when they share a conversation (a common group, or a DM with at least one message).
 */
export class ConversationAccess {
  constructor(
    private readonly groups: GroupDirectory,
    private readonly conversations: ConversationIndex,
  ) {}

  /** The participants of a conversation the caller may use; throws PERMISSION_DENIED otherwise. */
  async participants(caller: Principal, conversationId: string): Promise<string[]> {
    const ref = parseConversationId(conversationId);
    if (ref.kind === 'dm') {
      if (caller.kind !== 'service' && !ref.members.includes(caller.id)) {
        throw ChatError.permissionDenied(`not a participant of ${conversationId}`);
      }
      return [...ref.members];
    }
    return this.groups.membersForSend(caller.kind === 'service' ? undefined : caller.id, ref.groupId);
  }

  /**
   * Throws PERMISSION_DENIED unless the caller may read the conversation (NOT_FOUND for an unknown
   * group), as {@link participants} would, without the member list: a user's group read is one
   * membership check. Services may read any existing conversation.
   */
  async checkRead(caller: Principal, conversationId: string): Promise<void> {
    const ref = parseConversationId(conversationId);
    if (ref.kind === 'group' && caller.kind !== 'service') await this.groups.checkMember(caller.id, ref.groupId);
    else await this.participants(caller, conversationId);
  }

  async canSeePresence(viewer: string, target: string): Promise<boolean> {
    return (await this.visiblePresences(viewer, [target])).has(target);
  }

  /**
   * Which of `targets` the viewer may see the presence of: its DM partners (asked per target, the
   * index remembers the yeses) and then, among the rest, those in a group with it.
   */
  async visiblePresences(viewer: string, targets: readonly string[]): Promise<Set<string>> {
    const inDm = await Promise.all(targets.map((t) => (t === viewer ? Promise.resolve(true) : this.conversations.hasConversation(viewer, dmConversationId(viewer, t)))));
    const visible = new Set(targets.filter((_, i) => inDm[i]));
    const rest = targets.filter((_, i) => !inDm[i]);
    for (const u of await this.groups.usersSharingAGroup(viewer, rest)) visible.add(u);
    return visible;
  }
}
