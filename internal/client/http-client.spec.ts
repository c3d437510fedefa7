import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { CreateGroupRequest, CreateGroupResponse } from '../../gen/chat/v1/group';
import { ChatClientError } from './chat-client-error';
import { ChatHttpClient } from './http-client';

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

async function rejectsWithCode(promise: Promise<unknown>, code: string): Promise<ChatClientError> {
  const err: unknown = await promise.then(
    () => assert.fail(`expected a ${code} rejection`),
    (e: unknown) => e,
  );
  assert.ok(err instanceof ChatClientError, String(err));
  assert.equal(err.code, code, err.message);
  return err;
}

describe('ChatHttpClient', () => {
  let server: Server;
  let baseUrl: string;
  const seen: { path: string; auth: string | undefined; body: unknown }[] = [];

  before(async () => {
    server = createServer((req, res) => {
      void readBody(req).then((text) => {
        seen.push({ path: req.url ?? '', auth: req.headers.authorization, body: JSON.parse(text) });
        res.setHeader('content-type', 'application/json');
        if (req.url === '/v1/dev/token') {
          res.end(JSON.stringify({ token: 'jwt-for-alice' }));
        } else if (req.url === '/chat.v1.GroupService/CreateGroup') {
          res.end(JSON.stringify({ group: { groupId: '7', name: 'x', createdBy: 'alice', createdAt: '2026-01-01T00:00:00Z', memberCount: 2, conversationId: 'g:7' } }));
        } else if (req.url === '/chat.v1.GroupService/AddMembers') {
          res.statusCode = 403;
          res.end(JSON.stringify({ code: 'permission_denied', message: 'admins only' }));
        } else {
          res.statusCode = 502;
          res.end('bad gateway');
        }
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  });
  after(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  it('fetches dev tokens and derives the WebSocket URL', async () => {
    const http = new ChatHttpClient({ baseUrl });
    assert.equal(await http.devToken('alice'), 'jwt-for-alice');
    assert.deepEqual(seen.at(-1), { path: '/v1/dev/token', auth: undefined, body: { user_id: 'alice' } });
    assert.equal(http.wsUrl, baseUrl.replace('http:', 'ws:') + 'ws');
  });

  it('calls a method with the bearer token, encoding and decoding with the codecs', async () => {
    const http = new ChatHttpClient({ baseUrl, token: 'jwt' });
    const res = await http.call('chat.v1.GroupService', 'CreateGroup', { name: 'x', memberIds: ['bob'] }, { request: CreateGroupRequest, response: CreateGroupResponse });
    assert.equal(res.group?.conversationId, 'g:7');
    assert.ok(res.group?.createdAt instanceof Date);
    assert.deepEqual(seen.at(-1), { path: '/chat.v1.GroupService/CreateGroup', auth: 'Bearer jwt', body: { name: 'x', memberIds: ['bob'] } });
  });

  it('throws the error body code, a status-derived code, or unavailable', async () => {
    const http = new ChatHttpClient({ baseUrl, token: 'jwt' });
    const denied = await rejectsWithCode(http.call('chat.v1.GroupService', 'AddMembers', {}), 'permission_denied');
    assert.equal(denied.message, 'admins only');
    const bad = await rejectsWithCode(http.call('chat.v1.Nope', 'Nope', {}), 'internal');
    assert.equal(bad.message, 'bad gateway');
    const closed = new ChatHttpClient({ baseUrl: 'http://127.0.0.1:1' });
    await rejectsWithCode(closed.devToken('alice'), 'unavailable');
  });
});
