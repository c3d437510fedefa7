import { html } from 'htm/preact';
import type { ChatController } from '../chat-controller';
import { ConversationView } from './conversation-view';
import { Sidebar } from './sidebar';
import { SignIn } from './sign-in';
import { StatusBar } from './status-bar';
import { useStore } from './use-store';

/** The whole page: sign-in, or the conversation list beside the open conversation. */
export function App({ chat }: { chat: ChatController }) {
  useStore(chat.store);
  const s = chat.store.state;
  if (!s.auth) return html`<${StatusBar} chat=${chat} /><${SignIn} chat=${chat} />`;
  const conv = s.selected ? chat.conversation(s.selected) : undefined;
  return html`
    <div class="app" data-view=${conv ? 'conversation' : 'list'}>
      <${StatusBar} chat=${chat} />
      <div class="panes">
        <${Sidebar} chat=${chat} />
        <main class="conversation-pane" aria-label="Conversation">
          ${conv ? html`<${ConversationView} key=${conv.id} chat=${chat} conv=${conv} />` : html`<p class="placeholder">Pick a conversation, or start one.</p>`}
        </main>
      </div>
    </div>
  `;
}
