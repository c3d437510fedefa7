import type { Metadata, ServerUnaryCall, sendUnaryData, ServiceError, UntypedServiceImplementation } from '@grpc/grpc-js';
import { Metadata as GrpcMetadata } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { TokenVerifier } from '../auth/token-verifier';
import { ChatError } from '../errors/chat-error';
import { toGrpcStatus } from '../errors/error-codes';
import { authenticate } from './authenticate';
import type { UnaryMethod } from './unary-method';

export function bearerOf(metadata: Metadata): string | undefined {
  const v = metadata.get('authorization')[0];
  return typeof v === 'string' ? v : undefined;
}

/** A ChatError as the ServiceError grpc-js expects; INTERNAL causes are logged here, once. */
export function toServiceError(err: unknown, log: Logger, what: string): Partial<ServiceError> {
  const e = ChatError.from(err);
  if (e.codeName === 'INTERNAL') log.error({ err: e.cause ?? e, rpc: what }, 'rpc failed');
  const { code, details } = toGrpcStatus(e);
  const metadata = new GrpcMetadata();
  metadata.set('chat-error-code', e.codeName);
  return { code, details, message: details, metadata };
}

/**
 * The one place grpc-js callbacks meet our async handlers: authenticate, run, answer exactly once,
 * map errors through the single table.
 */
export function grpcUnaryImplementation(methods: readonly UnaryMethod[], verifier: TokenVerifier, log: Logger): UntypedServiceImplementation {
  const impl: UntypedServiceImplementation = {};
  for (const m of methods) {
    impl[m.key] = (call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) => {
      authenticate(verifier, bearerOf(call.metadata), m.access)
        .then((caller) => m.handle(call.request, caller))
        .then(
          (res) => callback(null, res),
          (err: unknown) => callback(toServiceError(err, log, `${m.service}/${m.name}`)),
        );
    };
  }
  return impl;
}
