import { html } from 'htm/preact';
import { useLayoutEffect, useRef } from 'preact/hooks';
import type { ConversationState } from '../app-state';
import type { ChatController } from '../chat-controller';
import { presenceText } from '../format';
import { Composer } from './composer';
import { MembersPanel } from './members-panel';
import { MessageItem, PendingItem } from './message-item';

/** The open conversation: header, messages (scroll up for older pages), typing line, composer. */
export function ConversationView({ chat, conv }: { chat: ChatController; conv: ConversationState }) {
  const s = chat.store.state;
  const list = useRef<HTMLDivElement>(null);
  const stick = useRef(true);
  const before = useRef<{ height: number; top: number; firstId?: string } | undefined>(undefined);
  const firstId = conv.messages[0]?.messageId;
  const lastKey = `${conv.messages.at(-1)?.messageId ?? ''}/${conv.pending.length}`;

  // Older pages keep the view where it was; new messages scroll down only when already at the bottom.
  useLayoutEffect(() => {
    const el = list.current;
    const saved = before.current;
    if (el && saved && saved.firstId !== firstId) {
      el.scrollTop = el.scrollHeight - saved.height + saved.top;
      before.current = undefined;
    }
  }, [firstId]);
  useLayoutEffect(() => {
    const el = list.current;
    if (el && stick.current) el.scrollTop = el.scrollHeight;
  }, [lastKey]);

  const older = () => {
    const el = list.current;
    if (el) before.current = { height: el.scrollHeight, top: el.scrollTop, firstId };
    void chat.loadOlder(conv.id);
  };
  const onScroll = () => {
    const el = list.current;
    if (!el) return;
    stick.current = el.scrollHeight - el.scrollTop - el.clientHeight < 40;
    if (el.scrollTop < 60 && conv.hasMoreOlder && !conv.loadingOlder) older();
  };

  const now = Date.now();
  const typers = [...conv.typing].filter(([, until]) => until > now).map(([u]) => u);
  const presence = conv.peer ? s.presence.get(conv.peer) : undefined;
  return html`
    <section class="conversation" aria-labelledby="conversation-title">
      <header class="conversation-header">
        <button type="button" class="back" aria-label="Back to the conversation list" onClick=${() => chat.select(undefined)}>‹</button>
        <div>
          <h2 id="conversation-title">${conv.title}</h2>
          <span class="subtitle" data-presence=${conv.peer ?? ''}>${conv.kind === 'dm' ? presenceText(presence) : 'group'}</span>
        </div>
        ${conv.kind === 'group' ? html`<button type="button" aria-expanded=${s.membersOpen} onClick=${() => chat.toggleMembers()}>Members</button>` : null}
      </header>
      ${conv.kind === 'group' && s.membersOpen ? html`<${MembersPanel} chat=${chat} conv=${conv} />` : null}
      <div class="messages" ref=${list} onScroll=${onScroll} role="log" aria-live="polite" aria-label=${`Messages with ${conv.title}`} tabindex="0">
        ${conv.hasMoreOlder
          ? html`<button type="button" class="load-older" onClick=${older} disabled=${conv.loadingOlder}>${conv.loadingOlder ? 'Loading older messages…' : 'Load older messages'}</button>`
          : conv.historyLoaded && conv.messages.length > 0 ? html`<p class="start">This is the start of the conversation.</p>` : null}
        ${conv.messages.map((m) => html`<${MessageItem} key=${m.messageId} chat=${chat} conv=${conv} message=${m} />`)}
        ${conv.pending.map((p) => html`<${PendingItem} key=${p.clientMsgId} chat=${chat} conv=${conv} pending=${p} />`)}
      </div>
      <div class="typing" aria-live="polite">${typers.length > 0 ? `${typers.join(', ')} ${typers.length > 1 ? 'are' : 'is'} typing…` : ''}</div>
      <${Composer} chat=${chat} conv=${conv} />
    </section>
  `;
}
