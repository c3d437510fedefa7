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
    if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new Error('not an object');
    return ConnectRequest.fromJSON(json);
  } catch {
    // The decoder's own words describe our internals, not the client's mistake: keep them out.
    const expected = format === 'binary' ? 'a protobuf chat.v1.ConnectRequest' : 'a JSON object in the proto3 JSON form of chat.v1.ConnectRequest';
    throw new ChatError(ErrorCode.ERROR_CODE_MALFORMED_FRAME, `malformed ${format} frame: expected ${expected}`);
  }
}

/**
 * Encodings of frames pushed to many connections at once (a group message reaches up to 500
 * members): each frame object is encoded once per format, not once per recipient.
 */
const encoded = new WeakMap<ConnectResponse, { binary?: Uint8Array; json?: string }>();

/** Encodes one server frame in the client's format; a frame object shared by recipients is encoded once. */
export function encodeServerFrame(frame: ConnectResponse, format: FrameFormat): Uint8Array | string {
  // Only pushed messages are shared between connections (one frame object per message); acks,
  // pongs and pages go to one connection, so caching them would only cost a WeakMap entry each.
  if (frame.frame?.$case !== 'message') return format === 'binary' ? ConnectResponse.encode(frame).finish() : JSON.stringify(ConnectResponse.toJSON(frame));
  let cached = encoded.get(frame);
  if (!cached) encoded.set(frame, (cached = {}));
  if (format === 'binary') return (cached.binary ??= ConnectResponse.encode(frame).finish());
  return (cached.json ??= JSON.stringify(ConnectResponse.toJSON(frame)));
}
