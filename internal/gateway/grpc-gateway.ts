import type { ServerDuplexStream, UntypedServiceImplementation } from '@grpc/grpc-js';
import { status } from '@grpc/grpc-js';
import { GatewayServiceService, type ConnectRequest, type ConnectResponse } from '../../gen/chat/v1/gateway';
import { ChatError } from '../errors/chat-error';
import { bearerOf } from '../rpc/grpc-unary';
import type { CloseCause, FrameSink } from './client-connection';
import { decodeClientFrame } from './frame-codec';
import type { Gateway } from './gateway';

const CLOSE_STATUS: Record<CloseCause, status> = {
  unauthenticated: status.UNAUTHENTICATED,
  protocol: status.INVALID_ARGUMENT,
  timeout: status.DEADLINE_EXCEEDED,
  slow_consumer: status.RESOURCE_EXHAUSTED,
  going_away: status.UNAVAILABLE,
  limit: status.RESOURCE_EXHAUSTED,
};

/**
 * GatewayService as served. An undecodable client frame reaches the connection as a
 * MALFORMED_FRAME error, and one over `maxFrameBytes` as TOO_LARGE (an error frame, and the stream
 * stays open, as on /ws), instead of failing inside grpc-js. When grpc-js refuses a message itself
 * (undecodable, or over the server's message limit) it ends the call on its own, and a frame the
 * connection writes before grpc-js has sent the trailers (the answer to an earlier frame, a
 * delivery) leaves the stream with neither trailers nor a reset: the client hangs until its
 * deadline, and a Connect stream has none. The fuzzer in edge-fuzz.spec.ts found it for undecodable
 * frames, and CI hung on it for an oversized one. So the frame cap is checked here, and the
 * server's message limit (grpcEdgeMessageBytes) is far above it.
 */
export function gatewayService(maxFrameBytes: number) {
  return {
    ...GatewayServiceService,
    connect: {
      ...GatewayServiceService.connect,
      requestDeserialize: (bytes: Buffer): ConnectRequest | ChatError => {
        if (bytes.length > maxFrameBytes) return ChatError.tooLarge(`frame is ${bytes.length} bytes; the limit is ${maxFrameBytes}`);
        try {
          return decodeClientFrame(bytes, 'binary');
        } catch (err) {
          return ChatError.from(err);
        }
      },
    },
  };
}

/**
 * The gRPC message limit of a server that serves GatewayService: the internal limit (the relay's
 * batches share a chat server's port), never below the client frame cap. Only a message over it
 * meets grpc-js's own refusal (RESOURCE_EXHAUSTED), with the race described above.
 */
export function grpcEdgeMessageBytes(config: { maxFrameBytes: number; rpcMaxMessageBytes: number }): number {
  return Math.max(config.maxFrameBytes, config.rpcMaxMessageBytes);
}

/**
 * GatewayService.Connect: the client protocol over a gRPC bidi stream, sharing ClientConnection
 * with the WebSocket edge. The token may also come as `authorization: Bearer` metadata.
 */
export function grpcGatewayImplementation(gateway: Gateway, maxBufferedBytes: number): UntypedServiceImplementation {
  return {
    connect: (call: ServerDuplexStream<ConnectRequest | ChatError, ConnectResponse>) => {
      let ended = false;
      const sink: FrameSink = {
        send(frame) {
          if (ended) return;
          if (call.writableLength > maxBufferedBytes) return sink.close('slow_consumer', 'slow consumer: too many unread bytes');
          call.write(frame);
        },
        close(cause, reason) {
          if (ended) return;
          ended = true;
          if (cause === 'going_away') call.end();
          else failCall(call, CLOSE_STATUS[cause], reason);
          void gateway.closed(conn);
        },
      };
      const token = bearerOf(call.metadata)?.replace(/^Bearer\s+/i, '');
      const maybe = gateway.open(sink, token);
      if (!maybe) {
        failCall(call, status.UNAVAILABLE, 'server shutting down');
        return;
      }
      const conn = maybe;
      call.on('data', (frame: ConnectRequest | ChatError) => (frame instanceof ChatError ? conn.reject(frame) : conn.receive(frame)));
      const gone = () => {
        ended = true;
        void gateway.closed(conn);
      };
      call.on('end', () => {
        call.end();
        gone();
      });
      call.on('cancelled', gone);
      call.on('error', gone);
    },
  };
}

/** Ends a server stream with a status: grpc-js sends the status of an emitted error, then ends. */
export function failCall(call: { emit(event: 'error', err: unknown): boolean }, code: status, details: string): void {
  call.emit('error', Object.assign(new Error(details), { code, details }));
}
