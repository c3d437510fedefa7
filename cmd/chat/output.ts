import type { Group, GroupMember } from '../../gen/chat/v1/group';
import { MemberRole } from '../../gen/chat/v1/group';
import { type ChatMessage, type ConversationSummary, PresenceStatus } from '../../gen/chat/v1/message';
import { ChatClientError } from '../../internal/client/chat-client-error';

/**
 * Where the CLI writes. Results go to stdout: lines for people, or with `--json` one JSON value per
 * line (proto3 canonical JSON of what the server returned) for scripts. Notes and errors go to
 * stderr, so stdout stays parseable.
 */
export class Output {
  constructor(
    readonly json: boolean,
    private readonly stdout: NodeJS.WritableStream = process.stdout,
    private readonly stderr: NodeJS.WritableStream = process.stderr,
  ) {}

  /** Prints a result: `text` (a line or lines) for people, `json` with `--json`. */
  result(text: string | readonly string[], json: unknown): void {
    if (this.json) this.stdout.write(`${JSON.stringify(json)}\n`);
    else for (const line of typeof text === 'string' ? [text] : text) this.stdout.write(`${line}\n`);
  }

  /** A status note for people on stderr (reconnects, paging hints, warnings). */
  note(text: string): void {
    this.stderr.write(`${text}\n`);
  }

  /** Prints `error: <code>: <message>` on stderr. */
  error(err: unknown): void {
    const { code, message } = describeError(err);
    this.stderr.write(`error: ${code}: ${message}\n`);
  }
}

/** The code and message of any thrown value (`internal` for errors that are not ChatClientErrors). */
export function describeError(err: unknown): { code: string; message: string } {
  if (err instanceof ChatClientError) return { code: err.code, message: err.message };
  return { code: 'internal', message: err instanceof Error ? err.message : String(err) };
}

/** `YYYY-MM-DD HH:MM:SS` in local time; `-` when unknown. */
export function formatTime(date: Date | undefined): string {
  if (!date || Number.isNaN(date.getTime())) return '-';
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${p(date.getMonth() + 1)}-${p(date.getDate())} ${p(date.getHours())}:${p(date.getMinutes())}:${p(date.getSeconds())}`;
}

/** One line: time, conversation, sender, text. */
export function formatMessage(m: ChatMessage): string {
  return `${formatTime(m.createdAt)}  ${m.conversationId}  ${safe(m.senderId)}: ${safe(m.text)}`;
}

/** One line: time of the event (or last seen), the user, online/offline. */
export function formatPresence(p: { userId: string; status: PresenceStatus; lastSeen: Date | undefined }, now?: Date): string {
  const seen = p.status === PresenceStatus.PRESENCE_STATUS_OFFLINE && p.lastSeen ? ` (last seen ${formatTime(p.lastSeen)})` : '';
  return `${formatTime(now ?? p.lastSeen)}  presence  ${safe(p.userId)} ${presenceName(p.status)}${seen}`;
}

/** `online`, `offline` or `unknown`. */
export function presenceName(status: PresenceStatus): string {
  if (status === PresenceStatus.PRESENCE_STATUS_ONLINE) return 'online';
  if (status === PresenceStatus.PRESENCE_STATUS_OFFLINE) return 'offline';
  return 'unknown';
}

/** One line: group id, conversation id, member count, name. */
export function formatGroup(g: Group): string {
  return `${g.groupId}  ${g.conversationId}  ${g.memberCount} member${g.memberCount === 1 ? '' : 's'}  ${safe(g.name)}`;
}

/** One line: user id and role. */
export function formatMember(m: GroupMember): string {
  return `${safe(m.userId)}  ${m.role === MemberRole.MEMBER_ROLE_ADMIN ? 'admin' : 'member'}  joined ${formatTime(m.joinedAt)}`;
}

/** One line: conversation id, then its last message. */
export function formatConversation(c: ConversationSummary): string {
  const last = c.lastMessage;
  return last ? `${c.conversationId}  ${formatTime(last.createdAt)}  ${safe(last.senderId)}: ${safe(last.text)}` : c.conversationId;
}

/**
 * Text from other users, made safe for a terminal line: control characters (newlines, escape
 * sequences that could rewrite the screen) are shown as escapes instead of being interpreted.
 */
export function safe(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => {
    if (c === '\n') return '\\n';
    if (c === '\t') return '\\t';
    return `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
  });
}
