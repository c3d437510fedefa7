import { status } from '@grpc/grpc-js';
import { ErrorCode } from '../../gen/chat/v1/errors';
import { ChatError } from './chat-error';

/** How one ErrorCode travels on each transport. The single table the transports consult. */
interface Mapping {
  grpc: status;
  /** Connect protocol error code (lower snake case of the gRPC status). */
  connect: string;
  http: number;
}

const TABLE: Record<ErrorCode, Mapping> = {
  [ErrorCode.ERROR_CODE_UNSPECIFIED]: { grpc: status.UNKNOWN, connect: 'unknown', http: 500 },
  [ErrorCode.ERROR_CODE_MALFORMED_FRAME]: { grpc: status.INVALID_ARGUMENT, connect: 'invalid_argument', http: 400 },
  [ErrorCode.ERROR_CODE_UNKNOWN_FRAME]: { grpc: status.INVALID_ARGUMENT, connect: 'invalid_argument', http: 400 },
  [ErrorCode.ERROR_CODE_INVALID_ARGUMENT]: { grpc: status.INVALID_ARGUMENT, connect: 'invalid_argument', http: 400 },
  [ErrorCode.ERROR_CODE_UNAUTHENTICATED]: { grpc: status.UNAUTHENTICATED, connect: 'unauthenticated', http: 401 },
  [ErrorCode.ERROR_CODE_PERMISSION_DENIED]: { grpc: status.PERMISSION_DENIED, connect: 'permission_denied', http: 403 },
  [ErrorCode.ERROR_CODE_NOT_FOUND]: { grpc: status.NOT_FOUND, connect: 'not_found', http: 404 },
  [ErrorCode.ERROR_CODE_TOO_LARGE]: { grpc: status.RESOURCE_EXHAUSTED, connect: 'resource_exhausted', http: 413 },
  [ErrorCode.ERROR_CODE_RATE_LIMITED]: { grpc: status.RESOURCE_EXHAUSTED, connect: 'resource_exhausted', http: 429 },
  [ErrorCode.ERROR_CODE_LIMIT_EXCEEDED]: { grpc: status.FAILED_PRECONDITION, connect: 'failed_precondition', http: 400 },
  [ErrorCode.ERROR_CODE_PROTOCOL_VIOLATION]: { grpc: status.FAILED_PRECONDITION, connect: 'failed_precondition', http: 400 },
  [ErrorCode.ERROR_CODE_UNAVAILABLE]: { grpc: status.UNAVAILABLE, connect: 'unavailable', http: 503 },
  [ErrorCode.ERROR_CODE_INTERNAL]: { grpc: status.INTERNAL, connect: 'internal', http: 500 },
  [ErrorCode.UNRECOGNIZED]: { grpc: status.UNKNOWN, connect: 'unknown', http: 500 },
};

export function transportMapping(code: ErrorCode): Mapping {
  return TABLE[code];
}

/** The gRPC status a ChatError travels as, plus its safe message. */
export function toGrpcStatus(err: ChatError): { code: status; details: string } {
  return { code: TABLE[err.code].grpc, details: err.message };
}

const FROM_GRPC = new Map<status, ErrorCode>([
  [status.INVALID_ARGUMENT, ErrorCode.ERROR_CODE_INVALID_ARGUMENT],
  [status.UNAUTHENTICATED, ErrorCode.ERROR_CODE_UNAUTHENTICATED],
  [status.PERMISSION_DENIED, ErrorCode.ERROR_CODE_PERMISSION_DENIED],
  [status.NOT_FOUND, ErrorCode.ERROR_CODE_NOT_FOUND],
  [status.RESOURCE_EXHAUSTED, ErrorCode.ERROR_CODE_RATE_LIMITED],
  [status.FAILED_PRECONDITION, ErrorCode.ERROR_CODE_LIMIT_EXCEEDED],
  [status.UNAVAILABLE, ErrorCode.ERROR_CODE_UNAVAILABLE],
  [status.DEADLINE_EXCEEDED, ErrorCode.ERROR_CODE_UNAVAILABLE],
]);

/** A gRPC status received from another service, back as a ChatError (for clients of our services). */
export function fromGrpcStatus(code: status, details: string): ChatError {
  return new ChatError(FROM_GRPC.get(code) ?? ErrorCode.ERROR_CODE_INTERNAL, details);
}
