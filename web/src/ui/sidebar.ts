import { html } from 'htm/preact';
import { useState } from 'preact/hooks';
import { compareIds, type ConversationState } from '../app-state';
import type { ChatController } from '../chat-controller';
import { isOnline, parseUserIds, presenceText, shortTime } from '../format';

/** Who is signed in, the forms to start a DM or a group, and the conversation list. */
export function Sidebar({ chat }: { chat: ChatController }) {
  const s = chat.store.state;
  const conversations = [...s.conversations.values()].sort(byNewest);
  return html`
    <nav class="sidebar" aria-label="Conversations">
      <header class="me">
        <span>Signed in as <strong>${chat.me}</strong></span>
        <button type="button" class="link-button" onClick=${() => chat.signOut()}>Sign out</button>
      </header>
      <${NewChat} chat=${chat} />
      <ul class="conversation-list" aria-label="Conversation list">
        ${conversations.map((c) => html`<${ConversationItem} key=${c.id} chat=${chat} conv=${c} selected=${c.id === s.selected} />`)}
      </ul>
      ${conversations.length === 0 ? html`<p class="placeholder">No conversations yet.</p>` : null}
    </nav>
  `;
}

function byNewest(a: ConversationState, b: ConversationState): number {
  if (a.lastMessage && b.lastMessage) return compareIds(b.lastMessage.messageId, a.lastMessage.messageId);
  return a.lastMessage ? 1 : b.lastMessage ? -1 : a.title.localeCompare(b.title);
}

function ConversationItem({ chat, conv, selected }: { chat: ChatController; conv: ConversationState; selected: boolean }) {
  const presence = conv.peer ? chat.store.state.presence.get(conv.peer) : undefined;
  const last = conv.lastMessage;
  const preview = last ? `${last.senderId === chat.me ? 'You: ' : conv.kind === 'group' ? `${last.senderId}: ` : ''}${last.text}` : 'No messages yet';
  const label = `${conv.title}${conv.unread ? `, ${conv.unread} unread` : ''}${presence ? `, ${presenceText(presence)}` : ''}`;
  return html`
    <li>
      <button type="button" class=${`conversation-item${selected ? ' selected' : ''}`} aria-current=${selected ? 'true' : undefined}
        aria-label=${label} data-conversation=${conv.id} onClick=${() => chat.select(conv.id)}>
        <span class="avatar" aria-hidden="true">${conv.kind === 'group' ? '#' : conv.title.slice(0, 1).toUpperCase()}
          ${conv.kind === 'dm' && presence ? html`<span class=${`dot ${isOnline(presence) ? 'online' : 'offline'}`} title=${presenceText(presence)}></span>` : null}
        </span>
        <span class="item-main">
          <span class="item-title">${conv.title}</span>
          <span class="item-preview">${preview}</span>
        </span>
        <span class="item-side">
          <span class="item-time">${shortTime(last?.createdAt)}</span>
          ${conv.unread > 0 ? html`<span class="badge" data-unread=${conv.unread}>${conv.unread >= 100 ? '99+' : conv.unread}</span>` : null}
        </span>
      </button>
    </li>
  `;
}

/** Start a DM by user id, or create a group with members. */
function NewChat({ chat }: { chat: ChatController }) {
  const [peer, setPeer] = useState('');
  const [name, setName] = useState('');
  const [members, setMembers] = useState('');
  const dm = (e: Event) => {
    e.preventDefault();
    chat.startDm(peer);
    setPeer('');
  };
  const group = async (e: Event) => {
    e.preventDefault();
    await chat.createGroup(name, parseUserIds(members));
    setName('');
    setMembers('');
  };
  const value = (set: (v: string) => void) => (e: Event) => set((e.target as HTMLInputElement).value);
  return html`
    <div class="new-chat">
      <form class="row" onSubmit=${dm} aria-label="Start a direct message">
        <label class="visually-hidden" for="dm-user">User id to message</label>
        <input id="dm-user" placeholder="User id to message" required value=${peer} onInput=${value(setPeer)} />
        <button type="submit">Message</button>
      </form>
      <details>
        <summary>New group</summary>
        <form onSubmit=${group} aria-label="Create a group">
          <label for="group-name">Group name</label>
          <input id="group-name" required value=${name} onInput=${value(setName)} />
          <label for="group-members">Members (user ids, comma-separated)</label>
          <input id="group-members" value=${members} onInput=${value(setMembers)} />
          <button type="submit">Create group</button>
        </form>
      </details>
    </div>
  `;
}
