import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import type { sendUnaryData, ServerUnaryCall } from '@grpc/grpc-js';
import { SessionServiceDefinition, SessionServiceService, type LocateUsersRequest, type LocateUsersResponse } from '../../gen/chat/v1/session';
import { startGrpcServer, type RunningGrpcServer } from './grpc-server';
import { grpcTarget, RpcClient } from './grpc-client';

/** A replica of the session service that only answers LocateUsers, naming itself in the answer. */
async function replica(name: string, served: string[], maxConnectionAge?: { ageMs: number; graceMs: number }): Promise<RunningGrpcServer> {
  const locateUsers = (call: ServerUnaryCall<LocateUsersRequest, LocateUsersResponse>, done: sendUnaryData<LocateUsersResponse>) => {
    served.push(name);
    done(null, { connections: [{ userId: call.request.userIds[0], deviceId: name, sessionId: name, serverId: name, serverAddress: '' }] });
  };
  return startGrpcServer({ host: '127.0.0.1', port: 0, services: [{ definition: SessionServiceService, name: 'chat.v1.SessionService', implementation: { locateUsers } }], maxMessageBytes: 65536, maxConnectionAge });
}

describe('service addresses', () => {
  it('takes host:port, a list of ip:port, or a target with a scheme; refuses a list of names', () => {
    assert.equal(grpcTarget('session:7101'), 'session:7101');
    assert.equal(grpcTarget('10.0.0.1:7101, 10.0.0.2:7101'), 'ipv4:10.0.0.1:7101,10.0.0.2:7101');
    assert.equal(grpcTarget('[::1]:7101,[::1]:7102'), 'ipv6:[::1]:7101,[::1]:7102');
    assert.equal(grpcTarget('dns:///session.chat.svc:7101'), 'dns:///session.chat.svc:7101');
    assert.throws(() => grpcTarget('a:7101,b:7101'), /"a:7101" is not ip:port .*dns:\/\/\/name:port/);
  });
});

describe('RpcClient over replicas', () => {
  const servers: RunningGrpcServer[] = [];
  after(async () => Promise.all(servers.map((s) => s.close())));

  it('spreads calls over every replica, and goes on with the others when one is gone', async () => {
    const served: string[] = [];
    servers.push(await replica('a', served), await replica('b', served), await replica('c', served));
    const address = servers.map((s) => `127.0.0.1:${s.port}`).join(',');
    const client = new RpcClient(SessionServiceDefinition, { address, credentials: { token: () => Promise.resolve('token') }, timeoutMs: 2_000, maxAttempts: 3 });
    try {
      for (let i = 0; i < 30; i++) await client.call('locateUsers', { userIds: [`u${i}`], serverId: '' });
      assert.deepEqual(new Set(served), new Set(['a', 'b', 'c']), 'round robin reaches every replica');
      servers[1].server.forceShutdown(); // b dies without a goodbye
      served.length = 0;
      const answers = await Promise.all(Array.from({ length: 30 }, (_, i) => client.call('locateUsers', { userIds: [`v${i}`], serverId: '' })));
      assert.equal(answers.length, 30, 'no call failed');
      assert.deepEqual(new Set(served), new Set(['a', 'c']));
    } finally {
      client.close();
    }
  });

  it('keeps every call whole while a server recycles its connections (max connection age)', async () => {
    const served: string[] = [];
    const server = await replica('aged', served, { ageMs: 200, graceMs: 1_000 });
    servers.push(server);
    const client = new RpcClient(SessionServiceDefinition, { address: `127.0.0.1:${server.port}`, credentials: { token: () => Promise.resolve('token') }, timeoutMs: 2_000, maxAttempts: 3 });
    try {
      const until = Date.now() + 1_200; // six connection lifetimes
      let calls = 0;
      while (Date.now() < until) {
        await Promise.all(Array.from({ length: 5 }, () => client.call('locateUsers', { userIds: ['u'], serverId: '' })));
        calls += 5;
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.equal(served.length, calls, 'every call answered');
    } finally {
      client.close();
    }
  });
});
