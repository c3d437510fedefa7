import { html } from 'htm/preact';
import type { ChatMessage } from '../../../gen/chat/v1/message';
import type { ConversationState, PendingMessage } from '../app-state';
import type { ChatController } from '../chat-controller';
import { shortTime } from '../format';

/** One stored message; the user's own carry a sent / delivered / read mark. */
export function MessageItem({ chat, conv, message }: { chat: ChatController; conv: ConversationState; message: ChatMessage }) {
  const mine = message.senderId === chat.me;
  const mark = mine ? markOf(conv, message.messageId) : undefined;
  return html`
    <article class=${`message${mine ? ' mine' : ''}`} data-message-id=${message.messageId} aria-label=${`${mine ? 'You' : message.senderId}: ${message.text}`}>
      ${!mine && conv.kind === 'group' ? html`<span class="sender">${message.senderId}</span>` : null}
      <p class="text">${message.text}</p>
      <span class="meta">
        <time datetime=${message.createdAt?.toISOString()}>${shortTime(message.createdAt)}</time>
        ${mark ? html`<span class=${`mark mark-${mark.kind}`} data-mark=${mark.kind} title=${mark.label} aria-label=${mark.label}>${mark.symbol}</span>` : null}
      </span>
    </article>
  `;
}

/** A message of the user's own that the server has not acknowledged yet. */
export function PendingItem({ chat, conv, pending }: { chat: ChatController; conv: ConversationState; pending: PendingMessage }) {
  return html`
    <article class="message mine pending" aria-label=${`You: ${pending.text}`}>
      <p class="text">${pending.text}</p>
      <span class="meta">
        ${pending.status === 'sending'
          ? html`<span class="mark mark-sending" data-mark="sending" aria-label="Sending">🕓</span>`
          : html`<span class="failed" role="alert">Not sent: ${pending.error}</span>
              <button type="button" class="link-button" onClick=${() => chat.retry(conv.id, pending.clientMsgId)}>Retry</button>`}
      </span>
    </article>
  `;
}

interface Mark {
  kind: 'sent' | 'delivered' | 'read';
  symbol: string;
  label: string;
}

function markOf(conv: ConversationState, messageId: string): Mark {
  const id = BigInt(messageId);
  if (conv.kind === 'group') {
    if (conv.othersRead >= id) return { kind: 'read', symbol: '✓✓', label: 'Read by everyone' };
    let best: { count: number; of: number } | undefined;
    for (const [upTo, r] of conv.readBy) if (BigInt(upTo) >= id && (!best || r.count > best.count)) best = r;
    if (best && best.count > 0) return { kind: 'delivered', symbol: `✓ ${best.count}/${best.of}`, label: `Read by ${best.count} of ${best.of}` };
    return { kind: 'sent', symbol: '✓', label: 'Sent' };
  }
  if (conv.othersRead >= id) return { kind: 'read', symbol: '✓✓', label: 'Read' };
  if (conv.othersDelivered >= id) return { kind: 'delivered', symbol: '✓✓', label: 'Delivered' };
  return { kind: 'sent', symbol: '✓', label: 'Sent' };
}
