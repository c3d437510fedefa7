import { ConnectRequest, ConnectResponse } from '../../gen/chat/v1/gateway';

/**
 * How frames travel on the WebSocket: `binary` is one protobuf-encoded message per binary WS
 * message, `json` is its proto3 canonical JSON in a text WS message. The server answers in the form
 * the client used.
 */
export type FrameFormat = 'json' | 'binary';

/** Encodes a client frame for the wire: a string goes as a text WS message, bytes as a binary one. */
export function encodeRequest(request: ConnectRequest, format: 'binary'): Uint8Array;
export function encodeRequest(request: ConnectRequest, format: 'json'): string;
export function encodeRequest(request: ConnectRequest, format: FrameFormat): string | Uint8Array;
export function encodeRequest(request: ConnectRequest, format: FrameFormat): string | Uint8Array {
  return format === 'json'
    ? JSON.stringify(ConnectRequest.toJSON(request))
    : ConnectRequest.encode(request).finish();
}

/**
 * Decodes one server frame: a string is a text WS message (JSON), bytes a binary one (protobuf),
 * whatever the client's configured format (so answers to raw frames of the other form decode too).
 * Bytes are read through a plain Uint8Array view (no copy), so a Node Buffer's subclass does not
 * leak into decoded `bytes` fields. Throws on bad bytes or bad JSON. A frame with a case this client
 * does not know decodes with `frame` undefined.
 */
export function decodeResponse(data: string | ArrayBuffer | Uint8Array): ConnectResponse {
  if (data instanceof Uint8Array) return ConnectResponse.decode(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  if (typeof data !== 'string') return ConnectResponse.decode(new Uint8Array(data));
  const json: unknown = JSON.parse(data);
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new TypeError('a JSON frame must be an object');
  }
  return ConnectResponse.fromJSON(json);
}
