import type { ConnectRequest } from '../../gen/chat/v1/gateway';
import { encodeRequest } from '../../internal/client/frame-codec';

/**
 * Pre-encoded binary frames for the load generator. A send frame is encoded once per sender with
 * fixed-width ASCII digit fields (a client message id counter and a send timestamp in the text);
 * each send patches those digits in place, so sending costs no protobuf encoding and no allocation
 * beyond what `ws` does to mask the frame. Answers are classified by peeking at the oneof tag, and
 * only rare frames (errors, history pages, acks when ids are wanted) are decoded, by the SDK's
 * decodeResponse (internal/client/frame-codec). Every frame is encoded once, by the SDK's
 * encodeRequest, at setup: nothing here runs per frame but the digit patching and the peeks.
 */

/** Marks the timestamp inside a message text; followed by TS_DIGITS digits of microseconds. */
export const TS_MARKER = Buffer.from('~t');
const TS_DIGITS = 16;
const ID_DIGITS = 12;

/** Frame cases of ConnectResponse (the oneof field numbers in gateway.proto). */
export const Case = { welcome: 10, sendAck: 11, message: 12, presence: 13, historyPage: 14, error: 15, pong: 16, goAway: 17 } as const;

export function helloFrame(token: string, deviceId: string): Uint8Array {
  return binary({ requestId: '', frame: { $case: 'hello', value: { token, deviceId, lastSeen: {}, resumeAfter: {} } } });
}

export const HEARTBEAT_FRAME = Buffer.from(binary({ requestId: '', frame: { $case: 'heartbeat', value: {} } }));

/** A heartbeat carrying `requestId`: its pong, answered in order, marks that the frames before it were handled. */
export function markerFrame(requestId: string): Uint8Array {
  return binary({ requestId, frame: { $case: 'heartbeat', value: {} } });
}

export function typingFrame(conversationId: string): Uint8Array {
  return binary({ requestId: '', frame: { $case: 'typing', value: { conversationId } } });
}

export function subscribePresenceFrame(requestId: string, userIds: string[]): Uint8Array {
  return binary({ requestId, frame: { $case: 'subscribePresence', value: { userIds } } });
}

/** A one-off send (not timed: its text carries no timestamp), answered by a send_ack with `requestId`. */
export function sendFrame(requestId: string, conversationId: string, clientMsgId: string, text: string): Uint8Array {
  return binary({ requestId, frame: { $case: 'send', value: { conversationId, clientMsgId, text } } });
}

export function historyFrame(conversationId: string, beforeId: string, limit: number): Uint8Array {
  return binary({ requestId: '', frame: { $case: 'history', value: { conversationId, beforeId, afterId: '0', limit } } });
}

/** A send frame for one conversation whose message id counter and timestamp are patched per send. */
export class SendTemplate {
  private readonly buf: Buffer;
  private readonly idAt: number;
  private readonly tsAt: number;
  private seq = 0;

  /** `prefix` makes client message ids unique per sender device; `textBytes` pads the text. */
  constructor(conversationId: string, prefix: string, textBytes: number) {
    const clientMsgId = `${prefix}-${'0'.repeat(ID_DIGITS)}`;
    const head = `${TS_MARKER.toString()}${'0'.repeat(TS_DIGITS)} `;
    const text = head + 'x'.repeat(Math.max(0, textBytes - head.length));
    this.buf = Buffer.from(binary({ requestId: '', frame: { $case: 'send', value: { conversationId, clientMsgId, text } } }));
    this.idAt = this.buf.indexOf(clientMsgId) + prefix.length + 1;
    this.tsAt = this.buf.indexOf(TS_MARKER) + TS_MARKER.length;
  }

  /** The frame for the next send, stamped with `atUs`; valid until the next call (ws copies it when masking). */
  next(atUs: number): Buffer {
    writeDigits(this.buf, this.idAt, ID_DIGITS, ++this.seq);
    writeDigits(this.buf, this.tsAt, TS_DIGITS, Math.floor(atUs));
    return this.buf;
  }
}

function binary(request: ConnectRequest): Uint8Array {
  return encodeRequest(request, 'binary');
}

function writeDigits(buf: Buffer, at: number, width: number, value: number): void {
  let v = value;
  for (let i = at + width - 1; i >= at; i--) {
    buf[i] = 48 + (v % 10);
    v = Math.floor(v / 10);
  }
}

/** The frame case of a binary ConnectResponse, skipping a leading request id; 0 if unreadable. */
export function peekCase(buf: Buffer): number {
  let i = 0;
  if (buf[0] === 0x0a) {
    const [len, next] = varint(buf, 1);
    i = next + len;
  }
  const [tag] = varint(buf, i);
  return tag >>> 3;
}

/** The request id of a binary ConnectResponse ('' for pushed frames), read without decoding the rest. */
export function peekRequestId(buf: Buffer): string {
  if (buf[0] !== 0x0a) return '';
  const [len, at] = varint(buf, 1);
  return buf.toString('utf8', at, at + len);
}

function varint(buf: Buffer, start: number): [number, number] {
  let value = 0;
  let shift = 0;
  let i = start;
  while (i < buf.length) {
    const b = buf[i++];
    value += (b & 0x7f) * 2 ** shift;
    if (b < 0x80) break;
    shift += 7;
  }
  return [value, i];
}

/** The send timestamp (µs) carried in a pushed message's text, or -1 if it carries none. */
export function readTimestamp(buf: Buffer): number {
  const at = buf.indexOf(TS_MARKER);
  if (at < 0) return -1;
  let v = 0;
  for (let i = at + TS_MARKER.length, end = i + TS_DIGITS; i < end; i++) v = v * 10 + (buf[i] - 48);
  return v;
}

/**
 * Microseconds on the machine's monotonic clock: performance.now() anchored once to hrtime, which
 * is CLOCK_MONOTONIC and so comparable between the loadgen's worker processes.
 */
const anchorUs = Number(process.hrtime.bigint() / 1000n) - performance.now() * 1000;
export function nowUs(): number {
  return anchorUs + performance.now() * 1000;
}
