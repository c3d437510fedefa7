import { SendAck } from '../../../gen/chat/v1/gateway';
import type { CliContext } from '../cli-context';
import { conversationTarget } from '../conversation-target';

/**
 * `chat send <conversation|user> <text...>`: sends one message over a short-lived WebSocket session
 * and prints the id the server assigned.
 */
export async function sendCommand(ctx: CliContext, target: string, words: string[]): Promise<void> {
  const text = words.join(' ');
  const { userId } = await ctx.identity();
  const conversationId = conversationTarget(target, userId);
  const client = await ctx.connect({ autoHeartbeat: false });
  try {
    const ack = await client.send(conversationId, text);
    ctx.out.result(ack.messageId, SendAck.toJSON(ack));
  } finally {
    await client.close();
  }
}
