import type { RawData } from 'ws';
import { ConnectRequest, ConnectResponse } from '../../gen/chat/v1/gateway';

/**
 * How frames travel on the WebSocket: `binary` is one protobuf-encoded message per binary WS
 * message, `json` is its proto3 canonical JSON in a text WS message. The server answers in the form
 * the client used.
 */
export type FrameFormat = 'json' | 'binary';

/** Encodes a client frame for the wire; the result's type tells `ws` to send text or binary. */
export function encodeRequest(request: ConnectRequest, format: FrameFormat): string | Uint8Array {
  return format === 'json'
    ? JSON.stringify(ConnectRequest.toJSON(request))
    : ConnectRequest.encode(request).finish();
}

/**
 * Decodes one server frame, choosing the decoder from how it arrived (not from the client's
 * configured format, so answers to raw frames of the other form decode too). Throws on bad bytes or
 * bad JSON. A frame with a case this client does not know decodes with `frame` undefined.
 */
export function decodeResponse(data: RawData, isBinary: boolean): ConnectResponse {
  const bytes = toBuffer(data);
  if (isBinary) return ConnectResponse.decode(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  const json: unknown = JSON.parse(bytes.toString('utf8'));
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new TypeError('a JSON frame must be an object');
  }
  return ConnectResponse.fromJSON(json);
}

function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}
