import { errorCodeToJSON } from '../../../gen/chat/v1/errors';
import { GapReason, type HistoryPage, PresenceEvent, type ResumeGap } from '../../../gen/chat/v1/gateway';
import { ChatMessage } from '../../../gen/chat/v1/message';
import type { ChatClient } from '../../../internal/client/chat-client';
import { ChatClientError } from '../../../internal/client/chat-client-error';
import { backoffMs } from '../backoff';
import type { CliContext } from '../cli-context';
import { describeError, formatMessage, formatPresence } from '../output';
import { presencePeers } from '../presence-peers';
import { RecentIds } from '../recent-ids';

/** At most this many users' presence is watched. */
const PRESENCE_CAP = 100;
/** A connection that lived this long resets the reconnect backoff. */
const STABLE_CONNECTION_MS = 10_000;
/** After a replay whose history was behind, how long to wait before paging the gap. */
const HISTORY_BEHIND_RETRY_MS = 1_000;
/** Errors that a retry cannot fix: the tail stops instead of reconnecting. */
const FATAL_CODES = new Set([
  'ERROR_CODE_UNAUTHENTICATED',
  'ERROR_CODE_PERMISSION_DENIED',
  'ERROR_CODE_INVALID_ARGUMENT',
  'unauthenticated',
  'permission_denied',
  'invalid_argument',
  'not_found',
]);

/**
 * `chat tail`: prints messages and presence changes as they come, until SIGINT/SIGTERM.
 *
 * Resuming: every printed message is acked, so a later tail with the same device continues where
 * this one stopped (the server replays what it missed as history pages, printed first). Within one
 * run, reconnects send the newest printed id per conversation as `last_seen`, and ids already
 * printed are skipped. Replay pages with more behind them are paged forward with `history`.
 *
 * Presence: the peers of my DMs and the members of my groups (at most 100) are watched, plus the
 * sender of any later message from someone not yet watched, while under the cap.
 */
export async function tailCommand(ctx: CliContext): Promise<void> {
  await new Tail(ctx).run();
}

/** One connection of the tail; `closed` resolves with the close code and reason. */
interface Session {
  closed: Promise<[number, string]>;
}

class Tail {
  /** Per conversation, the newest printed message id: `last_seen` for the next connection. */
  private readonly newest = new Map<string, bigint>();
  private readonly printed = new RecentIds(10_000);
  private readonly watched = new Set<string>();
  private selfId = '';
  private client: ChatClient | undefined;
  /** True once the current connection has subscribed to everyone in `watched`. */
  private presenceReady = false;
  private pendingAcks: string[] = [];
  private stopping = false;
  private wake: (() => void) | undefined;

  constructor(private readonly ctx: CliContext) {}

  async run(): Promise<void> {
    const stop = (): void => this.stop();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    try {
      await this.loop();
    } finally {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
    }
  }

  private stop(): void {
    this.stopping = true;
    this.wake?.();
    if (this.client) void this.client.close();
  }

  private async loop(): Promise<void> {
    let failures = 0;
    let connectedOnce = false;
    while (!this.stopping) {
      let session: Session;
      try {
        session = await this.open(connectedOnce);
      } catch (err) {
        // The first connection must succeed (a wrong --server should fail fast), and some errors
        // will not go away by retrying.
        if (!connectedOnce || (err instanceof ChatClientError && FATAL_CODES.has(err.code))) throw err;
        failures += 1;
        const delay = backoffMs(failures);
        const { code, message } = describeError(err);
        this.ctx.out.note(`reconnect failed: ${code}: ${message}; retrying in ${seconds(delay)}`);
        await this.sleep(delay);
        continue;
      }
      connectedOnce = true;
      const openedAt = Date.now();
      const [code, reason] = await session.closed;
      this.client = undefined;
      if (this.stopping) return;
      failures = Date.now() - openedAt >= STABLE_CONNECTION_MS ? 1 : failures + 1;
      const delay = backoffMs(failures);
      this.ctx.out.note(`connection lost (code ${code}${reason ? `: ${reason}` : ''}); reconnecting in ${seconds(delay)}`);
      await this.sleep(delay);
    }
  }

  /** Connects and sets the session up. */
  private async open(reconnect: boolean): Promise<Session> {
    const { userId } = await this.ctx.identity(reconnect);
    this.selfId = userId;
    this.presenceReady = false;
    for (const peer of await presencePeers(await this.ctx.api(), userId, PRESENCE_CAP)) {
      if (this.watched.size < PRESENCE_CAP) this.watched.add(peer);
    }
    const catchUp = new Map<string, ResumeGap>();
    let onClose: (closed: [number, string]) => void = () => undefined;
    const closed = new Promise<[number, string]>((resolve) => {
      onClose = resolve;
    });
    let onReplayed: () => void = () => undefined;
    const replayed = new Promise<void>((resolve) => {
      onReplayed = resolve;
    });
    // Listeners go in before `hello`: the replay follows `welcome` at once.
    const client = await this.ctx.connect({
      lastSeen: Object.fromEntries([...this.newest].map(([conversation, id]) => [conversation, id.toString()])),
      listeners: {
        message: (m) => this.show(m),
        historyPage: (page) => this.showReplay(page),
        gap: (gap) => catchUp.set(gap.conversationId, gap),
        resumeComplete: () => onReplayed(),
        presence: (p) => this.ctx.out.result(formatPresence(p, new Date()), { presence: PresenceEvent.toJSON(p) }),
        goAway: (g) => this.ctx.out.note(`server going away${g.reason ? `: ${g.reason}` : ''}`),
        error: (e) => this.ctx.out.note(`server error: ${errorCodeToJSON(e.code)}: ${e.message}`),
        close: (code, reason) => onClose([code, reason]),
      },
    });
    this.client = client;
    if (this.stopping) {
      await client.close();
      return { closed };
    }
    client.ack(this.pendingAcks.splice(0));
    this.ctx.out.note(`${reconnect ? 'reconnected' : 'connected'} as ${userId} (device ${await this.ctx.deviceId()}, server ${client.welcome.serverId}); Ctrl-C to stop`);
    await this.settle(client, this.pageForward(client, replayed, closed, catchUp));
    // Presence subscriptions belong to a connection: every (re)connect subscribes to all watched users.
    const watched = [...this.watched];
    if (watched.length > 0) await this.settle(client, client.subscribePresence(watched));
    this.presenceReady = true;
    if (!this.ctx.out.json) this.ctx.out.note(`watching presence of ${watched.length} user${watched.length === 1 ? '' : 's'}`);
    return { closed };
  }

  /**
   * Once the replay is over, pages forward from every gap it named (after a moment when history
   * was behind, so the sync worker can catch up).
   */
  private async pageForward(client: ChatClient, replayed: Promise<void>, closed: Promise<unknown>, catchUp: Map<string, ResumeGap>): Promise<void> {
    await Promise.race([replayed, closed]);
    const gaps = [...catchUp.values()];
    if (gaps.some((g) => g.reason === GapReason.GAP_REASON_HISTORY_BEHIND)) await this.sleep(HISTORY_BEHIND_RETRY_MS);
    for (const { conversationId, afterId: from } of gaps) {
      let afterId = from;
      for (;;) {
        const page = await client.history({ conversationId, afterId });
        for (const m of page.messages) this.show(m);
        const last = page.messages.at(-1);
        if (!page.hasMore || !last) break;
        afterId = last.messageId;
      }
    }
  }

  /** Awaits a setup step; its failure is a note, not the end of the tail (a drop reconnects). */
  private async settle(client: ChatClient, step: Promise<void>): Promise<void> {
    try {
      await step;
    } catch (err) {
      if (!client.isOpen) return;
      const { code, message } = describeError(err);
      this.ctx.out.note(`warning: ${code}: ${message}`);
    }
  }

  private showReplay(page: HistoryPage): void {
    const fresh = page.messages.filter((m) => !this.printed.has(m.messageId));
    const n = fresh.length;
    if (n > 0 && !this.ctx.out.json) {
      // The server replays from a little before the device's position (its overlap window), and
      // a new tail process has not printed anything yet: some of these may have been seen before.
      this.ctx.out.note(`(${n} message${n === 1 ? '' : 's'} replayed in ${page.conversationId}: what this device missed, and the last ones it may have seen before it${page.hasMore ? '; more follow' : ''})`);
    }
    for (const m of fresh) this.show(m);
  }

  private show(m: ChatMessage): void {
    if (!this.printed.add(m.messageId)) return;
    const id = BigInt(m.messageId);
    if (id > (this.newest.get(m.conversationId) ?? 0n)) this.newest.set(m.conversationId, id);
    this.ctx.out.result(formatMessage(m), { message: ChatMessage.toJSON(m) });
    this.ack(m.messageId);
    this.watch(m.senderId);
  }

  private ack(messageId: string): void {
    if (!this.client) {
      this.pendingAcks.push(messageId); // the replay arrives before connect() has resolved
      return;
    }
    try {
      this.client.ack([messageId]);
    } catch {
      // The connection just closed; the reconnect's last_seen covers this message.
    }
  }

  /** Watches a message's sender too; before the connection's batch subscription it just joins the batch. */
  private watch(userId: string): void {
    if (userId === this.selfId || this.watched.has(userId) || this.watched.size >= PRESENCE_CAP) return;
    this.watched.add(userId);
    const client = this.client;
    if (client && this.presenceReady) void this.settle(client, client.subscribePresence([userId]));
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wake = done;
    });
  }
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)}s`;
}
