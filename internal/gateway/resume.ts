import { GapReason, type HistoryPage, type ResumeComplete, type ResumeGap } from '../../gen/chat/v1/gateway';
import type { Principal } from '../auth/principal';
import { ChatError } from '../errors/chat-error';
import { parseConversationId } from '../conversation/conversation-id';
import { parseCursor } from '../chat/page-query';
import { laterCursor, type DeviceCursor } from '../history/message-store';
import { rewindSnowflake } from '../snowflake/snowflake';
import type { GatewayContext } from './gateway-context';

/** What a resume uses of the chat server. */
export type ResumeContext = Pick<GatewayContext, 'cursors' | 'history' | 'historyCatchUp' | 'limits'> & { acks: Pick<GatewayContext['acks'], 'unsaved'> };

export interface ResumeRequest {
  ctx: ResumeContext;
  principal: Principal;
  deviceId: string;
  /** From `hello`: conversation id → newest message id the device has seen (a hint). */
  lastSeen: Record<string, string>;
  /** From `hello`: conversation id → id up to which the device holds every message (exact). */
  resumeAfter: Record<string, string>;
}

/** Where the frames of a replay go, in order: pages and gaps, then one completion. */
export interface ResumeOutput {
  page(p: HistoryPage): void;
  gap(g: ResumeGap): void;
  /** A bad `last_seen` entry (the rest is still replayed). */
  error(e: ChatError): void;
  complete(c: ResumeComplete): void;
}

/**
 * Replays, per conversation, what a device may have missed, oldest first, and says explicitly
 * where it could not: a replay is never incomplete silently.
 *
 * Positions come from `hello` and, for conversations it does not name, from what the device
 * acknowledged on earlier connections. An exact position (`resume_after`, `ack.held_through`:
 * the device holds every message up to that id) is replayed from as it is: within a conversation
 * ids grow with seq, so "after that id" is exactly what the device lacks. A hint (`last_seen`, a
 * plain ack: the newest id the device saw, which says nothing of an older message still on its
 * way) is rewound by `resumeOverlapMs` of Snowflake time before reading, and that replay repeats
 * recent messages the device has, which clients drop by id.
 *
 * Before reading, history must hold every message acknowledged so far (in the mesh the sync worker
 * writes it shortly after the ack): that is awaited for at most `resumeSyncWaitMs`. The device is
 * already registered for live delivery, so anything acknowledged after that point reaches it
 * live. Gaps: REPLAY_LIMIT beyond `resumeMaxMessages`, HISTORY_BEHIND when the wait ran out (what
 * history had is still replayed), HISTORY_UNAVAILABLE when the read failed, TOO_MANY_CONVERSATIONS
 * beyond `resumeMaxConversations`. Conversations the user may no longer read are dropped.
 */
export async function resumeConversations(req: ResumeRequest, out: ResumeOutput): Promise<void> {
  const { ctx } = req;
  const positions = await devicePositions(req, out);
  const max = ctx.limits.resumeMaxConversations;
  const entries = [...positions].map(([conversationId, c]) => ({ conversationId, from: c.exact ? c.messageId : rewindSnowflake(c.messageId, ctx.limits.resumeOverlapMs) }));
  let gaps = 0;
  const gap = (conversationId: string, afterId: bigint, reason: GapReason) => {
    gaps++;
    out.gap({ conversationId, afterId: afterId.toString(), reason });
  };
  for (const { conversationId, from } of entries.slice(max)) gap(conversationId, from, GapReason.GAP_REASON_TOO_MANY_CONVERSATIONS);
  const served = entries.slice(0, max);
  const caughtUp = served.length === 0 || (await ctx.historyCatchUp.waitForHistory(ctx.limits.resumeSyncWaitMs));
  for (const { conversationId, from } of served) {
    let page: Awaited<ReturnType<GatewayContext['history']['history']>>;
    try {
      page = await ctx.history.history(req.principal, { conversationId, afterId: from.toString(), beforeId: '', limit: ctx.limits.resumeMaxMessages });
    } catch (err) {
      const e = ChatError.from(err);
      if (e.codeName !== 'PERMISSION_DENIED' && e.codeName !== 'NOT_FOUND') gap(conversationId, from, GapReason.GAP_REASON_HISTORY_UNAVAILABLE);
      continue;
    }
    if (page.messages.length > 0) out.page({ conversationId, messages: page.messages, hasMore: page.hasMore });
    const last = page.messages.at(-1);
    // Behind wins: a message still missing from history may sort anywhere after `from`.
    if (!caughtUp) gap(conversationId, from, GapReason.GAP_REASON_HISTORY_BEHIND);
    else if (page.hasMore && last) gap(conversationId, BigInt(last.messageId), GapReason.GAP_REASON_REPLAY_LIMIT);
  }
  out.complete({ conversations: entries.length, gaps });
}

/**
 * The device's saved positions, raised to what it acknowledged on this server and is not saved yet,
 * then overridden by those named in `hello` (`resume_after` over `last_seen`). Bad entries are reported and skipped; saved positions
 * that cannot be read are reported (the client then knows to name every conversation in
 * `last_seen`), and the replay goes on with the ones it named.
 *
 * One read per hello, even when `last_seen` names conversations: the saved positions cover those
 * it leaves out, which the server cannot know of otherwise. In the mesh the reads of the hellos of
 * one event-loop turn share one GetDeviceCursorsBatch call (HistoryClient).
 */
async function devicePositions(req: ResumeRequest, out: ResumeOutput): Promise<Map<string, DeviceCursor>> {
  // Taken before the read: an ack is either still unsaved now or was saved before the read began.
  const unsaved = req.ctx.acks.unsaved(req.principal.id, req.deviceId);
  let positions = new Map<string, DeviceCursor>();
  try {
    positions = await req.ctx.cursors.loadDeviceCursors(req.principal.id, req.deviceId);
  } catch (err) {
    const e = ChatError.from(err);
    out.error(new ChatError(e.code, `saved resume positions could not be read (${e.message}); only those in last_seen were replayed`));
  }
  for (const [conversationId, c] of unsaved ?? []) positions.set(conversationId, laterCursor(positions.get(conversationId), c));
  const named = (entries: Record<string, string>, field: string, exact: boolean) => {
    for (const [conversationId, id] of Object.entries(entries)) {
      try {
        parseConversationId(conversationId);
        const messageId = parseCursor(id, `${field}[${conversationId}]`);
        if (messageId !== undefined) positions.set(conversationId, { messageId, exact });
      } catch (err) {
        out.error(ChatError.from(err));
      }
    }
  };
  named(req.lastSeen, 'last_seen', false);
  named(req.resumeAfter, 'resume_after', true);
  return positions;
}
