import { UserPresence } from '../../../gen/chat/v1/message';
import type { CliContext } from '../cli-context';
import { formatPresence } from '../output';

/**
 * `chat presence <users...>`: the current presence of users who share a conversation with me; the
 * server omits the others, which are named on stderr.
 */
export async function presenceCommand(ctx: CliContext, users: string[]): Promise<void> {
  const presences = await (await ctx.api()).getPresence(users);
  const now = new Date();
  ctx.out.result(
    presences.map((p) => formatPresence(p, now)),
    { presences: presences.map((p) => UserPresence.toJSON(p)) },
  );
  const shown = new Set(presences.map((p) => p.userId));
  const hidden = users.filter((u) => !shown.has(u));
  if (hidden.length > 0 && !ctx.out.json) ctx.out.note(`not visible (no shared conversation): ${hidden.join(', ')}`);
}
