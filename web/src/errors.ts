import { ChatClientError } from '../../internal/client/index';

/** An error to show: the server's ErrorCode name and its message (safe to show), or a local one. */
export class UserFacingError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'UserFacingError';
  }
}

const WORDS: Record<string, string> = {
  ERROR_CODE_INVALID_ARGUMENT: 'That did not look right',
  ERROR_CODE_UNAUTHENTICATED: 'Your sign-in is no longer valid',
  ERROR_CODE_PERMISSION_DENIED: 'You are not allowed to do that',
  ERROR_CODE_NOT_FOUND: 'Not found',
  ERROR_CODE_TOO_LARGE: 'That is too long',
  ERROR_CODE_RATE_LIMITED: 'Slow down a little',
  ERROR_CODE_LIMIT_EXCEEDED: 'A limit was reached',
  ERROR_CODE_UNAVAILABLE: 'The server is unavailable; try again in a moment',
  ERROR_CODE_INTERNAL: 'Something went wrong on the server',
  unavailable: 'Not connected; try again when the connection is back',
  deadline_exceeded: 'The server did not answer in time',
  network: 'The server cannot be reached',
};

/** A sentence for a person, from any error. */
export function describeError(err: unknown): string {
  if (err instanceof UserFacingError || err instanceof ChatClientError) {
    const words = WORDS[err.code];
    return words ? `${words}: ${err.message}` : err.message;
  }
  return err instanceof Error ? err.message : String(err);
}
