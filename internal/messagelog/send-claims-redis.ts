import { ChatMessage } from '../../gen/chat/v1/message';
import { withDeadline } from '../deadline/with-deadline';
import type { RedisClient } from '../engines/redis-client';
import { ChatError } from '../errors/chat-error';
import { claimKey, type SendClaims } from './send-claims';

export interface RedisSendClaimsOptions {
  /** One Redis or a Cluster (each claim is one command on one key). */
  redis: RedisClient;
  keyPrefix: string;
  ttlMs: number;
  commandTimeoutMs: number;
}

/**
 * SendClaims in Redis: one `SET key message NX PX ttl GET` per send, atomic on the server, so
 * chat servers anywhere in the mesh agree on the first message of a key.
 */
export class RedisSendClaims implements SendClaims {
  constructor(private readonly opts: RedisSendClaimsOptions) {}

  async claim(message: ChatMessage): Promise<ChatMessage> {
    const key = `${this.opts.keyPrefix}claim:${claimKey(message)}`;
    const value = Buffer.from(ChatMessage.encode(message).finish());
    let held: Buffer | null;
    try {
      held = await withDeadline(this.opts.redis.setBuffer(key, value, 'PX', this.opts.ttlMs, 'NX', 'GET'), this.opts.commandTimeoutMs, 'claiming a send in Redis');
    } catch (err) {
      throw ChatError.unavailable('the send could not be registered; retry it', err);
    }
    return held ? ChatMessage.decode(held) : message;
  }
}
