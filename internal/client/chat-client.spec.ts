import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { WebSocketServer, type WebSocket } from 'ws';
import { ErrorCode } from '../../gen/chat/v1/errors';
import { ConnectRequest, ConnectResponse } from '../../gen/chat/v1/gateway';
import { PresenceStatus } from '../../gen/chat/v1/message';
import { ChatClient, nodeWebSocket, type ChatClientOptions } from './chat-client';
import { ChatClient as PortableChatClient } from './portable-chat-client';
import type { SocketEvent, WebSocketLike } from './web-socket';
import { ChatClientError } from './chat-client-error';
import { waitUntil } from '../testing/wait-until';
import type { FrameFormat } from './frame-codec';

/**
 * Just enough of the gateway protocol to exercise the client: welcome on hello (an error and a
 * close for token "bad", silence for token "silent"), send_ack on send (an error for text "deny",
 * answers held back for text "hold" until the next send), pong on heartbeat, presence for
 * subscribe_presence (an error naming users starting with "x"), one history page per query, a
 * resume replay page when hello carries last_seen, MALFORMED_FRAME for undecodable frames. It
 * answers in the form each frame came in and records what it received.
 */
class FakeGateway {
  readonly received: { request: ConnectRequest; binary: boolean; raw: string }[] = [];
  readonly sockets = new Set<WebSocket>();
  private readonly wss: WebSocketServer;
  private nextMessageId = 100n;

  constructor(private readonly heartbeatIntervalMs = 5000) {
    this.wss = new WebSocketServer({ port: 0, path: '/ws' });
    this.wss.on('connection', (ws) => {
      this.sockets.add(ws);
      ws.on('close', () => this.sockets.delete(ws));
      let held: (() => void) | undefined;
      ws.on('message', (data: Buffer, binary) => {
        const answer = (response: ConnectResponse): void =>
          ws.send(binary ? ConnectResponse.encode(response).finish() : JSON.stringify(ConnectResponse.toJSON(response)));
        let request: ConnectRequest;
        try {
          request = binary ? ConnectRequest.decode(data) : ConnectRequest.fromJSON(JSON.parse(data.toString('utf8')));
        } catch {
          answer(errorFrame('', ErrorCode.ERROR_CODE_MALFORMED_FRAME, 'cannot decode frame'));
          return;
        }
        this.received.push({ request, binary, raw: binary ? '' : data.toString('utf8') });
        const { requestId, frame } = request;
        switch (frame?.$case) {
          case 'hello':
            if (frame.value.token === 'silent') return;
            if (frame.value.token === 'bad') {
              answer(errorFrame(requestId, ErrorCode.ERROR_CODE_UNAUTHENTICATED, 'token rejected'));
              ws.close(1008, 'unauthenticated');
              return;
            }
            answer({
              requestId,
              frame: {
                $case: 'welcome',
                value: { userId: frame.value.token, sessionId: 's1', serverId: 'fake', heartbeatIntervalMs: this.heartbeatIntervalMs },
              },
            });
            for (const [conversationId, lastSeen] of Object.entries(frame.value.lastSeen)) {
              const message = this.message(conversationId, `after ${lastSeen}`);
              answer({ requestId, frame: { $case: 'historyPage', value: { conversationId, messages: [message], hasMore: false } } });
            }
            return;
          case 'send': {
            if (frame.value.text === 'deny') {
              answer(errorFrame(requestId, ErrorCode.ERROR_CODE_PERMISSION_DENIED, 'not a member'));
              return;
            }
            const message = this.message(frame.value.conversationId, frame.value.text);
            const ack = (): void =>
              answer({
                requestId,
                frame: {
                  $case: 'sendAck',
                  value: { clientMsgId: frame.value.clientMsgId, messageId: message.messageId, conversationId: message.conversationId, createdAt: message.createdAt, seq: message.seq, epoch: message.epoch },
                },
              });
            const release = held;
            held = undefined;
            if (frame.value.text === 'hold') held = ack;
            else ack();
            release?.();
            return;
          }
          case 'heartbeat':
            answer({ requestId, frame: { $case: 'pong', value: { serverTime: new Date() } } });
            return;
          case 'subscribePresence': {
            const denied = frame.value.userIds.filter((u) => u.startsWith('x'));
            for (const userId of frame.value.userIds.filter((u) => !u.startsWith('x'))) {
              answer({ requestId, frame: { $case: 'presence', value: { userId, status: PresenceStatus.PRESENCE_STATUS_ONLINE, lastSeen: undefined } } });
            }
            if (denied.length > 0) answer(errorFrame(requestId, ErrorCode.ERROR_CODE_PERMISSION_DENIED, `not visible: ${denied.join(', ')}`));
            return;
          }
          case 'history': {
            const messages = [this.message(frame.value.conversationId, 'old')];
            answer({ requestId, frame: { $case: 'historyPage', value: { conversationId: frame.value.conversationId, messages, hasMore: true } } });
            return;
          }
          default:
            return;
        }
      });
    });
  }

  get url(): string {
    return `ws://127.0.0.1:${(this.wss.address() as AddressInfo).port}/ws`;
  }

  /** Sends a frame to every connection, as JSON or binary. */
  push(response: ConnectResponse, format: FrameFormat = 'binary'): void {
    for (const ws of this.sockets) {
      ws.send(format === 'binary' ? ConnectResponse.encode(response).finish() : JSON.stringify(ConnectResponse.toJSON(response)));
    }
  }

  message(conversationId: string, text: string): NonNullable<Extract<ConnectResponse['frame'], { $case: 'message' }>>['value'] {
    this.nextMessageId += 1n;
    return { messageId: String(this.nextMessageId), conversationId, senderId: 'bob', clientMsgId: 'c', text, createdAt: new Date(1_767_225_600_000), seq: String(this.nextMessageId), epoch: '1' };
  }

  close(): Promise<void> {
    for (const ws of this.sockets) ws.terminate();
    return new Promise((resolve, reject) => this.wss.close((err) => (err ? reject(err) : resolve())));
  }
}

function errorFrame(requestId: string, code: ErrorCode, message: string): ConnectResponse {
  return { requestId, frame: { $case: 'error', value: { code, message, requestId } } };
}

/** A WebSocket with only the browser's API (ws underneath, its `terminate` hidden), as a page has. */
class BrowserLikeWebSocket implements WebSocketLike {
  private readonly inner: WebSocketLike;

  constructor(url: string) {
    this.inner = new nodeWebSocket(url);
  }

  get readyState(): number {
    return this.inner.readyState;
  }

  get binaryType(): string {
    return this.inner.binaryType;
  }

  set binaryType(value: string) {
    this.inner.binaryType = value;
  }

  send(data: string | Uint8Array): void {
    this.inner.send(data);
  }

  close(code?: number, reason?: string): void {
    this.inner.close(code, reason);
  }

  addEventListener(type: 'open' | 'message' | 'close' | 'error', listener: (event: SocketEvent) => void): void {
    this.inner.addEventListener(type, listener);
  }
}

async function rejectsWithCode(promise: Promise<unknown>, code: string): Promise<ChatClientError> {
  let caught: unknown;
  await promise.then(
    () => assert.fail(`expected a ${code} rejection`),
    (err: unknown) => {
      caught = err;
    },
  );
  assert.ok(caught instanceof ChatClientError, `expected a ChatClientError, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  return caught;
}

describe('ChatClient', () => {
  let gateway: FakeGateway;
  const clients: ChatClient[] = [];
  const connect = async (opts: Partial<ChatClientOptions> = {}): Promise<ChatClient> => {
    const client = await ChatClient.connect({ url: gateway.url, token: 'alice', deviceId: 'd1', ...opts });
    clients.push(client);
    return client;
  };

  before(() => {
    gateway = new FakeGateway();
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await gateway.close();
  });

  for (const format of ['binary', 'json'] as const) {
    it(`speaks ${format}: welcome, send_ack, pong`, async () => {
      const before = gateway.received.length;
      const client = await connect({ format });
      assert.equal(client.userId, 'alice');
      assert.equal(client.welcome.serverId, 'fake');

      const ack = await client.send('dm:alice:bob', 'hi', 'cm-1');
      assert.equal(ack.clientMsgId, 'cm-1');
      assert.equal(ack.conversationId, 'dm:alice:bob');
      assert.match(ack.messageId, /^\d+$/);
      assert.ok(ack.createdAt instanceof Date);

      const pong = await client.heartbeat();
      assert.ok(pong.serverTime instanceof Date);

      const mine = gateway.received.slice(before);
      assert.deepEqual(mine.map((r) => r.request.frame?.$case), ['hello', 'send', 'heartbeat']);
      assert.ok(mine.every((r) => r.binary === (format === 'binary')));
      if (format === 'json') {
        // proto3 canonical JSON: lowerCamelCase field names, the oneof case as a key.
        assert.deepEqual(JSON.parse(mine[1].raw), {
          requestId: mine[1].request.requestId,
          send: { conversationId: 'dm:alice:bob', clientMsgId: 'cm-1', text: 'hi' },
        });
      }
      assert.equal(new Set(mine.map((r) => r.request.requestId)).size, 3, 'request ids are unique');
    });
  }

  it('correlates answers that come out of order', async () => {
    const client = await connect();
    const first = client.send('g:1', 'hold', 'first');
    const second = client.send('g:1', 'next', 'second');
    const [a, b] = await Promise.all([first, second]);
    assert.equal(a.clientMsgId, 'first');
    assert.equal(b.clientMsgId, 'second');
    assert.ok(BigInt(a.messageId) < BigInt(b.messageId));
  });

  it('rejects only the request an error frame answers', async () => {
    const client = await connect({ format: 'json' });
    const denied = client.send('g:1', 'deny');
    const fine = client.send('g:1', 'ok');
    const err = await rejectsWithCode(denied, 'ERROR_CODE_PERMISSION_DENIED');
    assert.equal(err.message, 'not a member');
    assert.equal((await fine).conversationId, 'g:1');
  });

  it('answers history queries without pushing the page', async () => {
    const client = await connect();
    const pages: unknown[] = [];
    client.on('historyPage', (p) => pages.push(p));
    const page = await client.history({ conversationId: 'g:7', limit: 5 });
    assert.equal(page.conversationId, 'g:7');
    assert.equal(page.hasMore, true);
    assert.equal(page.messages[0]?.text, 'old');
    assert.equal(pages.length, 0);
    const query = gateway.received.at(-1)!.request.frame;
    assert.deepEqual(query, { $case: 'history', value: { conversationId: 'g:7', beforeId: '0', afterId: '0', limit: 5 } });
  });

  it('pushes the resume replay that follows welcome, seen by early listeners and waitFor', async () => {
    const seen: string[] = [];
    const client = await connect({ lastSeen: { 'dm:alice:bob': '42' }, listeners: { historyPage: (p) => seen.push(p.conversationId) } });
    const page = await client.waitFor((f) => (f.frame?.$case === 'historyPage' ? f.frame.value : undefined));
    assert.equal(page.messages[0]?.text, 'after 42');
    assert.deepEqual(seen, ['dm:alice:bob']);
  });

  it('waitFor finds frames pushed before and after the call, and times out otherwise', async () => {
    const client = await connect();
    const events: string[] = [];
    client.on('message', (m) => events.push(m.text));
    gateway.push({ requestId: '', frame: { $case: 'message', value: gateway.message('g:1', 'early') } }, 'json');
    await waitUntil(() => events.includes('early'));

    const early = await client.waitForMessage((m) => m.text === 'early', 1000);
    assert.equal(early.conversationId, 'g:1');

    const late = client.waitFor((f) => f.frame?.$case === 'message' && f.frame.value.text === 'late', 1000);
    gateway.push({ requestId: '', frame: { $case: 'message', value: gateway.message('g:2', 'late') } });
    const frame = await late;
    assert.equal(frame.frame?.$case, 'message');

    await rejectsWithCode(client.waitForMessage((m) => m.text === 'never', 20), 'deadline_exceeded');
  });

  it('subscribePresence resolves after the initial presence frames', async () => {
    const client = await connect();
    const watched: string[] = [];
    client.on('presence', (p) => watched.push(p.userId));
    await client.subscribePresence(['bob', 'carol']);
    assert.deepEqual(watched, ['bob', 'carol']);
  });

  it('subscribePresence rejects naming denied users, keeping the accepted ones', async () => {
    const client = await connect({ format: 'json' });
    const errors: unknown[] = [];
    client.on('error', (e) => errors.push(e));
    const err = await rejectsWithCode(client.subscribePresence(['bob', 'xavier']), 'ERROR_CODE_PERMISSION_DENIED');
    assert.match(err.message, /xavier/);
    assert.equal(errors.length, 0, 'the error answered the subscription, it is not pushed');
    const bob = await client.waitFor((f) => (f.frame?.$case === 'presence' ? f.frame.value : undefined), 500);
    assert.equal(bob.userId, 'bob');
  });

  it('decodes each answer by its form and pushes errors that answer nothing', async () => {
    const client = await connect(); // binary
    const errors: string[] = [];
    client.on('error', (e) => errors.push(e.message));
    client.sendRaw(new Uint8Array([0xff, 0xff, 0xff]));
    client.sendRaw('{not json');
    const malformed = await client.waitFor((f) => f.frame?.$case === 'error' && f.frame.value.code === ErrorCode.ERROR_CODE_MALFORMED_FRAME);
    assert.equal(malformed.requestId, '');
    await waitUntil(() => errors.length === 2);

    client.sendRaw(JSON.stringify({ requestId: 'raw-1', heartbeat: {} }));
    const pong = await client.waitFor((f) => f.requestId === 'raw-1' && f.frame?.$case === 'pong');
    assert.equal(pong.frame?.$case, 'pong');
  });

  it('sends heartbeats on its own every heartbeat interval', async () => {
    const fast = new FakeGateway(10);
    try {
      const client = await ChatClient.connect({ url: fast.url, token: 'alice', deviceId: 'd1' });
      await waitUntil(() => fast.received.filter((r) => r.request.frame?.$case === 'heartbeat').length >= 3);
      await client.close();
    } finally {
      await fast.close();
    }
  });

  it('rejects connect with the server error, on an unknown path, and after the timeout', async () => {
    const err = await rejectsWithCode(ChatClient.connect({ url: gateway.url, token: 'bad', deviceId: 'd1' }), 'ERROR_CODE_UNAUTHENTICATED');
    assert.equal(err.message, 'token rejected');
    await rejectsWithCode(ChatClient.connect({ url: gateway.url.replace('/ws', '/nope'), token: 'alice', deviceId: 'd1' }), 'unavailable');
    await rejectsWithCode(ChatClient.connect({ url: gateway.url, token: 'silent', deviceId: 'd1', connectTimeoutMs: 50 }), 'deadline_exceeded');
  });

  it('rejects pending requests and waits when the connection drops, then emits close', async () => {
    const client = await connect();
    const closed = new Promise<number>((resolve) => client.once('close', (code) => resolve(code)));
    const pending = client.send('g:1', 'hold', 'drop-me');
    const waiting = client.waitForMessage(() => true, 5000);
    await waitUntil(() => gateway.received.some((r) => r.request.frame?.$case === 'send' && r.request.frame.value.clientMsgId === 'drop-me'));
    for (const ws of gateway.sockets) ws.terminate();
    await rejectsWithCode(pending, 'unavailable');
    await rejectsWithCode(waiting, 'unavailable');
    assert.equal(await closed, 1006);
    assert.equal(client.isOpen, false);
    assert.throws(() => client.ack(['1']), ChatClientError);
  });

  it('runs on a browser WebSocket (no terminate): a heartbeat nobody answers closes it at once', async () => {
    const fast = new FakeGateway(20);
    try {
      const client = await PortableChatClient.connect({ url: fast.url, token: 'alice', deviceId: 'd3', WebSocket: BrowserLikeWebSocket, format: 'json', requestTimeoutMs: 100 });
      assert.equal((await client.send('g:1', 'hi')).conversationId, 'g:1');
      const closed = new Promise<number>((resolve) => client.once('close', (code) => resolve(code)));
      for (const ws of fast.sockets) ws.pause(); // the server stops reading: no pong comes
      assert.equal(await closed, 1006);
      assert.equal(client.isOpen, false);
    } finally {
      await fast.close();
    }
  });

  it('close() closes normally', async () => {
    const client = await ChatClient.connect({ url: gateway.url, token: 'alice', deviceId: 'd2' });
    const codes: number[] = [];
    client.on('close', (code) => codes.push(code));
    await client.close();
    assert.deepEqual(codes, [1000]);
    await rejectsWithCode(client.heartbeat(), 'unavailable');
  });
});
