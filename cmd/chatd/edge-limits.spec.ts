import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect as h2connect } from 'node:http2';
import { connect as tcpConnect } from 'node:net';
import { status, type ServiceError } from '@grpc/grpc-js';
import WebSocket from 'ws';
import { ErrorCode } from '../../gen/chat/v1/errors';
import { GatewayServiceClient, type ConnectResponse } from '../../gen/chat/v1/gateway';
import { TokenIssuer } from '../../internal/auth/token-issuer';
import { dmConversationId } from '../../internal/conversation/conversation-id';
import { waitUntil } from '../../internal/testing/wait-until';
import { TEST_SECRET, TestChatd } from './testing/chatd-harness';

/**
 * The limits of the edge, each a CHAT_ setting, against a real chatd: handshake and close timeouts, token
 * expiry and refresh, sends per user, connections per IP, the Origin allow-list, no
 * permessage-deflate, the gRPC frame and message caps and keepalive. (Frame cap, text length, sends and
 * connections per user, protocol errors and slow readers: chatd-bad-input.spec.ts; subscriptions
 * per connection and the heartbeat TTL: chatd-presence.spec.ts.) Embedded adapters only: none of
 * it depends on the stores.
 */

/** Opens a raw socket; resolves with it, or with the HTTP status that refused the upgrade. */
function open(url: string, opts: WebSocket.ClientOptions = {}): Promise<{ ws?: WebSocket; status?: number; closed: Promise<number> }> {
  const ws = new WebSocket(url, opts);
  const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve({ ws, closed }));
    ws.once('unexpected-response', (_req, res) => {
      resolve({ status: res.statusCode, closed });
      ws.terminate();
    });
    ws.once('error', reject);
  });
}

describe('edge limits', () => {
  let chatd: TestChatd;
  before(async () => (chatd = await TestChatd.start({ handshakeTimeoutMs: '300', closeTimeoutMs: '400', userSendRatePerSec: '1', userSendBurst: '3' })));
  after(async () => chatd.stop());

  it('closes a socket that never completes hello (CHAT_HANDSHAKE_TIMEOUT_MS), with 4008', async () => {
    const { ws, closed } = await open(chatd.wsUrl);
    assert.ok(ws);
    const started = Date.now();
    assert.equal(await closed, 4008);
    assert.ok(Date.now() - started < 5000);
  });

  it('cuts a socket whose client never answers the close frame (CHAT_CLOSE_TIMEOUT_MS), not after ws\'s 30 s', async () => {
    const port = Number(new URL(chatd.wsUrl).port);
    const raw = tcpConnect(port, '127.0.0.1');
    raw.on('error', () => undefined);
    let received = Buffer.alloc(0);
    raw.on('data', (b: Buffer) => (received = Buffer.concat([received, b])));
    const closed = new Promise<void>((resolve) => raw.on('close', () => resolve()));
    // An upgrade, then silence: no hello (closed at the handshake timeout) and no close frame back.
    raw.write(`GET /ws HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${Buffer.alloc(16, 7).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
    const started = Date.now();
    await closed;
    const frames = received.subarray(received.indexOf('\r\n\r\n') + 4);
    assert.equal(frames[0], 0x88, 'the server sent a close frame first');
    assert.equal(frames.readUInt16BE(2), 4008);
    assert.ok(Date.now() - started < 5000, `cut after ${Date.now() - started} ms`);
  });

  it('rate-limits sends per user over all its connections (CHAT_USER_SEND_RATE_PER_SEC, CHAT_USER_SEND_BURST)', async () => {
    const [a, b] = [await chatd.connect('rate-u', { deviceId: 'd1' }), await chatd.connect('rate-u', { deviceId: 'd2' })];
    const conv = dmConversationId('rate-u', 'rate-peer');
    // Each connection's own bucket (40) is far from empty: only the user's bucket (3) refuses.
    const results = await Promise.allSettled([a.send(conv, '1'), b.send(conv, '2'), a.send(conv, '3'), b.send(conv, '4'), a.send(conv, '5')]);
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 3);
    for (const r of results.filter((x) => x.status === 'rejected')) assert.equal((r.reason as { code: string }).code, 'ERROR_CODE_RATE_LIMITED');
    await a.heartbeat();
    await Promise.all([a.close(), b.close()]);
  });

  it('admits clients without Origin and same-origin pages, refuses other origins with 403 (CHAT_ALLOWED_ORIGINS unset)', async () => {
    const same = await open(chatd.wsUrl, { origin: chatd.httpUrl });
    assert.ok(same.ws);
    same.ws.close();
    assert.equal((await open(chatd.wsUrl, { origin: 'https://evil.example' })).status, 403);
    assert.equal((await open(chatd.wsUrl, { origin: 'null' })).status, 403);
  });

  it('negotiates no permessage-deflate even when the client offers it', async () => {
    const { ws } = await open(chatd.wsUrl, { perMessageDeflate: true });
    assert.equal(ws!.extensions, '');
    ws!.close();
  });

  it('closes the connection when its token expires, unless refresh_token gave it a new one of the same user', async () => {
    const short = (userId: string) => new TokenIssuer(TEST_SECRET, { ttlSec: 2 }).userToken(userId);
    const expiring = await chatd.connect('exp-a', { token: await short('exp-a'), autoHeartbeat: false });
    const refreshed = await chatd.connect('exp-b', { token: await short('exp-b'), autoHeartbeat: false });
    const expiringClosed = new Promise<number>((resolve) => expiring.once('close', (code) => resolve(code)));

    await assert.rejects(refreshed.refreshToken(await chatd.token('exp-a')), { code: 'ERROR_CODE_PERMISSION_DENIED' }, "another user's token");
    await assert.rejects(refreshed.refreshToken(await chatd.token('exp-b', -60)), { code: 'ERROR_CODE_UNAUTHENTICATED' }, 'an expired token closes the connection');
    await assert.rejects(refreshed.heartbeat());

    const renewed = await chatd.connect('exp-c', { token: await short('exp-c'), autoHeartbeat: false });
    const answer = await renewed.refreshToken(await chatd.token('exp-c', 3600));
    assert.ok(answer.expiresAt && answer.expiresAt.getTime() > Date.now() + 3_000_000);

    assert.equal(await expiringClosed, 4001, 'closed at expiry');
    await renewed.heartbeat(); // the original 2 s token has expired by now: still open
    await renewed.close();
  });
});

describe('edge limits: connections per IP, CHAT_ALLOWED_ORIGINS, gRPC', () => {
  let chatd: TestChatd;
  before(async () => (chatd = await TestChatd.start({ allowedOrigins: 'https://app.example.com, http://localhost:3000', maxFrameBytes: '4096', rpcMaxMessageBytes: '65536', grpcKeepaliveTimeMs: '200', grpcKeepaliveTimeoutMs: '200', maxConnectionsPerIp: '4' })));
  after(async () => chatd.stop());

  it('refuses connections past CHAT_MAX_CONNECTIONS_PER_IP with 429, and admits one when another leaves', async () => {
    const held = await Promise.all(Array.from({ length: 4 }, () => open(chatd.wsUrl)));
    assert.ok(held.every((h) => h.ws));
    assert.equal((await open(chatd.wsUrl)).status, 429);
    held[0].ws!.close();
    await held[0].closed;
    let admitted: WebSocket | undefined;
    await waitUntil(async () => ((admitted = (await open(chatd.wsUrl)).ws) !== undefined), 3000, 'a free slot');
    admitted!.close();
    for (const h of held.slice(1)) h.ws!.close();
    await Promise.all(held.map((h) => h.closed));
  });

  it('admits the listed origins besides same-origin pages, and no others', async () => {
    for (const origin of ['https://app.example.com', 'http://localhost:3000']) {
      const { ws } = await open(chatd.wsUrl, { origin });
      assert.ok(ws, origin);
      ws.close();
    }
    const same = await open(chatd.wsUrl, { origin: chatd.httpUrl });
    assert.ok(same.ws, 'same-origin stays allowed');
    same.ws.close();
    await same.closed;
    assert.equal((await open(chatd.wsUrl, { origin: 'https://other.example.com' })).status, 403);
    assert.equal((await open(chatd.wsUrl, { origin: 'https://app.example.com.evil.example' })).status, 403);
  });

  it('answers a gRPC frame over CHAT_MAX_FRAME_BYTES with TOO_LARGE and keeps the stream; ends it on a message over CHAT_RPC_MAX_MESSAGE_BYTES', { timeout: 10_000 }, async () => {
    const client = new GatewayServiceClient(chatd.grpcAddress, chatd.grpcCredentials);
    const call = client.connect(await chatd.grpcMetadata('grpc-big'));
    const ended = new Promise<ServiceError>((resolve) => call.on('error', resolve));
    const frames: ConnectResponse[] = [];
    call.on('data', (f: ConnectResponse) => frames.push(f));
    const answer = (requestId: string, kind: string) => waitUntil(() => frames.some((f) => f.requestId === requestId && f.frame?.$case === kind), 5000, `${kind} for ${requestId}`);
    call.write({ requestId: 'h', frame: { $case: 'hello', value: { token: '', deviceId: 'd', lastSeen: {}, resumeAfter: {} } } });
    await answer('h', 'resumeComplete');

    call.write({ requestId: 's', frame: { $case: 'send', value: { conversationId: dmConversationId('grpc-big', 'x'), clientMsgId: 'k', text: 'x'.repeat(8000) } } });
    // Refused undecoded, so the error frame carries no request id.
    await waitUntil(() => frames.some((f) => f.frame?.$case === 'error' && f.frame.value.code === ErrorCode.ERROR_CODE_TOO_LARGE), 5000, 'TOO_LARGE');
    call.write({ requestId: 'hb', frame: { $case: 'heartbeat', value: {} } });
    await answer('hb', 'pong');

    // Nothing is on its way to the client now: grpc-js's own refusal races the connection's writes
    // (see gatewayService).
    call.write({ requestId: 'huge', frame: { $case: 'send', value: { conversationId: dmConversationId('grpc-big', 'x'), clientMsgId: 'k2', text: 'x'.repeat(70_000) } } });
    assert.equal((await ended).code, status.RESOURCE_EXHAUSTED);
    client.close();
  });

  it('drops a gRPC peer that does not answer keepalive pings, keeps one that does', { timeout: 10_000 }, async () => {
    const mute = tcpConnect(Number(chatd.grpcAddress.split(':')[1]), '127.0.0.1');
    const muteClosed = new Promise<void>((resolve) => mute.on('close', () => resolve()));
    mute.on('error', () => undefined);
    // The HTTP/2 client preface and an empty SETTINGS frame; then it never reads or answers.
    mute.write(Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0])]));
    mute.resume(); // reads (and drops) what the server sends, so its close is seen
    const live = h2connect(`http://${chatd.grpcAddress}`);
    live.on('error', () => undefined);
    let liveClosed = false;
    live.on('close', () => (liveClosed = true));
    await muteClosed;
    assert.equal(liveClosed, false, 'a peer that answers pings stays connected');
    live.close();
  });
});
