import { errorCodeToJSON } from '../../../gen/chat/v1/errors';
import { PresenceEvent } from '../../../gen/chat/v1/gateway';
import { ChatMessage } from '../../../gen/chat/v1/message';
import type { ChatSession, LinkState } from '../../../internal/client/chat-session';
import type { CliContext } from '../cli-context';
import { describeError, formatMessage, formatPresence } from '../output';
import { presencePeers } from '../presence-peers';

/** At most this many users' presence is watched. */
const PRESENCE_CAP = 100;

/**
 * `chat tail`: prints messages and presence changes as they come, until SIGINT/SIGTERM.
 *
 * Everything about staying connected and resuming is the SDK's ChatSession (internal/client):
 * reconnecting with backoff and jitter, presenting the held positions in every `hello`, the
 * replay, paging its gaps, dedupe by id, and acks whose `held_through` the server saves as the
 * device's exact position (the last ones are sent before the tail exits on SIGINT/SIGTERM). So a
 * later tail with the same device prints exactly what it missed (replayed first), and nothing it
 * printed before (docs/clients.md "How a client resumes"). The first connection must succeed: a
 * wrong --server fails fast.
 *
 * Presence: the peers of my DMs and the members of my groups (at most 100) are watched, plus the
 * sender of any later message from someone not yet watched, while under the cap; every
 * connection subscribes again once its replay is over.
 */
export async function tailCommand(ctx: CliContext): Promise<void> {
  const { userId } = await ctx.identity();
  await new Tail(ctx, userId, await ctx.deviceId(), await ctx.session({ retryFirstConnect: false })).run();
}

class Tail {
  private readonly watched = new Set<string>();
  /** True once the current connection has subscribed to everyone in `watched`. */
  private presenceReady = false;
  private connections = 0;

  constructor(
    private readonly ctx: CliContext,
    private readonly selfId: string,
    deviceId: string,
    private readonly session: ChatSession,
  ) {
    const out = ctx.out;
    session.on('welcome', (w) => {
      this.presenceReady = false;
      this.connections += 1;
      out.note(`${this.connections > 1 ? 'reconnected' : 'connected'} as ${w.userId} (device ${deviceId}, server ${w.serverId}); Ctrl-C to stop`);
    });
    session.on('messages', (messages, source) => {
      const n = messages.length;
      if (source === 'replay' && !out.json) out.note(`(${n} message${n === 1 ? '' : 's'} replayed in ${messages[0].conversationId}: what this device missed)`);
      for (const m of messages) this.show(m);
    });
    session.on('caughtUp', () => void this.watchAll());
    session.on('presence', (p) => out.result(formatPresence(p, new Date()), { presence: PresenceEvent.toJSON(p) }));
    session.on('goAway', (g) => out.note(`server going away${g.reason ? `: ${g.reason}` : ''}`));
    session.on('error', (e) => out.note(`server error: ${errorCodeToJSON(e.code)}: ${e.message}`));
    session.on('gapNotFilled', (_gap, err) => this.warn(err));
    session.on('state', (state) => this.noteState(state));
  }

  async run(): Promise<void> {
    const stop = (): void => void this.session.stop();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    try {
      await this.session.run();
    } finally {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
    }
  }

  /** After each connection's replay: (re)subscribes to every peer; presence watches belong to a connection. */
  private async watchAll(): Promise<void> {
    try {
      for (const peer of await presencePeers(await this.ctx.api(), this.selfId, PRESENCE_CAP)) {
        if (this.watched.size < PRESENCE_CAP) this.watched.add(peer);
      }
      const watched = [...this.watched];
      if (watched.length > 0) await this.session.subscribePresence(watched);
    } catch (err) {
      if (!this.session.isOpen) return; // dropped: the next connection subscribes again
      this.warn(err);
    }
    this.presenceReady = true;
    if (!this.ctx.out.json) this.ctx.out.note(`watching presence of ${this.watched.size} user${this.watched.size === 1 ? '' : 's'}`);
  }

  private show(m: ChatMessage): void {
    this.ctx.out.result(formatMessage(m), { message: ChatMessage.toJSON(m) });
    this.watch(m.senderId);
  }

  /** Watches a message's sender too; before the connection's batch subscription it just joins the batch. */
  private watch(userId: string): void {
    if (userId === this.selfId || this.watched.has(userId) || this.watched.size >= PRESENCE_CAP) return;
    this.watched.add(userId);
    if (this.presenceReady) this.session.subscribePresence([userId]).catch((err: unknown) => this.session.isOpen && this.warn(err));
  }

  private noteState(state: LinkState): void {
    if (state.kind !== 'waiting') return;
    const wait = seconds(state.retryAtMs - Date.now());
    if (state.error) {
      const { code, message } = describeError(state.error);
      this.ctx.out.note(`reconnect failed: ${code}: ${message}; retrying in ${wait}`);
    } else {
      this.ctx.out.note(`connection lost (${state.reason}); reconnecting in ${wait}`);
    }
  }

  private warn(err: unknown): void {
    const { code, message } = describeError(err);
    this.ctx.out.note(`warning: ${code}: ${message}`);
  }
}

function seconds(ms: number): string {
  return `${(Math.max(0, ms) / 1000).toFixed(1)}s`;
}
