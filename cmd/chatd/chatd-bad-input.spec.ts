import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { ConnectRequest, ConnectResponse } from '../../gen/chat/v1/gateway';
import { ErrorCode } from '../../gen/chat/v1/errors';
import { dmConversationId } from '../../internal/conversation/conversation-id';
import { TestChatd } from './testing/chatd-harness';

/** A bare WebSocket that records every server frame, for input the ChatClient would never send. */
async function rawSocket(url: string): Promise<{ ws: WebSocket; frames: ConnectResponse[]; closed: Promise<{ code: number; reason: string }> }> {
  const ws = new WebSocket(url);
  const frames: ConnectResponse[] = [];
  ws.on('message', (data, isBinary) => {
    frames.push(isBinary ? ConnectResponse.decode(data as Buffer) : ConnectResponse.fromJSON(JSON.parse((data as Buffer).toString('utf8'))));
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  await new Promise<void>((resolve, reject) => ws.once('open', () => resolve()).once('error', reject));
  return { ws, frames, closed };
}

async function nextError(frames: ConnectResponse[], from: number): Promise<{ code: ErrorCode; message: string; requestId: string }> {
  const deadline = Date.now() + 3000;
  for (;;) {
    const f = frames.slice(from).find((x) => x.frame?.$case === 'error');
    if (f?.frame?.$case === 'error') return f.frame.value;
    if (Date.now() > deadline) throw new Error('no error frame');
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('chatd refuses bad input with error frames and never crashes', () => {
  let chatd: TestChatd;
  before(async () => (chatd = await TestChatd.start({ maxFrameBytes: '65536', maxTextBytes: '4096', maxProtocolErrors: '8' })));
  after(async () => chatd.stop());

  it('rejects frames before hello, a bad token, and closes the connection for auth failures', async () => {
    const early = await rawSocket(chatd.wsUrl);
    early.ws.send(JSON.stringify({ requestId: 'r1', heartbeat: {} }));
    const e1 = await nextError(early.frames, 0);
    assert.equal(e1.code, ErrorCode.ERROR_CODE_PROTOCOL_VIOLATION);
    assert.equal(e1.requestId, 'r1');
    early.ws.send(JSON.stringify({ requestId: 'r2', hello: { token: 'not-a-jwt', deviceId: 'd' } }));
    const e2 = await nextError(early.frames, 1);
    assert.equal(e2.code, ErrorCode.ERROR_CODE_UNAUTHENTICATED);
    assert.equal((await early.closed).code, 4001);

    const expired = await rawSocket(chatd.wsUrl);
    expired.ws.send(ConnectRequest.encode({ requestId: '', frame: { $case: 'hello', value: { token: await chatd.token('x', -60), deviceId: 'd', lastSeen: {}, resumeAfter: {} } } }).finish());
    assert.match((await nextError(expired.frames, 0)).message, /expired/);
    assert.equal((await expired.closed).code, 4001);
  });

  it('answers malformed protobuf, malformed JSON and unknown frames with codes, and stays open', async () => {
    const c = await chatd.connect('bad-1', { autoHeartbeat: false });
    const cases: Array<[string | Uint8Array, ErrorCode]> = [
      [new Uint8Array([0xff, 0xff, 0xff, 0xff, 0x0f]), ErrorCode.ERROR_CODE_MALFORMED_FRAME],
      ['{"send": ', ErrorCode.ERROR_CODE_MALFORMED_FRAME],
      ['[1, 2]', ErrorCode.ERROR_CODE_MALFORMED_FRAME],
      ['null', ErrorCode.ERROR_CODE_MALFORMED_FRAME],
      ['{"requestId": "x", "teleport": {}}', ErrorCode.ERROR_CODE_UNKNOWN_FRAME],
      [ConnectRequest.encode({ requestId: 'only-id', frame: undefined }).finish(), ErrorCode.ERROR_CODE_UNKNOWN_FRAME],
      ['{"requestId": "h2", "hello": {"token": "t", "deviceId": "d"}}', ErrorCode.ERROR_CODE_PROTOCOL_VIOLATION],
    ];
    for (const [data, code] of cases) {
      const before = c.pushedFrames().length;
      c.sendRaw(data);
      const err = await c.waitFor((f) => (f.frame?.$case === 'error' && c.pushedFrames().indexOf(f) >= before ? f.frame.value : undefined));
      assert.equal(err.code, code, `for ${typeof data === 'string' ? data : 'binary'}`);
    }
    await c.heartbeat(); // still open and answering
    await c.close();
  });

  it('closes a connection that keeps breaking the protocol', async () => {
    const c = await chatd.connect('bad-2', { autoHeartbeat: false });
    const closed = new Promise<number>((resolve) => c.once('close', (code) => resolve(code)));
    for (let i = 0; i < 9; i++) c.sendRaw('garbage');
    assert.equal(await closed, 1002);
  });

  it('refuses invalid sends: bad conversation id, empty or oversize text, oversize client id', async () => {
    const c = await chatd.connect('bad-3', { autoHeartbeat: false });
    const conv = dmConversationId('bad-3', 'bad-peer');
    await assert.rejects(c.send('dm:zed:bad-3', 'x'), { code: 'ERROR_CODE_INVALID_ARGUMENT' }, 'unsorted DM id');
    await assert.rejects(c.send('room:1', 'x'), { code: 'ERROR_CODE_INVALID_ARGUMENT' });
    await assert.rejects(c.send(conv, '   '), { code: 'ERROR_CODE_INVALID_ARGUMENT' });
    await assert.rejects(c.send(conv, 'x'.repeat(4097)), { code: 'ERROR_CODE_TOO_LARGE' });
    await assert.rejects(c.send(conv, 'x', 'k'.repeat(129)), { code: 'ERROR_CODE_INVALID_ARGUMENT' });
    assert.deepEqual((await c.history({ conversationId: conv })).messages, []);
    await c.close();
  });

  it('answers a frame over the size limit with TOO_LARGE and keeps the socket; far over it, closes with 1009', async () => {
    const c = await chatd.connect('bad-4', { autoHeartbeat: false, format: 'json' });
    const big = JSON.stringify({ requestId: 'big', send: { conversationId: dmConversationId('bad-4', 'p'), clientMsgId: 'k', text: 'x'.repeat(70_000) } });
    c.sendRaw(big);
    const err = await c.waitFor((f) => (f.frame?.$case === 'error' ? f.frame.value : undefined));
    assert.equal(err.code, ErrorCode.ERROR_CODE_TOO_LARGE);
    await c.heartbeat();
    const closed = new Promise<number>((resolve) => c.once('close', (code) => resolve(code)));
    c.sendRaw('x'.repeat(65536 * 4 + 1));
    assert.equal(await closed, 1009);
  });

  it('rate-limits sends per connection (RATE_LIMITED, connection kept) and caps connections per user', async () => {
    const limited = await TestChatd.start({ sendRatePerSec: '1', sendBurst: '3', maxConnectionsPerUser: '2' });
    try {
      await rateLimited(limited);
      await connectionLimited(limited);
    } finally {
      await limited.stop();
    }
  });

  async function connectionLimited(server: TestChatd): Promise<void> {
    const first = await server.connect('many', { deviceId: 'd1' });
    const second = await server.connect('many', { deviceId: 'd2' });
    await assert.rejects(server.connect('many', { deviceId: 'd3' }), { code: 'ERROR_CODE_LIMIT_EXCEEDED' });
    await first.close();
    const third = await server.connect('many', { deviceId: 'd3' });
    await Promise.all([second.close(), third.close()]);
  }

  async function rateLimited(server: TestChatd): Promise<void> {
    const c = await server.connect('bad-5', { autoHeartbeat: false });
    const conv = dmConversationId('bad-5', 'bad-6');
    const results = await Promise.allSettled(Array.from({ length: 6 }, (_, i) => c.send(conv, `m${i}`)));
    const refused = results.filter((r) => r.status === 'rejected' && (r.reason as { code: string }).code === 'ERROR_CODE_RATE_LIMITED').length;
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 3, 'the burst passes');
    assert.equal(refused, 3);
    await c.heartbeat();
    await c.close();
  }

  it('answers bad HTTP calls with Connect errors and 4xx statuses', async () => {
    const post = (path: string, body: string, headers: Record<string, string> = {}) =>
      fetch(`${chatd.httpUrl}${path}`, { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers } });
    const token = await chatd.token('http-user');
    const auth = { authorization: `Bearer ${token}` };
    let r = await post('/chat.v1.GroupService/ListUserGroups', '{}');
    assert.equal(r.status, 401);
    assert.deepEqual(await r.json(), { code: 'unauthenticated', message: 'missing "authorization: Bearer <token>"' });
    r = await post('/chat.v1.GroupService/CreateGroup', '{not json', auth);
    assert.equal(r.status, 400);
    assert.equal(((await r.json()) as { code: string }).code, 'invalid_argument');
    r = await post('/chat.v1.GroupService/Teleport', '{}', auth);
    assert.equal(r.status, 404);
    r = await post('/chat.v1.HistoryService/AppendMessage', '{}', auth);
    assert.equal(r.status, 403, 'internal RPCs need a service token');
    r = await post('/chat.v1.GroupService/CreateGroup', JSON.stringify({ name: 'x'.repeat(70_000) }), auth);
    assert.equal(r.status, 413);
    r = await post('/v1/dev/token', '{"user_id": "has space"}');
    assert.equal(r.status, 400);
    assert.equal((await fetch(`${chatd.httpUrl}/healthz`)).status, 200, 'the process is alive after all of it');
  });

  it('drops a client that stops reading once its backlog passes the cap; others are unaffected', async () => {
    const server = await TestChatd.start({ maxBufferedBytes: '65536', maxTextBytes: '16000', sendRatePerSec: '100000', sendBurst: '100000', sqliteSynchronous: 'normal' });
    try {
      const slow = await rawSocket(server.wsUrl);
      slow.ws.send(JSON.stringify({ hello: { token: await server.token('slow-reader'), deviceId: 'd' } }));
      await nextError(slow.frames, 0).catch(() => undefined); // wait for welcome (no error expected)
      const socket = (slow.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket;
      socket.pause();
      const sender = await server.connect('fast-writer');
      const other = await server.connect('slow-reader', { deviceId: 'other' });
      const conv = dmConversationId('fast-writer', 'slow-reader');
      const text = 'x'.repeat(15_900);
      const sent = 800; // ~13 MB: more than the loopback socket buffers plus the 64 KiB cap
      let last = '';
      for (let i = 0; i < sent; i += 20) {
        const acks = await Promise.all(Array.from({ length: 20 }, (_, j) => sender.send(conv, `${i + j} ${text}`)));
        last = acks.at(-1)!.messageId;
      }
      socket.resume(); // read what the kernel holds, then see the server's reset
      const { code } = await slow.closed;
      assert.equal(code, 1006, 'terminated without a close handshake');
      const got = slow.frames.filter((f) => f.frame?.$case === 'message').length;
      assert.ok(got < sent, `the slow reader got ${got} of ${sent}: the server stopped buffering for it`);
      await other.waitForMessage((m) => m.messageId === last);
      await Promise.all([sender.close(), other.close()]);
    } finally {
      await server.stop();
    }
  });

  it('serves no dev tokens outside dev mode', async () => {
    const prod = await TestChatd.start({ devMode: 'false' });
    try {
      const r = await fetch(`${prod.httpUrl}/v1/dev/token`, { method: 'POST', body: '{"user_id":"a"}', headers: { 'content-type': 'application/json' } });
      assert.equal(r.status, 404);
    } finally {
      await prod.stop();
    }
  });
});
