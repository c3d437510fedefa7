import { ErrorCode, errorCodeToJSON } from '../../gen/chat/v1/errors';

/**
 * The one error type business code throws. Its code is from the closed set in errors.proto; the
 * message is safe to show to the caller. An internal cause, if any, is logged and never sent.
 */
export class ChatError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ChatError';
  }

  static invalidArgument(message: string): ChatError {
    return new ChatError(ErrorCode.ERROR_CODE_INVALID_ARGUMENT, message);
  }
  static unauthenticated(message: string): ChatError {
    return new ChatError(ErrorCode.ERROR_CODE_UNAUTHENTICATED, message);
  }
  static permissionDenied(message: string): ChatError {
    return new ChatError(ErrorCode.ERROR_CODE_PERMISSION_DENIED, message);
  }
  static notFound(message: string): ChatError {
    return new ChatError(ErrorCode.ERROR_CODE_NOT_FOUND, message);
  }
  static limitExceeded(message: string): ChatError {
    return new ChatError(ErrorCode.ERROR_CODE_LIMIT_EXCEEDED, message);
  }
  static tooLarge(message: string): ChatError {
    return new ChatError(ErrorCode.ERROR_CODE_TOO_LARGE, message);
  }
  /** A dependency failed or timed out; safe to retry. The cause is for the log only. */
  static unavailable(message: string, cause?: unknown): ChatError {
    return new ChatError(ErrorCode.ERROR_CODE_UNAVAILABLE, message, { cause });
  }

  /** A stable short name for logs and metrics, e.g. "PERMISSION_DENIED". */
  get codeName(): string {
    return errorCodeToJSON(this.code).replace(/^ERROR_CODE_/, '');
  }

  /** Any thrown value as a ChatError; unknown causes become INTERNAL with a generic message. */
  static from(err: unknown): ChatError {
    if (err instanceof ChatError) return err;
    return new ChatError(ErrorCode.ERROR_CODE_INTERNAL, 'internal error', { cause: err });
  }
}
