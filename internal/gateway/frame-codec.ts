import { ConnectRequest, ConnectResponse } from '../../gen/chat/v1/gateway';
import { ErrorCode } from '../../gen/chat/v1/errors';
import { ChatError } from '../errors/chat-error';

/** How a client speaks: protobuf in binary WS messages, or proto3 canonical JSON in text ones. */
export type FrameFormat = 'binary' | 'json';

/** Decodes one client frame; throws MALFORMED_FRAME (with a reason) when it cannot. */
export function decodeClientFrame(data: Uint8Array | string, format: FrameFormat): ConnectRequest {
  try {
    if (format === 'binary') return ConnectRequest.decode(data as Uint8Array);
    const json: unknown = JSON.parse(typeof data === 'string' ? data : Buffer.from(data).toString('utf8'));
    if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new Error('a frame must be a JSON object');
    return ConnectRequest.fromJSON(json);
  } catch (err) {
    const reason = err instanceof Error ? err.message : 'undecodable';
    throw new ChatError(ErrorCode.ERROR_CODE_MALFORMED_FRAME, `malformed ${format} frame: ${reason.slice(0, 200)}`);
  }
}

/** Encodes one server frame in the client's format. */
export function encodeServerFrame(frame: ConnectResponse, format: FrameFormat): Uint8Array | string {
  return format === 'binary' ? ConnectResponse.encode(frame).finish() : JSON.stringify(ConnectResponse.toJSON(frame));
}
