import { html } from 'htm/preact';
import { useState } from 'preact/hooks';
import type { ConversationState } from '../app-state';
import type { ChatController } from '../chat-controller';

/** The message box: Enter sends, Shift+Enter is a new line; typing is announced to the others. */
export function Composer({ chat, conv }: { chat: ChatController; conv: ConversationState }) {
  const [text, setText] = useState('');
  const submit = () => {
    const value = text.trim();
    if (!value) return;
    setText('');
    void chat.send(conv.id, value);
  };
  return html`
    <form class="composer" onSubmit=${(e: Event) => (e.preventDefault(), submit())}>
      <label class="visually-hidden" for="composer-text">Message to ${conv.title}</label>
      <textarea id="composer-text" rows="1" placeholder="Write a message" value=${text} autofocus
        onInput=${(e: Event) => {
          setText((e.target as HTMLTextAreaElement).value);
          chat.typing(conv.id);
        }}
        onKeyDown=${(e: KeyboardEvent) => {
          if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
            e.preventDefault();
            submit();
          }
        }}></textarea>
      <button type="submit" disabled=${text.trim() === ''}>Send</button>
    </form>
  `;
}
