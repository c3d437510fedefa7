#!/usr/bin/env node
/**
 * A bare `ws` relay written for the benchmark: the floor chatd is compared with. It speaks just
 * enough of the chat.v1 binary frames for the loadgen (hello → welcome, send → send_ack + message
 * to the recipients, heartbeat → pong) and a CreateGroup route, and skips everything chatd pays
 * for: no JWT signature check (the token's `sub` is read unverified), no storage, no idempotency,
 * no rate limit, no presence, no access checks, no resume. Message ids are a counter.
 *
 * `--coalesce` queues frames per socket and flushes each socket once per event-loop turn
 * (setImmediate) under cork/uncork, so many frames to one socket leave in one writev; without it
 * every frame is its own `send` (one write per recipient).
 *
 * Prints `{"msg":"ready","http":"http://host:port"}` on stdout when listening (like chatd's log).
 * Listens on BENCH_HOST (127.0.0.1) and BENCH_PORT (0: a free port).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { ConnectRequest, ConnectResponse } from '../../gen/chat/v1/gateway';

interface Peer {
  ws: WebSocket;
  socket: Socket;
  userId: string;
  queue: (Uint8Array | Buffer)[];
}

const coalesce = process.argv.includes('--coalesce');
const users = new Map<string, Set<Peer>>();
const groups = new Map<string, string[]>();
let nextId = 1_000_000;
let nextGroup = 1;

const pending: Peer[] = [];
let flushScheduled = false;

function out(peer: Peer, frame: Uint8Array | Buffer): void {
  if (!coalesce) {
    peer.ws.send(frame);
    return;
  }
  if (peer.queue.length === 0) pending.push(peer);
  peer.queue.push(frame);
  if (!flushScheduled) {
    flushScheduled = true;
    setImmediate(flush);
  }
}

function flush(): void {
  flushScheduled = false;
  for (const peer of pending.splice(0)) {
    const frames = peer.queue;
    peer.queue = [];
    if (peer.ws.readyState !== peer.ws.OPEN) continue;
    peer.socket.cork();
    for (const f of frames) peer.ws.send(f);
    peer.socket.uncork();
  }
}

function encode(frame: ConnectResponse['frame']): Uint8Array {
  return ConnectResponse.encode({ requestId: '', frame }).finish();
}

/** The token's `sub`, read without verifying the signature (a cost the baseline skips on purpose). */
function subjectOf(token: string): string {
  const payload = token.split('.')[1] ?? '';
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { sub?: string };
  return claims.sub ?? '';
}

function recipients(conversationId: string, sender: string): string[] {
  if (conversationId.startsWith('dm:')) {
    const [, a, b] = conversationId.split(':');
    return [a === sender ? b : a];
  }
  if (conversationId.startsWith('g:')) return (groups.get(conversationId.slice(2)) ?? []).filter((u) => u !== sender);
  return [];
}

function onFrame(peer: Peer, data: RawData): void {
  const req = ConnectRequest.decode(data as Buffer);
  const { requestId, frame } = req;
  switch (frame?.$case) {
    case 'hello': {
      peer.userId = subjectOf(frame.value.token);
      let set = users.get(peer.userId);
      if (!set) users.set(peer.userId, (set = new Set()));
      set.add(peer);
      out(peer, ConnectResponse.encode({ requestId, frame: { $case: 'welcome', value: { userId: peer.userId, sessionId: `relay.${peer.userId}`, serverId: 'relay', heartbeatIntervalMs: 5000 } } }).finish());
      return;
    }
    case 'send': {
      const { conversationId, clientMsgId, text } = frame.value;
      const messageId = String(nextId++);
      const createdAt = new Date();
      out(peer, ConnectResponse.encode({ requestId, frame: { $case: 'sendAck', value: { clientMsgId, messageId, conversationId, createdAt, seq: '0', epoch: '0' } } }).finish());
      // One encoding per message, shared by every recipient (as chatd does).
      const pushed = encode({ $case: 'message', value: { messageId, conversationId, senderId: peer.userId, clientMsgId, text, createdAt, seq: '0', epoch: '0' } });
      for (const user of recipients(conversationId, peer.userId)) {
        for (const p of users.get(user) ?? []) out(p, pushed);
      }
      return;
    }
    case 'heartbeat':
      out(peer, ConnectResponse.encode({ requestId, frame: { $case: 'pong', value: { serverTime: new Date() } } }).finish());
      return;
    default:
      return;
  }
}

function createGroup(req: IncomingMessage, res: ServerResponse): void {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const owner = subjectOf((req.headers.authorization ?? '').replace(/^Bearer /, ''));
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { name?: string; memberIds?: string[] };
    const groupId = String(nextGroup++);
    groups.set(groupId, [owner, ...(body.memberIds ?? []).filter((m) => m !== owner)]);
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ group: { groupId, name: body.name ?? '' } }));
  });
}

const http = createServer((req, res) => {
  if (req.method === 'POST' && req.url === '/chat.v1.GroupService/CreateGroup') return createGroup(req, res);
  res.writeHead(req.url === '/healthz' ? 200 : 404).end();
});
const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });
http.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
  wss.handleUpgrade(req, socket, head, (ws) => {
    const peer: Peer = { ws, socket, userId: '', queue: [] };
    ws.on('message', (data) => {
      try {
        onFrame(peer, data);
      } catch {
        ws.close(1002, 'bad frame');
      }
    });
    ws.on('close', () => users.get(peer.userId)?.delete(peer));
    ws.on('error', () => ws.terminate());
  });
});
http.listen(Number(process.env.BENCH_PORT ?? 0), process.env.BENCH_HOST ?? '127.0.0.1', () => {
  const { address, port } = http.address() as AddressInfo;
  process.stdout.write(`${JSON.stringify({ msg: 'ready', http: `http://${address}:${port}`, coalesce })}\n`);
});
process.on('SIGTERM', () => process.exit(0));
