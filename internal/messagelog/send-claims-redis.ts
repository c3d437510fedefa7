import { ChatMessage } from '../../gen/chat/v1/message';
import { withDeadline } from '../deadline/with-deadline';
import { clientKeyPrefix, defineScript, type RedisClient, type RedisScript } from '../engines/redis-client';
import { ChatError } from '../errors/chat-error';
import { claimKey, type ClaimResult, type SendClaims } from './send-claims';

export interface RedisSendClaimsOptions {
  /** One Redis or a Cluster (a claim's two keys share the conversation's hash slot). */
  redis: RedisClient;
  keyPrefix: string;
  ttlMs: number;
  /** How long a conversation's numbering outlives its last message (CHAT_SEQUENCE_TTL_SEC). */
  sequenceTtlMs: number;
  commandTimeoutMs: number;
}

/**
 * KEYS: the claim (hash m, s, e, and a once appended), the conversation's numbering (hash s, e, n: seq, epoch, newest id).
 * ARGV: the encoded draft, claim TTL, the draft's id (decimal), numbering TTL.
 * Returns {1, seq, epoch} when the draft won, {0, message, seq, epoch} for a held claim, {2, newest id}
 * when the draft's id is not above the conversation's newest. Ids compare as decimal strings:
 * longer is greater, then lexicographic (Lua numbers are doubles and lose 64-bit ids).
 */
const CLAIM = `
local held = redis.call('HMGET', KEYS[1], 'm', 's', 'e', 'a')
if held[1] then return {0, held[1], held[2], held[3], held[4] or ''} end
local newest = redis.call('HGET', KEYS[2], 'n')
local id = ARGV[3]
if newest and (#newest > #id or (#newest == #id and newest >= id)) then return {2, newest} end
redis.call('HSETNX', KEYS[2], 'e', id)
local seq = redis.call('HINCRBY', KEYS[2], 's', 1)
redis.call('HSET', KEYS[2], 'n', id)
redis.call('PEXPIRE', KEYS[2], ARGV[4])
local epoch = redis.call('HGET', KEYS[2], 'e')
redis.call('HSET', KEYS[1], 'm', ARGV[1], 's', seq, 'e', epoch)
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return {1, seq, epoch}
`;

/** KEYS: the claim. ARGV: the message id. Marks a live claim of that message appended (an expired one stays gone). */
const APPENDED = `
local m = redis.call('HGET', KEYS[1], 'm')
if m then redis.call('HSET', KEYS[1], 'a', ARGV[1]) end
return 0
`;

type ClaimReply = [1, number, Buffer] | [0, Buffer, Buffer, Buffer, Buffer] | [2, Buffer];

/**
 * SendClaims in Redis: one script per send, atomic on the server, so chat servers anywhere in the
 * mesh agree on the first message of a key and on the conversation's numbering. Both keys carry
 * the conversation id as their hash tag, so the script runs on a Redis Cluster too.
 *
 * What Redis durability means here: a restart or failover that loses a conversation's numbering
 * starts a new epoch (clients see the epoch change and close the gap from history); one that keeps
 * an older copy (an asynchronous replica behind the primary) may number a few messages again with
 * seqs already given, which clients treat as already held (they dedupe by id). See GUARANTEES.md.
 */
export class RedisSendClaims implements SendClaims {
  private readonly script: RedisScript;
  private readonly markAppended: RedisScript;

  constructor(private readonly opts: RedisSendClaimsOptions) {
    if (clientKeyPrefix(opts.redis)) throw new Error('RedisSendClaims: pass keyPrefix to the claims, not to the ioredis client');
    this.script = defineScript(opts.redis, 'chatSendClaim', CLAIM, 2, { buffers: true });
    this.markAppended = defineScript(opts.redis, 'chatSendClaimAppended', APPENDED, 1);
  }

  async appended(message: ChatMessage): Promise<void> {
    await withDeadline(this.markAppended(this.claimKeyOf(message), message.messageId), this.opts.commandTimeoutMs, 'noting an append in Redis');
  }

  private claimKeyOf(message: ChatMessage): string {
    return `${this.opts.keyPrefix}claim:{${message.conversationId}}:${claimKey(message)}`;
  }

  async claim(draft: ChatMessage): Promise<ClaimResult> {
    const p = this.opts.keyPrefix;
    const tag = `{${draft.conversationId}}`;
    const value = Buffer.from(ChatMessage.encode(draft).finish());
    let reply: ClaimReply;
    try {
      reply = (await withDeadline(
        this.script(this.claimKeyOf(draft), `${p}seq:${tag}`, value, this.opts.ttlMs, draft.messageId, this.opts.sequenceTtlMs),
        this.opts.commandTimeoutMs,
        'claiming a send in Redis',
      )) as ClaimReply;
    } catch (err) {
      throw ChatError.unavailable('the send could not be registered; retry it', err);
    }
    switch (reply[0]) {
      case 1:
        return { message: { ...draft, seq: String(reply[1]), epoch: reply[2].toString() } };
      case 0:
        return { message: { ...ChatMessage.decode(reply[1]), seq: reply[2].toString(), epoch: reply[3].toString() }, appended: reply[4].length > 0 };
      default:
        return { behind: BigInt(reply[1].toString()) };
    }
  }
}
