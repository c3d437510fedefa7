/** What survives a page reload: who is signed in, this browser's device id, where the user was. */
export interface SavedSession {
  token: string;
  userId: string;
  /** The conversation that was open. */
  openConversation?: string;
}

const SESSION_KEY = 'chat-mesh.session';
const DEVICE_KEY = 'chat-mesh.device';
const LAST_SEEN_KEY = 'chat-mesh.last-seen';

export function loadSession(): SavedSession | undefined {
  try {
    const raw = localStorage.getItem(SESSION_KEY);
    const value = raw ? (JSON.parse(raw) as Partial<SavedSession>) : undefined;
    return value && typeof value.token === 'string' && typeof value.userId === 'string' ? (value as SavedSession) : undefined;
  } catch {
    return undefined;
  }
}

export function saveSession(session: SavedSession | undefined): void {
  if (session) localStorage.setItem(SESSION_KEY, JSON.stringify(session));
  else {
    localStorage.removeItem(SESSION_KEY);
    localStorage.removeItem(LAST_SEEN_KEY);
  }
}

/** A stable id for this browser profile: the server resumes a device where it left off. */
export function deviceId(): string {
  let id = localStorage.getItem(DEVICE_KEY);
  if (!id) {
    id = `web-${crypto.randomUUID().slice(0, 13)}`;
    localStorage.setItem(DEVICE_KEY, id);
  }
  return id;
}

/** Per conversation, the newest message id this page has seen (sent in `hello` to catch up). */
export function loadLastSeen(): Record<string, string> {
  try {
    return JSON.parse(localStorage.getItem(LAST_SEEN_KEY) ?? '{}') as Record<string, string>;
  } catch {
    return {};
  }
}

export function saveLastSeen(lastSeen: Record<string, string>): void {
  localStorage.setItem(LAST_SEEN_KEY, JSON.stringify(lastSeen));
}

/** The `sub` of a JWT (not verified here: the server does that). */
export function tokenSubject(token: string): string | undefined {
  try {
    const payload = token.split('.')[1] ?? '';
    const json = atob(payload.replace(/-/g, '+').replace(/_/g, '/'));
    const sub = (JSON.parse(json) as { sub?: unknown }).sub;
    return typeof sub === 'string' ? sub : undefined;
  } catch {
    return undefined;
  }
}
