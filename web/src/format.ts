import { PresenceStatus } from '../../gen/chat/v1/message';
import type { PresenceInfo } from './app-state';

const time = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
const day = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric' });

/** "14:03" today, "Nov 27" before. */
export function shortTime(date: Date | undefined): string {
  if (!date) return '';
  return date.toDateString() === new Date().toDateString() ? time.format(date) : day.format(date);
}

/** "just now", "5 min ago", "3 h ago", or a date. */
export function ago(date: Date, now = Date.now()): string {
  const s = Math.max(0, Math.round((now - date.getTime()) / 1000));
  if (s < 45) return 'just now';
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return `${day.format(date)}, ${time.format(date)}`;
}

/** "online", "last seen 5 min ago", "offline", or "" when unknown. */
export function presenceText(p: PresenceInfo | undefined): string {
  if (!p) return '';
  if (p.status === PresenceStatus.PRESENCE_STATUS_ONLINE) return 'online';
  return p.lastSeen ? `last seen ${ago(p.lastSeen)}` : 'offline';
}

export function isOnline(p: PresenceInfo | undefined): boolean {
  return p?.status === PresenceStatus.PRESENCE_STATUS_ONLINE;
}

/** Comma- or space-separated user ids. */
export function parseUserIds(text: string): string[] {
  return [...new Set(text.split(/[\s,]+/).map((s) => s.trim()).filter(Boolean))];
}
