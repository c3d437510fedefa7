import { html } from 'htm/preact';
import { useEffect, useState } from 'preact/hooks';
import type { ChatController } from '../chat-controller';
import type { LinkState } from '../../../internal/client/index';

/** The link state in words (with "retry now" while waiting) and the latest error. */
export function StatusBar({ chat }: { chat: ChatController }) {
  const s = chat.store.state;
  const [, tick] = useState(0);
  useEffect(() => {
    if (s.link.kind !== 'waiting') return;
    const t = setInterval(() => tick((n) => n + 1), 1000);
    return () => clearInterval(t);
  }, [s.link]);
  return html`
    <div class="status-bar">
      ${s.auth ? html`<div class=${`link link-${s.link.kind}`} role="status" aria-live="polite" data-link=${s.link.kind}>
        ${linkText(s.link)}
        ${s.link.kind === 'waiting' ? html` <button type="button" class="link-button" onClick=${() => chat.retryNow()}>Retry now</button>` : null}
      </div>` : null}
      ${s.error ? html`<div class="error" role="alert">
        <span>${s.error}</span>
        <button type="button" class="link-button" aria-label="Dismiss the error" onClick=${() => chat.dismissError()}>Dismiss</button>
      </div>` : null}
    </div>
  `;
}

function linkText(link: LinkState): string {
  switch (link.kind) {
    case 'open':
      return 'Connected';
    case 'connecting':
      return link.attempt === 0 ? 'Connecting…' : 'Reconnecting…';
    case 'waiting':
      return `Disconnected (${link.reason}). Reconnecting in ${Math.max(0, Math.ceil((link.retryAtMs - Date.now()) / 1000))} s…`;
    case 'signed-out':
      return `Signed out: ${link.reason}`;
    case 'stopped':
      return link.error ? `Disconnected: ${link.error.message}` : 'Disconnected';
  }
}
