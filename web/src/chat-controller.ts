import { ChatClientError, ChatSession, errorCodeToJSON, jwtSubject, type ChatMessage, type ConversationSummary, type LinkState, type Welcome } from '../../internal/client/index';
import { compareIds, dmId, mergeMessages, newConversation, type ConversationState, type Store } from './app-state';
import { pickWsUrl } from './ws-endpoints';
import { describeError, UserFacingError } from './errors';
import { applyConversationSummary, applyReceipt, applyReceiptSummary, max } from './receipt-state';
import { deviceId, loadHeldPositions, loadLastSeen, loadSession, saveHeldPositions, saveLastSeen, saveSession } from './session';
import { WebApi } from './web-api';

const PAGE_SIZE = 30;
const TYPING_SEND_EVERY_MS = 3000;
const TYPING_SHOW_MS = 6000;
const USER_ID = /^[A-Za-z0-9_.@+=-]{1,128}$/;

/**
 * Everything the page does: signs in, keeps the link (the SDK's ChatSession: reconnects, resumes
 * by position, dedupes, acks, pages gaps), turns what it emits into state, and offers the actions
 * the UI calls. Errors end up in `state.error`, in words.
 */
export class ChatController {
  private conn?: ChatSession;
  private api?: WebApi;
  /** Per conversation, the newest message id seen: unread counting, and the `last_seen` hint. */
  private lastSeen: Record<string, string> = {};
  private readonly typingSentAt = new Map<string, number>();
  private watched = new Set<string>();

  constructor(readonly store: Store) {
    document.addEventListener('visibilitychange', () => this.markRead(this.store.state.selected));
    window.addEventListener('focus', () => this.markRead(this.store.state.selected));
  }

  private get s() {
    return this.store.state;
  }

  get me(): string {
    return this.s.auth?.userId ?? '';
  }

  /** Picks up the session of the previous page load, if any. */
  resume(): void {
    const saved = loadSession();
    if (saved) this.begin(saved.token, saved.userId, saved.openConversation);
  }

  async signInDev(userId: string): Promise<void> {
    const id = userId.trim();
    if (!USER_ID.test(id)) return this.fail(new UserFacingError('ERROR_CODE_INVALID_ARGUMENT', 'a user id is 1-128 characters of letters, digits and _.@+=-'));
    try {
      this.begin(await WebApi.devToken(id), id);
    } catch (err) {
      this.fail(err);
    }
  }

  signInToken(token: string): void {
    const t = token.trim();
    const sub = jwtSubject(t);
    if (!sub) return this.fail(new UserFacingError('ERROR_CODE_INVALID_ARGUMENT', 'that is not a JWT with a subject (sub)'));
    this.begin(t, sub);
  }

  signOut(): void {
    void this.conn?.stop('signed out');
    this.conn = undefined;
    window.removeEventListener('online', this.retryNow);
    saveSession(undefined);
    Object.assign(this.s, { auth: undefined, selected: undefined, conversations: new Map(), presence: new Map(), error: undefined, membersOpen: false });
    this.store.changed();
  }

  private begin(token: string, userId: string, openConversation?: string): void {
    this.s.auth = { token, userId };
    this.s.error = undefined;
    this.api = new WebApi(token);
    this.lastSeen = loadLastSeen();
    saveSession({ token, userId, openConversation });
    const conn = new ChatSession({
      url: pickWsUrl,
      token,
      deviceId: deviceId(),
      format: 'json',
      positions: loadHeldPositions(),
      lastSeen: () => this.lastSeen,
      backoff: { maxMs: 10_000, jitter: 0.25 },
    });
    this.conn = conn;
    this.listen(conn);
    window.addEventListener('online', this.retryNow);
    // Its end shows as a link state (signed out, stopped); nothing else to do with the outcome.
    conn.run().catch(() => undefined);
    if (openConversation) this.s.selected = openConversation;
    this.store.changed();
  }

  /** What the session emits, turned into state. */
  private listen(conn: ChatSession): void {
    conn.on('state', (link) => this.conn === conn && this.linkChanged(link));
    conn.on('welcome', (w) => void this.welcomed(w));
    conn.on('messages', (messages) => this.changed(() => this.incoming(messages)));
    conn.on('positions', (positions) => this.conn === conn && saveHeldPositions(positions));
    conn.on('gapNotFilled', (_gap, err) => this.fail(err));
    conn.on('typing', (t) =>
      this.changed(() => {
        this.conversation(t.conversationId).typing.set(t.userId, Date.now() + TYPING_SHOW_MS);
        setTimeout(() => this.store.changed(), TYPING_SHOW_MS + 50);
      }),
    );
    conn.on('receipt', (r) => this.changed(() => applyReceipt(this.conversation(r.conversationId), r, this.me)));
    conn.on('receiptSummary', (r) => this.changed(() => applyReceiptSummary(this.conversation(r.conversationId), r)));
    conn.on('presence', (p) => this.changed(() => this.s.presence.set(p.userId, { status: p.status, lastSeen: p.lastSeen })));
    conn.on('error', (e) => this.fail(new UserFacingError(errorCodeToJSON(e.code), e.message)));
  }

  private linkChanged(link: LinkState): void {
    this.s.link = link;
    if (link.kind === 'signed-out') {
      this.signOut();
      this.s.error = `Signed out: ${link.reason}`;
    }
    this.store.changed();
  }

  private changed(update: () => void): void {
    update();
    this.store.changed();
  }

  /** Skips the reconnect wait (the "retry now" button, the browser back online). */
  readonly retryNow = (): void => {
    this.conn?.retryNow();
  };

  dismissError(): void {
    this.s.error = undefined;
    this.store.changed();
  }

  /** After every (re)connect: refresh the list, watch presence, reload the open conversation. */
  private async welcomed(_w: Welcome): Promise<void> {
    this.watched = new Set();
    await this.refreshList();
    const open = this.s.selected;
    if (open) {
      const conv = this.conversation(open);
      if (!conv.historyLoaded) await this.loadLatest(conv);
      this.markRead(open);
    }
  }

  async refreshList(): Promise<void> {
    if (!this.api) return;
    try {
      const [list, groups] = await Promise.all([this.api.conversations(), this.api.groups()]);
      for (const summary of list.conversations) this.applySummary(summary);
      for (const g of groups) {
        const conv = this.conversation(g.conversationId);
        conv.title = g.name;
      }
      this.watchPresence();
      this.store.changed();
    } catch (err) {
      this.fail(err);
    }
  }

  private applySummary(summary: ConversationSummary): void {
    const conv = this.conversation(summary.conversationId);
    if (summary.lastMessage) this.noteMessage(conv, summary.lastMessage, false);
    applyConversationSummary(conv, summary);
  }

  conversation(id: string): ConversationState {
    let conv = this.s.conversations.get(id);
    if (!conv) this.s.conversations.set(id, (conv = newConversation(id, this.me)));
    return conv;
  }

  select(id: string | undefined): void {
    this.s.selected = id;
    this.s.membersOpen = false;
    if (this.s.auth) saveSession({ ...this.s.auth, openConversation: id });
    this.store.changed();
    if (!id) return;
    const conv = this.conversation(id);
    if (!conv.historyLoaded && this.conn?.isOpen) void this.loadLatest(conv);
    this.markRead(id);
  }

  startDm(userId: string): void {
    const peer = userId.trim();
    if (!USER_ID.test(peer)) return this.fail(new UserFacingError('ERROR_CODE_INVALID_ARGUMENT', 'a user id is 1-128 characters of letters, digits and _.@+=-'));
    if (peer === this.me) return this.fail(new UserFacingError('ERROR_CODE_INVALID_ARGUMENT', 'you cannot start a conversation with yourself'));
    this.select(dmId(this.me, peer));
  }

  async createGroup(name: string, memberIds: string[]): Promise<void> {
    try {
      const group = await this.api!.createGroup(name.trim(), memberIds);
      this.conversation(group.conversationId).title = group.name;
      this.select(group.conversationId);
    } catch (err) {
      this.fail(err);
    }
  }

  toggleMembers(open = !this.s.membersOpen): void {
    this.s.membersOpen = open;
    this.store.changed();
  }

  async members(groupId: string) {
    return this.api!.members(groupId);
  }

  async addMembers(groupId: string, userIds: string[]): Promise<boolean> {
    try {
      await this.api!.addMembers(groupId, userIds);
      return true;
    } catch (err) {
      this.fail(err);
      return false;
    }
  }

  async removeMember(groupId: string, userId: string): Promise<boolean> {
    try {
      await this.api!.removeMembers(groupId, [userId]);
      if (userId === this.me) {
        this.s.conversations.delete(`g:${groupId}`);
        this.select(undefined);
      }
      return true;
    } catch (err) {
      this.fail(err);
      return false;
    }
  }

  /** Sends a message; it shows as pending until the server's ack, or failed with a retry. */
  async send(conversationId: string, text: string, clientMsgId: string = crypto.randomUUID()): Promise<void> {
    const conv = this.conversation(conversationId);
    const existing = conv.pending.find((p) => p.clientMsgId === clientMsgId);
    if (existing) existing.status = 'sending';
    else conv.pending.push({ clientMsgId, text, status: 'sending' });
    this.typingSentAt.delete(conversationId);
    this.store.changed();
    try {
      if (!this.conn) throw new UserFacingError('unavailable', 'not signed in');
      const ack = await this.conn.send(conversationId, text, clientMsgId);
      conv.pending = conv.pending.filter((p) => p.clientMsgId !== clientMsgId);
      const message: ChatMessage = { messageId: ack.messageId, conversationId, senderId: this.me, clientMsgId, text, createdAt: ack.createdAt, seq: ack.seq, epoch: ack.epoch };
      this.noteMessage(conv, message, true);
      conv.myRead = max(conv.myRead, BigInt(ack.messageId));
      if (conv.kind === 'dm' && conv.peer) this.watchPresence([conv.peer]);
    } catch (err) {
      const p = conv.pending.find((x) => x.clientMsgId === clientMsgId);
      if (p) Object.assign(p, { status: 'failed', error: describeError(err) });
    }
    this.store.changed();
  }

  retry(conversationId: string, clientMsgId: string): void {
    const p = this.conversation(conversationId).pending.find((x) => x.clientMsgId === clientMsgId);
    if (p) void this.send(conversationId, p.text, clientMsgId);
  }

  /** Called on input: tells the others at most every 3 s. */
  typing(conversationId: string): void {
    const last = this.typingSentAt.get(conversationId) ?? 0;
    if (Date.now() - last < TYPING_SEND_EVERY_MS || !this.conn?.isOpen) return;
    this.typingSentAt.set(conversationId, Date.now());
    this.conn.typing(conversationId);
  }

  /** Loads the page before the oldest loaded message. */
  async loadOlder(conversationId: string): Promise<void> {
    const conv = this.conversation(conversationId);
    if (conv.loadingOlder || !conv.hasMoreOlder || !this.conn?.isOpen) return;
    conv.loadingOlder = true;
    this.store.changed();
    try {
      const page = await this.conn.history({ conversationId, beforeId: conv.messages[0]?.messageId ?? '0', limit: PAGE_SIZE });
      conv.messages = mergeMessages(conv.messages, page.messages);
      conv.hasMoreOlder = page.hasMore;
    } catch (err) {
      this.fail(err);
    } finally {
      conv.loadingOlder = false;
      this.store.changed();
    }
  }

  private async loadLatest(conv: ConversationState): Promise<void> {
    try {
      const page = await this.conn!.history({ conversationId: conv.id, limit: PAGE_SIZE });
      conv.messages = mergeMessages(conv.messages, page.messages);
      if (!conv.historyLoaded) conv.hasMoreOlder = page.hasMore;
      conv.historyLoaded = true;
      for (const m of page.messages) this.noteMessage(conv, m, false);
      this.markRead(conv.id);
    } catch (err) {
      // A DM nobody wrote in yet is not readable until its first message: that is not an error.
      if (!(err instanceof ChatClientError && err.code === 'ERROR_CODE_PERMISSION_DENIED' && conv.kind === 'dm')) this.fail(err);
      conv.historyLoaded = conv.kind === 'dm';
    }
    this.store.changed();
  }

  /** Marks the open, visible conversation read up to its newest message. */
  markRead(id: string | undefined): void {
    if (!id || id !== this.s.selected || document.visibilityState !== 'visible' || !this.conn?.isOpen) return;
    const conv = this.conversation(id);
    const newest = conv.messages.at(-1)?.messageId ?? conv.lastMessage?.messageId;
    if (!newest) return;
    if (BigInt(newest) > conv.myRead) {
      conv.myRead = BigInt(newest);
      this.conn.markRead(id, newest);
    }
    if (conv.unread !== 0) {
      conv.unread = 0;
      this.store.changed();
    }
  }

  private incoming(messages: readonly ChatMessage[]): void {
    const newGroups: string[] = [];
    for (const m of messages) {
      const known = this.s.conversations.has(m.conversationId);
      const conv = this.conversation(m.conversationId);
      if (!known && conv.kind === 'group') newGroups.push(conv.id);
      // Live pushes and the replay can bring a message twice; only one past what was seen counts.
      const seen = this.lastSeen[conv.id];
      const isNew = (!seen || compareIds(m.messageId, seen) > 0) && BigInt(m.messageId) > conv.myRead;
      this.noteMessage(conv, m, conv.historyLoaded);
      conv.typing.delete(m.senderId);
      if (isNew && m.senderId !== this.me && (this.s.selected !== conv.id || document.visibilityState !== 'visible')) conv.unread++;
      if (conv.kind === 'dm' && conv.peer) this.watchPresence([conv.peer]);
    }
    this.markRead(this.s.selected);
    if (newGroups.length > 0) void this.refreshList();
  }

  /** Records a message as the conversation's newest if it is, and in the loaded list if wanted. */
  private noteMessage(conv: ConversationState, m: ChatMessage, addToList: boolean): void {
    if (addToList) conv.messages = mergeMessages(conv.messages, [m]);
    if (!conv.lastMessage || compareIds(m.messageId, conv.lastMessage.messageId) > 0) conv.lastMessage = m;
    const seen = this.lastSeen[conv.id];
    if (!seen || compareIds(m.messageId, seen) > 0) {
      this.lastSeen[conv.id] = m.messageId;
      saveLastSeen(this.lastSeen);
    }
  }

  /** Watches the presence of DM peers (those with at least one message) and the given users. */
  watchPresence(extra: string[] = []): void {
    if (!this.conn?.isOpen) return;
    const peers = [...this.s.conversations.values()].filter((c) => c.kind === 'dm' && c.lastMessage && c.peer).map((c) => c.peer!);
    const fresh = [...new Set([...peers, ...extra])].filter((u) => u !== this.me && !this.watched.has(u));
    if (fresh.length === 0) return;
    for (const u of fresh) this.watched.add(u);
    // Users one shares nothing with yet are refused (the error names them); that is expected.
    // Forget them, so a later watch (once a message is shared) asks again.
    this.conn.subscribePresence(fresh).catch((err: unknown) => {
      const refused = err instanceof ChatClientError ? (err.message.split(': ')[1]?.split(', ') ?? []) : fresh;
      for (const u of refused) this.watched.delete(u);
    });
  }

  fail(err: unknown): void {
    this.s.error = describeError(err);
    this.store.changed();
  }
}
