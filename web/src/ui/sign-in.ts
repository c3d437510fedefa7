import { html } from 'htm/preact';
import { useState } from 'preact/hooks';
import type { ChatController } from '../chat-controller';

/** Sign in with a dev token (dev mode) or a pasted JWT. */
export function SignIn({ chat }: { chat: ChatController }) {
  const [userId, setUserId] = useState('');
  const [token, setToken] = useState('');
  const [busy, setBusy] = useState(false);
  const dev = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    await chat.signInDev(userId);
    setBusy(false);
  };
  const jwt = (e: Event) => {
    e.preventDefault();
    chat.signInToken(token);
  };
  return html`
    <main class="sign-in">
      <h1>chat mesh</h1>
      <form onSubmit=${dev} aria-label="Sign in with a dev token">
        <label for="user-id">User id</label>
        <input id="user-id" name="user-id" autocomplete="username" required autofocus value=${userId}
          onInput=${(e: Event) => setUserId((e.target as HTMLInputElement).value)} />
        <button type="submit" disabled=${busy}>Sign in (dev mode)</button>
      </form>
      <details>
        <summary>Use a JWT instead</summary>
        <form onSubmit=${jwt} aria-label="Sign in with a JWT">
          <label for="jwt">Token (its <code>sub</code> is your user id)</label>
          <textarea id="jwt" rows="4" required value=${token} onInput=${(e: Event) => setToken((e.target as HTMLTextAreaElement).value)}></textarea>
          <button type="submit">Sign in with token</button>
        </form>
      </details>
    </main>
  `;
}
