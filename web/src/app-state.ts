import type { ChatMessage, LinkState, PresenceStatus } from '../../internal/client/index';

/** A message of the user's own not yet acknowledged by the server. */
export interface PendingMessage {
  clientMsgId: string;
  text: string;
  status: 'sending' | 'failed';
  error?: string;
}

export interface ConversationState {
  id: string;
  kind: 'dm' | 'group';
  /** The other user (DM) or the group's name. */
  title: string;
  peer?: string;
  groupId?: string;
  lastMessage?: ChatMessage;
  unread: number;
  /** Loaded messages, oldest first, one per id. */
  messages: ChatMessage[];
  pending: PendingMessage[];
  historyLoaded: boolean;
  hasMoreOlder: boolean;
  loadingOlder: boolean;
  /** This user's READ watermark. */
  myRead: bigint;
  /** How far every other participant has received / read (the peer in a DM). */
  othersDelivered: bigint;
  othersRead: bigint;
  /** Group read summaries: message id -> readers and members (other than the author). */
  readBy: Map<string, { count: number; of: number }>;
  /** Who is typing, until when (ms). */
  typing: Map<string, number>;
}

export interface PresenceInfo {
  status: PresenceStatus;
  lastSeen?: Date;
}

export interface AppState {
  auth?: { token: string; userId: string };
  link: LinkState;
  conversations: Map<string, ConversationState>;
  selected?: string;
  presence: Map<string, PresenceInfo>;
  /** The latest problem, in words, until dismissed. */
  error?: string;
  /** Whether the members panel of the selected group is open. */
  membersOpen: boolean;
}

/** A tiny observable holder: components re-render on `changed()`. */
export class Store {
  readonly state: AppState = { link: { kind: 'connecting', attempt: 0 }, conversations: new Map(), presence: new Map(), membersOpen: false };
  private readonly listeners = new Set<() => void>();
  private scheduled = false;

  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Coalesces changes into one render per frame. */
  changed(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    queueMicrotask(() => {
      this.scheduled = false;
      for (const l of this.listeners) l();
    });
  }
}

export function newConversation(id: string, me: string, title?: string): ConversationState {
  const dm = id.startsWith('dm:');
  const peer = dm ? id.slice(3).split(':').find((u) => u !== me) ?? me : undefined;
  return {
    id,
    kind: dm ? 'dm' : 'group',
    title: title ?? peer ?? 'Group',
    peer,
    groupId: dm ? undefined : id.slice(2),
    unread: 0,
    messages: [],
    pending: [],
    historyLoaded: false,
    hasMoreOlder: false,
    loadingOlder: false,
    myRead: 0n,
    othersDelivered: 0n,
    othersRead: 0n,
    readBy: new Map(),
    typing: new Map(),
  };
}

/** Adds messages keeping ascending id order and one copy per id (deliveries are at-least-once). */
export function mergeMessages(into: ChatMessage[], more: readonly ChatMessage[]): ChatMessage[] {
  const byId = new Map(into.map((m) => [m.messageId, m]));
  for (const m of more) byId.set(m.messageId, m);
  return [...byId.values()].sort((a, b) => compareIds(a.messageId, b.messageId));
}

export function compareIds(a: string, b: string): number {
  const x = BigInt(a);
  const y = BigInt(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

export function dmId(a: string, b: string): string {
  return a < b ? `dm:${a}:${b}` : `dm:${b}:${a}`;
}
