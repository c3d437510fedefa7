import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { GroupServiceDefinition, GroupServiceService } from '../../gen/chat/v1/group';
import { TokenVerifier } from '../auth/token-verifier';
import { ChatError } from '../errors/chat-error';
import { RpcClient } from '../rpc/grpc-client';
import { startGrpcServer } from '../rpc/grpc-server';
import { grpcUnaryImplementation } from '../rpc/grpc-unary';
import { MintedServiceToken } from '../rpc/service-token';
import { openSqliteDatabase } from '../sqlite/sqlite-database';
import { GroupClient } from './group-client';
import { groupRpc } from './group-rpc';
import { GroupService } from './group-service';
import { SqliteGroupStore } from './group-store-sqlite';

const SECRET = 'group-client-test-secret-0123456789abcdef';
const MAX_CHECKS = 4;

/** The GroupClient against groupRpc served over gRPC, on SQLite: the membership checks of one turn. */
describe('GroupClient and the GroupService: membership checks', () => {
  const db = openSqliteDatabase({ path: ':memory:', synchronous: 'full' });
  let ids = 0;
  const groups = new GroupService({ store: new SqliteGroupStore({ db }), limits: { maxGroupSize: 10, maxGroupNameBytes: 64 }, nextId: () => String(++ids) });
  const calls = new Map<string, number>();
  let server: Awaited<ReturnType<typeof startGrpcServer>>;
  let rpc: RpcClient<typeof GroupServiceDefinition>;
  let client: GroupClient;
  let groupId = '';
  const ann = { kind: 'user' as const, id: 'ann' };

  before(async () => {
    const verifier = await TokenVerifier.create({ algorithms: ['HS256'], secret: SECRET, clockToleranceSec: 5 });
    server = await startGrpcServer({
      host: '127.0.0.1',
      port: 0,
      maxMessageBytes: 4 << 20,
      services: [{ definition: GroupServiceService, name: 'chat.v1.GroupService', implementation: grpcUnaryImplementation(groupRpc(groups, { membershipCheckMaxBatch: MAX_CHECKS }), verifier, pino({ level: 'silent' })) }],
      onCall: (path) => calls.set(path.slice(path.lastIndexOf('/') + 1), (calls.get(path.slice(path.lastIndexOf('/') + 1)) ?? 0) + 1),
    });
    rpc = new RpcClient(GroupServiceDefinition, { address: `127.0.0.1:${server.port}`, credentials: new MintedServiceToken(SECRET, 'chat-server-test'), timeoutMs: 5_000, maxAttempts: 1 });
    client = new GroupClient(rpc, { maxChecksPerCall: MAX_CHECKS });
    groupId = (await groups.create(ann, 'g', ['bob'])).groupId;
  });
  after(async () => {
    rpc.close();
    await server.close();
    db.close();
  });

  it('answers each check as the group rules do, the checks of one turn in calls of at most the batch size', async () => {
    const before = calls.get('CheckMembership') ?? 0;
    const outcomes = await Promise.allSettled([
      client.checkMember('ann', groupId),
      client.checkMember('bob', groupId),
      client.checkMember('eve', groupId),
      client.checkMember('ann', '999'),
      client.checkMember('bob', groupId),
    ]);
    const codes = outcomes.map((o) => (o.status === 'fulfilled' ? 'ok' : o.reason instanceof ChatError ? o.reason.codeName : String(o.reason)));
    assert.deepEqual(codes, ['ok', 'ok', 'PERMISSION_DENIED', 'NOT_FOUND', 'ok']);
    assert.equal((calls.get('CheckMembership') ?? 0) - before, 2, `five checks in two calls of at most ${MAX_CHECKS}`);
    assert.equal(calls.get('ListMembers') ?? 0, 0, 'no member list read');
  });

  it('follows membership changes at once (nothing cached)', async () => {
    await groups.removeMembers(ann, groupId, ['bob']);
    await assert.rejects(client.checkMember('bob', groupId), (e: unknown) => e instanceof ChatError && e.codeName === 'PERMISSION_DENIED');
    await groups.addMembers(ann, groupId, ['bob']);
    await client.checkMember('bob', groupId);
  });

  it('refuses bad ids and calls over CHAT_MEMBERSHIP_CHECK_MAX_BATCH', async () => {
    await assert.rejects(client.checkMember('ann', '0'), (e: unknown) => e instanceof ChatError && e.codeName === 'INVALID_ARGUMENT');
    const queries = Array.from({ length: MAX_CHECKS + 1 }, () => ({ groupId, userId: 'ann' }));
    await assert.rejects(rpc.call('checkMembership', { queries }), /at most 4 pairs per call/);
  });
});
