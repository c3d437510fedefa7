import { html } from 'htm/preact';
import { useEffect, useState } from 'preact/hooks';
import type { GroupMember } from '../../../gen/chat/v1/group';
import type { ConversationState } from '../app-state';
import type { ChatController } from '../chat-controller';
import { isOnline, parseUserIds, presenceText } from '../format';

/** The members of the open group: add (admins), remove (admins), leave. */
export function MembersPanel({ chat, conv }: { chat: ChatController; conv: ConversationState }) {
  const [members, setMembers] = useState<GroupMember[] | undefined>(undefined);
  const [adding, setAdding] = useState('');
  const groupId = conv.groupId ?? '';
  const reload = async () => {
    try {
      const list = await chat.members(groupId);
      setMembers(list);
      chat.watchPresence(list.map((m) => m.userId));
    } catch (err) {
      chat.fail(err);
    }
  };
  useEffect(() => void reload(), [groupId]);
  const add = async (e: Event) => {
    e.preventDefault();
    if (await chat.addMembers(groupId, parseUserIds(adding))) {
      setAdding('');
      await reload();
    }
  };
  const remove = async (userId: string) => {
    if ((await chat.removeMember(groupId, userId)) && userId !== chat.me) await reload();
  };
  const presence = chat.store.state.presence;
  return html`
    <section class="members" aria-label="Group members" onKeyDown=${(e: KeyboardEvent) => e.key === 'Escape' && chat.toggleMembers(false)}>
      <h3>Members ${members ? html`<span>(${members.length})</span>` : null}</h3>
      <ul>
        ${(members ?? []).map((m) => html`<li key=${m.userId}>
          <span class=${`dot ${isOnline(presence.get(m.userId)) ? 'online' : 'offline'}`} aria-hidden="true"></span>
          <span>${m.userId}${m.userId === chat.me ? ' (you)' : ''}</span>
          <span class="subtitle">${presenceText(presence.get(m.userId))}</span>
          <button type="button" class="link-button" onClick=${() => void remove(m.userId)}>${m.userId === chat.me ? 'Leave' : 'Remove'}</button>
        </li>`)}
      </ul>
      <form class="row" onSubmit=${add} aria-label="Add members">
        <label class="visually-hidden" for="add-members">User ids to add</label>
        <input id="add-members" placeholder="User ids to add" required value=${adding} onInput=${(e: Event) => setAdding((e.target as HTMLInputElement).value)} />
        <button type="submit">Add</button>
      </form>
    </section>
  `;
}
