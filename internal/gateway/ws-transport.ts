import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { ErrorCode } from '../../gen/chat/v1/errors';
import { ChatError } from '../errors/chat-error';
import { atEndOfTurn } from '../eventloop/end-of-turn';
import type { CloseCause, FrameSink } from './client-connection';
import { decodeClientFrame, encodeServerFrame, type FrameFormat } from './frame-codec';
import type { Gateway } from './gateway';
import { originAllowed } from './origin-policy';

export interface WsTransportOptions {
  path: string;
  /** Frames above this get a TOO_LARGE error frame and the socket stays open. */
  maxFrameBytes: number;
  /** Unsent bytes one client may have queued before it is dropped as a slow consumer. */
  maxBufferedBytes: number;
  /** A close the client has not answered within this long is cut (the socket destroyed). */
  closeTimeoutMs: number;
  /** Browser origins allowed to connect (see originAllowed); undefined: same-origin only. */
  allowedOrigins?: readonly string[];
  /** Open sockets per client address; more are refused with 429. 0 or undefined: no limit. */
  maxConnectionsPerIp?: number;
}

/** RFC 6455 close codes for each cause. */
const CLOSE_CODES: Record<CloseCause, number> = {
  unauthenticated: 4001,
  protocol: 1002,
  timeout: 4008,
  slow_consumer: 1008,
  going_away: 1001,
  limit: 4009,
};

/** Frames between this and maxFrameBytes are refused politely; beyond it the socket is closed (1009). */
const HARD_CAP_FACTOR = 4;

/**
 * The WebSocket edge at `/ws`: binary messages carry protobuf frames, text messages carry canonical
 * JSON; answers and pushes go out in the form of the client's latest frame.
 */
export function attachWebSocket(server: Server, gateway: Gateway, opts: WsTransportOptions): WebSocketServer {
  // Compression stays off: a small compressed frame can inflate to maxPayload (and costs zlib
  // memory per socket); maxPayload bounds the inflated size anyway.
  const wss = new WebSocketServer({ noServer: true, maxPayload: opts.maxFrameBytes * HARD_CAP_FACTOR, perMessageDeflate: false });
  const perIp = new Map<string, number>();
  const maxPerIp = opts.maxConnectionsPerIp ?? 0;
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const path = (req.url ?? '').split('?')[0];
    if (path !== opts.path) return refuse(socket, '404 Not Found');
    if (!originAllowed(req, opts.allowedOrigins)) return refuse(socket, '403 Forbidden');
    const ip = req.socket.remoteAddress ?? '';
    const open = perIp.get(ip) ?? 0;
    if (maxPerIp > 0 && open >= maxPerIp) return refuse(socket, '429 Too Many Requests');
    perIp.set(ip, open + 1);
    let counted = true;
    const release = () => {
      if (!counted) return;
      counted = false;
      const n = (perIp.get(ip) ?? 1) - 1;
      if (n > 0) perIp.set(ip, n);
      else perIp.delete(ip);
    };
    socket.once('close', release);
    wss.handleUpgrade(req, socket, head, (ws) => serve(ws, socket, gateway, opts));
  });
  return wss;
}

/**
 * Sockets written to in this turn of the event loop, corked: their frames leave together in one
 * writev when `uncorkAll` runs (at the end of the turn, after its I/O callbacks and the SQLite
 * group commit whose deliveries corked them), instead of one syscall per frame. A fan-out or a
 * burst of answers to one client costs one write per socket.
 */
const corked: Duplex[] = [];
/** Frames held corked for one socket beyond this are flushed at once. */
const FLUSH_EARLY_BYTES = 64 * 1024;
/** Upper bound of a server frame's WS header (unmasked, 64-bit length). */
const WS_HEADER_BYTES = 10;
/** Counts flushes; a socket is corked in this turn when its `corkedInTurn` equals it. */
let turn = 1;

function uncorkAll(): void {
  turn++;
  for (let i = 0; i < corked.length; i++) corked[i].uncork();
  corked.length = 0;
}

function cork(socket: Duplex): void {
  if (corked.length === 0) atEndOfTurn(uncorkAll);
  socket.cork();
  corked.push(socket);
}

function serve(ws: WebSocket, socket: Duplex, gateway: Gateway, opts: WsTransportOptions): void {
  let format: FrameFormat = 'json';
  /** The turn whose writes this socket holds corked (see `cork`); 0 when not corked. */
  let corkedInTurn = 0;
  /** Bytes handed to the socket while corked in this turn: held by us, not refused by the client. */
  let corkedBytes = 0;
  /** What the socket could not hand to the kernel, not what we hold corked in this turn. */
  const backlog = () => ws.bufferedAmount - (corkedInTurn === turn ? corkedBytes : 0);
  const sink: FrameSink = {
    send(frame) {
      if (ws.readyState !== ws.OPEN) return;
      if (corkedInTurn !== turn) {
        corkedInTurn = turn;
        corkedBytes = 0;
        cork(socket);
      } else if (corkedBytes >= FLUSH_EARLY_BYTES) {
        // A big burst to one socket leaves in chunks, so holding frames never costs much memory.
        socket.uncork();
        socket.cork();
        corkedBytes = 0;
      }
      if (backlog() > opts.maxBufferedBytes) {
        // A client that does not read would not read a close frame either: drop it at once, so
        // its backlog stops growing; it resumes from its last ack when it reconnects.
        ws.terminate();
        return;
      }
      const data = encodeServerFrame(frame, format);
      corkedBytes += (typeof data === 'string' ? Buffer.byteLength(data) : data.length) + WS_HEADER_BYTES;
      ws.send(data, { binary: format === 'binary' });
    },
    close(cause, reason) {
      if (ws.readyState !== ws.OPEN) return;
      // A client past the backlog cap is not reading: it would not read a close frame either.
      if (backlog() > opts.maxBufferedBytes) return ws.terminate();
      ws.close(CLOSE_CODES[cause], reason.slice(0, 120));
      // ws waits 30 s for the client's close frame; one that stopped reading would hold its socket
      // and backlog that long, while frames for it are no longer sent (nor counted against the cap).
      const cut = setTimeout(() => ws.terminate(), opts.closeTimeoutMs);
      ws.once('close', () => clearTimeout(cut));
    },
  };
  const conn = gateway.open(sink);
  if (!conn) {
    ws.close(CLOSE_CODES.going_away, 'server shutting down');
    return;
  }
  ws.on('message', (data: RawData, isBinary: boolean) => {
    format = isBinary ? 'binary' : 'json';
    const bytes = toBuffer(data);
    if (bytes.length > opts.maxFrameBytes) {
      conn.reject(new ChatError(ErrorCode.ERROR_CODE_TOO_LARGE, `frame is ${bytes.length} bytes; the limit is ${opts.maxFrameBytes}`));
      return;
    }
    try {
      conn.receive(decodeClientFrame(isBinary ? bytes : bytes.toString('utf8'), format));
    } catch (err) {
      conn.reject(ChatError.from(err));
    }
  });
  ws.on('close', () => void gateway.closed(conn));
  ws.on('error', () => ws.terminate());
}

function refuse(socket: Duplex, status: string): void {
  socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
}

function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}
