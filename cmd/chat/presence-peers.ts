import type { ChatApi } from '../../internal/client/chat-api';

/** At most this many conversation-list pages are read looking for DM peers. */
const MAX_CONVERSATION_PAGES = 10;

/**
 * The users whose presence a terminal user wants to see: the peers of its DMs (most recent first,
 * from ListConversations), then the members of its groups (ListUserGroups + ListMembers), without
 * itself and without duplicates, at most `cap`.
 */
export async function presencePeers(api: ChatApi, selfId: string, cap: number): Promise<string[]> {
  const peers = new Set<string>();
  const add = (userId: string | undefined): void => {
    if (userId && userId !== selfId && peers.size < cap) peers.add(userId);
  };
  let before = '0';
  for (let page = 0; page < MAX_CONVERSATION_PAGES && peers.size < cap; page += 1) {
    const res = await api.listConversations({ beforeMessageId: before });
    for (const c of res.conversations) {
      if (!c.conversationId.startsWith('dm:')) continue;
      const [a, b] = c.conversationId.slice(3).split(':');
      add(a === selfId ? b : a);
    }
    const last = res.conversations.at(-1)?.lastMessage;
    if (!res.hasMore || !last) break;
    before = last.messageId;
  }
  for (const group of peers.size < cap ? await api.listUserGroups() : []) {
    if (peers.size >= cap) break;
    for (const member of await api.listMembers(group.groupId)) add(member.userId);
  }
  return [...peers];
}
