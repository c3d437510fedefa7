import type { HeldPosition } from '../../internal/client/index';

/**
 * What survives a page reload: who is signed in, this browser's device id, where the user was,
 * and where it holds every message of each conversation (its resume positions).
 */
export interface SavedSession {
  token: string;
  userId: string;
  /** The conversation that was open. */
  openConversation?: string;
}

const SESSION_KEY = 'chat-mesh.session';
const DEVICE_KEY = 'chat-mesh.device';
const LAST_SEEN_KEY = 'chat-mesh.last-seen';
const POSITIONS_KEY = 'chat-mesh.held-positions';

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
    localStorage.removeItem(POSITIONS_KEY);
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

/**
 * Per conversation, the newest message id this page has seen: sent in `hello` as the `last_seen`
 * hint for conversations without a held position (and the only resume state of a profile saved
 * before positions existed, which the first replay then turns into positions).
 */
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

/** Per conversation, where this browser holds every message (a HeldPositions snapshot); malformed entries are dropped. */
export function loadHeldPositions(): Record<string, HeldPosition> {
  const out: Record<string, HeldPosition> = {};
  try {
    const raw = JSON.parse(localStorage.getItem(POSITIONS_KEY) ?? '{}') as Record<string, Partial<HeldPosition>>;
    for (const [conversationId, p] of Object.entries(raw)) {
      if ([p.messageId, p.seq, p.epoch].every((v) => typeof v === 'string' && /^\d{1,20}$/.test(v))) out[conversationId] = p as HeldPosition;
    }
  } catch {
    // Unreadable: start without positions (the server resumes from what the device acknowledged).
  }
  return out;
}

export function saveHeldPositions(positions: Record<string, HeldPosition>): void {
  localStorage.setItem(POSITIONS_KEY, JSON.stringify(positions));
}
