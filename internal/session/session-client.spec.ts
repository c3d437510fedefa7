import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ErrorCode } from '../../gen/chat/v1/errors';
import type { Connection, SessionServiceDefinition } from '../../gen/chat/v1/session';
import { ChatError } from '../errors/chat-error';
import type { RpcClient } from '../rpc/grpc-client';
import { SessionClient } from './session-client';

const conn = (userId: string, sessionId: string): Connection => ({ userId, deviceId: 'd', sessionId, serverId: 'chat-1', serverAddress: 'h:1' });

/** A session service that records its calls: ann is online on two servers, bob on one. */
function fake() {
  const calls: [string, unknown][] = [];
  const answers: Record<string, (req: never) => unknown> = {
    registerConnections: (req: { connections: Connection[] }) => ({
      results: req.connections.map((c) => (c.userId === 'full' ? { becameOnline: false, errorCode: ErrorCode.ERROR_CODE_LIMIT_EXCEEDED, errorMessage: 'full has 10' } : { becameOnline: true, errorCode: ErrorCode.ERROR_CODE_UNSPECIFIED, errorMessage: '' })),
    }),
    unregisterConnections: (req: { sessionIds: string[] }) => ({ becameOffline: req.sessionIds.map((id) => id === 's1') }),
    locateUsers: (req: { userIds: string[] }) => ({ connections: [conn('ann', 'a1'), conn('ann', 'a2'), conn('bob', 'b1')].filter((c) => req.userIds.includes(c.userId)) }),
    renewServerLease: () => ({ lapsed: false, ttlMs: 5_000, epoch: '7' }),
    addPresenceWatches: () => ({}),
  };
  const rpc = { call: (method: string, req: never) => (calls.push([method, req]), Promise.resolve(answers[method](req))) } as unknown as RpcClient<typeof SessionServiceDefinition>;
  return { calls, client: new SessionClient(rpc, { serverId: 'chat-1', maxConnectionsPerCall: 500 }) };
}

describe('SessionClient', () => {
  it('registers the connections of one turn in one call, a refused one failing alone', async () => {
    const { calls, client } = fake();
    const r = await Promise.allSettled([client.register(conn('ann', 'a1')), client.register(conn('full', 'f1')), client.register(conn('bob', 'b1'))]);
    assert.deepEqual(calls.map(([m]) => m), ['registerConnections']);
    assert.deepEqual(r[0], { status: 'fulfilled', value: { becameOnline: true } });
    assert.ok(r[1].status === 'rejected' && r[1].reason instanceof ChatError && r[1].reason.code === ErrorCode.ERROR_CODE_LIMIT_EXCEEDED);
    assert.deepEqual(r[2], { status: 'fulfilled', value: { becameOnline: true } });
  });

  it('locates the users of one turn in one call per locator, each caller getting its own users', async () => {
    const { calls, client } = fake();
    const [first, second, oneOff] = await Promise.all([client.locate(['ann', 'bob'], 'chat-1'), client.locate(['bob', 'cy'], 'chat-1'), client.locate(['bob'])]);
    assert.deepEqual(calls, [
      ['locateUsers', { userIds: ['ann', 'bob', 'cy'], serverId: 'chat-1' }],
      ['locateUsers', { userIds: ['bob'], serverId: '' }],
    ]);
    assert.deepEqual(first.map((c) => c.sessionId), ['a1', 'a2', 'b1']);
    assert.deepEqual(second.map((c) => c.sessionId), ['b1']);
    assert.deepEqual(oneOff.map((c) => c.sessionId), ['b1']);
  });

  it('adds the presence watches of one turn in one call, each user once', async () => {
    const { calls, client } = fake();
    await Promise.all([client.addPresenceWatches('chat-1', ['ann', 'bob']), client.addPresenceWatches('chat-1', ['bob', 'cy'])]);
    assert.deepEqual(calls, [['addPresenceWatches', { serverId: 'chat-1', userIds: ['ann', 'bob', 'cy'] }]]);
  });

  it('unregisters in batches too; the server lease is one call whatever the number of connections', async () => {
    const { calls, client } = fake();
    const [a, b] = await Promise.all([client.unregister('s1'), client.unregister('s2')]);
    assert.deepEqual([a, b], [{ becameOffline: true }, { becameOffline: false }]);
    assert.deepEqual(await client.renewServerLease('chat-1', 'run-1'), { lapsed: false, ttlMs: 5_000, epoch: 7 });
    assert.deepEqual(calls, [
      ['unregisterConnections', { sessionIds: ['s1', 's2'] }],
      ['renewServerLease', { serverId: 'chat-1', instance: 'run-1' }],
    ]);
  });
});
