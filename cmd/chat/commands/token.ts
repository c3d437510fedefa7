import type { CliContext } from '../cli-context';

/** `chat token <user>`: prints a dev token for the user (dev-mode servers only). */
export async function tokenCommand(ctx: CliContext, userId: string): Promise<void> {
  const token = await ctx.anonymousHttp().devToken(userId);
  ctx.out.result(token, { token });
}
