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
import { ResumeSession } from '../../../internal/client/resume-session';

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
 * Resuming, by position (docs/clients.md "How a client resumes"): the tail tracks, per
 * conversation, the message up to which it holds every message, from their `seq` numbers
 * (ResumeSession over HeldPositions, internal/client). Every received message is acked, with that position as
 * `held_through`, which the server saves as the device's exact position; the acks still pending
 * are sent before the tail exits on SIGINT/SIGTERM. So a later tail with the same device gets
 * exactly what it missed (the server replays it as history pages, printed first), and nothing it
 * printed before. Within one run, each reconnect presents the positions as `resume_after` (and,
 * for conversations with only unnumbered messages, the newest id as the `last_seen` hint). A gap
 * the replay names is paged forward with `history`. Ids already printed in this run are skipped
 * all the same, as a safety net.
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
  /** Positions, `hello` fields and acks of this run. */
  private readonly resume = new ResumeSession();
  private readonly printed = new RecentIds(10_000);
  private readonly watched = new Set<string>();
  private selfId = '';
  private client: ChatClient | undefined;
  /** True once the current connection has subscribed to everyone in `watched`. */
  private presenceReady = false;
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
    if (!this.client) return;
    // What this run holds is saved by the server only through acks: send the last ones first.
    this.flushAcks();
    void this.client.close();
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
    let onClose: (closed: [number, string]) => void = () => undefined;
    const closed = new Promise<[number, string]>((resolve) => {
      onClose = resolve;
    });
    let onReplayed: (gaps: ResumeGap[]) => void = () => undefined;
    const replayed = new Promise<ResumeGap[]>((resolve) => {
      onReplayed = resolve;
    });
    // Listeners go in before `hello`: the replay follows `welcome` at once (it can arrive before
    // connect() resolves, which is why acks wait in `resume` until `client` is set).
    const client = await this.ctx.connect({
      ...this.resume.hello(),
      listeners: {
        message: (m) => {
          this.resume.message(m);
          this.show(m);
          this.flushAcks();
        },
        historyPage: (page) => {
          this.resume.page(page);
          this.showReplay(page);
        },
        gap: (gap) => this.resume.gap(gap),
        resumeComplete: () => {
          const gaps = this.resume.complete();
          this.flushAcks();
          onReplayed(gaps);
        },
        presence: (p) => this.ctx.out.result(formatPresence(p, new Date()), { presence: PresenceEvent.toJSON(p) }),
        goAway: (g) => this.ctx.out.note(`server going away${g.reason ? `: ${g.reason}` : ''}`),
        error: (e) => this.ctx.out.note(`server error: ${errorCodeToJSON(e.code)}: ${e.message}`),
        close: (code, reason) => onClose([code, reason]),
      },
    });
    this.client = client;
    this.flushAcks();
    if (this.stopping) {
      await client.close();
      return { closed };
    }
    this.ctx.out.note(`${reconnect ? 'reconnected' : 'connected'} as ${userId} (device ${await this.ctx.deviceId()}, server ${client.welcome.serverId}); Ctrl-C to stop`);
    await this.settle(client, this.pageForward(client, replayed, closed));
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
  private async pageForward(client: ChatClient, replayed: Promise<ResumeGap[]>, closed: Promise<unknown>): Promise<void> {
    const gaps = await Promise.race([replayed, closed.then(() => [])]);
    if (gaps.some((g) => g.reason === GapReason.GAP_REASON_HISTORY_BEHIND)) await this.sleep(HISTORY_BEHIND_RETRY_MS);
    for (const { conversationId, afterId: from } of gaps) {
      let afterId = from;
      for (;;) {
        const page = await client.history({ conversationId, afterId });
        this.resume.pagedForward(conversationId, afterId, page.messages);
        for (const m of page.messages) this.show(m);
        this.flushAcks();
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
      this.ctx.out.note(`(${n} message${n === 1 ? '' : 's'} replayed in ${page.conversationId}: what this device missed${page.hasMore ? '; more follow' : ''})`);
    }
    for (const m of fresh) this.show(m);
  }

  /** Prints a message unless this run printed it already (acks are `resume`'s business). */
  private show(m: ChatMessage): void {
    if (!this.printed.add(m.messageId)) return;
    this.ctx.out.result(formatMessage(m), { message: ChatMessage.toJSON(m) });
    this.watch(m.senderId);
  }

  /** Sends what `resume` has to acknowledge (nothing before the connection is set, or during its replay). */
  private flushAcks(): void {
    if (!this.client) return;
    const ack = this.resume.takeAck();
    if (!ack) return;
    try {
      this.client.ack(ack.messageIds, ack.heldThrough);
    } catch {
      // The connection just closed; the reconnect's resume_after carries the positions.
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
