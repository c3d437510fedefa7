import { ErrorCode } from '../../gen/chat/v1/errors';
import { ChatError } from '../errors/chat-error';
import type { SnowflakeGenerator } from './snowflake';
import type { WorkerLease } from './worker-lease';

/** Where new Snowflake ids come from (decimal strings, as they travel). */
export interface IdSource {
  nextString(): string;
}

/**
 * A generator whose worker id is leased: it refuses to issue ids (UNAVAILABLE) once the lease is
 * no longer certainly held, so two processes never issue ids under one worker id (fail closed).
 */
export function leasedIds(generator: SnowflakeGenerator, lease: WorkerLease): IdSource {
  return {
    nextString: () => {
      if (!lease.isHeld()) throw new ChatError(ErrorCode.ERROR_CODE_UNAVAILABLE, 'this server lost its Snowflake worker-id lease; retry on another server');
      return generator.nextString();
    },
  };
}
